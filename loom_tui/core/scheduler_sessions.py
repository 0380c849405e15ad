"""Sessions: starting one in its pane, noticing how it ended, retrying crashes after a backoff.

A session that ends without `loom stage complete` is a crash: the stage is blocked with the exit
code and the pane's last lines kept, a handoff is written from its transcript and git so the retry
continues rather than starts over, and a retry is scheduled after 30 s × 2^(n−1) (capped at 300 s)
while retries remain.  A restarted scheduler re-adopts live panes (found by the session id in
their start command), and a session recorded but never started is simply queued again.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from typing import Any

from loom_tui.core import git
from loom_tui.core.agents import LaunchContext
from loom_tui.core.agents.claude_code import transcript_path
from loom_tui.core.errors import LoomError
from loom_tui.core.events import (
    RetryScheduled,
    SchedulerError,
    SessionAdopted,
    SessionEnded,
    SessionStarted,
    StageStatusChanged,
)
from loom_tui.core.model import ACTIVE, SessionRecord, StageRecord, Status
from loom_tui.core.scheduler_base import (
    EXIT_STATUS_PATIENCE,
    LAST_LINES,
    SchedulerBase,
    backoff_seconds,
)
from loom_tui.core.signals import write_signal
from loom_tui.core.tmux import PaneInfo


class SessionsMixin(SchedulerBase):
    async def _check_session(
        self,
        session: SessionRecord,
        stage: StageRecord | None,
        panes: dict[str, PaneInfo],
        by_marker: dict[str, PaneInfo],
    ) -> None:
        pane = (panes.get(session.pane_id) if session.pane_id else None) or by_marker.get(
            session.id
        )
        if pane is not None and pane.session_id not in (None, session.id):
            pane = by_marker.get(session.id)  # the pane id was reused by a newer session
        exit_code = self._read_exit(session.id)
        if pane is None:
            if session.status == "starting" and not session.pane_id and exit_code is None:
                await self._never_started(session, stage)
            else:
                await self._session_ended(session, stage, None, exit_code, "pane vanished")
            return
        if pane.dead or exit_code is not None:
            if exit_code is None:
                exit_code = pane.dead_status
            if exit_code is None:
                waits = self._exit_waits.get(session.id, 0)
                if waits < EXIT_STATUS_PATIENCE:
                    self._exit_waits[session.id] = waits + 1
                    await self._io(self.tmux.nudge)
                    self._next_deadline = time.time() + 0.2
                    return
            await self._session_ended(session, stage, pane, exit_code, "")
            return
        if session.pane_id != pane.pane_id or session.status != "running":
            await self._adopt(session, pane)
        elif self._pass_count == 1:  # a new scheduler takes over a session that runs on
            self.emit(SessionAdopted(stage=session.stage_id, session=session.id, pane=pane.pane_id))
        if stage is None or stage.session_id != session.id or stage.status not in ACTIVE:
            if stage is not None and stage.status is Status.COMPLETED and not stage.merged:
                return  # ended once merged (or kept for a merge conflict)
            if stage is not None and stage.status is Status.MERGE_CONFLICT:
                return  # keep the agent: a person may ask it to resolve the conflict
            await self._session_ended(session, stage, pane, None, "stopped")

    async def _adopt(self, session: SessionRecord, pane: PaneInfo) -> None:
        def change(record: SessionRecord) -> None:
            record.pane_id = pane.pane_id
            record.window = pane.window_id
            record.pid = pane.pid
            record.status = "running"

        await self._io(self.store.update_session, session.id, change)
        self.emit(SessionAdopted(stage=session.stage_id, session=session.id, pane=pane.pane_id))

    async def _never_started(self, session: SessionRecord, stage: StageRecord | None) -> None:
        """A session recorded but whose pane never came up (loom died in between)."""

        def end(record: SessionRecord) -> None:
            record.status = "ended"
            record.end_reason = "never started"
            record.ended_at = time.time()

        await self._io(self.store.update_session, session.id, end)
        if stage is not None and stage.session_id == session.id and stage.status in ACTIVE:

            def requeue(record: StageRecord) -> None:
                if record.session_id == session.id and record.status in ACTIVE:
                    record.set_status(Status.QUEUED)
                    record.generation = max(0, record.generation - 1)

            await self._io(self.store.update_stage, stage.id, requeue)
            self.emit(
                StageStatusChanged(
                    stage=stage.id,
                    old=stage.status.value,
                    new="queued",
                    reason="its session never started",
                )
            )

    async def _session_ended(
        self,
        session: SessionRecord,
        stage: StageRecord | None,
        pane: PaneInfo | None,
        exit_code: int | None,
        why: str,
    ) -> None:
        self._exit_waits.pop(session.id, None)
        with contextlib.suppress(LoomError):
            # Fresh, not cached: the agent may have completed the stage just before it exited.
            stage = await self._io(self.store.read_stage, session.stage_id)
        lines: list[str] = []
        if pane is not None:
            lines = await self._io(self.tmux.capture, pane.pane_id, LAST_LINES)
            await self._io(self.tmux.kill_window, pane.window_id)
        await self._final_gauge(session, stage)
        self.monitor.forget(session.id)
        current = stage is not None and stage.session_id == session.id
        with contextlib.suppress(LoomError):
            session = await self._io(self.store.read_session, session.id)
        if session.status == "killed":
            return  # ended by hand (`loom sessions kill`), which recorded it and set its stage
        if (
            current
            and stage is not None
            and stage.status in (Status.EXECUTING, Status.WAITING_FOR_INPUT)
            and session.handoff is not None
            and why != "stopped"
        ):
            # The agent wrote a handoff and exited before loom asked: a handoff, not a crash.
            def hand_over(record: StageRecord) -> None:
                if record.session_id == session.id and record.status in ACTIVE:
                    record.set_status(Status.NEEDS_HANDOFF)

            stage = await self._io(self.store.update_stage, stage.id, hand_over)
        if current and stage is not None and stage.status is Status.NEEDS_HANDOFF:
            await self._record_end(session, "ended", exit_code, "handed off", lines)
            await self._finish_handoff(stage, session)
            return
        crashed = current and stage is not None and stage.status in ACTIVE and why != "stopped"
        if crashed:
            reason = (
                "crashed"
                if exit_code not in (0, None)
                else ("exited without completing" if exit_code == 0 else why or "lost")
            )
        elif stage is not None and stage.status in (Status.COMPLETED, Status.MERGE_CONFLICT):
            reason = "completed"
        else:
            reason = why or "ended"

        await self._record_end(session, "crashed" if crashed else "ended", exit_code, reason, lines)
        if crashed and stage is not None:
            await self._crashed(stage, session, exit_code, reason)

    async def _record_end(
        self,
        session: SessionRecord,
        status: str,
        exit_code: int | None,
        reason: str,
        lines: list[str],
    ) -> None:
        def record_end(record: SessionRecord) -> None:
            record.status = status
            record.ended_at = time.time()
            record.exit_code = exit_code
            record.end_reason = reason
            if lines:
                record.last_lines = lines
            record.agent_state = "dead"
            record.agent_state_source = "pane"
            record.agent_state_at = time.time()

        await self._io(self.store.update_session, session.id, record_end)
        self.emit(
            SessionEnded(
                stage=session.stage_id, session=session.id, reason=reason, exit_code=exit_code
            )
        )

    async def _crashed(
        self, stage: StageRecord, session: SessionRecord, exit_code: int | None, reason: str
    ) -> None:
        base = self.config.seconds("retry_backoff_seconds")
        cap = self.config.seconds("retry_backoff_max_seconds")
        if session.started_at is not None:
            # The retry continues from what the crashed session did, rather than starting over.
            await self._write_handoff(stage, session, "crash")
        now = time.time()
        outcome: dict[str, Any] = {}

        def block(record: StageRecord) -> None:
            if record.session_id != session.id or record.status not in ACTIVE:
                return
            old = record.status
            record.set_status(Status.BLOCKED)
            code = "?" if exit_code is None else str(exit_code)
            record.failure = {
                "kind": "crash" if exit_code not in (0,) else "exit",
                "exit_code": exit_code,
                "session": session.id,
                "at": now,
            }
            attempt = record.retry_count + 1
            if record.retry_count < record.max_retries:
                delay = backoff_seconds(attempt, base, cap)
                record.next_retry_at = now + delay
                record.blocked_reason = (
                    f"agent {reason} (exit {code}); retry {attempt} of {record.max_retries} "
                    f"in {delay:.0f} s"
                )
                outcome["retry"] = (attempt, delay)
            else:
                record.next_retry_at = None
                record.blocked_reason = (
                    f"agent {reason} (exit {code}) and {record.max_retries} retries are used up; "
                    f"run `loom diagnose {record.id}`"
                )
            outcome["old"] = old

        updated = await self._io(self.store.update_stage, stage.id, block)
        if "old" not in outcome:
            return
        self.emit(
            StageStatusChanged(
                stage=stage.id,
                old=outcome["old"].value,
                new="blocked",
                reason=updated.blocked_reason or "",
            )
        )
        if "retry" in outcome:
            attempt, delay = outcome["retry"]
            self.emit(
                RetryScheduled(stage=stage.id, attempt=attempt, of=updated.max_retries, delay=delay)
            )
            self._deadline(now + delay)

    async def _retry_due(self, stages: dict[str, StageRecord]) -> None:
        now = time.time()
        for stage in stages.values():
            if stage.status is not Status.BLOCKED or stage.next_retry_at is None or stage.held:
                continue
            if stage.next_retry_at > now:
                self._deadline(stage.next_retry_at)
                continue
            due_at = stage.next_retry_at

            def retry(record: StageRecord, due_at: float = due_at) -> None:
                if record.status is Status.BLOCKED and record.next_retry_at == due_at:
                    record.retry_count += 1
                    record.next_retry_at = None
                    record.set_status(Status.QUEUED)

            updated = await self._io(self.store.update_stage, stage.id, retry)
            if updated.status is Status.QUEUED:
                self.emit(
                    StageStatusChanged(
                        stage=stage.id,
                        old="blocked",
                        new="queued",
                        reason=f"automatic retry {updated.retry_count} of {updated.max_retries}",
                    )
                )

    async def _start_ready(self, stages: dict[str, StageRecord]) -> None:
        running = sum(1 for s in stages.values() if s.status in ACTIVE)
        for stage in stages.values():
            if running >= self.max_parallel:
                return
            if stage.status is Status.QUEUED and not stage.held and self._wanted(stage):
                try:
                    started = await self.start_stage(stage, stages)
                except LoomError as exc:
                    self.emit(SchedulerError(stage=stage.id, message=exc.message))
                    continue
                if started:
                    running += 1

    async def start_stage(self, stage: StageRecord, stages: dict[str, StageRecord]) -> bool:
        """Start a new session of ``stage`` in a new pane; False if the stage moved meanwhile."""
        t0 = time.monotonic()
        session_id = str(uuid.uuid4())
        generation = stage.generation + 1
        fresh = stage.generation == 0 and stage.retry_count == 0
        worktree = await self._io(
            git.ensure_worktree, self.store.root, stage.id, self.base, fresh=fresh
        )

        def begin(record: StageRecord) -> None:
            if record.status is Status.QUEUED and not record.held:
                record.set_status(Status.EXECUTING)
                record.session_id = session_id
                record.generation = generation
                record.worktree = worktree
                record.branch = git.stage_branch(record.id)
                record.started_at = record.started_at or time.time()
                record.context_percent = None
                record.blocked_reason = None

        session = SessionRecord(
            id=session_id,
            stage_id=stage.id,
            generation=generation,
            agent=self.backend.name,
            status="starting",
            tmux_socket=self.tmux.socket_name,
            worktree=worktree,
            model=stage.model,
            started_at=time.time(),
        )
        # The session record first, then the stage: a scheduler killed in between leaves a
        # session that never started, which the next one recognises; never a stage whose
        # session cannot be found.
        await self._io(self.store.write_session, session)
        updated = await self._io(self.store.update_stage, stage.id, begin)
        if updated.session_id != session_id:

            def drop(record: SessionRecord) -> None:
                record.status = "ended"
                record.end_reason = "not needed"

            await self._io(self.store.update_session, session_id, drop)
            return False
        stages = {**stages, stage.id: updated}
        signal = await self._io(write_signal, self.store, updated, session, self.base, stages)
        settings_path = os.path.join(self.store.sessions_dir, f"{session_id}.settings.json")
        ctx = LaunchContext(self.store, updated, session, worktree, signal, settings_path)
        launch = await self._io(self.backend.launch, ctx)
        transcript = transcript_path(worktree, session_id, {**os.environ, **launch.env})
        try:
            pane = await self._io(
                self.tmux.new_window,
                stage.id,
                worktree,
                launch.argv,
                launch.env,
                session_id,
                self._exit_file(session_id),
            )
        except LoomError as exc:
            why = exc.message
            await self._io(
                self.store.update_session, session_id, lambda r: _end(r, "could not start: " + why)
            )
            await self._crashed(updated, session, None, f"could not start ({why})")
            return True

        self._panes[pane.pane_id] = pane

        def running(record: SessionRecord) -> None:
            record.status = "running"
            record.pane_id = pane.pane_id
            record.window = pane.window_id
            record.pid = pane.pid
            record.transcript_path = transcript

        await self._io(self.store.update_session, session_id, running)
        self.emit(
            StageStatusChanged(
                stage=stage.id, old="queued", new="executing", reason=f"generation {generation}"
            )
        )
        self.emit(
            SessionStarted(
                stage=stage.id,
                session=session_id,
                generation=generation,
                pane=pane.pane_id,
                agent=self.backend.name,
                latency_ms=(time.monotonic() - t0) * 1000,
            )
        )
        return True


def _end(record: SessionRecord, reason: str) -> None:
    record.status = "ended"
    record.end_reason = reason
    record.ended_at = time.time()
