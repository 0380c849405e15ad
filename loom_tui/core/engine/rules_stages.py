"""Rules for stages: what follows a session's recorded end (a handoff continues, a crash blocks
with a retry), retries that are due, merges, readiness, starts, and tidying up merged stages."""

from __future__ import annotations

from loom_tui.core.control import killed_by_hand
from loom_tui.core.engine.commands import (
    Block,
    Merge,
    Promote,
    RemoveWorktree,
    Requeue,
    Retry,
    StartSession,
    WriteHandoff,
)
from loom_tui.core.engine.decision import Decision
from loom_tui.core.engine.rules_conflicts import conflict_step, pending, resolver_ended
from loom_tui.core.engine.rules_sessions import NEVER_STARTED, STALLED, handed_over
from loom_tui.core.engine.world import World
from loom_tui.core.model import ACTIVE, SessionRecord, StageRecord, Status
from loom_tui.core.readiness import dependencies_done, readiness_changes

#: Failed commands on one stage before a queued stage is blocked with the error as its reason.
START_FAILURES_LIMIT = 3
#: How the message of a failed setup command begins (`starts.SetupFailed`).
SETUP_FAILED_PREFIX = "setup command "


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """The wait before automatic retry ``attempt`` (1-based): base × 2^(attempt−1), capped."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))


def stage_steps(world: World, d: Decision, live_stages: set[str]) -> None:
    settings = world.settings
    for stage in world.stages.values():
        if stage.id in d.claimed:
            continue
        failure = world.failures.get(stage.id)
        if (
            stage.status is Status.QUEUED
            and failure is not None
            and failure[0] >= START_FAILURES_LIMIT
        ):
            setup = failure[1].startswith(SETUP_FAILED_PREFIX)
            d.add(
                Block(
                    stage=stage.id,
                    reason=failure[1] if setup else f"cannot start: {failure[1]}",
                    failure_kind="setup" if setup else "start-failed",
                )
            )
            continue
        cool = world.cooldowns.get(stage.id)
        if cool is not None and cool > world.now:
            d.wake(cool)
            continue
        if stage.status in ACTIVE:
            session = world.sessions.get(stage.session_id) if stage.session_id else None
            if session is None:
                d.add(
                    Requeue(
                        stage=stage.id,
                        session=stage.session_id,
                        reason="its session record is missing",
                    )
                )
            elif not session.live:
                follow_ended(world, stage, session, d)
        elif stage.status is Status.BLOCKED and stage.next_retry_at is not None and not stage.held:
            if stage.next_retry_at <= world.now:
                ready = dependencies_done(stage, world.stages)
                to = Status.QUEUED if ready else Status.WAITING_FOR_DEPS
                d.add(Retry(stage=stage.id, due_at=stage.next_retry_at, to=to))
            else:
                d.wake(stage.next_retry_at)
        elif stage.status is Status.COMPLETED and not stage.merged and settings.auto_merge:
            until = world.merge_waits.get(stage.id)
            if until is not None and until > world.now:
                d.wake(until)
            else:
                d.add(Merge(stage=stage.id))
        elif stage.status is Status.MERGE_CONFLICT:
            conflict_step(world, stage, d)
        elif stage.merged and stage.worktree and stage.id not in live_stages:
            d.add(RemoveWorktree(stage=stage.id))


def follow_ended(world: World, stage: StageRecord, session: SessionRecord, d: Decision) -> None:
    """The stage's session has ended while the stage is still active: take the next step."""
    if session.status == "killed":  # `loom sessions kill` died before it blocked the stage
        d.add(
            Block(
                stage=stage.id,
                session=session.id,
                reason=killed_by_hand(stage.id),
                failure_kind="killed",
            )
        )
    elif session.end_reason == NEVER_STARTED:
        d.add(
            Requeue(
                stage=stage.id,
                session=session.id,
                reason="its session never started",
                undo_generation=True,
            )
        )
    elif handed_over(stage, session):
        if session.handoff is None:
            d.add(
                WriteHandoff(
                    stage=stage.id, session=session.id, trigger=session.handoff_trigger or "budget"
                )
            )
        elif stage.handoff_streak > world.settings.handoff_loop_limit:
            d.add(
                Block(
                    stage=stage.id,
                    session=session.id,
                    reason=f"loop guard: {stage.handoff_streak} handoffs in a row without a new "
                    f"commit; run `loom diagnose {stage.id}`",
                    failure_kind="handoff-loop",
                )
            )
        else:
            d.add(
                Requeue(
                    stage=stage.id, session=session.id, reason=f"continues from {session.handoff}"
                )
            )
    elif stage.resolving:
        resolver_ended(stage, session, d)
    else:
        _crashed(world, stage, session, d)


