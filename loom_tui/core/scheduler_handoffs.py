"""Following each live session's context use and agent state, and enforcing the handoff.

When a reading reaches the stage's budget (or Claude Code is about to compact), the stage becomes
`needs-handoff` and the agent is asked, through its hooks or by typing into its idle pane, to
write a handoff and stop.  Once it has (or after a bounded wait, when loom writes the handoff from
the transcript and git itself), the session ends and a fresh one — generation + 1 — starts with
the handoff in its signal.  A loop guard blocks a stage that keeps handing off without committing.
"""

from __future__ import annotations

import os
import time
from typing import Any

from loom_tui.core import context
from loom_tui.core.errors import LoomError
from loom_tui.core.events import (
    AgentStateChanged,
    ContextReading,
    HandoffEvent,
    SchedulerError,
    StageStatusChanged,
)
from loom_tui.core.hooks import handoff_request
from loom_tui.core.model import ACTIVE, SessionRecord, StageRecord, Status
from loom_tui.core.scheduler_base import (
    GAUGE_FLUSH,
    GAUGE_MINOR_FLUSH,
    GAUGE_STEP,
    HANDOFF_GRACE,
    SchedulerBase,
)
from loom_tui.core.session_monitor import (
    FINISHED_TURN,
    WAITING_STATES,
    WORKING,
    Update,
    state_from_pane_text,
)
from loom_tui.core.tmux import PaneInfo


