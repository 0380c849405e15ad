"""The scheduler: runs a plan, inside whichever event loop hosts it (the TUI's, or headless).

It owns the run of one project (an exclusive lock on `.work/loom.lock`) and converges the world
towards the plan in passes (`reconcile`): notice sessions that ended, merge completed stages,
promote stages whose dependencies are done, retry crashed ones after their backoff, start ready
stages up to ``max_parallel``, and notice when the plan is finished or stuck.

A pass runs when something changes — `.work/` is watched through inotify (watchfiles), so a
`loom stage complete` or an agent's exit is seen within milliseconds — and at least once per tick
(one second), when every pane is read with a single `tmux list-panes -a`.  Nothing blocks the
event loop: git, tmux and file writes run in threads.

The scheduler keeps no state that matters in memory: everything is in `.work/` and in tmux, so a
new scheduler (after the TUI was quit or killed) re-adopts the live panes of its sessions, never
starts a stage twice, and treats panes that died in between as crashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from loom_tui.core import context, git
from loom_tui.core.actions import promote_ready
from loom_tui.core.agents import LaunchContext, get_backend
from loom_tui.core.agents.claude_code import transcript_path
from loom_tui.core.errors import LockBusy, LoomError
from loom_tui.core.events import (
    AgentStateChanged,
    ContextReading,
    Event,
    HandoffEvent,
    MergeConflict,
    MergeDone,
    MergeWaiting,
    Notice,
    PlanFinished,
    RetryScheduled,
    SchedulerError,
    SchedulerStateChanged,
    SessionAdopted,
    SessionEnded,
    SessionStarted,
    StageStatusChanged,
)
from loom_tui.core.fsutil import FileLock
from loom_tui.core.hooks import handoff_request
from loom_tui.core.model import ACTIVE, SessionRecord, StageRecord, Status
from loom_tui.core.session_monitor import (
    FINISHED_TURN,
    WAITING_STATES,
    WORKING,
    SessionMonitor,
    state_from_pane_text,
)
from loom_tui.core.signals import write_signal
from loom_tui.core.store import RecordCache, Store
from loom_tui.core.tmux import PaneInfo, Tmux

if TYPE_CHECKING:
    from loom_tui.core.config import ProjectConfig

T = TypeVar("T")
Listener = Callable[[Event], None]
#: Passes before an exit status that tmux lost is given up on (the server is nudged each time).
EXIT_STATUS_PATIENCE = 3
LAST_LINES = 40
#: After the agent wrote its handoff, how long it may go on (to stop cleanly) before loom ends it.
HANDOFF_GRACE = 2.0


class SchedulerOptions:
    """What the command line may override in the project's settings."""

    def __init__(
        self,
        *,
        agent: str | None = None,
        max_parallel: int | None = None,
        only_stage: str | None = None,
        exit_when_done: bool = False,
    ) -> None:
        self.agent = agent
        self.max_parallel = max_parallel
        self.only_stage = only_stage
        self.exit_when_done = exit_when_done


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """The wait before automatic retry ``attempt`` (1-based): base × 2^(attempt−1), capped."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))


class Scheduler:
    def __init__(self, store: Store, options: SchedulerOptions | None = None) -> None:
        self.store = store
        self.options = options or SchedulerOptions()
        self.config: ProjectConfig = store.config()
        self.base = self.config.base_branch
        self.agent = self.options.agent or self.config.agent
        self.backend = get_backend(self.agent)
        self.max_parallel = self.options.max_parallel or self.config.max_parallel
        self.tick = self.config.seconds("tick_seconds")
        self.tmux = Tmux(self.config.tmux_socket or "loom-default")
        self.state = "idle"
        self.finished: PlanFinished | None = None
        self._listeners: list[Listener] = []
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._lock = FileLock(store.scheduler_lock_path, blocking=False)
        self._stage_cache = RecordCache()
        self._session_cache = RecordCache()
        self._exit_waits: dict[str, int] = {}
        self._merge_notes: dict[str, str] = {}
        self._retry_notes: set[tuple[str, int]] = set()
        self._next_deadline: float | None = None
        self._pass_count = 0
        self._watch_stop: Any = None
        self.monitor = SessionMonitor(store.hooks_dir)

    # events -----------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event; returns the function that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception as exc:  # a face's bug must not stop the run
                self._log_error(f"event listener failed: {exc!r}")
        try:
            self.store.append_event(
                event.kind, **{k: v for k, v in event.to_json().items() if k not in ("kind", "ts")}
            )
        except OSError as exc:
            self._log_error(f"cannot append to events.jsonl: {exc}")

    def _log_error(self, message: str) -> None:
        with contextlib.suppress(OSError):
            os.makedirs(self.store.logs_dir, exist_ok=True)
            with open(os.path.join(self.store.logs_dir, "scheduler.log"), "a") as fh:
                fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")

    def _set_state(self, state: str, detail: str = "") -> None:
        if state != self.state:
            self.state = state
            self.emit(SchedulerStateChanged(state=state, detail=detail))

    # running ----------------------------------------------------------------------------------
    def wake(self) -> None:
        """Ask for a pass as soon as possible (after a change made by this process)."""
        self._wake.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def _io(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    def acquire(self) -> None:
        if not self._lock.acquire():
            pid = _read_pid(self.store.scheduler_lock_path)
            raise LockBusy(
                "another loom scheduler is running on this project"
                + (f" (pid {pid})" if pid else "")
                + "; stop it with `loom stop`, or open `loom` to watch it read-only"
            )
        fd = self._lock.fd
        assert fd is not None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)

    async def run(self) -> int:
        """Run until stopped (or, with ``exit_when_done``, until the plan finishes or is stuck).

        Returns 0 when every stage is completed or skipped, 1 otherwise.
        """
        if not self._lock.held:
            self.acquire()
        if self.backend.name == "claude":
            await self._pre_accept()
        watcher = asyncio.create_task(self._watch(), name="loom-watch")
        self._set_state("running")
        try:
            while not self._stop.is_set():
                try:
                    await self.reconcile()
                except LoomError as exc:
                    self.emit(SchedulerError(message=exc.message))
                except Exception as exc:  # keep running: one bad pass must not stop the plan
                    self._log_error(f"pass failed: {exc!r}")
                    self.emit(SchedulerError(message=f"{type(exc).__name__}: {exc}"))
                if self.options.exit_when_done and self.finished is not None:
                    break
                timeout = self.tick
                if self._next_deadline is not None:
                    timeout = max(0.01, min(timeout, self._next_deadline - time.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                self._wake.clear()
        finally:
            if self._watch_stop is not None:
                self._watch_stop.set()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
            self._set_state("stopped")
            self._lock.release()
        if self.finished is not None:
            return 0 if self.finished.ok else 1
        return 0 if self._all_done(self.store.stages()) else 1

    async def _pre_accept(self) -> None:
        from loom_tui.core.claude_config import pre_accept

        folder = os.path.join(self.store.root, git.WORKTREES_DIR)
        try:
            path = await self._io(pre_accept, [folder])
        except LoomError as exc:
            self.emit(
                SchedulerError(message=f"cannot pre-accept Claude Code's dialogs: {exc.message}")
            )
            return
        self.emit(Notice(message=f"trusted {folder} for Claude Code in {path}"))

    async def _watch(self) -> None:
        """Wake a pass whenever a file that matters changes under `.work/`."""
        import anyio
        from watchfiles import awatch

        self._watch_stop = anyio.Event()
        work = self.store.work_dir

        def relevant(_change: object, path: str) -> bool:
            name = os.path.basename(path)
            if name.endswith((".tmp", ".lock")) or name.startswith("."):
                return False
            rel = os.path.relpath(path, work)
            top = rel.split(os.sep, 1)[0]
            return top in ("stages", "sessions", "handoffs", "hooks", "config.toml")

        try:
            async for _changes in awatch(
                work,
                watch_filter=relevant,
                debounce=200,
                step=5,
                stop_event=self._watch_stop,
                recursive=True,
            ):
                self._wake.set()
        except Exception as exc:  # without inotify the tick still drives the scheduler
            self._log_error(f"file watching stopped: {exc!r}")

    # one pass ---------------------------------------------------------------------------------
    async def reconcile(self) -> None:
        self._pass_count += 1
        self._next_deadline = None
        stages = {s.id: s for s in await self._io(self.store.stages, self._stage_cache)}
        sessions = await self._io(self.store.sessions, self._session_cache)
        live = [s for s in sessions if s.live]
        panes = await self._io(self.tmux.list_panes) if live else {}
        by_marker = {p.session_id: p for p in panes.values() if p.session_id}

        for session in live:
            await self._check_session(session, stages.get(session.stage_id), panes, by_marker)
        for session in await self._io(self.store.sessions, self._session_cache):
            if session.live:
                pane = panes.get(session.pane_id or "") or by_marker.get(session.id)
                await self._observe(session, pane)

        stages = {s.id: s for s in await self._io(self.store.stages, self._stage_cache)}
        if self.config.auto_merge:
            for stage in stages.values():
                if stage.status is Status.COMPLETED and not stage.merged:
                    await self._merge(stage)
        changed = await self._io(promote_ready, self.store, "scheduler", log=False)
        for stage in changed:
            queued = stage.status is Status.QUEUED
            self.emit(
                StageStatusChanged(
                    stage=stage.id,
                    old=Status.WAITING_FOR_DEPS.value if queued else Status.QUEUED.value,
                    new=stage.status.value,
                    reason="dependencies done" if queued else "a dependency went back",
                )
            )
        stages = {s.id: s for s in await self._io(self.store.stages, self._stage_cache)}
        await self._retry_due(stages)
        stages = {s.id: s for s in await self._io(self.store.stages, self._stage_cache)}
        await self._end_merged_sessions(stages)
        await self._start_ready(stages)
        await self._remove_merged_worktrees(stages)
        self._check_finished(await self._io(self.store.stages, self._stage_cache))

    # sessions ---------------------------------------------------------------------------------
    def _exit_file(self, session_id: str) -> str:
        return os.path.join(self.store.sessions_dir, f"{session_id}.exit")

    def _read_exit(self, session_id: str) -> int | None:
        try:
            with open(self._exit_file(session_id), encoding="utf-8") as fh:
                return int(fh.read().strip())
        except (OSError, ValueError):
            return None

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
        self.monitor.forget(session.id)
        current = stage is not None and stage.session_id == session.id
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

    def _deadline(self, at: float) -> None:
        if self._next_deadline is None or at < self._next_deadline:
            self._next_deadline = at

    # watching live sessions: context, agent state, handoffs ---------------------------------
    async def _observe(self, session: SessionRecord, pane: PaneInfo | None) -> None:
        now = time.time()
        update = await self._io(self.monitor.poll, session)
        state = update.state
        look = state is None and pane is not None and not pane.dead
        if look and pane is not None and self.monitor.wants_pane_text(session, now):
            lines = await self._io(self.tmux.capture, pane.pane_id, 30)
            seen = state_from_pane_text(lines, now)
            if seen is not None and seen.state != session.agent_state:
                state = seen
        reading = update.reading
        changes: dict[str, Any] = {}
        if reading is not None and (
            session.context_tokens != reading.tokens or session.context_window != reading.window
        ):
            changes.update(
                context_percent=reading.percent,
                context_tokens=reading.tokens,
                context_window=reading.window,
                context_source=reading.source,
                context_at=reading.ts or now,
            )
        if update.cost_usd is not None and update.cost_usd != session.cost_usd:
            changes["cost_usd"] = update.cost_usd
        if update.input_tokens is not None and update.input_tokens != session.input_tokens:
            changes["input_tokens"] = update.input_tokens
        if update.output_tokens is not None and update.output_tokens != session.output_tokens:
            changes["output_tokens"] = update.output_tokens
        if update.transcript_path and update.transcript_path != session.transcript_path:
            changes["transcript_path"] = update.transcript_path
        if update.stop_at is not None:
            changes["stop_at"] = update.stop_at
        if state is not None and state.state != session.agent_state:
            changes.update(
                agent_state=state.state, agent_state_source=state.source, agent_state_at=state.at
            )
        if changes:

            def apply(record: SessionRecord) -> None:
                for key, value in changes.items():
                    setattr(record, key, value)

            session = await self._io(self.store.update_session, session.id, apply)
        if "context_tokens" in changes and reading is not None:
            stage = await self._io(self.store.read_stage, session.stage_id)
            self.emit(
                ContextReading(
                    stage=session.stage_id,
                    session=session.id,
                    percent=reading.percent,
                    tokens=reading.tokens,
                    window=reading.window,
                    source=reading.source,
                    level=context.level(reading.percent, stage.context_budget),
                )
            )
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
        await self._stage_follows_session(session, reading, state, update.precompact)

    async def _stage_follows_session(
        self,
        session: SessionRecord,
        reading: context.Reading | None,
        state: Any,
        precompact: bool,
    ) -> None:
        stage = await self._io(self.store.read_stage, session.stage_id)
        if stage.session_id != session.id:
            return
        if reading is not None and stage.context_percent != reading.percent:

            def gauge(record: StageRecord) -> None:
                if record.session_id == session.id:
                    record.context_percent = reading.percent

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
        if session.agent_state in (FINISHED_TURN, *WAITING_STATES):
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
        panes = await self._io(self.tmux.list_panes)
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

    # retries ----------------------------------------------------------------------------------
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

    # starting ---------------------------------------------------------------------------------
    def _wanted(self, stage: StageRecord) -> bool:
        return self.options.only_stage is None or stage.id == self.options.only_stage

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

    # merging ----------------------------------------------------------------------------------
    async def _merge(self, stage: StageRecord) -> None:
        lock = FileLock(os.path.join(self.store.work_dir, "merge.lock"))
        await self._io(lock.acquire)
        try:
            result = await self._io(git.merge_stage, self.store.root, stage.id, self.base)
        finally:
            lock.release()
        if result.status == "waiting":
            note = result.describe(stage.id, self.base)
            if self._merge_notes.get(stage.id) != note:
                self._merge_notes[stage.id] = note
                self.emit(MergeWaiting(stage=stage.id, message=note))
            self._deadline(time.time() + 2.0)
            return
        self._merge_notes.pop(stage.id, None)
        if result.status == "conflict":

            def conflict(record: StageRecord) -> None:
                if record.status is Status.COMPLETED and not record.merged:
                    record.set_status(Status.MERGE_CONFLICT)
                    record.blocked_reason = (
                        f"merge into {self.base} conflicts in {', '.join(result.files[:5])}; "
                        f"resolve on branch loom/{record.id}, then run `loom merge {record.id}`"
                    )

            await self._io(self.store.update_stage, stage.id, conflict)
            self.emit(
                StageStatusChanged(
                    stage=stage.id, old="completed", new="merge-conflict", reason="merge conflict"
                )
            )
            self.emit(MergeConflict(stage=stage.id, files=tuple(result.files), base=self.base))
            return

        def merged(record: StageRecord) -> None:
            record.merged = True
            record.merge_commit = result.commit

        await self._io(self.store.update_stage, stage.id, merged)
        self.emit(MergeDone(stage=stage.id, commit=result.commit, base=self.base))

    async def _end_merged_sessions(self, stages: dict[str, StageRecord]) -> None:
        """End the agents of merged stages (before new stages start: they count as running)."""
        merged = {s.id for s in stages.values() if s.merged}
        sessions = await self._io(self.store.sessions, self._session_cache)
        live = [s for s in sessions if s.live and s.stage_id in merged]
        if not live:
            return
        panes = await self._io(self.tmux.list_panes)
        for session in live:
            pane = panes.get(session.pane_id) if session.pane_id else None
            await self._session_ended(
                session, stages[session.stage_id], pane, self._read_exit(session.id), "completed"
            )

    async def _remove_merged_worktrees(self, stages: dict[str, StageRecord]) -> None:
        """Remove the worktrees and branches of merged stages (their work is in the base)."""
        for stage in stages.values():
            if not (stage.merged and stage.worktree):
                continue
            await self._io(git.remove_worktree, self.store.root, stage.id, delete_branch=True)

            def forget(record: StageRecord) -> None:
                record.worktree = None

            await self._io(self.store.update_stage, stage.id, forget)

    # finishing --------------------------------------------------------------------------------
    def _all_done(self, stages: list[StageRecord]) -> bool:
        wanted = [s for s in stages if self._wanted(s)]
        return all(
            s.status is Status.SKIPPED
            or (s.status is Status.COMPLETED and (s.merged or not self.config.auto_merge))
            for s in wanted
        )

    def _check_finished(self, stages: list[StageRecord]) -> None:
        wanted = [s for s in stages if self._wanted(s)]
        if self._all_done(stages):
            done = sum(1 for s in wanted if s.status is Status.COMPLETED)
            skipped = len(wanted) - done
            summary = f"{done} completed" + (f", {skipped} skipped" if skipped else "")
            self._finish(PlanFinished(ok=True, summary=summary))
            return
        busy = any(
            s.status in ACTIVE
            or (s.status is Status.QUEUED and not s.held)
            or (s.status is Status.BLOCKED and s.next_retry_at is not None and not s.held)
            or (s.status is Status.COMPLETED and not s.merged)
            for s in wanted
        )
        if busy:
            self.finished = None if self.finished and not self.finished.ok else self.finished
            if self.finished is None:
                self._set_state("running")
            return
        stuck = [s for s in wanted if s.status not in (Status.COMPLETED, Status.SKIPPED)]
        parts = []
        for s in stuck:
            why = s.status.value + (" and held" if s.held else "")
            parts.append(f"{s.id} {why}")
        self._finish(PlanFinished(ok=False, summary="nothing can run: " + ", ".join(parts)))

    def _finish(self, event: PlanFinished) -> None:
        if self.finished is not None and self.finished.ok == event.ok:
            return
        self.finished = event
        self.emit(event)
        self._set_state("finished" if event.ok else "stuck")

    # outside control --------------------------------------------------------------------------
    async def kill_all_sessions(self) -> None:
        """End every live session (for `loom stop --kill-sessions`)."""
        for session in await self._io(self.store.sessions):
            if session.live:
                self.emit(Notice(stage=session.stage_id, message="session killed on request"))
        await self._io(self.tmux.kill_server)


def _end(record: SessionRecord, reason: str) -> None:
    record.status = "ended"
    record.end_reason = reason
    record.ended_at = time.time()


def _read_pid(path: str) -> int | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return int(fh.read().strip() or "0") or None
    except (OSError, ValueError):
        return None
