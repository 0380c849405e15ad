"""Rules for live sessions: has the pane died, was it found again, is the session still wanted,
and, for the session a stage runs on, the enforced handoff and following the agent's state.

When loom's tmux server itself is gone, every pane went with it: each of its sessions ends with
one reason, `SERVER_LOST`, and its stage continues in a fresh session from a handoff without
spending a retry (no agent failed); a stage that keeps losing its server is blocked instead.
"""

from __future__ import annotations

from dataclasses import replace

from loom_tui.core.engine.commands import (
    AdoptSession,
    Block,
    EndSession,
    FollowAgent,
    MarkStalled,
    NudgeTmux,
    PasteHandoffRequest,
    RequestHandoff,
    Requeue,
    WriteHandoff,
)
from loom_tui.core.engine.decision import Decision
from loom_tui.core.engine.world import PaneView, World
from loom_tui.core.model import ACTIVE, SessionRecord, StageRecord, Status
from loom_tui.core.session_monitor import FINISHED_TURN, WAITING_STATES, WORKING

#: `SessionRecord.end_reason` of a session whose pane never came up (loom died in between).
NEVER_STARTED = "never started"
HANDED_OFF = "handed off"
#: `SessionRecord.end_reason` of a session ended because it stalled.
STALLED = "stalled"
#: Triggers of the handoffs loom writes for a session that failed (it crashed or stalled): the
#: session still counts as a failure, not as handed over.
LOOM_RESCUE_TRIGGERS = ("crash", "stall")
#: After loom types its nudge, the echo and the agent's first redraw are no sign of life yet.
NUDGE_ECHO = 3.0
#: `SessionRecord.end_reason` of the sessions of a tmux server that died, and the stage's
#: failure kind.
SERVER_LOST = "tmux server lost"
SERVER_LOST_KIND = "tmux-server-lost"
#: Server losses in a row one stage may live through before it is blocked for a person.
SERVER_LOSSES_LIMIT = 3
#: How soon a dead pane whose exit status tmux lost is looked at again, after a nudge.
NUDGE_AGAIN = 0.2


def live_sessions(world: World, d: Decision) -> None:
    for session in world.sessions.values():
        if session.live:
            _live_session(world, session, world.stages.get(session.stage_id), d)


def _live_session(
    world: World, session: SessionRecord, stage: StageRecord | None, d: Decision
) -> None:
    pane = world.panes.get(session.id)
    exit_code = world.exits.get(session.id)
    listed = world.panes_listed_at
    if pane is None:
        if listed is None or (session.started_at or 0.0) > listed:
            return  # not listed since it started: nothing to judge yet
        if session.status == "starting" and not session.pane_id and exit_code is None:
            d.add(_end(session, "ended", NEVER_STARTED, None, None))
        elif world.tmux_server_lost:
            end = ended(session, stage, exit_code, None, SERVER_LOST)
            d.add(replace(end, reason=SERVER_LOST) if end.status == "crashed" else end)
        else:
            d.add(ended(session, stage, exit_code, None, "pane vanished"))
        return
    if pane.dead or exit_code is not None:
        code = exit_code if exit_code is not None else pane.dead_status
        nudges, nudged_at = world.exit_waits.get(session.id, (0, 0.0))
        if code is None and nudges < world.settings.exit_status_patience:
            if world.now - nudged_at < NUDGE_AGAIN:
                d.wake(nudged_at + NUDGE_AGAIN)  # give tmux a moment, then list the panes again
            else:
                d.add(NudgeTmux(stage=session.stage_id, session=session.id), claim=False)
                d.wake(world.now + NUDGE_AGAIN)
            return
        d.add(ended(session, stage, code, pane, ""))
        return
    if session.pane_id != pane.pane_id or session.status != "running":
        d.add(AdoptSession(stage=session.stage_id, session=session.id, pane=pane), claim=False)
    if stage is None or stage.session_id != session.id or stage.status not in ACTIVE:
        if stage is not None and (
            (stage.status is Status.COMPLETED and not stage.merged)
            or stage.status is Status.MERGE_CONFLICT
        ):
            return  # ended once merged; kept through a conflict (a person may ask it to resolve)
        why = "completed" if stage is not None and stage.merged else "stopped"
        d.add(_end(session, "ended", why, None, pane))
        return
    if stage.id in world.cooldowns and world.cooldowns[stage.id] > world.now:
        d.wake(world.cooldowns[stage.id])
        return
    current_session(world, stage, session, pane, d)


