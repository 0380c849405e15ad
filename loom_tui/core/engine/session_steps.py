"""Carrying out the commands about sessions: end one, adopt one found again, nudge tmux."""

from __future__ import annotations

from collections.abc import Callable

from loom_tui.core.engine.commands import AdoptSession, EndSession, NudgeTmux
from loom_tui.core.engine.observer import SessionObserver, reading_event
from loom_tui.core.engine.panes import PaneBook
from loom_tui.core.engine.ports import PaneHost
from loom_tui.core.engine.records import change_session, ender
from loom_tui.core.engine.world import Settings, World
from loom_tui.core.events import Event, HandoffEvent, SessionAdopted, SessionEnded
from loom_tui.core.hook_flags import clear_all
from loom_tui.core.model import SessionRecord
from loom_tui.core.store import Store

LAST_LINES = 40


class SessionSteps:
    def __init__(
        self,
        store: Store,
        panes: PaneHost,
        observer: SessionObserver,
        book: PaneBook,
        settings: Settings,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.panes = panes
        self.observer = observer
        self.book = book
        self.settings = settings
        self.clock = clock
        #: tmux was nudged for a dead pane's exit status: session id -> (how often, when last)
        self.exit_waits: dict[str, tuple[int, float]] = {}

    def end(self, cmd: EndSession, world: World) -> list[Event]:
        """Capture the pane's last lines, kill its window, then record the end.  Killed between:
        the session still looks live, its pane is gone, and the next decision ends it again."""
        session = world.sessions.get(cmd.session) or self.store.read_session(cmd.session)
        lines = self.panes.capture(cmd.pane.pane_id, LAST_LINES) if cmd.pane else []
        gauge = self.observer.final(session)
        if cmd.pane is not None:
            self.panes.kill_window(cmd.pane.window_id)
            self.book.remove(cmd.pane.pane_id)
        self.exit_waits.pop(cmd.session, None)
        clear_all(self.store.work_dir, cmd.session)  # its sh hook answers from nothing now
        ended = ender(cmd.status, cmd.reason, cmd.exit_code, lines, gauge, self.clock())
        recorded = change_session(self.store, cmd.session, ended)
        if recorded is None:
            return []  # ended meanwhile by someone else (`loom sessions kill`)
        events: list[Event] = []
        if cmd.handoff_timeout:
            events.append(
                HandoffEvent(
                    stage=cmd.stage,
                    session=cmd.session,
                    step="timeout",
                    detail=f"no handoff after {self.settings.handoff_timeout:.0f} s; "
                    "loom writes it",
                )
            )
        if "context_tokens" in gauge:
            stage = world.stages.get(cmd.stage)
            events.append(reading_event(recorded, gauge, stage.context_budget if stage else 100))
        events.append(
            SessionEnded(
                stage=cmd.stage, session=cmd.session, reason=cmd.reason, exit_code=cmd.exit_code
            )
        )
        return events

    def adopt(self, cmd: AdoptSession, world: World) -> list[Event]:
        pane = cmd.pane
        assert pane is not None

        def adopt(record: SessionRecord) -> bool:
            if not record.live:
                return False
            record.pane_id = pane.pane_id
            record.window = pane.window_id
            record.pid = pane.pid
            record.status = "running"
            return True

        if change_session(self.store, cmd.session, adopt) is None:
            return []
        return [SessionAdopted(stage=cmd.stage, session=cmd.session, pane=pane.pane_id)]

    def nudge(self, cmd: NudgeTmux, world: World) -> list[Event]:
        self.panes.nudge()
        nudges = self.exit_waits.get(cmd.session, (0, 0.0))[0]
        self.exit_waits[cmd.session] = (nudges + 1, self.clock())
        self.book.stale = True
        return []