def _crashed(world: World, stage: StageRecord, session: SessionRecord, d: Decision) -> None:
    """The session ended without completing its stage: block the stage with the kind of the
    failure, and a retry while the stage has retries left.  A stalled session is retried at once
    (waiting would not help it); when the retries are used up on failures the agent could not get
    past (its acceptance, a stall), the stage waits for a person's review instead."""
    settings = world.settings
    kind = failure_kind(stage, session)
    code = "?" if session.exit_code is None else str(session.exit_code)
    if kind == "stalled":
        what = f"agent stalled (no activity for {_seconds(world.stall_seconds(stage))})"
    elif kind == "acceptance":
        what = f"acceptance failed: {_failed_commands(stage)}"
    elif kind == "goal-check":
        layer = (stage.acceptance_failure or {}).get("layer")
        what = f"goal check failed ({layer}): {_failed_commands(stage)}"
    else:
        what = session.end_reason or "ended"
        what = f"session {what}" if what.startswith("could not start") else f"agent {what}"
        what = f"{what} (exit {code})"
    attempt = stage.retry_count + 1
    to = Status.BLOCKED
    if stage.retry_count < stage.max_retries:
        delay = (
            0.0
            if kind == "stalled"
            else backoff_seconds(attempt, settings.retry_backoff, settings.retry_backoff_max)
        )
        when = "now" if delay == 0 else f"in {_seconds(delay)}"
        reason = f"{what}; retry {attempt} of {stage.max_retries} {when}"
        retry_at: float | None = world.now + delay
    else:
        retry_at = None
        if kind in ("acceptance", "goal-check", "stalled"):
            to = Status.NEEDS_HUMAN_REVIEW
            reason = (
                f"{what}, and {stage.max_retries} retries are used up: review it "
                f"(`loom diagnose {stage.id}`), then retry or skip it"
            )
        else:
            reason = (
                f"{what} and {stage.max_retries} retries are used up; "
                f"run `loom diagnose {stage.id}`"
            )
    block = Block(
        stage=stage.id,
        session=session.id,
        reason=reason,
        failure_kind=kind,
        exit_code=session.exit_code,
        retry_at=retry_at,
        attempt=attempt if retry_at is not None else None,
        to=to,
    )
    if session.pane_id and session.handoff is None:
        # The retry continues from what the ended session did, rather than starting over.
        trigger = "stall" if kind == "stalled" else "crash"
        d.add(WriteHandoff(stage=stage.id, session=session.id, trigger=trigger), block)
    else:
        d.add(block)


def failure_kind(stage: StageRecord, session: SessionRecord) -> str:
    """Why the session's end is a failure, as `StageRecord.failure["kind"]` keeps it."""
    if session.end_reason == STALLED:
        return "stalled"
    failed = stage.acceptance_failure
    if failed and failed.get("session") == session.id:
        return "goal-check" if failed.get("layer") not in (None, "acceptance") else "acceptance"
    return "exit" if session.exit_code == 0 else "crash"


