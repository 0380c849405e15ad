"""Carrying out `MarkStalled`: record that a session stalled (or came back to life), and nudge it.

The stage is written first, then the session: killed in between, the session still shows the old
state, so the next decision asks again and both end up alike.  The nudge is typed last; a scheduler
killed before it loses the nudge, never the stall (the session is ended on time all the same).
"""

from __future__ import annotations

from collections.abc import Callable

from loom_tui.core.engine.commands import MarkStalled
from loom_tui.core.engine.ports import PaneHost
from loom_tui.core.engine.records import change_session, change_stage
from loom_tui.core.engine.world import World
from loom_tui.core.events import Event, SessionStalled
from loom_tui.core.model import SessionRecord, StageRecord
from loom_tui.core.store import Store


def stall_nudge(stage_id: str, idle_seconds: float) -> str:
    """What loom types into a stalled agent's pane (it reaches the model as a user message)."""
    return (
        f"loom: there has been no activity in this session for {idle_seconds:.0f} s. If you are "
        "stuck, say what blocks you; otherwise carry on with the stage and run "
        f"`loom stage complete {stage_id}` once its acceptance passes."
    )


class SupervisionSteps:
    def __init__(self, store: Store, panes: PaneHost, clock: Callable[[], float]) -> None:
        self.store = store
        self.panes = panes
        self.clock = clock

    def mark(self, cmd: MarkStalled, world: World) -> list[Event]:
        session = self.store.read_session(cmd.session)
        if not session.live or cmd.stalled == (session.stalled_at is not None):
            return []
        at = self.clock() if cmd.stalled else None

        def stage_mark(record: StageRecord) -> bool:
            if record.session_id != cmd.session or record.stalled_at == at:
                return False
            record.stalled_at = at
            return True

        def session_mark(record: SessionRecord) -> bool:
            if not record.live:
                return False
            record.stalled_at = at
            return True

        change_stage(self.store, cmd.stage, stage_mark)
        marked = change_session(self.store, cmd.session, session_mark)
        if marked is None:
            return []
        if not cmd.stalled:
            return [SessionStalled(stage=cmd.stage, session=cmd.session, step="resumed")]
        nudged = bool(marked.pane_id)
        if marked.pane_id:
            self.panes.paste(marked.pane_id, stall_nudge(cmd.stage, cmd.idle_seconds))
        return [
            SessionStalled(
                stage=cmd.stage,
                session=cmd.session,
                idle_seconds=cmd.idle_seconds,
                nudged=nudged,
            )
        ]
