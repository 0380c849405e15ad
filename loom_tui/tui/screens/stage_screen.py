"""`enter`: one stage in full — details, sessions, handoffs and live pane, on the whole screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

from loom_tui.tui.screens.with_bar import NO_TOASTS_CSS, BarScreenMixin
from loom_tui.tui.snapshot import Snapshot
from loom_tui.tui.widgets.attention_bar import AttentionBar
from loom_tui.tui.widgets.detail_panel import DetailPanel
from loom_tui.tui.widgets.header import LoomHeader

if TYPE_CHECKING:
    from loom_tui.tui.app import LoomApp


class StageScreen(BarScreenMixin, Screen[None]):
    """The attention bar above the footer takes the notices (no toast covers the details)."""

    DEFAULT_CSS = f"""
    StageScreen #stage-detail {{ height: 1fr; border: round $accent; border-title-color: $accent; }}
    StageScreen {NO_TOASTS_CSS}
    """
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("v", "view_handoff", "Handoff"),
        Binding("a", "attach", "Attach"),
        Binding("d", "diff", "Diff"),
        Binding("n", "next_attention", "Next needing you"),
    ]

    def __init__(self, stage_id: str) -> None:
        super().__init__()
        self.stage_id = stage_id

    @property
    def loom(self) -> LoomApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield LoomHeader()
        yield DetailPanel(id="stage-detail", verbose=True)
        yield AttentionBar(id="bar")
        yield Footer()

    def on_mount(self) -> None:
        self.watch(self.app, "snapshot", self._show, init=True)
        self.watch(self.app, "scheduler_state", self._show_state, init=True)

    def _show_state(self, state: str) -> None:
        """The scheduler's state, as on the main screen (the header said "no scheduler" here
        while one ran)."""
        header = self.query_one(LoomHeader)
        header.scheduler_state = state
        header.detail = self.loom.scheduler_detail

    def _show(self, snapshot: Snapshot | None) -> None:
        if snapshot is None:
            return
        self.query_one(LoomHeader).show(snapshot)
        self.query_one(DetailPanel).show(snapshot, self.stage_id, self.loom.now())
        self.show_attention(snapshot)

    def show_pane(self, stage_id: str, lines: list[str]) -> None:
        self.query_one(DetailPanel).show_pane(stage_id, lines)

    def select(self, stage_id: str) -> None:
        """Show ``stage_id`` here (``n``, as the attention bar says), and select it on the main
        screen below, so that `esc` comes back to it."""
        self.stage_id = stage_id
        self.loom.selected_stage = stage_id
        for screen in self.app.screen_stack:
            if screen is not self and hasattr(screen, "select"):
                screen.select(stage_id)
        self._show(self.loom.snapshot)

    def action_next_attention(self) -> None:
        self.loom.next_attention()

    def action_view_handoff(self) -> None:
        self.loom.view_handoff(self.stage_id)

    def action_attach(self) -> None:
        self.loom.attach(self.stage_id)

    def action_diff(self) -> None:
        from loom_tui.tui.screens.diff_screen import open_diff

        open_diff(self.loom, self.stage_id)
