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

from loom_tui.core import git
from loom_tui.core.actions import promote_ready
from loom_tui.core.agents.claude_code import trusted_folders
from loom_tui.core.errors import LockBusy, LoomError
from loom_tui.core.events import (
    Notice,
    PlanFinished,
    SchedulerError,
    StageStatusChanged,
)
from loom_tui.core.model import ACTIVE, StageRecord, Status
from loom_tui.core.scheduler_base import SchedulerOptions, backoff_seconds
from loom_tui.core.scheduler_handoffs import HandoffsMixin
from loom_tui.core.scheduler_merges import MergesMixin
from loom_tui.core.scheduler_sessions import SessionsMixin

__all__ = ["Scheduler", "SchedulerOptions", "backoff_seconds"]


class Scheduler(SessionsMixin, HandoffsMixin, MergesMixin):
    """Runs one project's plan; see the module's docstring."""

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
                self._urgent = False
                try:
                    await self.reconcile()
                except LoomError as exc:
                    self.emit(SchedulerError(message=exc.message))
                except Exception as exc:  # keep running: one bad pass must not stop the plan
                    self._log_error(f"pass failed: {exc!r}")
                    self.emit(SchedulerError(message=f"{type(exc).__name__}: {exc}"))
                self._last_pass = time.time()
                if self.options.exit_when_done and self.finished is not None:
                    await self._final_sweep()
                    break
                await self._sleep()
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

    async def _sleep(self) -> None:
        """Until the next pass is due: something urgent changed, a deadline (a retry, a handoff
        timeout) came, or a tick went by."""
        while not self._stop.is_set() and not self._urgent:
            due = self._last_pass + self.tick
            if self._next_deadline is not None:
                due = min(due, self._next_deadline)
            timeout = due - time.time()
            if timeout <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()

    async def _pre_accept(self) -> None:
        from loom_tui.core.claude_config import pre_accept

        folders = trusted_folders(self.store.root, os.path.join(self.store.root, git.WORKTREES_DIR))
        try:
            path = await self._io(pre_accept, folders)
        except LoomError as exc:
            self.emit(
                SchedulerError(message=f"cannot pre-accept Claude Code's dialogs: {exc.message}")
            )
            return
        self.emit(Notice(message=f"trusted {' and '.join(folders)} for Claude Code in {path}"))

    #: The folders watched (not recursively): the hook logs under hooks/ change on every tool
    #: call of every agent and are read on each tick instead; a hook that matters touches pulse/.
    WATCHED = ("stages", "sessions", "handoffs", "pulse")

    async def _watch(self) -> None:
        """Wake a pass whenever a file that matters changes under `.work/`."""
        import anyio
        from watchfiles import awatch

        self._watch_stop = anyio.Event()
        work = self.store.work_dir
        folders = [os.path.join(work, name) for name in self.WATCHED]
        for folder in folders:
            os.makedirs(folder, exist_ok=True)

        def relevant(_change: object, path: str) -> bool:
            name = os.path.basename(path)
            if name.endswith((".tmp", ".lock")) or name.startswith("."):
                return False
            folder = os.path.basename(os.path.dirname(path))
            if folder == "sessions":
                # session records are the scheduler's own; an exit file means an agent ended
                return name.endswith(".exit")
            return folder in self.WATCHED and not self._is_own_write(path)

        try:
            # `step` is how long the watcher waits for a burst of changes to settle (and how
            # often its thread wakes while waiting): 20 ms keeps reactions quick and idle cheap.
            async for changes in awatch(
                *folders,
                watch_filter=relevant,
                debounce=200,
                step=20,
                stop_event=self._watch_stop,
                recursive=False,
            ):
                if any(path.endswith(".exit") for _change, path in changes):
                    self._exits_seen = True
                self.wake()
        except Exception as exc:  # without inotify the tick still drives the scheduler
            self._log_error(f"file watching stopped: {exc!r}")

    async def reconcile(self) -> None:
        """One pass; see the module's docstring.  Panes are listed at most once a tick, or at
        once when an agent exited; `.work/` records are read once, and again only after this
        pass changed one."""
        self._pass_count += 1
        self._next_deadline = None
        self._stages_read = None  # another process may have changed any of them
        stages = await self._stages()
        sessions = await self._io(self.store.sessions, self._session_cache)
        live = [s for s in sessions if s.live]
        listed_at = self._last_list
        panes = await self._list_panes() if live else {}
        by_marker = {p.session_id: p for p in panes.values() if p.session_id}
        mark = self._writes
        if self._last_list != listed_at:  # fresh panes: look for sessions that ended
            for session in live:
                await self._check_session(session, stages.get(session.stage_id), panes, by_marker)
        if self._writes != mark:
            stages = await self._stages()
            sessions = await self._io(self.store.sessions, self._session_cache)
        live = [s for s in sessions if s.live]
        # every live session's hook log and transcript, read in one thread hop
        updates = await self._io(lambda: [self.monitor.poll(s) for s in live])
        for session, update in zip(live, updates, strict=True):
            pane = panes.get(session.pane_id or "") or by_marker.get(session.id)
            await self._observe(session, stages.get(session.stage_id), pane, update)
        self._flush_gauges_done()
        stages = await self._stages()
        if self.config.auto_merge:
            for stage in stages.values():
                if stage.status is Status.COMPLETED and not stage.merged:
                    await self._merge(stage)
                    stages = await self._stages()
        if _promotion_due(stages):
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
            stages = await self._stages()
        await self._retry_due(stages)
        stages = await self._stages()
        await self._end_merged_sessions(stages)
        await self._start_ready(stages)
        await self._remove_merged_worktrees(stages)
        self._check_finished(list((await self._stages()).values()))

    async def _final_sweep(self) -> None:
        """Before exiting: record the end of sessions whose panes died since the last tick."""
        with contextlib.suppress(LoomError, OSError):
            sessions = [s for s in await self._io(self.store.sessions) if s.live]
            if not sessions:
                return
            stages = await self._stages()
            panes = await self._list_panes(force=True)
            by_marker = {p.session_id: p for p in panes.values() if p.session_id}
            for session in sessions:
                await self._check_session(session, stages.get(session.stage_id), panes, by_marker)

    async def _stages(self) -> dict[str, StageRecord]:
        """Every stage record, read at the start of a pass and again only after this process
        wrote one (the watcher wakes another pass for any other writer's change)."""
        if self._stages_read_at_write != self._writes or self._stages_read is None:
            self._stages_read_at_write = self._writes
            self._stages_read = {
                s.id: s for s in await self._io(self.store.stages, self._stage_cache)
            }
        return self._stages_read

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

    async def kill_all_sessions(self) -> None:
        """End every live session (for `loom stop --kill-sessions`)."""
        for session in await self._io(self.store.sessions):
            if session.live:
                self.emit(Notice(stage=session.stage_id, message="session killed on request"))
        await self._io(self.tmux.kill_server)


def _promotion_due(stages: dict[str, StageRecord]) -> bool:
    """Whether some stage waits with its dependencies done, or is queued without them."""
    from loom_tui.core.dag import dependencies_done

    for stage in stages.values():
        done = dependencies_done(stage, stages)
        if (stage.status is Status.WAITING_FOR_DEPS and done) or (
            stage.status is Status.QUEUED and not done
        ):
            return True
    return False


def _read_pid(path: str) -> int | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return int(fh.read().strip() or "0") or None
    except (OSError, ValueError):
        return None
