"""`loom stage complete|block|reset|hold|release|skip|retry ID...`, shared by both CLI paths."""

from __future__ import annotations

from loom_tui.cli.output import say, warn
from loom_tui.core.errors import LoomError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from loom_tui.core.acceptance import CommandResult
    from loom_tui.core.store import Store

VERBS = ("complete", "block", "reset", "hold", "release", "skip", "retry")


def _print_result(result: CommandResult) -> None:
    mark = "✓" if result.passed else "✗"
    say(f"  {mark} {result.summary()}")
    if not result.passed:
        for line in result.output_tail:
            say(f"      {line}")


def run_stage_verb(verb: str, ids: list[str], work_dir: str | None, reason: str = "") -> int:
    """Apply ``verb`` to each stage; returns the exit code (1 if any was refused)."""
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
            else:
                result = getattr(actions, verb)(store, stage_id)
            say(result.message)
        except LoomError as exc:
            for line in exc.lines():
                warn(line)
            code = max(code, exc.exit_code)
    return code


def _complete(store: Store, stage_id: str) -> int:
    from loom_tui.core import actions
    from loom_tui.core.model import Status, can_transition

    stage = store.read_stage(stage_id)
    if stage.acceptance and can_transition(stage.status, Status.COMPLETED):  # else refused unrun
        say(f"stage {stage_id}: running {len(stage.acceptance)} acceptance command(s)")
    result, results = actions.complete(store, stage_id, on_result=_print_result)
    if results and not all(r.passed for r in results):
        warn(result.message)
        return 1
    say(result.message)
    return 0
