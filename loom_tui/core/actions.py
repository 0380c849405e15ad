"""Every change a person or an agent makes to a stage, as one function each.

The CLI (`loom stage hold X`), the TUI (the `h` key) and the scheduler call these same functions, so
a rule lives in one place.  Each runs its read-modify-write under the store lock, goes through the
transition table, records an event, and returns a one-line message for the face to show.
"""

from __future__ import annotations

import time

from loom_tui.core.dag import dependencies_done
from loom_tui.core.errors import LoomError, TransitionError
from loom_tui.core.model import ACTIVE, StageRecord, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from loom_tui.core.acceptance import CommandResult
    from loom_tui.core.store import Store


class ActionResult:
    """What an action did: a message, and whether anything changed."""

    __slots__ = ("changed", "message", "stage")

    def __init__(self, message: str, changed: bool, stage: StageRecord | None = None) -> None:
        self.message = message
        self.changed = changed
        self.stage = stage


def _mutate(
    store: Store,
    stage_id: str,
    change: Callable[[StageRecord, dict[str, StageRecord]], str | None],
    event: str,
    source: str,
    **event_fields: object,
) -> ActionResult:
    """Run ``change`` on the stage under the lock; it returns a message when nothing changed."""
    with store.lock():
        stage = store.read_stage(stage_id)
        by_id = {s.id: s for s in store.stages()}
        by_id[stage_id] = stage
        before = stage.to_dict()
        unchanged = change(stage, by_id)
        if unchanged is not None or stage.to_dict() == before:
            return ActionResult(unchanged or f"stage {stage_id}: nothing to change", False, stage)
        promoted = _promote_ready(by_id)
        store.write_stage(stage)
        for other in promoted:
            if other is not stage:
                store.write_stage(other)
    store.append_event(
        event, stage=stage_id, status=stage.status.value, source=source, **event_fields
    )
    for other in promoted:
        if other is stage:
            continue
        store.append_event(
            "stage-status",
            stage=other.id,
            status=other.status.value,
            source=source,
            reason="dependencies",
        )
    return ActionResult("", True, stage)


def _promote_ready(by_id: dict[str, StageRecord]) -> list[StageRecord]:
    """Move waiting stages whose dependencies are done to queued, and back when they no longer are.

    Changes the records in memory only and returns the changed ones, for the caller to write under
    the store lock after a change that may affect readiness (skip, reset, merge).
    """
    changed = []
    for stage in by_id.values():
        done = dependencies_done(stage, by_id)
        if stage.status is Status.WAITING_FOR_DEPS and done:
            stage.set_status(Status.QUEUED)
        elif stage.status is Status.QUEUED and not done:
            stage.set_status(Status.WAITING_FOR_DEPS)
        else:
            continue
        changed.append(stage)
    return changed


def promote_ready(store: Store, source: str = "scheduler", log: bool = True) -> list[StageRecord]:
    """Public form of the readiness pass, with its own lock (and events unless ``log`` is off:
    the scheduler records its own)."""
    with store.lock():
        by_id = {s.id: s for s in store.stages()}
        changed = _promote_ready(by_id)
        for stage in changed:
            store.write_stage(stage)
    for stage in changed if log else []:
        store.append_event(
            "stage-status",
            stage=stage.id,
            status=stage.status.value,
            source=source,
            reason="dependencies",
        )
    return changed


# --------------------------------------------------------------------------------------------------


def hold(store: Store, stage_id: str, source: str = "cli") -> ActionResult:
    """Keep the scheduler from starting (or restarting) the stage until it is released."""

    def change(stage: StageRecord, _: dict[str, StageRecord]) -> str | None:
        if stage.held:
            return f"stage {stage_id} is already held"
        if stage.status in (Status.COMPLETED, Status.SKIPPED):
            raise TransitionError(
                f"stage {stage_id} is {stage.status}: there is nothing left to hold"
            )
        stage.held = True
        return None

    result = _mutate(store, stage_id, change, "stage-held", source)
    if result.changed:
        running = result.stage is not None and result.stage.status in ACTIVE
        result.message = f"stage {stage_id} held" + (
            " (its running session goes on; it will not be restarted)" if running else ""
        )
    return result