def after_server_lost(world: World, d: Decision) -> None:
    """An active stage whose session ended with its tmux server: a handoff from what the session
    did, then queued again — no retry spent.  The `SERVER_LOSSES_LIMIT`-th loss in a row blocks
    it: a server that keeps dying needs a person."""
    for stage in world.stages.values():
        session = world.sessions.get(stage.session_id) if stage.session_id else None
        if (
            stage.status not in ACTIVE
            or session is None
            or session.live
            or session.end_reason != SERVER_LOST
            or stage.id in d.claimed
        ):
            continue
        cool = world.cooldowns.get(stage.id)
        if cool is not None and cool > world.now:  # its last command failed: wait, then again
            d.claimed.add(stage.id)
            d.wake(cool)
            continue
        failure = stage.failure or {}
        previous = failure.get("count") if failure.get("kind") == SERVER_LOST_KIND else 0
        count = (previous if isinstance(previous, int) else 0) + 1
        if count >= SERVER_LOSSES_LIMIT:
            step: Block | Requeue = Block(
                stage=stage.id,
                session=session.id,
                reason=f"{SERVER_LOST} {count} times while it ran; see `loom diagnose "
                f"{stage.id}`, then `loom stage retry {stage.id}`",
                failure_kind=SERVER_LOST_KIND,
            )
        else:
            step = Requeue(
                stage=stage.id,
                session=session.id,
                reason=f"{SERVER_LOST}; a fresh session continues from a handoff, no retry spent",
                failure_kind=SERVER_LOST_KIND,
                failure_count=count,
            )
        if session.pane_id and session.handoff is None:
            d.add(WriteHandoff(stage=stage.id, session=session.id, trigger="crash"), step)
        else:
            d.add(step)


def ended(
    session: SessionRecord,
    stage: StageRecord | None,
    exit_code: int | None,
    pane: PaneView | None,
    why: str,
) -> EndSession:
    """The end of a session whose agent is gone, and the words for it.  What its stage does next
    is decided from the stage's record once the end is recorded (`rules_stages`)."""
    current = stage is not None and stage.session_id == session.id and stage.status in ACTIVE
    if current and stage is not None and handed_over(stage, session):
        return _end(session, "ended", HANDED_OFF, exit_code, pane)
    if current:
        if exit_code not in (0, None):
            reason = "crashed"
        elif exit_code == 0:
            reason = "exited without completing"
        else:
            reason = why or "lost"
        return _end(session, "crashed", reason, exit_code, pane)
    if stage is not None and stage.status in (Status.COMPLETED, Status.MERGE_CONFLICT):
        return _end(session, "ended", "completed", exit_code, pane)
    return _end(session, "ended", why or "ended", exit_code, pane)


def handed_over(stage: StageRecord, session: SessionRecord) -> bool:
    """Whether the stage's session ends in a handoff (asked for, or written by the agent itself)
    rather than a crash.  A handoff loom wrote after a crash does not count."""
    return stage.status is Status.NEEDS_HANDOFF or (
        session.handoff is not None and session.handoff_trigger not in LOOM_RESCUE_TRIGGERS
    )


def _end(
    session: SessionRecord,
    status: str,
    reason: str,
    exit_code: int | None,
    pane: PaneView | None,
) -> EndSession:
    return EndSession(
        stage=session.stage_id,
        session=session.id,
        status=status,
        reason=reason,
        exit_code=exit_code,
        pane=pane,
    )


# --------------------------------------------------------------------------------------------------
# The session a stage runs on


