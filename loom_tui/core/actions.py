"""Every change a person or an agent makes to a stage, as one function each.

The CLI (`loom stage hold X`), the TUI (the `h` key) and the scheduler's faces call these same
functions, so a rule lives in one place.  Each runs its read-modify-write under the store lock,
goes through the transition table, appends a typed event, and returns a one-line message for the
face to show.  Readiness is decided by `core.readiness`, the same function the scheduler uses.

A reset sends every stage whose readiness hangs on the reset one (its dependents and theirs, up to
a stage that completed or was skipped) back to waiting for its dependencies, with its pending retry
cancelled, to start afresh from the base once the reset stage is merged again: nothing may build
on work that is being done again.  A running one's session is then ended by the scheduler; the
branches they worked on are kept under another name.  The reset stage itself continues on its own
branch, unless the reset is ``hard``: then it too starts afresh from the base.
"""

from __future__ import annotations

import time

from loom_tui.core.errors import LoomError, TransitionError
from loom_tui.core.events import (
    AcceptanceFailed,
    StageAction,
    StageBlocked,
    StageCompleted,
    StageHeld,
    StageReleased,
    StageReset,
    StageResumed,
    StageRetried,
    StageReviewed,
    StageSkipped,
    StageStatusChanged,
)
from loom_tui.core.model import ACTIVE, StageRecord, Status
from loom_tui.core.quarantine import is_broken
from loom_tui.core.readiness import dependencies_done, readiness_changes, waiting_on

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from loom_tui.core.acceptance import CommandResult
    from loom_tui.core.store import Store
    from loom_tui.core.verify import Check

#: How much of the plan an action reads: only the stage, the stage and its dependencies, or all
#: (an action that may change other stages' readiness).
SELF, DEPENDENCIES, ALL = "self", "dependencies", "all"


class ActionResult:
    """What an action did: a message, and whether anything changed."""

    __slots__ = ("changed", "message", "stage")

    def __init__(self, message: str, changed: bool, stage: StageRecord | None = None) -> None:
        self.message = message
        self.changed = changed
        self.stage = stage


class Change:
    """What an action's ``change`` function sees: the stage, the other records it read (to
    change some too), and why each of those changed."""

    def __init__(self, stage: StageRecord, by_id: dict[str, StageRecord]) -> None:
        self.stage = stage
        self.by_id = by_id
        self.reasons: dict[str, str] = {}


def _mutate(
    store: Store,
    stage_id: str,
    change: Callable[[Change], str | None],
    event: type[StageAction],
    source: str,
    scope: str = SELF,
    read: Callable[[str], StageRecord] | None = None,
    **event_fields: Any,
) -> ActionResult:
    """Run ``change`` under the lock; it returns a message when nothing changed (and may put a
    new record in ``ctx.stage``: a reset does, for a record that cannot be read).  Then the
    readiness pass, over the records read; then every changed record is written, and events
    appended: the action's, and a status change for each other stage it moved.  Another stage's
    quarantined record is read as what it stands for and never written (see `quarantine`)."""
    with store.lock():
        stage = (read or store.read_stage)(stage_id)
        by_id = _scope(store, stage, scope)
        by_id[stage_id] = stage
        before = {i: s.to_dict() for i, s in by_id.items()}
        old = stage.status
        ctx = Change(stage, by_id)
        unchanged = change(ctx)
        stage = ctx.stage
        if unchanged is not None or stage.to_dict() == before[stage_id]:
            return ActionResult(unchanged or f"stage {stage_id}: nothing to change", False, stage)
        if scope == ALL:
            for other_id, status in readiness_changes(by_id):
                other = by_id[other_id]
                other.set_status(status)
                ctx.reasons.setdefault(
                    other_id,
                    "dependencies done"
                    if status is Status.QUEUED
                    else "a dependency is not done any more",
                )
        others = [
            s
            for i, s in by_id.items()
            if i != stage_id and not is_broken(s) and s.to_dict() != before[i]
        ]
        store.write_stage(stage)
        for other in others:
            store.write_stage(other)
    store.append_event(
        event(
            stage=stage_id, source=source, old=old.value, status=stage.status.value, **event_fields
        )
    )
    for other in others:
        if str(before[other.id]["status"]) == other.status.value:
            continue  # its run state was cleared; its status says nothing new
        store.append_event(
            StageStatusChanged(
                stage=other.id,
                source=source,
                old=str(before[other.id]["status"]),
                new=other.status.value,
                reason=ctx.reasons.get(other.id, ""),
            )
        )
    return ActionResult("", True, stage)


