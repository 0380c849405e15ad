"""The loom TUI: the scheduler runs inside this app's event loop; widgets render its events.

The app owns three things: the scheduler (a worker with ``exit_on_error=False``: its failure is
shown, never fatal), the current `Snapshot` of the records, and the actions of the keys, each of
which calls the same core function as the CLI in a thread.

Nothing re-reads `.work/` on a timer.  The records are read once at start; after that the
scheduler's events arrive as `SchedulerEvent` messages and every record this process writes as a
`RecordWritten` message (the store's write hook), and both are applied in memory
(`live_records.py`).  Only what other processes change is read from disk, by the `DiskFeed`
worker, one changed file at a time.  When another loom already runs this project's scheduler, the
app opens read-only and everything comes from that worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.reactive import var
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from loom_tui.core import actions
from loom_tui.core.engine import Scheduler, SchedulerOptions
from loom_tui.core.errors import LockBusy, LoomError
from loom_tui.core.events import Event
from loom_tui.core.fsutil import json_line
from loom_tui.core.model import Record, Status
from loom_tui.core.store import RecordCache, Store
from loom_tui.core.textsafe import one_line
from loom_tui.tui import attach as attach_module
from loom_tui.tui.attention import Attention
from loom_tui.tui.disk_feed import DiskFeed, EventsRead, EventTail
from loom_tui.tui.keys import KEYS
from loom_tui.tui.live_records import Change, LiveRecords, RecordGone, RecordWritten
from loom_tui.tui.snapshot import Snapshot, load_handoff_infos, read_snapshot
from loom_tui.tui.themes import DEFAULT_THEME, load_themes, save_theme, saved_theme
from loom_tui.tui.viewer import ViewerMixin, event_prose

EventListener = Callable[[dict[str, object]], None]
#: The screen's beat: the selected stage's pane is captured, and the gauge figures read since the
#: last beat are shown, in one redraw.  A redraw costs more than what it draws (about 5 ms for a
#: few changed rows and the pane's lines, plus 3 ms to capture and lay out the pane): at one a
#: second for gauges and one every two for the pane, 20 agents kept the TUI at 2% of a core.
BEAT_EVERY = 3.0
#: how often events.jsonl is looked at for other processes' events (one stat if it did not grow;
#: their record changes are seen at once, by the watcher)
EVENTS_EVERY = 2.0
#: how many of this process's own event lines are remembered for the tail to skip
OWN_LINES = 2000
#: the least time between two snapshots: the first change after a quiet spell is shown at once,
#: a stream of them (20 agents' gauges) at most this often
BUILD_EVERY = 1.0


class SchedulerEvent(Message):
    """An event of the scheduler in this process, as its events.jsonl line would be."""

    def __init__(self, data: dict[str, object]) -> None:
        super().__init__()
        self.data = data


class LoomApp(ViewerMixin, App[int]):
    TITLE = "loom"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("ctrl+c", "quit_loom", "quit", show=False, priority=True),
        *ViewerMixin.VIEWER_BINDINGS,
    ]
    ENABLE_COMMAND_PALETTE = True

    # `var`, not `reactive`: a reactive on the App repaints the whole screen each time it is set;
    # the widgets that watch these redraw only what changed.
    snapshot: var[Snapshot | None] = var(None, always_update=True, init=False)
    scheduler_state: var[str] = var("paused", init=False)

    def __init__(
        self,
        store: Store,
        options: SchedulerOptions | None = None,
        *,
        theme: str | None = None,
        run_scheduler: bool = True,
        clock: Callable[[], float] | None = None,
        attacher: attach_module.Attacher | None = None,
        handle_signals: bool = False,
    ) -> None:
        """``handle_signals``: exit cleanly on SIGTERM and SIGHUP (`exit_signals.py`); the real
        `loom` asks for it, tests that host the app in their own process do not."""
        super().__init__()
        self.store = store
        self.options = options or SchedulerOptions()
        self.config = store.config()
        self.run_scheduler = run_scheduler
        self.clock = clock or time.time
        self.attacher = attacher or attach_module.attach
        self.scheduler: Scheduler | None = None
        self.scheduler_detail = ""
        self.read_only = False
        self.selected_stage: str | None = None
        self.recent_events: deque[dict[str, object]] = deque(maxlen=200)
        #: every notice said, wherever it was shown (for tests and the curious)
        self.said: deque[str] = deque(maxlen=50)
        self._listeners: list[EventListener] = []
        self._stage_cache = RecordCache()
        self._session_cache = RecordCache()
        self.records = LiveRecords(store)
        self.attention = Attention(self.config.auto_merge)
        self._tail = EventTail(store.events_path)
        #: the events.jsonl lines of the events delivered in-process: the tail skips them unread
        self._own_lines: dict[str, None] = {}
        self._reading = False
        self._written_while_reading: list[Record] = []
        self._build_pending = False
        self._last_build = 0.0
        #: gauge figures arrived that no snapshot shows yet (shown on the next beat)
        self._gauges_pending = False
        self._theme_choice = theme
        self._handle_signals = handle_signals
        self._uninstall_signals: Callable[[], None] | None = None

    # set-up -----------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
        attention: bool = False,
    ) -> None:
        """A notice, in plain text with control characters escaped, on the attention bar of the
        screen in front; a toast only for the answer to a key on a screen without one
        (`notices.py`).  ``attention``: what the scheduler reports, never a toast.

        loom's notices quote stage names, reasons and error text that plans and agents wrote: as
        markup, a ``[`` in them would be taken for a tag (or fail to parse), and an escape
        sequence would reach the terminal.  Widgets' `notify` comes here too.
        """
        from loom_tui.tui import notices

        text = one_line(message)
        self.said.append(text)
        notices.route(
            self,
            text,
            title=one_line(title),
            severity=severity,
            timeout=timeout or self.NOTIFICATION_TIMEOUT,
            attention=attention,
        )

    def get_driver_class(self) -> Any:
        """Textual's driver, but on Linux one whose input thread sleeps until there is input
        (`quiet_driver.py`)."""
        driver = super().get_driver_class()
        from textual.drivers.linux_driver import LinuxDriver

        if driver is LinuxDriver:
            from loom_tui.tui.quiet_driver import QuietLinuxDriver

            return QuietLinuxDriver
        return driver

    def get_default_screen(self) -> Screen[Any]:
        from loom_tui.tui.screens.main_screen import MainScreen

        return MainScreen()

    def on_mount(self) -> None:
        for theme in load_themes().values():
            self.register_theme(theme)
        wanted = self._theme_choice or saved_theme() or DEFAULT_THEME
        self.theme = wanted if wanted in self.available_themes else DEFAULT_THEME
        self._theme_ready = True
        self._load_recent_events()
        if self.run_scheduler:
            self._start_scheduler()
        elif self.live_view:
            self._become_viewer()
        else:
            self.scheduler_state = "paused"
        self._hook_writes()
        self.refresh_snapshot_now()
        self._watch_files()
        self.set_interval(BEAT_EVERY, self._beat)
        if self._handle_signals:
            from loom_tui.tui import exit_signals

            self._uninstall_signals = exit_signals.install(self._quit_on_signal)
        if self._handle_signals and not self.is_headless:
            from loom_tui.tui import terminal_watch

            self.set_interval(terminal_watch.EVERY, self._check_terminal)

    def _check_terminal(self) -> None:
        """The terminal hung up without a SIGHUP reaching us: end as SIGHUP would
        (`terminal_watch.py`)."""
        import sys

        from loom_tui.tui import terminal_watch

        try:
            fd = sys.__stdin__.fileno() if sys.__stdin__ is not None else 0
        except (OSError, ValueError):
            fd = 0
        if terminal_watch.hung_up(fd):
            self._quit_on_signal(1)  # as SIGHUP

    def on_unmount(self) -> None:
        if self._uninstall_signals is not None:
            self._uninstall_signals()
            self._uninstall_signals = None

    def watch_theme(self, theme: str) -> None:
        if not getattr(self, "_theme_ready", False):
            return
        # the detail panel and the sessions table keep what they drew in the old theme's
        # colours until their data changes: show the snapshot again once the new CSS applies
        self.call_next(self.refresh_snapshot_now)
        if self._theme_choice is None:
            save_theme(theme)

    def _load_recent_events(self) -> None:
        self._tail.skip_to_end()
        for event in self.store.read_events(limit=60):
            self.recent_events.append(event_prose(event))

    # the scheduler ----------------------------------------------------------------------------
    def _start_scheduler(self) -> None:
        try:
            scheduler = Scheduler(self.store, self.options)
            scheduler.acquire()
        except LockBusy:
            from loom_tui.core.control import scheduler_pid

            self._become_viewer(scheduler_pid(self.store))
            return
        except LoomError as exc:
            self.scheduler_state = "failed"
            self.scheduler_detail = exc.message
            self.notify(exc.message, severity="error", timeout=10, attention=True)
            return
        self.scheduler = scheduler
        scheduler.subscribe(self._scheduler_sink)
        self.scheduler_state = "running"
        self.run_worker(scheduler.run(), name="scheduler", group="scheduler", exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name != "scheduler":
            return
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            self.scheduler_state = "failed"
            self.scheduler_detail = f"{type(error).__name__}: {error}"
            self.notify(
                f"the scheduler stopped: {self.scheduler_detail}",
                severity="error",
                timeout=15,
                attention=True,
            )
            self.bell()

    def _scheduler_sink(self, event: Event) -> None:
        """The scheduler's event sink (in this event loop): the event becomes a message."""
        data = event.to_json()
        self._own_lines[json_line(data).rstrip("\n")] = None
        if len(self._own_lines) > OWN_LINES:
            del self._own_lines[next(iter(self._own_lines))]
        self.post_message(SchedulerEvent(data))

    def on_scheduler_event(self, message: SchedulerEvent) -> None:
        data = message.data
        self._deliver(data)
        if data.get("kind") == "scheduler":
            state = str(data.get("state", ""))
            if state in ("running", "finished", "stuck", "stopped", "cannot-write"):
                self.scheduler_detail = str(data.get("detail") or "")
                self.scheduler_state = state
            if state == "cannot-write":
                self.notify(self.scheduler_detail, severity="error", timeout=15, attention=True)

    def _deliver(self, data: dict[str, object]) -> None:
        self.recent_events.append(data)
        for listener in list(self._listeners):
            try:
                listener(data)
            except Exception:  # a widget being torn down must not break the scheduler
                continue
        self._attend(data)

    def subscribe_events(self, listener: EventListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def _attend(self, data: dict[str, object]) -> None:
        """Tell the person about what needs them: once per stage and reason (`Attention`)."""
        stages = self.records.stages.values()
        all_merged = bool(stages) and all(s.done for s in stages)
        notice = self.attention.notice_for(data, self.clock(), all_merged=all_merged)
        if notice is not None:
            self.notify(
                notice.message, severity=notice.severity, timeout=notice.timeout, attention=True
            )
            self.bell()
        screen = self.screen
        if hasattr(screen, "event_seen"):
            screen.event_seen(data)

    # the disk: what other processes change ----------------------------------------------------
    def _hook_writes(self) -> None:
        """Every record this process writes (the scheduler's or a key's, in any thread) reaches
        the screen as a message, with no read of the file."""
        previous = self.store.on_write

        def on_write(path: str, text: str, record: Record) -> None:
            if previous is not None:
                previous(path, text, record)
            self.records.note_own_write(path)
            self.post_message(RecordWritten(path, record.copy()))

        self.store.on_write = on_write

    def _watch_files(self) -> None:
        feed = DiskFeed(self, self.records, self._tail, self._own_lines.__contains__)  # type: ignore[arg-type]
        self.run_worker(feed.run(), group="watch", exit_on_error=False)
        self.set_interval(EVENTS_EVERY, feed.poll_events)

    def on_record_written(self, message: RecordWritten) -> None:
        if self._reading:
            self._written_while_reading.append(message.record)
        change = self.records.put(message.record)
        if change is Change.SHOWN:
            self._schedule_build()
        elif change is Change.GAUGES:
            self._gauges_pending = True

    def on_record_gone(self, message: RecordGone) -> None:
        if self.records.forget(message.path):
            self._schedule_build()

    def on_events_read(self, message: EventsRead) -> None:
        for data in message.events:  # (this process's own are left out by the tail)
            self._deliver(event_prose(data))

    # the snapshot -----------------------------------------------------------------------------
    def refresh_snapshot_now(self) -> None:
        """Read every record from `.work/` again (at start, after a theme change, in tests)."""
        self.run_worker(self._read_snapshot(), group="snapshot", exit_on_error=False)

    async def _read_snapshot(self) -> None:
        self._reading = True
        self._written_while_reading = []
        try:
            snapshot = await asyncio.to_thread(
                read_snapshot,
                self.store,
                self.config,
                self._stage_cache,
                self._session_cache,
                self.clock(),
            )
        finally:
            self._reading = False
        self.records.replace_all(snapshot.stages, snapshot.sessions, snapshot.error)
        for record in self._written_while_reading:  # newer than what the read found
            self.records.put(record)
        self._written_while_reading = []
        self._build_snapshot()

    def _schedule_build(self) -> None:
        """A new snapshot soon: at once after a quiet spell, else one per ``BUILD_EVERY``."""
        if self._build_pending:
            return
        self._build_pending = True
        wait = self._last_build + BUILD_EVERY - time.monotonic()
        if wait > 0:
            self.set_timer(wait, self._build_snapshot)
        else:
            self.call_next(self._build_snapshot)

    def _build_snapshot(self) -> None:
        self._build_pending = False
        self._gauges_pending = False
        self._last_build = time.monotonic()
        missing = self.records.missing_handoffs()
        if missing:
            self.run_worker(self._load_handoffs(missing), group="snapshot", exit_on_error=False)
        self.snapshot = self.records.snapshot(self.config, self.clock())

    async def _load_handoffs(self, names: list[str]) -> None:
        await asyncio.to_thread(load_handoff_infos, self.store, names)
        self._schedule_build()

    async def _beat(self) -> None:
        """Capture the selected stage's pane, then show it with the gauges read meanwhile."""
        pane = await self._capture_selected_pane()
        if self._gauges_pending and not self._build_pending:
            self._build_snapshot()
        screen = self.screen
        if pane is not None and hasattr(screen, "show_pane"):
            screen.show_pane(*pane)

    async def _capture_selected_pane(self) -> tuple[str, list[str]] | None:
        """The selected stage's live pane: its stage id and its last lines (None: none)."""
        snapshot = self.snapshot
        stage = snapshot.stage(self.selected_stage) if snapshot else None
        if snapshot is None or stage is None:
            return None
        session = snapshot.current_session(stage)
        if session is None or not session.live or not session.pane_id:
            return None
        tmux = self._tmux()
        try:
            lines = await asyncio.to_thread(tmux.capture, session.pane_id, 20)
        except Exception:
            return None
        return stage.id, lines

    def _tmux(self) -> Any:
        from loom_tui.core.tmux import Tmux

        return Tmux(self.config.tmux_socket)

    # actions ----------------------------------------------------------------------------------
    def _refuse_read_only(self) -> bool:
        if self.read_only:
            self.notify(
                f"read-only: {self.scheduler_detail}; use that loom (or the CLI) to change stages",
                severity="warning",
            )
        return self.read_only

    def _after_change(self) -> None:
        if self.scheduler is not None:
            self.scheduler.wake()

    def stage_action(self, verb: str, stage_id: str | None) -> None:
        """hold, release, retry, skip, reset: the core function in a thread, then a notice."""
        if stage_id is None or self._refuse_read_only():
            return
        function = getattr(actions, verb)
        self._run_action(partial(function, self.store, stage_id, source="tui"))

    def _run_action(
        self, call: Callable[[], Any], describe: Callable[[Any], str] | None = None
    ) -> None:
        async def runner() -> None:
            try:
                result = await asyncio.to_thread(call)
            except LoomError as exc:
                self.notify(exc.message, severity="error")
                return
            message = describe(result) if describe else getattr(result, "message", str(result))
            if message:
                self.notify(message, timeout=4)
            self._after_change()

        self.run_worker(runner(), group="actions", exit_on_error=False)

    def confirm_reset(self, stage_id: str | None, *, hard: bool = False) -> None:
        if stage_id is None or self._refuse_read_only():
            return
        from loom_tui.tui.screens.confirm_screen import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                call = partial(actions.reset, self.store, stage_id, source="tui", hard=hard)
                self._run_action(call)

        question = (
            f"Hard reset of stage {stage_id}? Its retries, sessions and merge state are cleared, "
            "and it starts again from the base in a fresh worktree; its branch is kept as a backup."
            if hard
            else f"Reset stage {stage_id}? Its retries, sessions and merge state are cleared; it "
            "continues on its branch. The stages that depend on it start afresh."
        )
        self.push_screen(ConfirmScreen(question, yes="Reset"), answered)

    #: what `ask_then` asks, and the core call it makes with the answer
    _QUESTIONS = {
        "retry": ("A note for the stage's next session (it goes into its signal):", "context"),
        "skip": ("Why skip it? (kept on the stage and in the events)", "reason"),
        "reject": ("Why is it rejected? (its next session reads this)", "why"),
    }

    def ask_then(self, verb: str, stage_id: str | None) -> None:
        """Ask for a line of text, then retry with it as a note, skip with it as the reason, or
        reject a review with it."""
        if stage_id is None or self._refuse_read_only():
            return
        from loom_tui.tui.screens.prompt_screen import PromptScreen

        question, field = self._QUESTIONS[verb]

        def answered(text: str | None) -> None:
            if text is None:
                return
            if verb == "reject":
                call = partial(actions.review, self.store, stage_id, approve=False, why=text)
            else:
                call = partial(getattr(actions, verb), self.store, stage_id, source="tui")
                call = partial(call, **{field: text})
            self._run_action(call)

        self.push_screen(PromptScreen(f"Stage {stage_id}: {question}"), answered)

    def confirm_approve(self, stage_id: str | None) -> None:
        if stage_id is None or self._refuse_read_only():
            return
        from loom_tui.tui.screens.confirm_screen import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self._run_action(
                    partial(actions.review, self.store, stage_id, approve=True, source="tui")
                )

        self.push_screen(
            ConfirmScreen(
                f"Approve stage {stage_id}? It is marked completed as it stands, and merged.",
                yes="Approve",
            ),
            answered,
        )

    def confirm_kill(self, stage_id: str | None) -> None:
        if stage_id is None or self._refuse_read_only():
            return
        live = (
            [s.id for s in self.snapshot.sessions_of(stage_id) if s.live] if self.snapshot else []
        )
        if not live:
            self.notify(f"stage {stage_id} has no live session", severity="warning")
            return
        from loom_tui.core.control import kill_session
        from loom_tui.tui.screens.confirm_screen import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self._run_action(lambda: "\n".join(kill_session(self.store, i) for i in live))

        self.push_screen(
            ConfirmScreen(
                f"End stage {stage_id}'s session? Its agent is stopped and the stage is blocked "
                "(retry it with t).",
                yes="End it",
            ),
            answered,
        )

    def merge(self, stage_id: str | None) -> None:
        if stage_id is None or self._refuse_read_only():
            return
        from loom_tui.core.merging import merge_now

        self._run_action(partial(merge_now, self.store, stage_id, "tui"), str)

    def attach(self, stage_id: str | None) -> None:
        snapshot = self.snapshot
        stage = snapshot.stage(stage_id) if snapshot else None
        if snapshot is None or stage is None:
            return
        session = snapshot.current_session(stage)
        if session is None or not session.live or not session.pane_id:
            self.notify(f"stage {stage.id} has no running session", severity="warning")
            return
        self._attach_pane(stage.id, session.pane_id)

    @work(group="attach", exit_on_error=False)
    async def _attach_pane(self, stage_id: str, pane_id: str) -> None:
        from textual.app import SuspendNotSupported

        try:
            note = await self.attacher(self, self.config.tmux_socket, pane_id)  # type: ignore[arg-type]
        except SuspendNotSupported:
            from loom_tui.tui.screens.pane_screen import PaneScreen

            await self.push_screen(PaneScreen(self._tmux(), pane_id, f"stage {stage_id}"))
            return
        except OSError as exc:
            self.notify(f"cannot attach: {exc}", severity="error")
            return
        self.notify(f"{stage_id}: {note}", timeout=3)
        self._after_change()

    def details(self, stage_id: str | None) -> None:
        if stage_id is None:
            return
        from loom_tui.tui.screens.stage_screen import StageScreen

        self.push_screen(StageScreen(stage_id))

    def view_handoff(self, stage_id: str | None) -> None:
        snapshot = self.snapshot
        if snapshot is None or stage_id is None:
            return
        paths = [h.path for h in snapshot.handoffs.get(stage_id, ())]
        if not paths:
            self.notify(f"stage {stage_id} has no handoff yet", severity="warning")
            return
        from loom_tui.tui.screens.handoff_screen import HandoffScreen

        self.push_screen(HandoffScreen(paths))

    def next_attention(self) -> None:
        snapshot = self.snapshot
        if snapshot is None:
            return
        ids = [s.id for s in snapshot.needing_attention()]
        if not ids:
            self.notify("nothing needs you right now", timeout=3)
            return
        current = self.selected_stage
        order = [s.id for s in snapshot.stages]
        start = order.index(current) + 1 if current in order else 0
        rotated = order[start:] + order[:start]
        target = next(i for i in rotated if i in ids)
        screen = self.screen
        if hasattr(screen, "select"):
            screen.select(target)

    def action_show_help(self) -> None:
        from loom_tui.tui.screens.help_screen import HelpScreen

        self.push_screen(HelpScreen())

    def quit_loom(self) -> None:
        live = len(self.snapshot.live_sessions()) if self.snapshot else 0
        if live == 0 or self.read_only:
            self._quit()
            return
        from loom_tui.tui.screens.confirm_screen import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self._quit()

        self.push_screen(
            ConfirmScreen(
                f"{live} agent session(s) are running. They keep running after loom "
                "quits, and the next `loom` adopts them. Quit?",
                yes="Quit",
            ),
            answered,
        )

    def action_quit_loom(self) -> None:
        self.quit_loom()

    def _quit(self, code: int = 0) -> None:
        if self.scheduler is not None:
            self.scheduler.request_stop()
        self.exit(code)

    def _quit_on_signal(self, signum: int) -> None:
        """SIGTERM (`loom stop`) or SIGHUP (the terminal went away): quit without asking; the
        exit status says which signal, as a shell would (128 + its number)."""
        self._quit(128 + signum)

    # the command palette ----------------------------------------------------------------------
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        from loom_tui.tui.screens.main_screen import MainScreen

        if not isinstance(screen, MainScreen):
            return
        for key in KEYS:
            if key.action in ("help",):
                continue
            namespace, _dot, action = key.action.rpartition(".")
            if (self if namespace == "app" else screen).check_action(action, ()) is False:
                continue  # (`o` with nothing to take over; `h` in a read-only view)
            yield SystemCommand(
                f"{key.label.capitalize()} ({key.display})",
                key.help,
                partial(screen.run_action, key.action),
            )
        for stage in self.snapshot.stages if self.snapshot else ():
            yield SystemCommand(
                f"Go to stage {stage.id}",
                f"{stage.status.value} · {stage.name}",
                partial(screen.select, stage.id),
            )

    # status for tests and the headless check ------------------------------------------------------
    def stage_status(self, stage_id: str) -> Status:
        return self.store.read_stage(stage_id).status
