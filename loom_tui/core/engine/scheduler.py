"""The scheduler: runs a plan inside whichever event loop hosts it (the TUI's, or headless).

It owns the run of one project (an exclusive lock on `.work/loom.lock`) and converges the world
towards the plan in passes.  A pass

1. lists the panes (one `tmux list-panes -a`; on a tick's pass every `OBSERVE_TICKS` ticks,
   unless an agent exited), then reads the records: after the panes, so an agent that completed
   its stage and then exited is seen completed;
2. lets the `SessionObserver` record what is new about each live session (gauge, agent state; on
   a tick's pass, at the same pace);
3. calls `decide(world)` and has the `Executor` carry out its commands, again and again on the
   world they left, until `decide` asks for nothing more.

When `.work/` cannot be written (a full disk), the run pauses as a whole rather than blaming the
stage whose write failed: no pass is made (so nothing starts) until a probe write goes through,
which is said once each way (`write_health`).  Stage records that cannot be read are quarantined:
each blocks its own stage only (`quarantine`).

A pass runs when something changes — `.work/` is watched through inotify (`dirwatch`), so a
`loom stage complete` or an agent's exit is seen within milliseconds — when a deadline that `decide`
named comes (a retry, a handoff timeout), and at least once per tick.  Nothing blocks the event
loop: git, tmux and file writes run in threads, a pass's first look in one thread job.

An error is told once (`ErrorGate`): again only when it changes, or when it comes back after it
had cleared.  A pass that fails as a whole is tried again after 1 tick, then 2, 4 … up to a minute
(at once when something changes), never once a tick for as long as the trouble lasts; a headless
run gives up after `PASS_FAILURES_LIMIT` such passes in a row: the plan is stuck, with that error
as its one reason (exit 1).

The scheduler keeps nothing in memory that a decision needs for good: a new scheduler (after the
TUI was quit or killed) re-adopts the live panes of its sessions, finishes any step that was cut
short, and never starts a session twice.  Killed between any two writes, it resumes:

- a start: the session record comes first, then the stage, then the pane, then the session's pane
  id — a session recorded with no pane never started (its stage is queued again), a pane found by
  the session id in its command is adopted;
- an end: the window is killed, then the session's end is recorded — a session whose pane has
  gone is ended again; once it is recorded, its stage's next step follows from the records alone
  (a handoff written, the stage queued or blocked), whichever of those steps were done;
- a handoff request: the session's request, then the stage — a request without its stage's
  status is made again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, TypeVar

from loom_tui.core import git, quarantine
from loom_tui.core.agents import AgentBackend, get_backend
from loom_tui.core.agents.claude_code import trusted_folders
from loom_tui.core.config import ProjectConfig
from loom_tui.core.engine.error_gate import ErrorGate
from loom_tui.core.engine.executor import Executor
from loom_tui.core.engine.observer import SessionObserver
from loom_tui.core.engine.panes import PaneBook
from loom_tui.core.engine.policy import decide
from loom_tui.core.engine.ports import GitRepository, PaneHost, Repository
from loom_tui.core.engine.world import Settings, World
from loom_tui.core.errors import LockBusy, LoomError
from loom_tui.core.events import (
    Event,
    Notice,
    PlanFinished,
    SchedulerError,
    SchedulerStateChanged,
    SessionAdopted,
)
from loom_tui.core.fsutil import FileLock, arm_kill_at_write
from loom_tui.core.model import Record, SessionRecord, StageRecord
from loom_tui.core.quarantine import BrokenStage
from loom_tui.core.store import RecordCache, Store
from loom_tui.core.tmux import Tmux

T = TypeVar("T")
Listener = Callable[[Event], None]
#: Decisions in one pass at most (a pass normally takes a handful; more means a rule oscillates).
MAX_STEPS = 64
#: The test hook: SIGKILL this scheduler right after its Nth write (see `fsutil.write_boundary`).
KILL_AT_WRITE_ENV = "LOOM_TEST_KILL_AT_WRITE"
#: Threads for blocking work: enough for every start of a wide fan-out to run at once.
IO_THREADS = 32
#: The longest wait between passes that keep failing (they wait 1 tick, 2, 4 … up to this).
PASS_BACKOFF_MAX = 60.0
#: Passes in a row that fail before a headless run gives up (after 1+2+4+8+16 ticks of waiting).
PASS_FAILURES_LIMIT = 6
#: A pass that nothing woke (a tick's) lists the panes and reads the live sessions' hooks and
#: transcripts only every this many ticks: the TUI shows gauges every 3 s, what cannot wait (an
#: agent near its budget, a turn that ended) touches `pulse/`, and an agent that exits writes its
#: exit file: either wakes a pass that looks at once.  Only a pane killed outright (no exit file)
#: waits for the next look.
OBSERVE_TICKS = 2
#: The scheduler's state while `.work/` cannot be written (a full disk): nothing starts.
CANNOT_WRITE = "cannot-write"


class SchedulerOptions:
    """What the command line may override in the project's settings."""

    def __init__(
        self,
        *,
        agent: str | None = None,
        max_parallel: int | None = None,
        only_stage: str | None = None,
        exit_when_done: bool = False,
        trust: bool | None = None,
    ) -> None:
        self.agent = agent
        #: mark the project trusted in `~/.claude.json` (None: the project's setting)
        self.trust = trust
        self.max_parallel = max_parallel
        self.only_stage = only_stage
        self.exit_when_done = exit_when_done


