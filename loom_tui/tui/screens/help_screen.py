"""`?`: every key of the main screen, with what it does."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from loom_tui.tui.keys import KEYS
from loom_tui.tui.screens.diff_screen import DIFF_KEYS
from loom_tui.tui.screens.with_bar import NO_TOASTS_CSS, BarScreenMixin
from loom_tui.tui.widgets.attention_bar import AttentionBar


class HelpScreen(BarScreenMixin, ModalScreen[None]):
    """Over the main screen, with an attention bar of its own on the main screen's (above the
    footer): what happens while the help is open is said there, not in a toast over the keys."""

    DEFAULT_CSS = f"""
    HelpScreen {{ align: center middle; background: $background 60%; }}
    HelpScreen > AttentionBar {{ dock: bottom; margin-bottom: 1; }}
    HelpScreen {NO_TOASTS_CSS}
    HelpScreen > VerticalScroll {{
        width: 76;
        height: auto;
        max-height: 90%;
        border: thick $accent;
        background: $panel;
        padding: 1 2;
    }}
    """
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), expand=True)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key in KEYS:
            table.add_row(key.display, key.help)
        for keys, what in (
            ("↑ ↓ ← →", "move between stages (up/down in a column, left/right across)"),
            ("tab", "move between the DAG, the sessions table and the log"),
            ("c", "sessions table: sort by context use"),
            ("ctrl+p", "command palette: every action, and the theme"),
        ):
            table.add_row(keys, what)
        for keys, what in DIFF_KEYS:
            table.add_row(keys, what)
        with VerticalScroll():
            yield Static(Text("loom — keys", style="bold"))
            yield Static(table)
            yield Static(
                Text(
                    "\nEvery action goes through the same code as the `loom` CLI; "
                    "agents keep running when loom quits.",
                    style="italic",
                )
            )
        yield AttentionBar(id="bar")

    def on_mount(self) -> None:
        self.watch(self.app, "snapshot", self.show_attention, init=True)
