"""A read-only live view of a stage's tmux pane: the attach fallback where the terminal cannot be
handed over (tests, or a terminal that cannot suspend).  Refreshed twice a second."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from loom_tui.core.textsafe import one_line
from loom_tui.core.tmux import Tmux


class PaneScreen(Screen[None]):
    DEFAULT_CSS = """
    PaneScreen { background: $background; }
    PaneScreen #pane-title {
        dock: top;
        height: 1;
        background: $panel;
        color: $accent;
        padding: 0 1;
    }
    PaneScreen #pane-text { padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, tmux: Tmux, pane_id: str, title: str) -> None:
        super().__init__()
        self.tmux = tmux
        self.pane_id = pane_id
        self.title_text = title
        self.lines: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(
            f"{self.title_text} · pane {self.pane_id} · read-only live view", id="pane-title"
        )
        with VerticalScroll():
            yield Static("", id="pane-text")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(0.5, self._refresh_pane)
        self.call_later(self._refresh_pane)

    async def _refresh_pane(self) -> None:
        try:
            lines = await asyncio.to_thread(self.tmux.capture, self.pane_id, 200)
        except Exception as exc:  # the pane may be gone
            lines = [f"(cannot read the pane: {exc})"]
        if lines != self.lines:
            self.lines = lines
            # the pane's text as tmux captured it (no -e: no colours), any control left escaped
            text = Text("\n".join(one_line(line) for line in lines))
            self.query_one("#pane-text", Static).update(text)