def _scope(store: Store, stage: StageRecord, scope: str) -> dict[str, StageRecord]:
    if scope == ALL:
        return {s.id: s for s in store.stages()}
    if scope == DEPENDENCIES:
        return {dep: store.stage_or_broken(dep) for dep in stage.dependencies}
    return {}


def promote_ready(store: Store, source: str = "cli") -> list[StageRecord]:
    """Queue the waiting stages whose dependencies are done (and the other way round), under
    one lock; for a person's `loom merge` when no scheduler runs."""
    with store.lock():
        by_id = {s.id: s for s in store.stages()}
        moved = []
        for stage_id, status in readiness_changes(by_id):
            stage = by_id[stage_id]
            moved.append((stage, stage.status))
            stage.set_status(status)
            store.write_stage(stage)
    for stage, old in moved:
        store.append_event(
            StageStatusChanged(
                stage=stage.id,
                source=source,
                old=old.value,
                new=stage.status.value,
                reason="dependencies done"
                if stage.status is Status.QUEUED
                else "a dependency is not done any more",
            )
        )
    return [stage for stage, _ in moved]


# --------------------------------------------------------------------------------------------------


def hold(store: Store, stage_id: str, source: str = "cli") -> ActionResult:
    """Keep the scheduler from starting (or restarting) the stage until it is released."""

    def change(ctx: Change) -> str | None:
        stage = ctx.stage
        if stage.held:
            return f"stage {stage_id} is already held"
        if stage.status in (Status.COMPLETED, Status.SKIPPED):
            raise TransitionError(
                f"stage {stage_id} is {stage.status}: there is nothing left to hold"
            )
        stage.held = True
        return None

    result = _mutate(store, stage_id, change, StageHeld, source)
    if result.changed:
        running = result.stage is not None and result.stage.status in ACTIVE
        result.message = f"stage {stage_id} held" + (
            " (its running session goes on; it will not be restarted)" if running else ""
        )
    return result


def release(store: Store, stage_id: str, source: str = "cli") -> ActionResult:
    def change(ctx: Change) -> str | None:
        if not ctx.stage.held:
            return f"stage {stage_id} is not held"
        ctx.stage.held = False
        return None

    result = _mutate(store, stage_id, change, StageReleased, source)
    if result.changed:
        result.message = f"stage {stage_id} released"
    return result


def skip(store: Store, stage_id: str, source: str = "cli", reason: str = "") -> ActionResult:
    """Give up on the stage; its dependents may start as if it had completed."""

    def change(ctx: Change) -> str | None:
        if ctx.stage.status is Status.SKIPPED:
            return f"stage {stage_id} is already skipped"
        ctx.stage.set_status(Status.SKIPPED)
        ctx.stage.next_retry_at = None
        ctx.stage.skip_reason = reason or None
        ctx.stage.stalled_at = None
        return None

    result = _mutate(store, stage_id, change, StageSkipped, source, ALL, reason=reason)
    if result.changed:
        result.message = f"stage {stage_id} skipped"
    return result