class HandoffsMixin(SchedulerBase):
    async def _observe(
        self,
        session: SessionRecord,
        stage: StageRecord | None,
        pane: PaneInfo | None,
        update: Update,
    ) -> None:
        """What is new about a live session: its gauge, its agent's state, hook signals.

        Gauge figures (readings, tokens, cost) are written to the session record at most once a
        second per session — hooks report them on every tool call of every agent — while state
        changes, and any reading at or over the budget, are written at once.
        """
        now = time.time()
        state = update.state
        look = state is None and pane is not None and not pane.dead
        if look and pane is not None and self.monitor.wants_pane_text(session, now):
            lines = await self._io(self.tmux.capture, pane.pane_id, 30)
            seen = state_from_pane_text(lines, now)
            if seen is not None and seen.state != session.agent_state:
                state = seen
        reading = update.reading
        gauge = self._gather_gauge(session, update, now)
        changes: dict[str, Any] = {}
        if update.transcript_path and update.transcript_path != session.transcript_path:
            changes["transcript_path"] = update.transcript_path
        if update.stop_at is not None:
            changes["stop_at"] = update.stop_at
        if state is not None and state.state != session.agent_state:
            changes.update(
                agent_state=state.state, agent_state_source=state.source, agent_state_at=state.at
            )
        budget = stage.context_budget if stage is not None else 100
        over = reading is not None and reading.percent >= budget
        shown = session.context_percent if session.context_percent is not None else -100.0
        moved = abs(float(gauge.get("context_percent", shown)) - shown) >= GAUGE_STEP  # type: ignore[arg-type]
        due = (moved and now - self._gauge_flush_at >= GAUGE_FLUSH) or (
            now - self._gauge_minor_at >= GAUGE_MINOR_FLUSH
        )
        if gauge and (changes or over or due):
            changes.update(gauge)
            gauge.clear()
            self._gauge_flushing = True
        if changes:

            def apply(record: SessionRecord) -> None:
                for key, value in changes.items():
                    setattr(record, key, value)

            session = await self._io(self.store.update_session, session.id, apply)
        if "context_tokens" in changes:
            self._emit_reading(session, changes, budget)
        if "agent_state" in changes and state is not None:
            self.emit(
                AgentStateChanged(
                    stage=session.stage_id,
                    session=session.id,
                    state=state.state,
                    source=state.source,
                    detail=state.detail,
                )
            )
        if stage is not None:
            await self._stage_follows_session(stage, session, state, update.precompact)

    def _gather_gauge(
        self, session: SessionRecord, update: Update, now: float
    ) -> dict[str, object]:
        """Add what ``update`` says of the session's gauge to its figures waiting to be written."""
        gauge = self._pending_gauge.setdefault(session.id, {})
        reading = update.reading
        if reading is not None and (
            session.context_tokens != reading.tokens or session.context_window != reading.window
        ):
            gauge.update(
                context_percent=reading.percent,
                context_tokens=reading.tokens,
                context_window=reading.window,
                context_source=reading.source,
                context_at=reading.ts or now,
            )
        if update.cost_usd is not None and update.cost_usd != session.cost_usd:
            gauge["cost_usd"] = update.cost_usd
        if update.input_tokens is not None and update.input_tokens != session.input_tokens:
            gauge["input_tokens"] = update.input_tokens
        if update.output_tokens is not None and update.output_tokens != session.output_tokens:
            gauge["output_tokens"] = update.output_tokens
        return gauge

    def _emit_reading(self, session: SessionRecord, changes: dict[str, Any], budget: int) -> None:
        percent = float(changes["context_percent"])
        self.emit(
            ContextReading(
                stage=session.stage_id,
                session=session.id,
                percent=percent,
                tokens=int(changes["context_tokens"]),
                window=int(changes["context_window"]),
                source=str(changes["context_source"]),
                level=context.level(percent, budget),
            )
        )

    async def _final_gauge(self, session: SessionRecord, stage: StageRecord | None) -> None:
        """A session is ending: read its hooks and transcript one last time and write what
        waits, so that its record ends on its last figures."""
        update = await self._io(self.monitor.poll, session)
        gauge = self._gather_gauge(session, update, time.time())
        self._pending_gauge.pop(session.id, None)
        if not gauge:
            return

        def apply(record: SessionRecord) -> None:
            for key, value in gauge.items():
                setattr(record, key, value)

        await self._io(self.store.update_session, session.id, apply)
        if "context_tokens" in gauge:
            self._emit_reading(session, gauge, stage.context_budget if stage else 100)

    async def _stage_follows_session(
        self,
        stage: StageRecord,
        session: SessionRecord,
        state: Any,
        precompact: bool,
    ) -> None:
        """The stage follows its current session: gauge, waiting for input, handoffs."""
        if stage.session_id != session.id:
            return
        percent = session.context_percent
        if percent is not None and (
            stage.context_percent is None or round(stage.context_percent) != round(percent)
        ):  # the stage file follows whole points; the session record keeps the exact figure

            def gauge(record: StageRecord) -> None:
                if record.session_id == session.id:
                    record.context_percent = percent

            stage = await self._io(self.store.update_stage, stage.id, gauge)
        if state is not None and stage.status in (Status.EXECUTING, Status.WAITING_FOR_INPUT):
            target = (
                Status.WAITING_FOR_INPUT
                if state.state in WAITING_STATES
                else Status.EXECUTING
                if state.state == WORKING
                else None
            )
            if target is not None and target is not stage.status:
                old = stage.status

                def follow(record: StageRecord, target: Status = target) -> None:
                    if record.session_id == session.id and record.status in (
                        Status.EXECUTING,
                        Status.WAITING_FOR_INPUT,
                    ):
                        record.set_status(target)

                stage = await self._io(self.store.update_stage, stage.id, follow)
                self.emit(
                    StageStatusChanged(
                        stage=stage.id,
                        old=old.value,
                        new=stage.status.value,
                        reason=f"agent {state.state} ({state.source})",
                    )
                )
        if stage.status in (Status.EXECUTING, Status.WAITING_FOR_INPUT) and (
            session.handoff_requested_at is None and session.handoff is None
        ):
            over = session.context_percent is not None and (
                session.context_percent >= stage.context_budget
            )
            if over:
                await self._request_handoff(stage, session, "budget")
            elif precompact:
                await self._request_handoff(stage, session, "precompact")
        elif stage.status in (Status.EXECUTING, Status.WAITING_FOR_INPUT) and (
            session.handoff_requested_at is None
        ):
            # The agent wrote its handoff before loom asked (it acted on the PreCompact hook's
            # answer, or on its own): follow it, or the stage waits on an idle agent forever.
            await self._request_handoff(stage, session, session.handoff_trigger or "manual")
        elif stage.status is Status.NEEDS_HANDOFF:
            await self._handoff_progress(stage, session)

    async def _request_handoff(
        self, stage: StageRecord, session: SessionRecord, trigger: str
    ) -> None:
        now = time.time()
        old = stage.status

        def needs(record: StageRecord) -> None:
            if record.session_id == session.id and record.status in ACTIVE:
                record.set_status(Status.NEEDS_HANDOFF)

        def requested(record: SessionRecord) -> None:
            record.handoff_requested_at = now
            record.handoff_trigger = trigger

        session = await self._io(self.store.update_session, session.id, requested)
        stage = await self._io(self.store.update_stage, stage.id, needs)
        if stage.status is not Status.NEEDS_HANDOFF:
            return
        pct = session.context_percent
        detail = (
            f"context {pct:.0f}% ≥ budget {stage.context_budget}%"
            if trigger == "budget"
            else "the agent is about to compact its context"
            if trigger == "precompact"
            else f"the agent handed off on its own ({session.handoff})"
        )
        self.emit(
            StageStatusChanged(stage=stage.id, old=old.value, new="needs-handoff", reason=detail)
        )
        self.emit(
            HandoffEvent(
                stage=stage.id,
                session=session.id,
                step="requested",
                trigger=trigger,
                detail=detail,
                reading_at=session.context_at,
            )
        )
        if session.agent_state in (FINISHED_TURN, *WAITING_STATES) and session.handoff is None:
            await self._paste_request(stage, session)
        timeout = self.config.seconds("handoff_timeout_seconds")
        self._deadline(now + timeout)

    async def _paste_request(self, stage: StageRecord, session: SessionRecord) -> None:
        """The agent sits at its prompt, where no hook fires: type the request into its pane."""
        if not session.pane_id or session.handoff_pasted_at is not None:
            return
        text = handoff_request(stage.id, session.context_percent, stage.context_budget)
        try:
            await self._io(self.tmux.paste, session.pane_id, text)
        except LoomError as exc:
            self.emit(
                SchedulerError(stage=stage.id, message=f"cannot type into the pane: {exc.message}")
            )
            return

        def pasted(record: SessionRecord) -> None:
            record.handoff_pasted_at = time.time()

        await self._io(self.store.update_session, session.id, pasted)

    async def _handoff_progress(self, stage: StageRecord, session: SessionRecord) -> None:
        now = time.time()
        if session.handoff is not None:
            written = session.handoff_at or now
            stopped = session.stop_at is not None and session.stop_at >= written
            if stopped or now - written >= HANDOFF_GRACE:
                await self._swap(stage, session)
            else:
                self._deadline(written + HANDOFF_GRACE)
            return
        requested = session.handoff_requested_at or now
        if session.agent_state in (FINISHED_TURN, *WAITING_STATES):
            await self._paste_request(stage, session)
        timeout = self.config.seconds("handoff_timeout_seconds")
        if now - requested >= timeout:
            self.emit(
                HandoffEvent(
                    stage=stage.id,
                    session=session.id,
                    step="timeout",
                    detail=f"no handoff after {timeout:.0f} s; loom writes it",
                )
            )
            await self._swap(stage, session)
        else:
            self._deadline(requested + timeout)

    async def _swap(self, stage: StageRecord, session: SessionRecord) -> None:
        """End the session that must hand off; `_session_ended` then starts the next one."""
        panes = await self._list_panes(force=True)
        pane = panes.get(session.pane_id or "")
        await self._session_ended(session, stage, pane, self._read_exit(session.id), "handed off")

    async def _write_handoff(
        self, stage: StageRecord, session: SessionRecord, trigger: str
    ) -> str | None:
        from loom_tui.core.handoff import write_handoff

        try:
            path = await self._io(
                write_handoff,
                self.store,
                stage.id,
                session_id=session.id,
                trigger=trigger,
                written_by="loom",
            )
        except Exception as exc:
            self.emit(SchedulerError(stage=stage.id, message=f"cannot write a handoff: {exc}"))
            return None
        self.emit(
            HandoffEvent(
                stage=stage.id,
                session=session.id,
                step="written",
                path=os.path.basename(path),
                trigger=trigger,
                detail=f"{os.path.basename(path)} written by loom ({trigger})",
            )
        )
        return path

    async def _finish_handoff(self, stage: StageRecord, session: SessionRecord) -> None:
        """The session that handed off has ended: start the next generation from its handoff."""
        fresh = await self._io(self.store.read_session, session.id)
        if fresh.handoff is None:
            await self._write_handoff(stage, fresh, fresh.handoff_trigger or "budget")
        else:
            self.emit(
                HandoffEvent(
                    stage=stage.id,
                    session=session.id,
                    step="written",
                    path=fresh.handoff,
                    trigger=fresh.handoff_trigger or "budget",
                    detail=f"{fresh.handoff} written by the agent",
                )
            )
        stage = await self._io(self.store.read_stage, stage.id)
        limit = int(self.config.seconds("handoff_loop_limit"))
        if stage.handoff_streak > limit:

            def guard(record: StageRecord) -> None:
                if record.status is Status.NEEDS_HANDOFF:
                    record.set_status(Status.BLOCKED)
                    record.next_retry_at = None
                    record.blocked_reason = (
                        f"loop guard: {record.handoff_streak} handoffs in a row without a new "
                        f"commit; run `loom diagnose {record.id}`"
                    )

            stage = await self._io(self.store.update_stage, stage.id, guard)
            self.emit(
                HandoffEvent(
                    stage=stage.id,
                    session=session.id,
                    step="loop-guard",
                    detail=stage.blocked_reason or "",
                )
            )
            self.emit(
                StageStatusChanged(
                    stage=stage.id, old="needs-handoff", new="blocked", reason="loop guard"
                )
            )
            return

        def requeue(record: StageRecord) -> None:
            if record.status is Status.NEEDS_HANDOFF and record.session_id == session.id:
                record.set_status(Status.QUEUED)

        stage = await self._io(self.store.update_stage, stage.id, requeue)
        if stage.status is not Status.QUEUED or stage.held:
            return
        stages = {s.id: s for s in await self._io(self.store.stages)}
        if await self.start_stage(stage, stages):
            self.emit(
                HandoffEvent(
                    stage=stage.id,
                    session=session.id,
                    step="swapped",
                    detail=f"generation {stage.generation + 1} continues from "
                    f"{(stage.handoffs or ['-'])[-1]}",
                )
            )
