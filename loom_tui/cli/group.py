"""The root `loom` command group, its global options, and what the command modules share.

Each `commands_*.py` module adds its commands to `cli`; `app.py` imports them all.
"""

from __future__ import annotations

import click

from loom_tui import __version__

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def complete_stage_ids(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    from click.shell_completion import CompletionItem

    from loom_tui.core.store import Store

    try:
        root = ctx.find_root()
        store = Store.find(root.params.get("work_dir"))
        return [
            CompletionItem(s.id, help=f"{s.status} · {s.name}")
            for s in store.stages()
            if s.id.startswith(incomplete)
        ]
    except Exception:
        return []


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@click.option(
    "--work-dir",
    metavar="DIR",
    help="The project (or its .work directory). Default: $LOOM_WORK_DIR, else the nearest "
    ".work/ above the current directory, else the main worktree of this git repository.",
)
@click.option(
    "--theme",
    metavar="NAME",
    default=None,
    help="The TUI's theme: loom-dark, loom-light, loom-high-contrast, or one of yours "
    "(~/.config/loom/themes/*.yaml).",
)
@click.option(
    "--agent",
    type=click.Choice(["claude", "sim"]),
    default=None,
    help="Without a command: as `loom run --agent`.",
)
@click.option(
    "-p",
    "--max-parallel",
    type=click.IntRange(1, 256),
    default=None,
    help="Without a command: as `loom run -p`.",
)
@click.option(
    "--stage",
    "only_stage",
    metavar="ID",
    default=None,
    help="Without a command: as `loom run --stage`.",
)
@click.option("--headless", is_flag=True, help="Without a command: as `loom run --headless`.")
@click.option("--no-trust", is_flag=True, help="Without a command: as `loom run --no-trust`.")
@click.option("--detach", is_flag=True, help="Without a command: as `loom run --detach`.")
@click.version_option(__version__, "-V", "--version", prog_name="loom")
@click.pass_context
def cli(
    ctx: click.Context,
    work_dir: str | None,
    theme: str | None,
    agent: str | None,
    max_parallel: int | None,
    only_stage: str | None,
    headless: bool,
    no_trust: bool,
    detach: bool,
) -> None:
    """loom: run a plan of dependent stages with Claude Code agents, each in its own git
    worktree and tmux pane, with context measured and handoffs enforced.

    Without a command, opens the TUI on the project, in loom's control window: `loom [--agent
    sim] [-p N] [--stage ID] [--headless] [--detach]` is the same as `loom run` with those
    options."""
    ctx.ensure_object(dict)
    ctx.obj["work_dir"] = work_dir
    ctx.obj["theme"] = theme
    if ctx.invoked_subcommand is None:
        ctx.invoke(
            cli.commands["run"],
            agent=agent,
            max_parallel=max_parallel,
            only_stage=only_stage,
            headless=headless,
            detach=detach,
            no_trust=no_trust,
        )
    elif (
        any(v is not None for v in (agent, max_parallel, only_stage))
        or headless
        or detach
        or no_trust
    ):
        raise click.UsageError(
            "--agent, -p, --stage, --headless, --detach and --no-trust before a command are "
            "`loom run`'s: "
            "give them after `run` (for example `loom run --agent sim`)"
        )
