"""Carrying out the commands about a stage's course: follow its agent, hand off, queue it
again, block it, retry it, and promote many stages at once."""

from __future__ import annotations

from collections.abc import Callable

from loom_tui.core.engine.commands import (
    Block,
    FollowAgent,
    PasteHandoffRequest,
    Promote,
    RequestHandoff,
    Requeue,
    Retry,
    WriteHandoff,
)
from loom_tui.core.engine.ports import PaneHost
from loom_tui.core.engine.records import change_session, change_stage
from loom_tui.core.engine.world import World
from loom_tui.core.events import Event, HandoffEvent, RetryScheduled, StageStatusChanged
from loom_tui.core.hook_flags import set_flag
from loom_tui.core.hooks import handoff_request
from loom_tui.core.model import ACTIVE, SessionRecord, StageRecord, Status
from loom_tui.core.readiness import dependencies_done
from loom_tui.core.store import Store


class StageSteps:
    def __init__(self, store: Store, panes: PaneHost, clock: Callable[[], float]) -> None:
        self.store = store
        self.panes = panes
        self.clock = clock

    def follow(self, cmd: FollowAgent, world: World) -> list[Event]:
        def follow(record: StageRecord) -> bool:
            if record.session_id != cmd.session or record.status not in (
                Status.EXECUTING,
                Status.WAITING_FOR_INPUT,
            ):
                return False
            record.set_status(cmd.to)
            return True

        done = change_stage(self.store, cmd.stage, follow)
        if done is None:
            return []
        _stage, old = done
        return [
            StageStatusChanged(stage=cmd.stage, old=old.value, new=cmd.to.value, reason=cmd.reason)
        ]

    def request_handoff(self, cmd: RequestHandoff, world: World) -> list[Event]:
        """The session's request first, then the stage: killed between, the session says a
        handoff was requested while the stage still executes, and `decide` asks again."""
        now = self.clock()
        self._flag_request(cmd.session, world)

        def requested(record: SessionRecord) -> bool:
            if record.handoff_requested_at is not None:
                return False
            record.handoff_requested_at = now
            record.handoff_trigger = record.handoff_trigger or cmd.trigger
            return True

        session = change_session(self.store, cmd.session, requested) or self.store.read_session(
            cmd.session
        )

        def needs(record: StageRecord) -> bool:
            if record.session_id != cmd.session or record.status not in ACTIVE:
                return False
            if record.status is Status.NEEDS_HANDOFF:
                return False
            record.set_status(Status.NEEDS_HANDOFF)
            return True

        done = change_stage(self.store, cmd.stage, needs)
        if done is None:
            return []
        _stage, old = done
        return [
            StageStatusChanged(
                stage=cmd.stage, old=old.value, new="needs-handoff", reason=cmd.detail
            ),
            HandoffEvent(
                stage=cmd.stage,
                session=cmd.session,
                step="requested",
                trigger=session.handoff_trigger or cmd.trigger,
                detail=cmd.detail,
                reading_at=session.context_at,
            ),
        ]

    def _flag_request(self, session_id: str, world: World) -> None:
        """The flag the session's sh hook answers from (core/hook.sh): written before the
        session record, so that a crash between leaves only a flag with nothing to send."""
        session = world.sessions.get(session_id)
        if session is None or not session.live or session.handoff is not None:
            return
        stage = world.stages.get(session.stage_id)
        budget = stage.context_budget if stage is not None else 65
        text = handoff_request(session.stage_id, session.context_percent, budget)
        set_flag(self.store.work_dir, session_id, "handoff", text)

    def paste(self, cmd: PasteHandoffRequest, world: World) -> list[Event]:
        """The agent sits at its prompt, where no hook fires: type the request into its pane."""
        session = self.store.read_session(cmd.session)
        stage = world.stages[cmd.stage]
        if not session.pane_id or session.handoff_pasted_at is not None or session.handoff:
            return []
        text = handoff_request(stage.id, session.context_percent, stage.context_budget)
        self.panes.paste(session.pane_id, text)
        now = self.clock()

        def pasted(record: SessionRecord) -> bool:
            record.handoff_pasted_at = now
            return True

        change_session(self.store, cmd.session, pasted)
        return []

    def write_handoff(self, cmd: WriteHandoff, world: World) -> list[Event]:
        from loom_tui.core.handoff import write_handoff

        if self.store.read_session(cmd.session).handoff is not None:
            return []  # written meanwhile (by the agent, or before a restart)
        _path, event = write_handoff(
            self.store, cmd.stage, session_id=cmd.session, trigger=cmd.trigger, written_by="loom"
        )
        return [event]

    def requeue(self, cmd: Requeue, world: World) -> list[Event]:
        now = self.clock()

        def requeue(record: StageRecord) -> bool:
            if record.status not in ACTIVE or record.session_id != cmd.session:
                return False
            record.set_status(Status.QUEUED)
            record.stalled_at = None
            if cmd.undo_generation:
                record.generation = max(0, record.generation - 1)
            if cmd.failure_kind is not None:
                record.failure = {
                    "kind": cmd.failure_kind,
                    "exit_code": None,
                    "session": cmd.session,
                    "at": now,
                    "count": cmd.failure_count,
                }
                counts = dict(record.failure_counts or {})
                counts[cmd.failure_kind] = int(str(counts.get(cmd.failure_kind, 0))) + 1
                record.failure_counts = counts
            return True

        done = change_stage(self.store, cmd.stage, requeue)
        if done is None:
            return []
        stage, old = done
        events: list[Event] = [
            StageStatusChanged(stage=cmd.stage, old=old.value, new="queued", reason=cmd.reason)
        ]
        if cmd.reason.startswith("continues from"):
            events.append(
                HandoffEvent(
                    stage=cmd.stage,
                    session=cmd.session or "",
                    step="swapped",
                    detail=f"generation {stage.generation + 1} {cmd.reason}",
                )
            )
        return events

    # stages -----------------------------------------------------------------------------------
    def block(self, cmd: Block, world: World) -> list[Event]:
        now = self.clock()

        def block(record: StageRecord) -> bool:
            if cmd.session is not None:
                if record.session_id != cmd.session or record.status not in ACTIVE:
                    return False
            elif record.status is not Status.QUEUED:
                return False
            record.set_status(cmd.to)
            record.blocked_reason = cmd.reason
            record.next_retry_at = cmd.retry_at
            record.stalled_at = None
            record.failure = {
                "kind": cmd.failure_kind,
                "exit_code": cmd.exit_code,
                "session": cmd.session,
                "at": now,
            }
            counts = dict(record.failure_counts or {})
            counts[cmd.failure_kind] = int(str(counts.get(cmd.failure_kind, 0))) + 1
            record.failure_counts = counts
            return True

        done = change_stage(self.store, cmd.stage, block)  # the executor forgets its failures
        if done is None:
            return []
        stage, old = done
        events: list[Event] = [
            StageStatusChanged(stage=cmd.stage, old=old.value, new=cmd.to.value, reason=cmd.reason)
        ]
        if cmd.failure_kind == "handoff-loop":
            events.insert(
                0,
                HandoffEvent(
                    stage=cmd.stage, session=cmd.session or "", step="loop-guard", detail=cmd.reason
                ),
            )
        if cmd.retry_at is not None and cmd.attempt is not None:
            events.append(
                RetryScheduled(
                    stage=cmd.stage,
                    attempt=cmd.attempt,
                    of=stage.max_retries,
                    delay=max(0.0, cmd.retry_at - now),
                )
            )
        return events

    def retry(self, cmd: Retry, world: World) -> list[Event]:
        def retry(record: StageRecord) -> bool:
            if record.status is not Status.BLOCKED or record.next_retry_at != cmd.due_at:
                return False
            if record.held:
                return False
            record.retry_count += 1
            record.next_retry_at = None
            record.set_status(cmd.to)
            return True

        done = change_stage(self.store, cmd.stage, retry)
        if done is None:
            return []
        stage, old = done
        reason = f"automatic retry {stage.retry_count} of {stage.max_retries}"
        if cmd.to is Status.WAITING_FOR_DEPS:
            reason += "; its dependencies are not done any more"
        return [StageStatusChanged(stage=cmd.stage, old=old.value, new=cmd.to.value, reason=reason)]

    def promote(self, cmd: Promote, world: World) -> list[Event]:
        """Every readiness change of one decision under one lock, checked against fresh records
        of the stages and their dependencies."""
        wanted = dict(cmd.changes)
        context = {dep for i in wanted for dep in world.stages[i].dependencies}

        def promote(record: StageRecord, fresh: dict[str, StageRecord]) -> bool:
            to = wanted[record.id]
            ready = dependencies_done(record, fresh)
            if (to is Status.QUEUED and record.status is Status.WAITING_FOR_DEPS and ready) or (
                to is Status.WAITING_FOR_DEPS and record.status is Status.QUEUED and not ready
            ):
                record.set_status(to)
                return True
            return False

        changed = self.store.update_stages(wanted, promote, context, durable=False)
        return [
            StageStatusChanged(
                stage=s.id,
                old="waiting-for-deps" if s.status is Status.QUEUED else "queued",
                new=s.status.value,
                reason="dependencies done"
                if s.status is Status.QUEUED
                else "a dependency is not done any more",
            )
            for s in changed
        ]
