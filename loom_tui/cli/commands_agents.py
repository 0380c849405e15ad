"""The agents' side: `loom sessions …`, `loom hook EVENT`, and shell completion."""

from __future__ import annotations

import sys

import click

from loom_tui.cli.group import CONTEXT, cli
from loom_tui.cli.output import say
from loom_tui.core.hooks import EVENTS as HOOK_EVENTS


@cli.group(context_settings=CONTEXT)
def sessions() -> None:
    """List or end agent sessions."""


@sessions.command(name="list", context_settings=CONTEXT)
@click.option("--all", "show_all", is_flag=True, help="Include sessions that have ended.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def sessions_list(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """Show the sessions, their panes and whether their agents are alive."""
    from loom_tui.core.control import session_rows
    from loom_tui.core.store import Store

    rows = session_rows(Store.find(ctx.find_root().obj["work_dir"]), show_all)
    if as_json:
        import json

        say(json.dumps(rows, indent=2))
        return
    if not rows:
        say("no live sessions" + ("" if show_all else " (--all shows ended ones)"))
        return
    headers = ["session", "stage", "gen", "status", "pane", "alive", "context", "started"]
    table = [headers] + [[str(r[h]) for h in headers] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    for row in table:
        say("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@sessions.command(name="kill", context_settings=CONTEXT)
@click.argument("session_ids", nargs=-1, metavar="SESSION...")
@click.option("--stage", "stage_ids", multiple=True, metavar="ID", help="End this stage's session.")
@click.pass_context
def sessions_kill(
    ctx: click.Context, session_ids: tuple[str, ...], stage_ids: tuple[str, ...]
) -> None:
    """End sessions (a unique prefix of the id is enough), or the live session of each --stage;
    their stages are blocked."""
    from loom_tui.core.actions import require_stage_ids
    from loom_tui.core.control import kill_session
    from loom_tui.core.errors import LoomError, UsageError
    from loom_tui.core.store import Store

    if not session_ids and not stage_ids:
        raise UsageError("loom sessions kill: give session ids, or --stage ID")
    store = Store.find(ctx.find_root().obj["work_dir"])
    targets = list(session_ids)
    if stage_ids:
        require_stage_ids(store, list(stage_ids))
        for stage_id in stage_ids:
            live = [s.id for s in store.sessions() if s.live and s.stage_id == stage_id]
            if not live:
                raise LoomError(f"stage {stage_id} has no live session")
            targets += live
    for session_id in targets:
        say(kill_session(store, session_id))


@cli.command(context_settings=CONTEXT)
@click.argument("event", type=click.Choice(list(HOOK_EVENTS)))
def hook(event: str) -> None:
    """Handle a Claude Code hook or statusLine call (reads its JSON on stdin).

    Wired into each session's settings by loom; never fails the agent (errors go to
    .work/logs/hooks.log).
    """
    from loom_tui.cli.fast import run_hook

    sys.exit(run_hook(event))


@cli.command(context_settings=CONTEXT)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completions(shell: str) -> None:
    """Print the shell completion script, e.g. eval "$(loom completions bash)"."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None
    say(cls(cli, {}, "loom", "_LOOM_COMPLETE").source())


# --------------------------------------------------------------------------------------------------
# Verification and maintenance: verify, worktree list|clean, clean, install