def current_session(
    world: World, stage: StageRecord, session: SessionRecord, pane: PaneView, d: Decision
) -> None:
    """A live session of an active stage: hand off when due, follow the agent's state."""
    if stage.status is Status.NEEDS_HANDOFF:
        _handoff_progress(world, stage, session, pane, d)
        return
    trigger, detail = _handoff_due(stage, session)
    if trigger is not None:
        d.add(RequestHandoff(stage=stage.id, session=session.id, trigger=trigger, detail=detail))
        return
    if _stalled(world, stage, session, pane, d):
        return
    state = session.agent_state
    target = (
        Status.WAITING_FOR_INPUT
        if state in WAITING_STATES
        else Status.EXECUTING
        if state == WORKING
        else None
    )
    if target is not None and target is not stage.status:
        reason = f"agent {state} ({session.agent_state_source or '?'})"
        d.add(FollowAgent(stage=stage.id, session=session.id, to=target, reason=reason))


def _handoff_due(stage: StageRecord, session: SessionRecord) -> tuple[str | None, str]:
    percent = session.context_percent
    if session.handoff_requested_at is not None:  # a request cut short by a restart
        trigger = session.handoff_trigger or "budget"
        return trigger, "the handoff was requested before loom restarted"
    if session.handoff is not None:
        # The agent wrote its handoff before loom asked (on the PreCompact hook's answer, or on
        # its own): follow it, or the stage waits on an idle agent forever.
        return session.handoff_trigger or "manual", (
            f"the agent handed off on its own ({session.handoff})"
        )
    if percent is not None and percent >= stage.context_budget:
        return "budget", f"context {percent:.0f}% ≥ budget {stage.context_budget}%"
    if session.precompact_blocked_at is not None:
        return "precompact", "the agent is about to compact its context"
    return None, ""


def _handoff_progress(
    world: World, stage: StageRecord, session: SessionRecord, pane: PaneView, d: Decision
) -> None:
    now = world.now
    settings = world.settings
    requested = session.handoff_requested_at
    if requested is None:  # needs-handoff set by someone else: record the request
        d.add(RequestHandoff(stage=stage.id, session=session.id, trigger="manual"))
        return
    if session.handoff is not None:
        written = session.handoff_at or requested
        stopped = session.stop_at is not None and session.stop_at >= written
        if stopped or now - written >= settings.handoff_grace:
            d.add(_end(session, "ended", HANDED_OFF, None, pane))
        else:
            d.wake(written + settings.handoff_grace)
        return
    deadline = requested + settings.handoff_timeout
    if now >= deadline:
        end = _end(session, "ended", HANDED_OFF, None, pane)
        d.add(replace(end, handoff_timeout=True))
        return
    d.wake(deadline)
    idle = session.agent_state in (FINISHED_TURN, *WAITING_STATES)
    if idle and session.handoff_pasted_at is None:
        d.add(PasteHandoffRequest(stage=stage.id, session=session.id))


def _stalled(
    world: World, stage: StageRecord, session: SessionRecord, pane: PaneView, d: Decision
) -> bool:
    """Supervision: a session with no sign of activity (hook event, transcript growth, output in
    its pane) for the stage's ``stall_seconds`` is stalled: loom nudges it once; if it stays
    quiet as long again, it is ended and the stage resumes from a handoff loom writes.  An agent
    waiting for a person is not stalled: that is its own attention state.  Returns whether the
    session is being ended."""
    limit = world.stall_seconds(stage)
    if session.agent_state in WAITING_STATES:
        if session.stalled_at is not None:
            d.add(MarkStalled(stage=stage.id, session=session.id, stalled=False), claim=False)
        return False
    seen = max(
        world.activity.get(session.id, 0.0),
        session.started_at or 0.0,
        session.agent_state_at or 0.0,
        session.context_at or 0.0,
    )
    if session.stalled_at is None:
        if world.now - seen >= limit:
            d.add(
                MarkStalled(stage=stage.id, session=session.id, idle_seconds=world.now - seen),
                claim=False,
            )
        else:
            d.wake(seen + limit)
        return False
    if seen > session.stalled_at + NUDGE_ECHO:
        d.add(MarkStalled(stage=stage.id, session=session.id, stalled=False), claim=False)
        return False
    if world.now - session.stalled_at >= limit:
        d.add(_end(session, "crashed", STALLED, None, pane))
        return True
    d.wake(session.stalled_at + limit)
    return False