def _failed_commands(stage: StageRecord) -> str:
    failed = (stage.acceptance_failure or {}).get("failed")
    commands = [
        f"`{item.get('command')}`"
        + (f" (exit {item.get('exit_code')})" if item.get("exit_code") is not None else "")
        for item in (failed if isinstance(failed, list) else [])
        if isinstance(item, dict)
    ]
    if not commands:
        return "its acceptance commands"
    return ", ".join(commands[:2]) + (" …" if len(commands) > 2 else "")


def _seconds(delay: float) -> str:
    return f"{delay:.0f} s" if delay >= 10 else f"{delay:.1f} s".replace(".0 s", " s")


def promotion(world: World, d: Decision) -> set[str]:
    """The one place that decides readiness: one command for every stage that changes.
    Returns the stages it queues, which may start in the same decision (the executor promotes
    before it starts)."""
    changes = tuple(
        (stage_id, status)
        for stage_id, status in readiness_changes(world.stages)
        if stage_id not in d.claimed
    )
    if changes:
        d.add(Promote(stage=changes[0][0], changes=changes), claim=False)
        d.claimed.update(stage_id for stage_id, _ in changes)
    return {stage_id for stage_id, status in changes if status is Status.QUEUED}


def starts(world: World, d: Decision, live_stages: set[str], promoted: set[str]) -> None:
    """Start queued stages up to ``max_parallel`` running ones, continuing stages first."""
    settings = world.settings
    running = sum(1 for s in world.stages.values() if s.status in ACTIVE)
    # An agent that completed its stage holds its slot until it is merged and ended (within
    # moments): else one more agent would run beside it.  Not while the merge waits for the user,
    # nor with auto-merge off: then it idles at its prompt until a person merges.
    finishing = sum(
        1
        for s in world.stages.values()
        if s.status is Status.COMPLETED
        and not s.merged
        and settings.auto_merge
        and s.id in live_stages
        and (world.merge_waits.get(s.id) or 0.0) <= world.now
    )
    slots = settings.max_parallel - running - finishing
    if slots <= 0:
        return
    ready = [
        s
        for s in world.stages.values()
        if (s.status is Status.QUEUED or s.id in promoted)
        and not s.held
        and settings.wanted(s.id)
        and (s.id not in d.claimed or s.id in promoted)
        and s.id not in live_stages  # the session before it has not ended yet
        and (world.cooldowns.get(s.id) or 0.0) <= world.now
        and dependencies_done(s, world.stages)
    ]
    ready.sort(key=lambda s: 0 if s.generation > 0 else 1)  # stable: plan order within each
    for stage in ready[:slots]:
        # from the base in a new worktree: a hard reset, or a stage that never had a branch
        fresh = stage.fresh_start or stage.branch is None
        start = StartSession(stage=stage.id, generation=stage.generation + 1, fresh=fresh)
        d.add(start, claim=stage.id not in promoted)  # a promoted one is claimed by its Promote


def outcome(world: World) -> tuple[bool, str] | None:
    """(True, summary) when every wanted stage is done, (False, why) when nothing can run any
    more, None while something is under way."""
    settings = world.settings
    wanted = [s for s in world.stages.values() if settings.wanted(s.id)]

    def done(s: StageRecord) -> bool:
        return s.status is Status.SKIPPED or (
            s.status is Status.COMPLETED and (s.merged or not settings.auto_merge)
        )

    if all(done(s) for s in wanted):
        completed = sum(1 for s in wanted if s.status is Status.COMPLETED)
        skipped = len(wanted) - completed
        return True, f"{completed} completed" + (f", {skipped} skipped" if skipped else "")
    busy = any(
        s.status in ACTIVE
        or (s.status is Status.QUEUED and not s.held)
        or (s.status is Status.BLOCKED and s.next_retry_at is not None and not s.held)
        or (s.status is Status.COMPLETED and not s.merged and settings.auto_merge)
        or pending(world, s)
        for s in wanted
    )
    if busy:
        return None
    parts = [
        f"{s.id} {s.status.value}" + (" and held" if s.held else "") for s in wanted if not done(s)
    ]
    return False, "nothing can run: " + ", ".join(parts)
