"""The click application: every `loom` command, with help, completion and usage errors.

Command bodies import what they need when they run, so that `loom --help` and the commands that
agents call stay quick to start.
"""

from __future__ import annotations

import os
import sys

import click

from loom_tui import __version__
from loom_tui.cli.output import report_crash, report_error, say
from loom_tui.core.errors import LoomError
from loom_tui.core.hooks import EVENTS as HOOK_EVENTS

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _complete_stage_ids(
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
@click.version_option(__version__, "-V", "--version", prog_name="loom")
@click.pass_context
def cli(ctx: click.Context, work_dir: str | None, theme: str | None) -> None:
    """loom: run a plan of dependent stages with Claude Code agents, each in its own git
    worktree and tmux pane, with context measured and handoffs enforced.

    Without a command, opens the TUI on the project (the same as `loom run`)."""
    ctx.ensure_object(dict)
    ctx.obj["work_dir"] = work_dir
    ctx.obj["theme"] = theme
    if ctx.invoked_subcommand is None:
        ctx.invoke(run_command)


@cli.command(context_settings=CONTEXT)
@click.argument("plan", type=click.Path(dir_okay=False))
@click.option("--clean", is_flag=True, help="Discard the current run's .work/ state first.")
def init(plan: str, clean: bool) -> None:
    """Validate PLAN and set up the project's .work/ state to run it."""
    from loom_tui.core.init_project import init_project
    from loom_tui.core.model import Status

    store, parsed = init_project(plan, os.getcwd(), clean=clean)
    queued = sum(1 for s in store.stages() if s.status is Status.QUEUED)
    say(
        f"initialised {parsed.name} ({len(parsed.stages)} stages, {queued} ready) "
        f"in {store.rel(store.work_dir)}/ · base branch {store.config().base_branch}"
    )


@cli.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show every stage's status."""
    import json

    from loom_tui.cli.status_view import render_plain, render_rich
    from loom_tui.core.status import status_dict
    from loom_tui.core.store import Store

    data = status_dict(Store.find(ctx.obj["work_dir"]))
    if as_json:
        say(json.dumps(data, indent=2, ensure_ascii=False))
    elif sys.stdout.isatty():
        render_rich(data)
    else:
        say(render_plain(data))


@cli.group(context_settings=CONTEXT)
def stage() -> None:
    """Change a stage: complete, block, reset, hold, release, skip, retry."""


def _stage_verb(verb: str, doc: str) -> None:
    @stage.command(name=verb, help=doc, context_settings=CONTEXT)
    @click.argument(
        "ids", nargs=-1, required=True, metavar="ID...", shell_complete=_complete_stage_ids
    )
    @click.pass_context
    def command(ctx: click.Context, ids: tuple[str, ...]) -> None:
        from loom_tui.cli.stage_commands import run_stage_verb

        ctx.exit(run_stage_verb(verb, list(ids), ctx.find_root().obj["work_dir"]))


for _verb, _doc in (
    ("complete", "Run the stage's acceptance commands; mark it completed if all pass."),
    ("reset", "Put the stage back to waiting or queued, clearing retries and sessions."),
    ("hold", "Keep the scheduler from starting or restarting the stage."),
    ("release", "Let a held stage run again."),
    ("skip", "Give up on the stage; its dependents may start."),
    ("retry", "Start a blocked stage again now."),
):
    _stage_verb(_verb, _doc)


@stage.command(name="block", context_settings=CONTEXT)
@click.argument("stage_id", metavar="ID", shell_complete=_complete_stage_ids)
@click.argument("reason", nargs=-1)
@click.pass_context
def stage_block(ctx: click.Context, stage_id: str, reason: tuple[str, ...]) -> None:
    """Mark the stage blocked, with an optional REASON."""
    from loom_tui.cli.stage_commands import run_stage_verb

    ctx.exit(run_stage_verb("block", [stage_id], ctx.find_root().obj["work_dir"], " ".join(reason)))


@cli.command(name="run", context_settings=CONTEXT)
@click.option(
    "--headless",
    is_flag=True,
    help="Run in the foreground without the TUI, one line "
    "per event; exit 0 when every stage is completed or skipped, 1 when stuck.",
)
@click.option(
    "--agent",
    type=click.Choice(["claude", "sim"]),
    default=None,
    help="The agent to run in each stage's pane (default: the project's setting, "
    "claude). `sim` is loom's simulated agent: no API key needed.",
)
@click.option(
    "-p",
    "--max-parallel",
    type=click.IntRange(1, 256),
    default=None,
    help="Run at most N stages at once (overrides the plan's max_parallel).",
)
@click.option(
    "--stage",
    "only_stage",
    metavar="ID",
    default=None,
    shell_complete=_complete_stage_ids,
    help="Run only this stage.",
)
@click.pass_context
def run_command(
    ctx: click.Context,
    headless: bool,
    agent: str | None,
    max_parallel: int | None,
    only_stage: str | None,
) -> None:
    """Run the plan: start every ready stage in its own worktree and tmux pane."""
    from loom_tui.core.scheduler import SchedulerOptions
    from loom_tui.core.store import Store

    store = Store.find(ctx.find_root().obj["work_dir"])
    if only_stage is not None:
        store.read_stage(only_stage)
    options = SchedulerOptions(agent=agent, max_parallel=max_parallel, only_stage=only_stage)
    if headless:
        import asyncio

        from loom_tui.core.headless import run_headless

        ctx.exit(asyncio.run(run_headless(store, options)))
    from loom_tui.tui import run_tui

    ctx.exit(run_tui(store, options, theme=ctx.find_root().obj.get("theme")))


@cli.command(context_settings=CONTEXT)
@click.option(
    "--kill-sessions",
    is_flag=True,
    help="Also end every agent session (their stages go back to queued).",
)
@click.pass_context
def stop(ctx: click.Context, kill_sessions: bool) -> None:
    """Stop the running scheduler (agents keep running unless --kill-sessions)."""
    from loom_tui.core.control import stop_scheduler
    from loom_tui.core.store import Store

    store = Store.find(ctx.find_root().obj["work_dir"])
    for line in stop_scheduler(store, kill_sessions=kill_sessions):
        say(line)


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
@click.argument("session_ids", nargs=-1, required=True, metavar="SESSION...")
@click.pass_context
def sessions_kill(ctx: click.Context, session_ids: tuple[str, ...]) -> None:
    """End sessions (a unique prefix of the id is enough); their stages are blocked."""
    from loom_tui.core.control import kill_session
    from loom_tui.core.store import Store

    store = Store.find(ctx.find_root().obj["work_dir"])
    for session_id in session_ids:
        say(kill_session(store, session_id))


@cli.command(context_settings=CONTEXT)
@click.argument("stage_id", metavar="ID", shell_complete=_complete_stage_ids)
@click.pass_context
def merge(ctx: click.Context, stage_id: str) -> None:
    """Merge a completed stage's branch into the base branch now."""
    from loom_tui.core.merging import merge_now
    from loom_tui.core.store import Store

    say(merge_now(Store.find(ctx.find_root().obj["work_dir"]), stage_id))


@cli.command(context_settings=CONTEXT)
@click.argument("stage_id", metavar="ID", shell_complete=_complete_stage_ids)
@click.pass_context
def diagnose(ctx: click.Context, stage_id: str) -> None:
    """Explain a stage's state: failure, sessions, last pane lines, what to do next."""
    from loom_tui.core.diagnose import diagnose as report
    from loom_tui.core.store import Store

    for line in report(Store.find(ctx.find_root().obj["work_dir"]), stage_id):
        say(line)


@cli.group(context_settings=CONTEXT)
def handoff() -> None:
    """Write or show handoffs (what a session leaves for the next one)."""


@handoff.command(name="write", context_settings=CONTEXT)
@click.argument("stage_id", metavar="ID", shell_complete=_complete_stage_ids)
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
    path = write_handoff(
        store,
        stage_id,
        session_id=session_id,
        trigger=trigger,
        written_by="agent" if inside else "user",
        summary=summary,
        next_steps=list(next_steps),
        decisions=list(decisions),
    )
    say(f"handoff written: {store.rel(path)}")


@handoff.command(name="show", context_settings=CONTEXT)
@click.argument("stage_id", metavar="ID", shell_complete=_complete_stage_ids)
@click.pass_context
def handoff_show(ctx: click.Context, stage_id: str) -> None:
    """Print the stage's newest handoff."""
    from loom_tui.core.store import Store

    store = Store.find(ctx.find_root().obj["work_dir"])
    paths = store.handoff_paths(stage_id)
    if not paths:
        raise LoomError(f"stage {stage_id} has no handoff")
    with open(paths[-1], encoding="utf-8") as fh:
        click.echo(fh.read(), nl=False)


@cli.command(context_settings=CONTEXT)
@click.argument("stage_id", metavar="ID", shell_complete=_complete_stage_ids)
@click.pass_context
def resume(ctx: click.Context, stage_id: str) -> None:
    """Start a fresh session of the stage from its newest handoff."""
    from loom_tui.core.actions import resume as resume_stage
    from loom_tui.core.store import Store

    say(resume_stage(Store.find(ctx.find_root().obj["work_dir"]), stage_id).message)


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
    for kind, text in mem.entries(store, _memory_stage(stage_id)):
        say(f"{kind:<9} {text}")


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


def _print_table(headers: list[str], rows: list[list[str]]) -> None:
    table = [headers, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    for row in table:
        say("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@cli.command(context_settings=CONTEXT, short_help="Check a stage's truths, artifacts and wiring.")
@click.argument("stage_id", metavar="ID", shell_complete=_complete_stage_ids)
@click.option(
    "--suggest",
    is_flag=True,
    help="Print truths, artifacts and wiring derived from the stage's files and acceptance "
    "commands (YAML for the plan) instead of checking.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.pass_context
def verify(ctx: click.Context, stage_id: str, suggest: bool, as_json: bool) -> None:
    """Goal-backward verification of a stage: every truth command exits 0, every artifact glob
    matches a real (non-stub) file, every wiring pattern is found in its source.

    Runs in the stage's worktree when it exists, else in the project root. Exit 0 when every
    check passes, 1 when any fails."""
    from loom_tui.core import verify as goal
    from loom_tui.core.store import Store

    store = Store.find(ctx.find_root().obj["work_dir"])
    if suggest:
        for line in goal.suggestion_lines(store, stage_id):
            say(line)
        return
    if as_json:
        import json

        report = goal.verify_stage(store, stage_id)
        data = {
            "stage": stage_id,
            "cwd": report.cwd,
            "passed": report.passed,
            "summary": report.summary(),
            "checks": [c.to_dict() for c in report.checks],
        }
        say(json.dumps(data, indent=2, ensure_ascii=False))
        ctx.exit(0 if report.passed else 1)
    where = goal.stage_dir(store, store.read_stage(stage_id))
    place = "the project root" if where == store.root else store.rel(where)
    say(f"verifying stage {stage_id} in {place}")

    def show(check: goal.Check) -> None:
        say(f"  {check.line()}")
        if not check.passed:
            for line in check.output_tail:
                say(f"      {line}")

    report = goal.verify_stage(store, stage_id, on_check=show)
    say(report.summary())
    ctx.exit(0 if report.passed else 1)


@cli.group(context_settings=CONTEXT, short_help="List or clean the stage worktrees.")
def worktree() -> None:
    """List the stages' git worktrees, or remove the ones that are done with."""


@worktree.command(
    name="list", context_settings=CONTEXT, short_help="Show the stage worktrees and branches."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def worktree_list(ctx: click.Context, as_json: bool) -> None:
    """Show each stage worktree and loom/* branch: path, on disk or not, stage status and the
    commits its branch has that the base branch does not."""
    from loom_tui.core.store import Store
    from loom_tui.core.worktrees import worktree_rows

    store = Store.find(ctx.find_root().obj["work_dir"])
    rows = worktree_rows(store)
    if as_json:
        import json

        say(json.dumps([r.to_dict(store) for r in rows], indent=2))
        return
    if not rows:
        say("no stage worktrees or loom/* branches")
        return
    _print_table(
        ["stage", "path", "branch", "exists", "status", "ahead"],
        [
            [
                r.stage,
                store.rel(r.path),
                r.branch or "-",
                "yes" if r.exists else "no",
                r.status,
                "-" if r.ahead is None else str(r.ahead),
            ]
            for r in rows
        ],
    )


@worktree.command(
    name="clean",
    context_settings=CONTEXT,
    short_help="Remove worktrees of merged, skipped or removed stages.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Also remove worktrees whose branch has commits not in the base branch, or that hold "
    "uncommitted changes (that work is lost).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.pass_context
def worktree_clean(ctx: click.Context, force: bool, dry_run: bool) -> None:
    """Remove the worktrees and branches of stages that are merged, skipped or no longer in the
    plan, and prune git's records of worktrees whose folders are gone.

    Keeps any worktree with work not in the base branch unless --force; refuses while a
    scheduler runs."""
    from loom_tui.core.store import Store
    from loom_tui.core.worktrees import clean_worktrees

    store = Store.find(ctx.find_root().obj["work_dir"])
    for line in clean_worktrees(store, force=force, dry_run=dry_run):
        say(line)


@cli.command(
    name="clean",
    context_settings=CONTEXT,
    short_help="Remove loom's leftovers (--all: worktrees, branches, .work/).",
)
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Also remove every worktree under .worktrees/, every loom/* branch and .work/ itself "
    "(refused while a scheduler runs).",
)
@click.option(
    "--force",
    is_flag=True,
    help="With --all: also remove worktrees with uncommitted changes and branches with commits "
    "not in the base branch, and end live sessions.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.pass_context
def clean_command(ctx: click.Context, everything: bool, force: bool, dry_run: bool) -> None:
    """Remove what loom left behind that is safe to remove: stale temporary files, ended
    sessions' settings, exit and signal files, empty pulse files, and the private tmux server
    when no session is live."""
    from loom_tui.core.cleanup import clean
    from loom_tui.core.store import Store

    if force and not everything:
        raise click.UsageError("--force goes with --all")
    store = Store.find(ctx.find_root().obj["work_dir"])
    for line in clean(store, everything=everything, force=force, dry_run=dry_run):
        say(line)


@cli.command(
    name="install",
    context_settings=CONTEXT,
    short_help="Copy loom's agents and skills into ~/.claude.",
)
@click.option(
    "--dest",
    metavar="DIR",
    default=None,
    help="Claude Code's configuration directory (default: $CLAUDE_CONFIG_DIR, else ~/.claude).",
)
@click.option("--force", is_flag=True, help="Overwrite files you changed.")
@click.option("--dry-run", is_flag=True, help="Say what would be copied; copy nothing.")
def install_command(dest: str | None, force: bool, dry_run: bool) -> None:
    """Copy loom's agents (into DIR/agents/) and skills (into DIR/skills/) for Claude Code.

    A file you changed is kept (and reported) unless --force."""
    from loom_tui.core.install import install

    for line in install(dest, force=force, dry_run=dry_run).lines(dry_run=dry_run):
        say(line)


def run(args: list[str]) -> int:
    """Run the click application on ``args`` and return the exit code, never a traceback."""
    try:
        result = cli.main(args, prog_name="loom", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        return 130
    except LoomError as exc:
        return report_error(exc)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return report_crash(exc)
    return result if isinstance(result, int) else 0
