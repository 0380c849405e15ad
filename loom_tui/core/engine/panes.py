"""`PaneBook`: the newest listing of the project's tmux panes, and the sessions' views of them.

One `list-panes -a` reads every pane (about 2 ms); the book keeps it between listings and learns
of the panes this process opens and closes meanwhile, so that a pane opened a moment ago is never
taken for one that vanished.

A listing with no pane at all is not a server without agents: loom's server always holds its
keep-alive window.  It means the server is gone (asked once more, to be sure), and then every pane
vanished for one reason, which the engine tells as such (`World.tmux_server_lost`).
"""

from __future__ import annotations

from collections.abc import Iterable

from loom_tui.core.engine.ports import PaneHost
from loom_tui.core.engine.world import PaneView
from loom_tui.core.model import SessionRecord
from loom_tui.core.tmux import PaneInfo


class PaneBook:
    def __init__(self, host: PaneHost) -> None:
        self.host = host
        self.by_id: dict[str, PaneInfo] = {}
        #: when the panes were last listed (None: never)
        self.listed_at: float | None = None
        #: something happened that the listing may not show (an agent exited, tmux was nudged)
        self.stale = True
        #: the newest listing found no server: every pane it held is gone with it
        self.server_lost = False

    def refresh(self, now: float) -> None:
        """List every pane (blocking: call it in a thread)."""
        self.stale = False
        self.by_id = self.host.list_panes()
        self.server_lost = not self.by_id and not self.host.server_running()
        self.listed_at = now

    def add(self, pane: PaneInfo) -> None:
        self.by_id[pane.pane_id] = pane
        self.server_lost = False  # a pane just opened: the server is up (again)

    def remove(self, pane_id: str) -> None:
        self.by_id.pop(pane_id, None)

    def views(self, sessions: Iterable[SessionRecord]) -> dict[str, PaneView]:
        """Each session's pane, by session id: by its recorded pane id (unless a newer session
        reuses that id), else by the session id in the pane's command."""
        by_marker = {p.session_id: p for p in self.by_id.values() if p.session_id}
        out = {}
        for session in sessions:
            pane = self.by_id.get(session.pane_id) if session.pane_id else None
            if pane is not None and pane.session_id not in (None, session.id):
                pane = None
            pane = pane or by_marker.get(session.id)
            if pane is not None:
                out[session.id] = PaneView(
                    pane_id=pane.pane_id,
                    window_id=pane.window_id,
                    pid=pane.pid,
                    dead=pane.dead,
                    dead_status=pane.dead_status,
                    activity=pane.activity,
                )
        return out
