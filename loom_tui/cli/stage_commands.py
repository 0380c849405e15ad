"""`loom stage complete|block|reset|hold|release|skip|retry ID...`, shared by both CLI paths."""

from __future__ import annotations

from loom_tui.cli.output import say, warn
from loom_tui.core.errors import LoomError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from loom_tui.core.acceptance import CommandResult
    from loom_tui.core.store import Store
    from loom_tui.core.verify import Check

VERBS = ("complete", "block", "reset", "hold", "release", "skip", "retry")


def _print_result(result: CommandResult) -> None:
    mark = "✓" if result.passed else "✗"
    say(f"  {mark} {result.summary()}")
    if not result.passed:
        for line in result.output_tail:
            say(f"      {line}")


def run_stage_verb(
    verb: str, ids: list[str], work_dir: str | None, reason: str = "", **options: Any
) -> int:
    """Apply ``verb`` to each stage; returns the exit code (1 if any was refused).  ``reason`` is
    a block's or a skip's; ``options`` go to the action (`hard`, `context`)."""
    from loom_tui.core import actions
    from loom_tui.core.store import Store

    if verb not in VERBS:
        raise UsageError(f"unknown stage command {verb!r} (use one of: {', '.join(VERBS)})")
    if not ids:
        raise UsageError(f"loom stage {verb}: give at least one stage id")
    store = Store.find(work_dir)
    actions.require_stage_ids(store, ids)
    code = 0
    for stage_id in ids:
        try:
            if verb == "complete":
                code = max(code, _complete(store, stage_id))
                continue
            if verb == "block":
                result = actions.block(store, stage_id, reason or "blocked by hand")
            elif verb == "skip":
                result = actions.skip(store, stage_id, reason=reason)
            else:
                result = getattr(actions, verb)(store, stage_id, **options)
            say(result.message)
        except LoomError as exc:
            for line in exc.lines():
                warn(line)
            code = max(code, exc.exit_code)
    return code


def _print_check(check: Check) -> None:
    say(f"  {check.line()}")
    if not check.passed:
        for line in check.output_tail:
            say(f"      {line}")


def _complete(store: Store, stage_id: str) -> int:
    from loom_tui.core import actions
    from loom_tui.core.model import Status, can_transition

    stage = store.read_stage(stage_id)
    if stage.acceptance and can_transition(stage.status, Status.COMPLETED):  # else refused unrun
        say(f"stage {stage_id}: running {len(stage.acceptance)} acceptance command(s)")
    result, _results = actions.complete(
        store, stage_id, on_result=_print_result, on_check=_print_check
    )
    if not result.changed and "not completed" in result.message:
        warn(result.message)
        return 1
    say(result.message)
    return 0


def run_review(stage_id: str, work_dir: str | None, approve: bool, why: str) -> int:
    """`loom stage human-review`: approve (complete, and merge now unless a scheduler runs and
    will) or reject (back to the queue with the reason for its next session)."""
    from loom_tui.core import actions
    from loom_tui.core.control import scheduler_pid
    from loom_tui.core.store import Store

    store = Store.find(work_dir)
    actions.require_stage_ids(store, [stage_id])
    result = actions.review(store, stage_id, approve=approve, why=why)
    say(result.message)
    if approve and result.changed and scheduler_pid(store) is None:
        from loom_tui.core.config import read_config
        from loom_tui.core.merging import merge_now

        if read_config(store.work_dir).auto_merge:
            say(merge_now(store, stage_id))
    return 0