def retry(store: Store, stage_id: str, source: str = "cli", context: str = "") -> ActionResult:
    """Start a blocked stage (or one waiting for review) again at once: the scheduler picks it up
    on its next pass."""

    def change(ctx: Change) -> str | None:
        stage = ctx.stage
        if stage.status not in (Status.BLOCKED, Status.NEEDS_HUMAN_REVIEW):
            raise TransitionError(
                f"stage {stage_id} is {stage.status}: only a blocked stage, or one that needs "
                "review, can be retried"
                + (
                    " (use `loom merge` for a merge conflict)"
                    if stage.status is Status.MERGE_CONFLICT
                    else ""
                )
            )
        # A stage blocked before its dependencies were done goes back to waiting for them.
        ready = dependencies_done(stage, ctx.by_id)
        stage.set_status(Status.QUEUED if ready else Status.WAITING_FOR_DEPS)
        stage.next_retry_at = None
        stage.blocked_reason = None
        if context.strip():
            stage.guidance = [*stage.guidance, context.strip()]
        return None

    result = _mutate(
        store, stage_id, change, StageRetried, source, DEPENDENCIES, reason=context.strip()
    )
    if result.changed:
        waiting = result.stage is not None and result.stage.status is Status.WAITING_FOR_DEPS
        result.message = f"stage {stage_id} " + (
            "waiting for its dependencies again" if waiting else "queued for a retry"
        )
    return result


def review(
    store: Store, stage_id: str, *, approve: bool, why: str = "", source: str = "cli"
) -> ActionResult:
    """A person's verdict on a stage that needs review.  Approved, it completes (and is merged
    like any completed stage); rejected, it is queued again with its retries given back, and
    ``why`` goes into its next session's signal."""

    def change(ctx: Change) -> str | None:
        stage = ctx.stage
        if stage.status is not Status.NEEDS_HUMAN_REVIEW:
            raise TransitionError(
                f"stage {stage_id} is {stage.status}: only a stage that needs review can be "
                "approved or rejected"
            )
        stage.blocked_reason = None
        stage.next_retry_at = None
        if approve:
            stage.set_status(Status.COMPLETED)
            stage.completed_at = time.time()
            stage.acceptance_failure = None
            stage.guidance = []
            return None
        ready = dependencies_done(stage, ctx.by_id)
        stage.set_status(Status.QUEUED if ready else Status.WAITING_FOR_DEPS)
        stage.retry_count = 0
        stage.guidance = [*stage.guidance, f"Rejected in review: {why.strip()}"]
        return None

    verdict = "approved" if approve else "rejected"
    result = _mutate(
        store,
        stage_id,
        change,
        StageReviewed,
        source,
        DEPENDENCIES,
        verdict=verdict,
        reason=why.strip(),
    )
    if result.changed:
        result.message = (
            f"stage {stage_id} approved: completed"
            if approve
            else f"stage {stage_id} rejected: queued again with your reason for its next session"
        )
    return result


def reset(store: Store, stage_id: str, source: str = "cli", *, hard: bool = False) -> ActionResult:
    """Put the stage back to its initial state (waiting or queued); keeps ``held``.  The stages
    whose readiness hangs on it wait for it again (see the module's docstring).  ``hard``: its
    next session starts from the base in a fresh worktree (its branch kept under another name).
    A stage whose record cannot be read is rebuilt from the plan, the unreadable file kept beside
    it."""
    kept: list[str] = []

    def change(ctx: Change) -> str | None:
        stage = ctx.stage
        rebuilt = is_broken(stage)
        if rebuilt:
            stage = ctx.stage = ctx.by_id[stage_id] = _rebuilt(store, stage_id, kept)
        target = Status.QUEUED if dependencies_done(stage, ctx.by_id) else Status.WAITING_FOR_DEPS
        if (
            not rebuilt
            and stage.status in (Status.QUEUED, Status.WAITING_FOR_DEPS)
            and not stage.retry_count
            and (stage.fresh_start or not hard or stage.branch is None)
        ):
            return f"stage {stage_id} is already {stage.status}"
        if stage.status is not target:
            stage.set_status(target)
        _start_over(stage, fresh=hard)
        for dependent_id in waiting_on(stage_id, ctx.by_id.values()):
            dependent = ctx.by_id[dependent_id]
            if dependent.status is not Status.WAITING_FOR_DEPS:
                dependent.set_status(Status.WAITING_FOR_DEPS)
            _start_over(dependent, fresh=dependent.branch is not None)
            ctx.reasons[dependent_id] = f"its dependency {stage_id} was reset"
        return None

    result = _mutate(
        store,
        stage_id,
        change,
        StageReset,
        source,
        ALL,
        read=store.stage_or_broken,
        reason="hard" if hard else "",
    )
    if result.changed and result.stage is not None:
        result.message = f"stage {stage_id} reset to {result.stage.status}" + (
            " (its next session starts from the base in a fresh worktree)" if hard else ""
        )
        if kept:
            result.message = (
                result.message.replace("reset to", "rebuilt from the plan and reset to", 1)
                + f"; its unreadable record is kept as {kept[0]}"
            )
    return result