def release(store: Store, stage_id: str, source: str = "cli") -> ActionResult:
    def change(stage: StageRecord, _: dict[str, StageRecord]) -> str | None:
        if not stage.held:
            return f"stage {stage_id} is not held"
        stage.held = False
        return None

    result = _mutate(store, stage_id, change, "stage-released", source)
    if result.changed:
        result.message = f"stage {stage_id} released"
    return result


def skip(store: Store, stage_id: str, source: str = "cli") -> ActionResult:
    """Give up on the stage; its dependents may start as if it had completed."""

    def change(stage: StageRecord, _: dict[str, StageRecord]) -> str | None:
        if stage.status is Status.SKIPPED:
            return f"stage {stage_id} is already skipped"
        stage.set_status(Status.SKIPPED)
        stage.next_retry_at = None
        return None

    result = _mutate(store, stage_id, change, "stage-skipped", source)
    if result.changed:
        result.message = f"stage {stage_id} skipped"
    return result


def retry(store: Store, stage_id: str, source: str = "cli") -> ActionResult:
    """Start a blocked stage again at once (the scheduler picks it up on its next pass)."""

    def change(stage: StageRecord, _: dict[str, StageRecord]) -> str | None:
        if stage.status is not Status.BLOCKED:
            raise TransitionError(
                f"stage {stage_id} is {stage.status}: only a blocked stage can be retried"
                + (
                    " (use `loom merge` for a merge conflict)"
                    if stage.status is Status.MERGE_CONFLICT
                    else ""
                )
            )
        stage.set_status(Status.QUEUED)
        stage.next_retry_at = None
        stage.blocked_reason = None
        return None

    result = _mutate(store, stage_id, change, "stage-retried", source)
    if result.changed:
        # A stage blocked before its dependencies were done goes back to waiting for them.
        waiting = result.stage is not None and result.stage.status is Status.WAITING_FOR_DEPS
        result.message = f"stage {stage_id} " + (
            "waiting for its dependencies again" if waiting else "queued for a retry"
        )
    return result


def reset(store: Store, stage_id: str, source: str = "cli") -> ActionResult:
    """Put the stage back to its initial state (waiting or queued); keeps ``held``."""

    def change(stage: StageRecord, by_id: dict[str, StageRecord]) -> str | None:
        target = Status.QUEUED if dependencies_done(stage, by_id) else Status.WAITING_FOR_DEPS
        if stage.status in (Status.QUEUED, Status.WAITING_FOR_DEPS) and not stage.retry_count:
            return f"stage {stage_id} is already {stage.status}"
        if stage.status is not target:
            stage.set_status(target)
        stage.merged = False
        stage.retry_count = 0
        stage.generation = 0
        stage.session_id = None
        stage.context_percent = None
        stage.blocked_reason = None
        stage.failure = None
        stage.next_retry_at = None
        stage.started_at = None
        stage.completed_at = None
        stage.merge_commit = None
        return None

    result = _mutate(store, stage_id, change, "stage-reset", source)
    if result.changed and result.stage is not None:
        result.message = f"stage {stage_id} reset to {result.stage.status}"
    return result


def block(store: Store, stage_id: str, reason: str, source: str = "cli") -> ActionResult:
    def change(stage: StageRecord, _: dict[str, StageRecord]) -> str | None:
        if stage.status is Status.BLOCKED and stage.blocked_reason == reason:
            return f"stage {stage_id} is already blocked"
        stage.set_status(Status.BLOCKED)
        stage.blocked_reason = reason
        stage.next_retry_at = None
        return None

    result = _mutate(store, stage_id, change, "stage-blocked", source, reason=reason)
    if result.changed:
        result.message = f"stage {stage_id} blocked: {reason}"
    return result


