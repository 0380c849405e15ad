"""The project's knowledge: `loom knowledge init|show|update`, `loom map`, `loom memory promote`.

The files live in `doc/loom/knowledge/` of the checkout the command runs in (core/knowledge.py);
`loom map` fills their generated sections from the code (core/codemap.py).
"""

from __future__ import annotations

import click

from loom_tui.cli.commands_stage import memory
from loom_tui.cli.group import CONTEXT, cli
from loom_tui.cli.output import say


def _root(ctx: click.Context) -> str:
    from loom_tui.core.knowledge import find_root

    return find_root(ctx.find_root().obj["work_dir"])


@cli.group(context_settings=CONTEXT)
def knowledge() -> None:
    """The project's knowledge files in doc/loom/knowledge/, committed with the code and
    embedded in every stage's signal."""


@knowledge.command(name="init", context_settings=CONTEXT)
@click.pass_context
def knowledge_init(ctx: click.Context) -> None:
    """Create doc/loom/knowledge/ and its missing files; existing files are left as they are."""
    from loom_tui.core import knowledge as kn

    root = _root(ctx)
    created = kn.init(root)
    where = kn.KNOWLEDGE_DIR
    if created:
        say(f"created {len(created)} file(s) in {where}/: {', '.join(created)}")
    else:
        say(f"{where}/ already has every file; nothing changed")


@knowledge.command(name="show", context_settings=CONTEXT)
@click.argument("file", required=False, metavar="[FILE]")
@click.pass_context
def knowledge_show(ctx: click.Context, file: str | None) -> None:
    """List the knowledge files (size, first line), or print FILE (e.g. patterns)."""
    from loom_tui.cli.knowledge_commands import show

    show(ctx.find_root().obj["work_dir"], file)


@knowledge.command(
    name="update",
    # after FILE everything is the text, so that a Markdown "- item" is not taken for an option
    context_settings={**CONTEXT, "ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("file", metavar="FILE")
@click.argument("text", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def knowledge_update(ctx: click.Context, file: str, text: tuple[str, ...]) -> None:
    """Append a dated entry to FILE (e.g. mistakes); the file is created if missing."""
    from loom_tui.cli.knowledge_commands import update

    update(ctx.find_root().obj["work_dir"], file, " ".join(text))


@cli.command(name="map", context_settings=CONTEXT)
@click.option("--deep", is_flag=True, help="Also the main modules and what they import.")
@click.option("--focus", metavar="AREA", default=None, help="Map only this sub-path.")
@click.pass_context
def map_command(ctx: click.Context, deep: bool, focus: str | None) -> None:
    """Write what the code shows (languages, layout, entry points, build and test commands)
    into the generated sections of the knowledge files; your own notes are kept."""
    from loom_tui.cli.knowledge_commands import map_project

    map_project(ctx.find_root().obj["work_dir"], deep, focus)


@memory.command(name="promote", context_settings=CONTEXT)
@click.argument("kind", metavar="TYPE", type=click.Choice(["note", "decision", "all"]))
@click.argument("target", metavar="TARGET")
@click.option("--stage", "stage_id", metavar="ID", default=None, help="Default: $LOOM_STAGE_ID.")
@click.pass_context
def memory_promote(ctx: click.Context, kind: str, target: str, stage_id: str | None) -> None:
    """Move the stage's notes or decisions (TYPE: note, decision or all) into the knowledge file
    TARGET (e.g. patterns, mistakes), where every stage's signal shows them."""
    from loom_tui.cli.knowledge_commands import promote

    promote(ctx.find_root().obj["work_dir"], kind, target, stage_id)
