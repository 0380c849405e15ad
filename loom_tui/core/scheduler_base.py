"""The scheduler's shared state and plumbing, which its parts (sessions, handoffs, merges) use.

`Scheduler` (scheduler.py) is assembled from mixins over this base, one per concern, so that each
file stays about one thing: `scheduler_sessions.py` starts, watches and ends sessions and retries
crashes; `scheduler_handoffs.py` follows context use and runs the enforced handoff;
`scheduler_merges.py` merges completed stages and tidies up after them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from loom_tui.core.agents import get_backend
from loom_tui.core.events import (
    Event,
    PlanFinished,
    SchedulerStateChanged,
)
from loom_tui.core.fsutil import FileLock
from loom_tui.core.model import Record, SessionRecord, StageRecord
from loom_tui.core.session_monitor import (
    SessionMonitor,
)
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
#: How often a session's gauge figures are written at most (the budget check does not wait):
#: within a second when the percent moved by GAUGE_STEP or more, else (tokens and cost only)
#: every GAUGE_MINOR_FLUSH seconds.
GAUGE_FLUSH = 1.0
GAUGE_STEP = 0.5
GAUGE_MINOR_FLUSH = 5.0


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


class SchedulerBase:
    """State and helpers shared by the scheduler's parts."""

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
        # what woke the scheduler (see `Scheduler._watch`)
        self._urgent = True
        self._exits_seen = True
        self._last_pass = 0.0
        self._last_list = 0.0
        self._panes: dict[str, PaneInfo] = {}
        #: files this process wrote, by path: their inode, so that the watcher ignores them
        self._own_writes: dict[str, int] = {}
        self._writes = 0
        self._stages_read: dict[str, StageRecord] | None = None
        self._stages_read_at_write = -1
        #: gauge figures read but not written yet; all are written together, once a second
        self._pending_gauge: dict[str, dict[str, object]] = {}
        self._gauge_flush_at = 0.0
        self._gauge_minor_at = 0.0
        self._gauge_flushing = False
        store.on_write = self._note_write
        self._exit_waits: dict[str, int] = {}
        self._merge_notes: dict[str, str] = {}
        self._retry_notes: set[tuple[str, int]] = set()
        self._next_deadline: float | None = None
        self._pass_count = 0
        self._watch_stop: Any = None
        self.monitor = SessionMonitor(store.hooks_dir)

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

    def wake(self) -> None:
        """Ask for a pass as soon as possible (after a change made by this process)."""
        self._urgent = True
        self._wake.set()

    def _note_write(self, path: str, text: str, record: Record) -> None:
        """Remember a record this scheduler wrote: its own write wakes nothing, and is not read
        back from the file."""
        self._writes += 1
        with contextlib.suppress(OSError):
            self._own_writes[path] = os.stat(path).st_ino
        cache = self._stage_cache if isinstance(record, StageRecord) else self._session_cache
        cache.put(path, text, record)

    def _is_own_write(self, path: str) -> bool:
        inode = self._own_writes.get(path)
        if inode is None:
            return False
        try:
            return os.stat(path).st_ino == inode
        except OSError:
            return False

    def _flush_gauges_done(self) -> None:
        """End of a pass's observations: the next gauge flush is due a second after this one."""
        now = time.time()
        if self._gauge_flushing:
            self._gauge_flush_at = now
            self._gauge_flushing = False
        if now - self._gauge_minor_at >= GAUGE_MINOR_FLUSH:
            self._gauge_minor_at = now
        if any(self._pending_gauge.values()):
            # a moved gauge is written on the next tick anyway; the rest when the minor flush is due
            self._deadline(max(now + 0.05, self._gauge_minor_at + GAUGE_MINOR_FLUSH))

    async def _list_panes(self, force: bool = False) -> dict[str, PaneInfo]:
        """All panes, from one `list-panes -a`: at most once a tick unless an agent exited."""
        now = time.time()
        if force or self._exits_seen or now - self._last_list >= self.tick:
            self._exits_seen = False
            self._panes = await self._io(self.tmux.list_panes)
            self._last_list = now
        return self._panes

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def _io(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    def _exit_file(self, session_id: str) -> str:
        return os.path.join(self.store.sessions_dir, f"{session_id}.exit")

    def _read_exit(self, session_id: str) -> int | None:
        try:
            with open(self._exit_file(session_id), encoding="utf-8") as fh:
                return int(fh.read().strip())
        except (OSError, ValueError):
            return None

    def _deadline(self, at: float) -> None:
        if self._next_deadline is None or at < self._next_deadline:
            self._next_deadline = at

    def _wanted(self, stage: StageRecord) -> bool:
        return self.options.only_stage is None or stage.id == self.options.only_stage

    if TYPE_CHECKING:  # implemented by the mixins; declared here for the others to call

        async def start_stage(self, stage: StageRecord, stages: dict[str, StageRecord]) -> bool: ...

        async def _session_ended(
            self,
            session: SessionRecord,
            stage: StageRecord | None,
            pane: PaneInfo | None,
            exit_code: int | None,
            why: str,
        ) -> None: ...

        async def _crashed(
            self, stage: StageRecord, session: SessionRecord, exit_code: int | None, reason: str
        ) -> None: ...

        async def _finish_handoff(self, stage: StageRecord, session: SessionRecord) -> None: ...

        async def _final_gauge(self, session: SessionRecord, stage: StageRecord | None) -> None: ...

        async def _write_handoff(
            self, stage: StageRecord, session: SessionRecord, trigger: str
        ) -> str | None: ...