def complete(
    store: Store,
    stage_id: str,
    *,
    source: str = "cli",
    on_result: Callable[[CommandResult], None] | None = None,
) -> tuple[ActionResult, list[CommandResult]]:
    """Run the stage's acceptance commands; mark it completed only when every one passes.

    The commands run without the store lock (they may take minutes); the status is checked before
    (so a refused completion does not run them in vain) and again, under the lock, after.
    """
    from loom_tui.core.acceptance import run_commands

    stage = store.read_stage(stage_id)
    if stage.status is Status.COMPLETED:
        return ActionResult(f"stage {stage_id} is already completed", False, stage), []
    if not _can_complete(stage):
        raise TransitionError(f"stage {stage_id}: cannot go from {stage.status} to completed")
    cwd = stage.worktree if stage.worktree and _isdir(stage.worktree) else store.root
    env = {"LOOM_STAGE_ID": stage_id, "LOOM_WORK_DIR": store.work_dir}
    results = run_commands(stage.acceptance, cwd, env, on_result)
    failed = [r for r in results if not r.passed]
    if failed:
        store.append_event(
            "acceptance-failed",
            stage=stage_id,
            source=source,
            failed=[r.command for r in failed],
        )
        return ActionResult(
            f"stage {stage_id} not completed: {len(failed)} of {len(results)} acceptance "
            "command(s) failed",
            False,
            stage,
        ), results

    def change(stage: StageRecord, _: dict[str, StageRecord]) -> str | None:
        if stage.status is Status.COMPLETED:
            return f"stage {stage_id} is already completed"
        stage.set_status(Status.COMPLETED)
        stage.completed_at = time.time()
        stage.blocked_reason = None
        stage.next_retry_at = None
        return None

    result = _mutate(store, stage_id, change, "stage-completed", source, acceptance=len(results))
    if result.changed:
        passed = f" ({len(results)} acceptance command(s) passed)" if results else ""
        result.message = f"stage {stage_id} completed{passed}"
    return result, results


def _can_complete(stage: StageRecord) -> bool:
    from loom_tui.core.model import can_transition

    return can_transition(stage.status, Status.COMPLETED)


def _isdir(path: str) -> bool:
    import os

    return os.path.isdir(path)


def require_stage_ids(store: Store, ids: list[str]) -> None:
    """Fail before changing anything when one of several ids is invalid (exit 2) or unknown."""
    for stage_id in ids:
        store.stage_path(stage_id)  # raises UsageError for an id that can never name a stage
    known = set(store.stage_ids())
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise LoomError(
            f"no stage {', '.join(repr(u) for u in unknown)} in this plan "
            f"(stages: {', '.join(sorted(known)) or 'none'})"
        )


def resume(store: Store, stage_id: str, source: str = "cli") -> ActionResult:
    """Start a fresh session of the stage from its newest handoff, by hand."""

    def change(stage: StageRecord, _: dict[str, StageRecord]) -> str | None:
        if not stage.handoffs:
            raise LoomError(
                f"stage {stage_id} has no handoff to resume from (`loom stage retry` starts it "
                "again from its branch)"
            )
        if stage.status in (
            Status.COMPLETED,
            Status.SKIPPED,
            Status.MERGE_CONFLICT,
            Status.WAITING_FOR_DEPS,
            Status.QUEUED,
        ):
            raise TransitionError(
                f"stage {stage_id} is {stage.status}: only a blocked or running stage can be "
                "resumed from a handoff"
            )
        stage.set_status(Status.QUEUED)
        stage.session_id = None
        stage.next_retry_at = None
        stage.blocked_reason = None
        return None

    result = _mutate(store, stage_id, change, "stage-resumed", source)
    if result.changed and result.stage is not None:
        result.message = (
            f"stage {stage_id} queued: a fresh session continues from {result.stage.handoffs[-1]}"
        )
    return result