def _rebuilt(store: Store, stage_id: str, kept: list[str]) -> StageRecord:
    """The stage's record rebuilt from the plan (for a reset of an unreadable one), after a copy
    of the unreadable file is kept as ``<id>.md.broken`` for whoever wants to see what broke."""
    from loom_tui.core.fsutil import atomic_write
    from loom_tui.core.quarantine import KEPT_SUFFIX, from_plan

    record = from_plan(store, stage_id)
    path = store.stage_path(stage_id)
    try:
        with open(path, "rb") as fh:
            atomic_write(path + KEPT_SUFFIX, fh.read())
        kept.append(store.rel(path + KEPT_SUFFIX))
    except FileNotFoundError:
        pass
    return record


def _start_over(stage: StageRecord, *, fresh: bool) -> None:
    """Forget a stage's run state.  With ``fresh`` its next session starts from the base, its
    branch kept as `loom/<id>-before-reset-<time>` if it holds commits (see
    `git.ensure_worktree`); else it continues on its branch.  Its handoff files stay on disk, but
    no longer feed its signal: they describe work redone."""
    stage.generation = 0
    stage.merged = False
    stage.merge_commit = None
    stage.handoffs = []
    stage.handoff_streak = 0
    stage.handoff_head = None
    stage.retry_count = 0
    stage.resolving = False
    stage.resolver_attempts = 0
    stage.conflict_files = []
    stage.session_id = None
    stage.context_percent = None
    stage.blocked_reason = None
    stage.failure = None
    stage.failure_counts = None
    stage.acceptance_failure = None
    stage.guidance = []
    stage.skip_reason = None
    stage.fresh_start = stage.fresh_start or fresh
    stage.stalled_at = None
    stage.next_retry_at = None
    stage.started_at = None
    stage.completed_at = None


def block(store: Store, stage_id: str, reason: str, source: str = "cli") -> ActionResult:
    def change(ctx: Change) -> str | None:
        stage = ctx.stage
        if stage.status is Status.BLOCKED and stage.blocked_reason == reason:
            return f"stage {stage_id} is already blocked"
        stage.set_status(Status.BLOCKED)
        stage.blocked_reason = reason
        stage.next_retry_at = None
        return None

    result = _mutate(store, stage_id, change, StageBlocked, source, reason=reason)
    if result.changed:
        result.message = f"stage {stage_id} blocked: {reason}"
    return result


def complete(
    store: Store,
    stage_id: str,
    *,
    source: str = "cli",
    on_result: Callable[[CommandResult], None] | None = None,
    on_check: Callable[[Check], None] | None = None,
) -> tuple[ActionResult, list[CommandResult]]:
    """Run the stage's gates in layers — acceptance commands, then its goal checks (truths,
    artifacts with stub detection, wiring) — and mark it completed only when every one passes.
    A refusal names the first layer that failed; what failed is kept for the next session.

    The commands run without the store lock (they may take minutes); the status is checked before
    (so a refused completion does not run them in vain) and again, under the lock, after.
    """
    from loom_tui.core.stage_commands import run_acceptance

    stage = store.read_stage(stage_id)
    if stage.status is Status.COMPLETED:
        return ActionResult(f"stage {stage_id} is already completed", False, stage), []
    if not _can_complete(stage):
        raise TransitionError(f"stage {stage_id}: cannot go from {stage.status} to completed")
    cwd = stage.worktree if stage.worktree and _isdir(stage.worktree) else store.root
    env = {"LOOM_STAGE_ID": stage_id, "LOOM_WORK_DIR": store.work_dir}
    results = run_acceptance(store, stage, cwd, env, on_result)
    failed = [r for r in results if not r.passed]
    if failed:
        _record_acceptance_failure(store, stage_id, failed)
        store.append_event(
            AcceptanceFailed(stage=stage_id, source=source, failed=tuple(r.command for r in failed))
        )
        return ActionResult(
            f"stage {stage_id} not completed: {len(failed)} of {len(results)} acceptance "
            "command(s) failed",
            False,
            stage,
        ), results
    if stage.truths or stage.artifacts or stage.wiring:
        refused = _goal_gate(store, stage_id, on_check)
        if refused is not None:
            return ActionResult(refused, False, stage), results

    def change(ctx: Change) -> str | None:
        stage = ctx.stage
        if stage.status is Status.COMPLETED:
            return f"stage {stage_id} is already completed"
        stage.set_status(Status.COMPLETED)
        stage.completed_at = time.time()
        stage.blocked_reason = None
        stage.next_retry_at = None
        stage.acceptance_failure = None
        stage.stalled_at = None
        stage.guidance = []
        return None

    result = _mutate(store, stage_id, change, StageCompleted, source, acceptance=len(results))
    if result.changed:
        passed = f" ({len(results)} acceptance command(s) passed)" if results else ""
        result.message = f"stage {stage_id} completed{passed}"
    return result, results


