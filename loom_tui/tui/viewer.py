"""Read-only views that stay true: a `loom` that finds the scheduler running in another process,
and `loom status --live`.

A viewer shows every line of ``.work/events.jsonl`` as its prose message (`DiskFeed` reads the
lines other processes append) and asks once a second who holds the scheduler's lock
(`scheduler_lock.scheduler_alive`, which reads /proc/locks instead of probing the lock).
"scheduler runs in pid N" is rewritten whenever the answer changes; when no scheduler is left it
says so, rings, and ``o`` takes over:

- in loom's control window, the scheduler starts in this very process (the window is where the
  run lives: nothing else would outlive the terminal better);
- anywhere else (`loom status --live` in a person's terminal), a new control window is opened
  with this view's options, and this view goes on watching it.  Starting the scheduler here would
  tie the run to this terminal again, which is what the control window is for.

A mixin of `LoomApp`, kept apart from its refresh model.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from textual import work
from textual.binding import Binding
from textual.timer import Timer

from loom_tui.core.errors import LoomError

if TYPE_CHECKING:
    from loom_tui.core.engine import SchedulerOptions
    from loom_tui.core.store import Store

#: How often a viewer asks whether its scheduler still runs (the issue asks for "a second or two").
LIVENESS_EVERY = 1.0
TAKE_OVER_KEY = "o"
_UNKNOWN = -1


def event_prose(event: dict[str, object]) -> dict[str, object]:
    """The event with its human message: lines written without one (older loom versions, or a
    hand-written line) get the message their kind describes, never their raw kind."""
    message = event.get("message")
    if isinstance(message, str) and message and message != event.get("kind"):
        return event
    from loom_tui.core.events import Event

    parsed = Event.from_json(event)
    if parsed is not None:
        return {**event, "message": parsed.describe()}
    kind = str(event.get("kind") or "event").replace("-", " ")
    return {**event, "message": kind}


class ViewerMixin:
    """What `LoomApp` does while it does not run the scheduler itself."""

    VIEWER_BINDINGS = [
        # shown (on every screen) only while a take-over is possible: `check_action`
        Binding(TAKE_OVER_KEY, "take_over", "take over"),
        # otherwise the key says why there is nothing to take over
        Binding(TAKE_OVER_KEY, "explain_take_over", "take over", show=False),
    ]

    # provided by LoomApp
    store: Store
    options: SchedulerOptions
    read_only: bool
    scheduler_state: str
    scheduler_detail: str
    _theme_choice: str | None

    #: True for `loom status --live`: opened read-only on purpose
    live_view: bool = False
    _viewer_pid: int | None = _UNKNOWN
    _liveness_timer: Timer | None = None
    _taking_over: bool = False

    def can_take_over(self) -> bool:
        """A read-only view whose scheduler is gone (and no take-over already under way)."""
        return self.read_only and self._viewer_pid is None and not self._taking_over

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``o`` is offered (the footer, the palette) only while a take-over is possible."""
        if action == "take_over":
            return self.can_take_over()
        return True

    def action_explain_take_over(self) -> None:
        self.action_take_over()

    # becoming a viewer --------------------------------------------------------------------------
    def _become_viewer(self, pid: int | None = _UNKNOWN) -> None:
        app: Any = self
        self.read_only = True
        self._viewer_pid = _UNKNOWN
        self._bindings_changed()
        # (other processes' records and events are always followed: `DiskFeed`)
        if self._liveness_timer is None:
            self._liveness_timer = app.set_interval(LIVENESS_EVERY, self._check_scheduler)
        if pid != _UNKNOWN:
            self._show_liveness(pid)
        else:
            app.call_later(self._check_scheduler)

    def _stop_viewing(self) -> None:
        if self._liveness_timer is not None:
            self._liveness_timer.stop()
            self._liveness_timer = None
        self.read_only = False
        self._bindings_changed()

    def _bindings_changed(self) -> None:
        """Whether ``o`` can be offered (and the keys that change stages) may have changed: the
        footer asks again."""
        app: Any = self
        if app.screen_stack:
            app.refresh_bindings()

    async def _check_scheduler(self) -> None:
        if not self.read_only:
            return
        from loom_tui.core.scheduler_lock import scheduler_alive

        pid = await asyncio.to_thread(scheduler_alive, self.store)
        if self.read_only:
            self._show_liveness(pid)

    def _waiting_count(self) -> int:
        from loom_tui.core.scheduler_lock import waiting_for_scheduler

        snapshot = getattr(self, "snapshot", None)
        if snapshot is None:
            return 0
        auto_merge = bool(getattr(getattr(self, "config", None), "auto_merge", True))
        return len(waiting_for_scheduler(list(snapshot.stages), auto_merge=auto_merge))

    def _show_liveness(self, pid: int | None) -> None:
        """Say who runs the scheduler, whenever that changes."""
        app: Any = self
        was = self._viewer_pid
        if pid == was:
            if pid is None:  # the count of waiting stages may have changed
                self._set_scheduler("no-scheduler", self._no_scheduler_detail())
            return
        self._viewer_pid = pid
        self._bindings_changed()
        if pid is None:
            self._set_scheduler("no-scheduler", self._no_scheduler_detail())
            if was != _UNKNOWN:
                app.notify(
                    f"the scheduler (pid {was}) has stopped: press {TAKE_OVER_KEY} to take over",
                    severity="warning",
                    timeout=10,
                    attention=True,
                )
                app.bell()
        else:
            self._set_scheduler(
                "read-only", f"scheduler runs in pid {pid}" if pid else "a scheduler is starting"
            )

    def _no_scheduler_detail(self) -> str:
        waiting = self._waiting_count()
        agents = f"{waiting} stage(s) wait for one · " if waiting else ""
        return f"{agents}{TAKE_OVER_KEY} takes over"

    def _set_scheduler(self, state: str, detail: str) -> None:
        """The header's state and detail; the detail alone changes the header too."""
        from loom_tui.tui.widgets.header import LoomHeader

        app: Any = self
        self.scheduler_detail = detail
        if self.scheduler_state != state:
            self.scheduler_state = state
            return
        for screen in app.screen_stack:
            for header in screen.query(LoomHeader):
                header.detail = detail

    # taking over --------------------------------------------------------------------------------
    def action_take_over(self) -> None:
        app: Any = self
        if not self.read_only:
            app.notify("this loom runs the scheduler already", timeout=3)
            return
        if self._viewer_pid not in (None, _UNKNOWN):
            app.notify(
                f"the scheduler runs in pid {self._viewer_pid}: nothing to take over",
                severity="warning",
                timeout=4,
            )
            return
        if self._taking_over:
            return
        from loom_tui.tui.attach import in_control_window

        if in_control_window() or not getattr(app, "take_over_in_window", True):
            self._stop_viewing()
            app.run_scheduler = True
            app._start_scheduler()
            if not self.read_only:
                app.notify("this loom took over: the scheduler runs here", timeout=5)
                app._after_change()
            return
        self._open_control_window()

    @work(group="take-over", exit_on_error=False)
    async def _open_control_window(self) -> None:
        from loom_tui.core import control_window

        app: Any = self
        self._taking_over = True
        self._bindings_changed()
        options = self.options
        args = control_window.run_args(options.agent, options.max_parallel, options.only_stage)
        try:
            await asyncio.to_thread(
                control_window.start, self.store, args, theme=self._theme_choice
            )
        except LoomError as exc:
            app.notify(f"cannot take over: {exc.message}", severity="error")
            return
        finally:
            self._taking_over = False
            self._bindings_changed()
        app.notify("the run goes on in loom's control window: `loom` attaches to it", timeout=8)
        await self._check_scheduler()
