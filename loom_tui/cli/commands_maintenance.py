"""Checking and tidying up: `loom verify`, `loom worktree …`, `loom clean`, `loom install`."""

from __future__ import annotations

import click

from loom_tui.cli.group import CONTEXT, cli, complete_stage_ids
from loom_tui.cli.output import say, say_json


def _print_table(headers: list[str], rows: list[list[str]]) -> None:
    table = [headers, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    for row in table:
        say("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@cli.command(context_settings=CONTEXT, short_help="Check a stage's truths, artifacts and wiring.")
@click.argument("stage_id", metavar="ID", shell_complete=complete_stage_ids)
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
        report = goal.verify_stage(store, stage_id)
        data = {
            "stage": stage_id,
            "cwd": report.cwd,
            "passed": report.passed,
            "summary": report.summary(),
            "checks": [c.to_dict() for c in report.checks],
        }
        say_json(data)
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
