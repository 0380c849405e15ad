"""Changing stages and what they keep: `loom stage …`, `loom handoff …`, `loom memory …`."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from loom_tui.cli.group import CONTEXT, cli, complete_stage_ids
from loom_tui.cli.output import say
from loom_tui.core.errors import LoomError


@cli.group(context_settings=CONTEXT)
def stage() -> None:
    """Change a stage: complete, block, reset, hold, release, skip, retry."""


def _stage_verb(verb: str, doc: str) -> None:
    @stage.command(name=verb, help=doc, context_settings=CONTEXT)
    @click.argument(
        "ids", nargs=-1, required=True, metavar="ID...", shell_complete=complete_stage_ids
    )
    @click.pass_context
    def command(ctx: click.Context, ids: tuple[str, ...]) -> None:
        from loom_tui.cli.stage_commands import run_stage_verb

        ctx.exit(run_stage_verb(verb, list(ids), ctx.find_root().obj["work_dir"]))


for _verb, _doc in (
    ("complete", "Run the stage's acceptance commands; mark it completed if all pass."),
    ("hold", "Keep the scheduler from starting or restarting the stage."),
    ("release", "Let a held stage run again."),
):
    _stage_verb(_verb, _doc)


def _ids_argument() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.argument(
        "ids", nargs=-1, required=True, metavar="ID...", shell_complete=complete_stage_ids
    )


@stage.command(name="reset", context_settings=CONTEXT)
@_ids_argument()
@click.option(
    "--hard", is_flag=True, help="Start it from the base in a fresh worktree (its branch is kept)."
)
@click.pass_context
def stage_reset(ctx: click.Context, ids: tuple[str, ...], hard: bool) -> None:
    """Put the stage back to waiting or queued, clearing retries and sessions; it continues on its
    branch unless --hard.  Stages that depend on it start afresh."""
    from loom_tui.cli.stage_commands import run_stage_verb

    ctx.exit(run_stage_verb("reset", list(ids), ctx.find_root().obj["work_dir"], hard=hard))


@stage.command(name="skip", context_settings=CONTEXT)
@_ids_argument()
@click.option("--reason", default="", help="Why (kept on the stage and in the events).")
@click.pass_context
def stage_skip(ctx: click.Context, ids: tuple[str, ...], reason: str) -> None:
    """Give up on the stage; its dependents may start."""
    from loom_tui.cli.stage_commands import run_stage_verb

    ctx.exit(run_stage_verb("skip", list(ids), ctx.find_root().obj["work_dir"], reason))


@stage.command(name="retry", context_settings=CONTEXT)
@_ids_argument()
@click.option(
    "--context", "context_text", default="", help="A note for its next session (in its signal)."
)
@click.pass_context
def stage_retry(ctx: click.Context, ids: tuple[str, ...], context_text: str) -> None:
    """Start a blocked stage (or one that needs review) again now."""
    from loom_tui.cli.stage_commands import run_stage_verb

    work_dir = ctx.find_root().obj["work_dir"]
    ctx.exit(run_stage_verb("retry", list(ids), work_dir, context=context_text))


@stage.command(name="human-review", context_settings=CONTEXT)
@click.argument("stage_id", metavar="ID", shell_complete=complete_stage_ids)
@click.option("--approve", is_flag=True, help="Accept its work: it completes and is merged.")
@click.option("--reject", "reject", default=None, metavar="WHY", help="Send it back, with WHY.")
@click.pass_context
def stage_human_review(
    ctx: click.Context, stage_id: str, approve: bool, reject: str | None
) -> None:
    """Decide on a stage that needs review: --approve, or --reject "why" (the reason goes into its
    next session's signal)."""
    from loom_tui.cli.stage_commands import run_review
    from loom_tui.core.errors import UsageError

    if approve == (reject is not None):
        raise UsageError("loom stage human-review: give either --approve or --reject WHY")
    if reject is not None and not reject.strip():
        raise UsageError("loom stage human-review: --reject needs a reason")
    ctx.exit(run_review(stage_id, ctx.find_root().obj["work_dir"], approve, reject or ""))


@stage.command(name="block", context_settings=CONTEXT)
@click.argument("stage_id", metavar="ID", shell_complete=complete_stage_ids)
@click.argument("reason", nargs=-1)
@click.pass_context
def stage_block(ctx: click.Context, stage_id: str, reason: tuple[str, ...]) -> None:
    """Mark the stage blocked, with an optional REASON."""
    from loom_tui.cli.stage_commands import run_stage_verb

    ctx.exit(run_stage_verb("block", [stage_id], ctx.find_root().obj["work_dir"], " ".join(reason)))


@cli.group(context_settings=CONTEXT)
def handoff() -> None:
    """Write or show handoffs (what a session leaves for the next one)."""


@handoff.command(name="write", context_settings=CONTEXT)
@click.argument("stage_id", metavar="ID", shell_complete=complete_stage_ids)
@click.option("--summary", default="", help="What is done so far.")
@click.option("--next", "next_steps", multiple=True, help="A next step (repeat for several).")
@click.option("--decision", "decisions", multiple=True, help="A decision that matters (repeat).")
@click.pass_context
def handoff_write(
    ctx: click.Context,
    stage_id: str,
    summary: str,
    next_steps: tuple[str, ...],
    decisions: tuple[str, ...],
) -> None:
    """Record the stage's state for a fresh session; git state and files are added by loom."""
    from loom_tui.core.handoff import write_handoff
    from loom_tui.core.store import Store

    store = Store.find(ctx.find_root().obj["work_dir"])
    stage = store.read_stage(stage_id)
    session_id = os.environ.get("LOOM_SESSION_ID")
    inside = session_id is not None and os.environ.get("LOOM_STAGE_ID") == stage_id
    session_id = session_id if inside else stage.session_id
    trigger = "manual"
    if session_id:
        try:
            trigger = store.read_session(session_id).handoff_trigger or "manual"
        except LoomError:
            session_id = None
    path, event = write_handoff(
        store,
        stage_id,
        session_id=session_id,
        trigger=trigger,
        written_by="agent" if inside else "user",
        summary=summary,
        next_steps=list(next_steps),
        decisions=list(decisions),
    )
    store.append_event(event)
    say(f"handoff written: {store.rel(path)}")


@handoff.command(name="show", context_settings=CONTEXT)
@click.argument("stage_id", metavar="ID", shell_complete=complete_stage_ids)
@click.pass_context
def handoff_show(ctx: click.Context, stage_id: str) -> None:
    """Print the stage's newest handoff."""
    from loom_tui.core.store import Store

    store = Store.find(ctx.find_root().obj["work_dir"])
    paths = store.handoff_paths(stage_id)
    if not paths:
        raise LoomError(f"stage {stage_id} has no handoff")
    from loom_tui.core.textsafe import block

    # written by an agent: its control characters are shown, not obeyed by the terminal
    with open(paths[-1], encoding="utf-8", errors="replace") as fh:
        click.echo(block(fh.read()), nl=False)


@cli.group(context_settings=CONTEXT)
def memory() -> None:
    """The stage's journal: notes and decisions kept across its sessions."""


def _memory_stage(stage_id: str | None) -> str:
    stage_id = stage_id or os.environ.get("LOOM_STAGE_ID")
    if not stage_id:
        raise click.UsageError("give --stage ID (or run inside a stage session)")
    return stage_id


def _memory_add(kind: str) -> None:
    @memory.command(name=kind, context_settings=CONTEXT, help=f"Record a {kind}.")
    @click.option(
        "--stage",
        "stage_id",
        metavar="ID",
        default=None,
        help="The stage (default: $LOOM_STAGE_ID).",
    )
    @click.argument("text", nargs=-1, required=True)
    @click.pass_context
    def command(ctx: click.Context, stage_id: str | None, text: tuple[str, ...]) -> None:
        from loom_tui.core import memory as mem
        from loom_tui.core.store import Store

        store = Store.find(ctx.find_root().obj["work_dir"])
        sid = _memory_stage(stage_id)
        mem.add(store, sid, kind, " ".join(text))
        say(f"{kind} recorded for stage {sid}")


_memory_add("note")
_memory_add("decision")


@memory.command(name="list", context_settings=CONTEXT)
@click.option("--stage", "stage_id", metavar="ID", default=None)
@click.pass_context
def memory_list(ctx: click.Context, stage_id: str | None) -> None:
    """Show the stage's notes and decisions."""
    from loom_tui.core import memory as mem
    from loom_tui.core.store import Store

    store = Store.find(ctx.find_root().obj["work_dir"])
    for kind, _stamp, text, promoted in mem.records(store, _memory_stage(stage_id)):
        say(f"{kind:<9} {text}" + (f" (promoted to {promoted})" if promoted else ""))
