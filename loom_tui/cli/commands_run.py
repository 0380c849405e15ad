"""Running a plan: `loom init`, `status`, `run`, `stop`, `merge`, `diagnose`, `resume`."""

from __future__ import annotations

import os

import click

from loom_tui.cli.group import CONTEXT, cli, complete_stage_ids
from loom_tui.cli.output import say


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
    from loom_tui.core.plan_compat import no_effect_keys

    ignored = no_effect_keys(parsed.spec)
    if ignored:
        say(f"accepted, no effect here: {', '.join(ignored)}")
    from loom_tui.core.agents.permissions import sandbox_missing_tools

    missing = sandbox_missing_tools([s.sandbox for s in store.stages()])
    if missing:
        say(
            f"note: the plan enables the sandbox, but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed: Claude Code will run "
            "Bash unsandboxed (the deny lists still apply to its file tools)"
        )


@cli.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
@click.option(
    "--live",
    is_flag=True,
    help="The live dashboard: the TUI, read-only, in this terminal (it offers to take over "
    "when no scheduler runs).",
)
@click.pass_context
def status(ctx: click.Context, as_json: bool, live: bool) -> None:
    """Show every stage's status."""
    if live:
        from loom_tui.cli.control_run import live_view
        from loom_tui.core.store import Store

        store = Store.find(ctx.find_root().obj["work_dir"])
        ctx.exit(live_view(store, ctx.find_root().obj.get("theme")))
    from loom_tui.cli.status_view import render
    from loom_tui.core.project import find_work_dir
    from loom_tui.core.status_cache import cached_status

    render(cached_status(find_work_dir(ctx.obj["work_dir"])), as_json)


@cli.command(name="run", context_settings=CONTEXT)
@click.option(
    "--headless",
    is_flag=True,
    help="Run in the foreground without the TUI, one line "
    "per event; exit 0 when every stage is completed or skipped, 1 when stuck.",
)
@click.option(
    "--detach",
    is_flag=True,
    help="Start the run in loom's control window without attaching this terminal "
    "(`loom` attaches later, `loom stop` ends it).",
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
    shell_complete=complete_stage_ids,
    help="Run only this stage.",
)
@click.option(
    "--no-trust",
    is_flag=True,
    help="Leave ~/.claude.json alone: do not mark the project trusted for Claude Code "
    "(you accept its trust dialog in each stage's pane yourself).",
)
@click.option("--in-control-window", "in_control_window", is_flag=True, hidden=True)
@click.pass_context
def run_command(
    ctx: click.Context,
    headless: bool,
    detach: bool,
    agent: str | None,
    max_parallel: int | None,
    only_stage: str | None,
    no_trust: bool = False,
    in_control_window: bool = False,
) -> None:
    """Run the plan: start every ready stage in its own worktree and tmux pane.

    The TUI and its scheduler run in loom's control window (a session of the project's private
    tmux server) and this terminal attaches to it: closing the terminal, or tmux's `prefix d`,
    leaves the run going; `loom` attaches again and `loom stop` ends it."""
    from loom_tui.core.preflight import check_run
    from loom_tui.core.store import Store

    store = Store.find(ctx.find_root().obj["work_dir"])
    theme = ctx.find_root().obj.get("theme")
    if in_control_window:
        from loom_tui.cli.control_run import serve

        ctx.exit(serve(store, agent, max_parallel, only_stage, theme, no_trust=no_trust))
    if headless and detach:
        raise click.UsageError("--headless and --detach do not go together")
    if only_stage is not None:
        store.read_stage(only_stage)
    check_run(store, agent or store.config().agent)  # before the engine is even imported

    if headless:
        import asyncio

        from loom_tui.core.engine import SchedulerOptions
        from loom_tui.core.headless import run_headless

        options = SchedulerOptions(
            agent=agent,
            max_parallel=max_parallel,
            only_stage=only_stage,
            trust=False if no_trust else None,
        )
        ctx.exit(asyncio.run(run_headless(store, options)))
    from loom_tui.cli.control_run import open_control_window

    ctx.exit(
        open_control_window(
            store, agent, max_parallel, only_stage, theme, detach=detach, no_trust=no_trust
        )
    )


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


@cli.command(context_settings=CONTEXT)
@click.argument("stage_id", metavar="ID", shell_complete=complete_stage_ids)
@click.option(
    "--resolved",
    is_flag=True,
    help="You resolved its merge conflict by hand in its worktree: check that no conflict is "
    "left and the branch contains the base's tip, then merge.",
)
@click.pass_context
def merge(ctx: click.Context, stage_id: str, resolved: bool) -> None:
    """Merge a completed stage's branch into the base branch now."""
    from loom_tui.core.merging import merge_now
    from loom_tui.core.store import Store

    say(merge_now(Store.find(ctx.find_root().obj["work_dir"]), stage_id, resolved=resolved))


@cli.command(context_settings=CONTEXT)
@click.argument("stage_id", metavar="ID", shell_complete=complete_stage_ids)
@click.pass_context
def diagnose(ctx: click.Context, stage_id: str) -> None:
    """Explain a stage's state: failure, sessions, last pane lines, what to do next."""
    from loom_tui.core.diagnose import diagnose as report
    from loom_tui.core.store import Store

    for line in report(Store.find(ctx.find_root().obj["work_dir"]), stage_id):
        say(line)


@cli.command(context_settings=CONTEXT)
@click.argument("stage_id", metavar="ID", shell_complete=complete_stage_ids)
@click.pass_context
def resume(ctx: click.Context, stage_id: str) -> None:
    """Start a fresh session of the stage from its newest handoff."""
    from loom_tui.core.actions import resume as resume_stage
    from loom_tui.core.store import Store

    say(resume_stage(Store.find(ctx.find_root().obj["work_dir"]), stage_id).message)