#: Output kept of each failing acceptance command, for the next session's signal.
ACCEPTANCE_TAIL_CHARS = 2000
#: The goal-check layers, in the order `stage complete` reports them (`Check.kind` -> layer).
GOAL_LAYERS = {"truth": "truths", "artifact": "artifacts", "wiring": "wiring"}


def _goal_gate(store: Store, stage_id: str, on_check: Callable[[Check], None] | None) -> str | None:
    """The goal-backward layers after acceptance: None when every check passes, else the
    refusal, naming the first layer that failed (all failures are kept for the next session)."""
    from loom_tui.core.verify import verify_stage

    report = verify_stage(store, stage_id, on_check)
    if report.passed:
        return None
    failed = report.failed
    layer = next(GOAL_LAYERS[kind] for kind in GOAL_LAYERS if any(c.kind == kind for c in failed))
    items: list[dict[str, object]] = [
        {
            "command": f"{c.kind}: {c.target}",
            "exit_code": None,
            "unmet": [c.detail],
            "timed_out": False,
            "tail": "\n".join(c.output_tail)[-ACCEPTANCE_TAIL_CHARS:],
        }
        for c in failed
    ]
    _keep_failure(store, stage_id, items, layer)
    return (
        f"stage {stage_id} not completed: acceptance passed, but the {layer} layer failed "
        f"({len(failed)} of {len(report.checks)} goal check(s) failed)"
    )


def _record_acceptance_failure(store: Store, stage_id: str, failed: list[CommandResult]) -> None:
    items: list[dict[str, object]] = [
        {
            "command": r.command,
            "exit_code": r.exit_code,
            "unmet": list(r.unmet),
            "timed_out": r.timed_out,
            "tail": "\n".join(r.output_tail)[-ACCEPTANCE_TAIL_CHARS:],
        }
        for r in failed
    ]
    _keep_failure(store, stage_id, items, "acceptance")


def _keep_failure(store: Store, stage_id: str, items: list[dict[str, object]], layer: str) -> None:
    """Keep what failed on the stage, so that the end of its session counts as a failed gate
    (not a crash) and the next session's signal shows what failed and its output.  The session
    is the agent's own when an agent ran the command, else the stage's current one."""
    import os

    def keep(record: StageRecord) -> None:
        session = os.environ.get("LOOM_SESSION_ID")
        if os.environ.get("LOOM_STAGE_ID") != stage_id:
            session = record.session_id
        record.acceptance_failure = {
            "at": time.time(),
            "session": session,
            "layer": layer,
            "failed": items,
        }

    store.update_stage(stage_id, keep)


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

    def change(ctx: Change) -> str | None:
        stage = ctx.stage
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

    result = _mutate(store, stage_id, change, StageResumed, source)
    if result.changed and result.stage is not None:
        result.message = (
            f"stage {stage_id} queued: a fresh session continues from {result.stage.handoffs[-1]}"
        )
    return result