def settings_of(config: ProjectConfig, options: SchedulerOptions) -> Settings:
    return Settings(
        max_parallel=options.max_parallel or config.max_parallel,
        auto_merge=config.auto_merge,
        only_stage=options.only_stage,
        retry_backoff=config.seconds("retry_backoff_seconds"),
        retry_backoff_max=config.seconds("retry_backoff_max_seconds"),
        handoff_timeout=config.seconds("handoff_timeout_seconds"),
        handoff_loop_limit=int(config.seconds("handoff_loop_limit")),
        stall_seconds=config.seconds("stall_seconds"),
        resolver_attempts=int(config.seconds("resolver_attempts")),
    )


class Scheduler:
    """Runs one project's plan; see the module's docstring."""

    def __init__(
        self,
        store: Store,
        options: SchedulerOptions | None = None,
        *,
        panes: PaneHost | None = None,
        repo: Repository | None = None,
        backend: AgentBackend | None = None,
        clock: Callable[[], float] = time.time,
        inline_io: bool = False,
    ) -> None:
        """``panes``, ``repo``, ``backend``, ``clock`` and ``inline_io`` (blocking work run in the
        event loop's thread) are for the policy's property tests; a run uses tmux, git and
        threads."""
        self.store = store
        self.options = options or SchedulerOptions()
        self.config = store.config()
        self.base = self.config.base_branch
        self.agent = self.options.agent or self.config.agent
        self.backend = backend or get_backend(self.agent)
        self.settings = settings_of(self.config, self.options)
        self.max_parallel = self.settings.max_parallel
        self.tick = self.config.seconds("tick_seconds")
        self.tmux: PaneHost = panes or Tmux(self.config.tmux_socket or "loom-default")
        self.book = PaneBook(self.tmux)
        self.clock = clock
        self.observer = SessionObserver(store, self.tmux, clock)
        self._inline_io = inline_io
        self._pool = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="loom-io")
        self.executor = Executor(
            store,
            self.tmux,
            repo or GitRepository(store.root, self.base, store.work_dir),
            self.backend,
            self.observer,
            self.book,
            base_branch=self.base,
            settings=self.settings,
            io=self._io,
            clock=clock,
        )
        self.executor.wake = self.wake
        self.state = "idle"
        self._state_before_pause = "running"
        self.finished: PlanFinished | None = None
        self._listeners: list[Listener] = []
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._lock = FileLock(store.scheduler_lock_path, blocking=False)
        self._stage_cache = RecordCache()
        self._session_cache = RecordCache()
        #: stage id -> the problem of its record, for the stages quarantined (said once each)
        self._quarantined: dict[str, str] = {}
        self._urgent = True
        #: when the live sessions were last observed (None: never)
        self._observed_at: float | None = None
        self._last_pass = 0.0
        self._next_deadline: float | None = None
        self._pass_count = 0
        self._errors = ErrorGate()
        #: passes in a row that failed as a whole, and when the next may run (None: at once)
        self._failed_passes = 0
        self._backoff_until: float | None = None
        self._watch_stop: Any = None
        #: files this process wrote, by path: their inode, so that the watcher ignores them
        self._own_writes: dict[str, int] = {}
        store.on_write = self._note_write

    # faces ------------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event; returns the function that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: Event) -> None:
        """Tell the faces, and append the event to events.jsonl (an error only if it is news:
        see `ErrorGate`)."""
        if isinstance(event, SchedulerError) and not self._errors.admit(event.stage, event.message):
            self._log_error(f"again: {event.describe()}")
            return
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception as exc:  # a face's bug must not stop the run
                self._log_error(f"event listener failed: {exc!r}")
        try:
            self.store.append_event(event, strict=True)
        except OSError as exc:
            if not self.executor.write_health.hit(exc, self.clock()):
                self._log_error(f"cannot append to events.jsonl: {exc}")

    def _log_error(self, message: str) -> None:
        self.executor.store_log(message)

    def _set_state(self, state: str, detail: str = "") -> None:
        if state != self.state:
            self.state = state
            self.emit(SchedulerStateChanged(state=state, detail=detail))

    def wake(self) -> None:
        """Ask for a pass as soon as possible (after a change made by this process)."""
        self._urgent = True
        self._wake.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    # running ----------------------------------------------------------------------------------
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
        with contextlib.suppress(OSError):  # the pid is for people; the flock is the lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)

    async def run(self) -> int:
        """Run until stopped (or, with ``exit_when_done``, until the plan finishes or is stuck).

        Returns 0 when every stage is completed or skipped, 1 otherwise.
        """
        if not self._lock.held:
            self.acquire()
        kill_at = os.environ.pop(KILL_AT_WRITE_ENV, "")  # never inherited by tmux and agents
        if kill_at.isdigit():
            arm_kill_at_write(int(kill_at))
        if self.backend.name == "claude" and self._trusts():
            await self._pre_accept()
        watcher = asyncio.create_task(self._watch(), name="loom-watch")
        self._set_state("running")
        try:
            while not self._stop.is_set():
                woken, self._urgent = self._urgent, False
                if await self._writable():
                    # after a failed pass, the next one does everything again: one that skipped
                    # the failing part (a tick's, that lists no panes) would clear the error, and
                    # the next full pass would tell it again
                    await self._pass(routine=not woken and not self._failed_passes)
                self._say_if_paused()
                self._last_pass = time.time()
                if self.options.exit_when_done and self.finished is not None:
                    self.book.stale = True  # one more look: record the panes that died meanwhile
                    with contextlib.suppress(LoomError, OSError):
                        await self.reconcile()
                    if self.finished is not None:
                        break
                await self._sleep()
        finally:
            if self._watch_stop is not None:
                self._watch_stop.set()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
            for check in list(self.executor.checking.values()):
                check.cancel()  # its stage stays pending: the next scheduler checks it again
            if self.options.exit_when_done and self.finished is not None:
                await self._end_idle_server()
            self._set_state("stopped")
            self._lock.release()
            self._pool.shutdown(wait=False)
        return 0 if self.finished is not None and self.finished.ok else 1

    def _pass_failed(self, message: str) -> None:
        self._failed_passes += 1
        wait = min(PASS_BACKOFF_MAX, self.tick * 2 ** (self._failed_passes - 1))
        self._backoff_until = time.time() + wait
        self._next_deadline = None  # the failed pass named none
        self.emit(SchedulerError(message=message))
        if self.options.exit_when_done and self._failed_passes >= PASS_FAILURES_LIMIT:
            self._follow_outcome((False, f"nothing can progress: {message}"))

    def _pass_went_through(self) -> None:
        self._failed_passes = 0
        self._backoff_until = None
        self._errors.clear(None)
        self._errors.clear_stages_except(self.executor.failures)

    async def _end_idle_server(self) -> None:
        """A run that finished leaves no private tmux server behind with no agent in it (while
        the lock is held: no other scheduler can be opening windows in it)."""

        def end() -> bool:
            if any(s.live for s in self.store.sessions()):
                return False
            return self.tmux.end_if_idle()

        try:
            if await self._io(end):
                self.emit(
                    Notice(
                        message=f"tmux server {self.tmux.socket_name} ended: no agent "
                        "runs in it any more"
                    )
                )
        except Exception as exc:  # the run's outcome stands; the server is only left behind
            self._log_error(f"could not end the tmux server: {exc!r}")

    async def _pass(self, *, routine: bool = False) -> None:
        health = self.executor.write_health
        try:
            await self.reconcile(routine=routine)
        except Exception as exc:
            if health.hit(exc, self.clock()):
                return  # said once (the cannot-write state); no pass failure is counted
            if isinstance(exc, LoomError):
                self._pass_failed(exc.message)
            else:  # keep running: one bad pass must not stop the plan
                self._log_error(f"pass failed: {exc!r}")
                self._pass_failed(f"{type(exc).__name__}: {exc}")
        else:
            self._pass_went_through()

    def _say_if_paused(self) -> None:
        """Once per outage: the state that says `.work/` cannot be written, and why."""
        problem = self.executor.write_health.problem
        if problem is not None and self.state != CANNOT_WRITE:
            self._state_before_pause = self.state
            self._set_state(CANNOT_WRITE, f"{problem}; no new work starts until it can write again")

    async def _writable(self) -> bool:
        """Whether to make a pass: yes, unless `.work/` could not be written and a probe says it
        still cannot (see `write_health`).  Says so when writing works again."""
        health = self.executor.write_health
        if health.problem is None:
            return True
        since = health.since
        if not health.due(self.clock()) or not await self._io(health.probe, self.clock()):
            return False
        self._set_state(self._state_before_pause)
        paused = f" after {self.clock() - since:.0f} s" if since is not None else ""
        self.emit(Notice(message=f"can write .work/ again{paused}: the run goes on"))
        return True

    async def _sleep(self) -> None:
        """Until the next pass is due: something changed, a deadline came, or a tick went by
        (after failed passes: their back-off went by)."""
        while not self._stop.is_set() and not self._urgent:
            due = self._last_pass + self.tick
            if self._next_deadline is not None:
                due = min(due, self._next_deadline)
            if self._backoff_until is not None:
                due = max(due, self._backoff_until)
            timeout = due - time.time()
            if timeout <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()

    async def reconcile(self, *, routine: bool = False) -> None:
        """One pass; see the module's docstring.  A ``routine`` pass (a tick's: nothing woke it)
        observes the live sessions only when `OBSERVE_TICKS` ticks went by since it last did."""
        self._pass_count += 1
        was_lost = self.book.server_lost
        now = self.clock()
        observed = self._observed_at
        observe = (
            not routine or observed is None or now - observed >= OBSERVE_TICKS * self.tick * 0.95
        )
        look = await self._io(self._look, now, observe)
        if self.book.server_lost and not was_lost:
            self.emit(
                SchedulerError(
                    message=f"the tmux server {self.tmux.socket_name} is gone, and every "
                    "agent in it: their stages continue from handoffs in a new server, "
                    "without spending a retry"
                )
            )
        self._emit_all(look.events)
        if self._pass_count == 1:
            self._announce_adopted(look.live)
        records = look.records
        decision = None
        for step in range(MAX_STEPS):
            if step:
                records = await self._io(self._read_records)
            self._announce_quarantined(records.stages)
            world = self._world(records)
            decision = decide(world)
            if not decision.commands:
                break
            await self.executor.execute(decision.commands, world, self._emit_all)
            if self.executor.write_health.problem is not None:
                break  # every next step would fail the same way: pause (see `_pass`)
        else:
            self._log_error(f"a pass took {MAX_STEPS} decisions: {decision!r}")
        assert decision is not None
        wake = [t for t in (decision.wake_at, look.gauge_wake) if t is not None]
        self._next_deadline = min(wake) if wake else None
        self._follow_outcome(decision.finished)

    def _look(self, now: float, observe: bool) -> _Look:
        """A pass's first look, in one thread job (each hop to a thread and back costs more than
        most of what it carries): the panes when due, the records, what is new about each live
        session (if ``observe``), and the records again if that was written."""
        listed = self.book.listed_at
        records = self._read_records()
        if any(s.live for s in records.sessions.values()) and (
            self.book.stale or listed is None or (observe and now - listed >= self.tick)
        ):  # (at the observations' pace: a pane that died with its agent wakes a pass itself)
            self.book.refresh(now)
            records = self._read_records()  # after the panes: see the module's docstring
        live = [s for s in records.sessions.values() if s.live]
        events: list[Event] = []
        gauge_wake = None
        if live and observe:
            self._observed_at = now
            writes = self.observer.writes
            events, gauge_wake = self.observer.observe(live, records.stages, self.book.views(live))
            if self.observer.writes != writes:
                records = self._read_records()
        return _Look(records, live, events, gauge_wake)

    def _read_records(self) -> _Records:
        """Every stage and session record (through the caches), and the exit status of each
        live session whose agent has ended (blocking: in a thread)."""
        stages = {s.id: s for s in self.store.stages(self._stage_cache)}
        sessions = {s.id: s for s in self.store.sessions(self._session_cache)}
        exits = {}
        for session in sessions.values():
            if session.live:
                code = _read_exit(self.executor.exit_file(session.id))
                if code is not None:
                    exits[session.id] = code
        return _Records(stages, sessions, exits)

    def _announce_quarantined(self, stages: dict[str, StageRecord]) -> None:
        """Say once per broken version of a record that its stage is quarantined."""
        broken = {s.id: s.problem for s in stages.values() if isinstance(s, BrokenStage)}
        for stage_id, problem in broken.items():
            if self._quarantined.get(stage_id) != problem:
                self.emit(
                    SchedulerError(stage=stage_id, message=quarantine.reason(stage_id, problem))
                )
        self._quarantined = broken

    def _world(self, records: _Records) -> World:
        sessions = quarantine.world_sessions(records.stages, records.sessions)
        live = [s for s in sessions.values() if s.live]
        return World(
            now=self.clock(),
            stages=records.stages,
            sessions=sessions,
            settings=self.settings,
            panes=self.book.views(live),
            panes_listed_at=self.book.listed_at,
            exits={k: v for k, v in records.exits.items() if k in sessions},
            exit_waits=dict(self.executor.exit_waits),
            merge_waits=dict(self.executor.merge_waits),
            cooldowns=dict(self.executor.cooldowns),
            failures=dict(self.executor.failures),
            activity=self.observer.activity,
            tmux_server_lost=self.book.server_lost,
        )

    def _announce_adopted(self, live: list[SessionRecord]) -> None:
        """A new scheduler takes over the sessions that run on."""
        views = self.book.views(live)
        for session in live:
            pane = views.get(session.id)
            if pane is not None and not pane.dead and pane.pane_id == session.pane_id:
                self.emit(
                    SessionAdopted(stage=session.stage_id, session=session.id, pane=pane.pane_id)
                )

    def _emit_all(self, events: list[Event]) -> None:
        for event in events:
            self.emit(event)

    def _follow_outcome(self, outcome: tuple[bool, str] | None) -> None:
        if outcome is None:
            if self.finished is not None:
                self.finished = None
                self._set_state("running")
            return
        ok, summary = outcome
        if self.finished is not None and self.finished.ok == ok:
            return
        self.finished = PlanFinished(ok=ok, summary=summary)
        self.emit(self.finished)
        self._set_state("finished" if ok else "stuck")

    # plumbing ---------------------------------------------------------------------------------
    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        if self._inline_io:
            return fn(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, *args)

    def _note_write(self, path: str, text: str, record: Record) -> None:
        """Remember a record this scheduler wrote: its own write wakes nothing, and is not
        parsed again."""
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

    async def _pre_accept(self) -> None:
        from loom_tui.core.claude_config import pre_accept

        folders = trusted_folders(self.store.root, os.path.join(self.store.root, git.WORKTREES_DIR))
        try:
            result = await self._io(pre_accept, folders)
        except LoomError as exc:
            self.emit(
                SchedulerError(message=f"cannot pre-accept Claude Code's dialogs: {exc.message}")
            )
            return
        message = result.message()
        if message is not None:  # said once: the next run finds nothing to change
            self.emit(Notice(message=message))

    def _trusts(self) -> bool:
        """Whether loom may mark the project trusted in `~/.claude.json` (`--no-trust`, or the
        `trust_claude_folders` setting, leaves the trust dialog to the user)."""
        if self.options.trust is not None:
            return self.options.trust
        return self.config.trust_claude_folders

    #: The folders watched (not recursively): the hook logs under hooks/ change on every tool
    #: call of every agent and are read on each tick instead; a hook that matters touches pulse/.
    WATCHED = ("stages", "sessions", "handoffs", "pulse")

    async def _watch(self) -> None:
        """Wake a pass whenever a file that matters changes under `.work/` (inotify on the event
        loop, see `dirwatch`: the process sleeps until the kernel reports a change)."""
        from loom_tui.core.dirwatch import DELETED, watch_folders

        self._watch_stop = asyncio.Event()
        work = self.store.work_dir
        folders = [os.path.join(work, name) for name in self.WATCHED]
        for folder in folders:
            os.makedirs(folder, exist_ok=True)

        def relevant(kind: str, path: str) -> bool:
            name = os.path.basename(path)
            if name.endswith((".tmp", ".lock")) or name.startswith("."):
                return False
            folder = os.path.basename(os.path.dirname(path))
            if folder == "sessions":
                # session records are the scheduler's own; an exit file means an agent ended
                return name.endswith(".exit") and kind != DELETED
            return folder in self.WATCHED and not self._is_own_write(path)

        try:
            async for changes in watch_folders(folders, relevant, self._watch_stop):
                if any(path.endswith(".exit") for _kind, path in changes):
                    self.book.stale = True
                self.wake()
        except Exception as exc:  # without inotify the tick still drives the scheduler
            self._log_error(f"file watching stopped: {exc!r}")


class _Records(NamedTuple):
    stages: dict[str, StageRecord]
    sessions: dict[str, SessionRecord]
    #: the exit status of live sessions whose agent ended, by session id
    exits: dict[str, int]


class _Look(NamedTuple):
    records: _Records
    live: list[SessionRecord]
    events: list[Event]
    gauge_wake: float | None


def _read_exit(path: str) -> int | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def _read_pid(path: str) -> int | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return int(fh.read().strip() or "0") or None
    except (OSError, ValueError):
        return None
