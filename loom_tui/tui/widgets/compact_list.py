"""The plan as a plain list, for terminals too small for the graph (below about 60×20).

One line per stage: status icon, id, status word and its gauge while it has a session; the line
of the selected stage is highlighted, and ↑/↓ move the selection (the main screen's keys act on
it, as on the graph's cursor).  The list scrolls to keep the selection in view.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from loom_tui.core.textsafe import one_line
from loom_tui.tui.glyphs import COMPONENT_CLASSES, COMPONENT_CSS, ICONS, StyleCache, gauge
from loom_tui.tui.snapshot import Snapshot
from loom_tui.tui.widgets.dag_view import shows_gauge

BAR = 4


class CompactList(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {*COMPONENT_CLASSES, "compact--cursor", "compact--muted"}
    DEFAULT_CSS = (
        """
    CompactList {
        background: $surface;
        scrollbar-size: 1 1;
        & > .compact--cursor { background: $accent 30%; text-style: bold; }
        & > .compact--muted { color: $text-muted; }
    """
        + COMPONENT_CSS
        + "\n    }\n"
    )
    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
    ]

    class Picked(Message):
        def __init__(self, stage_id: str) -> None:
            super().__init__()
            self.stage_id = stage_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._snapshot: Snapshot | None = None
        self.selected: str | None = None
        self._styles = StyleCache()

    def show(self, snapshot: Snapshot, selected: str | None) -> None:
        self._snapshot = snapshot
        self.selected = selected
        self.virtual_size = Size(self.scrollable_content_region.width, len(snapshot.stages))
        self._keep_in_view()
        self.refresh()

    def _ids(self) -> list[str]:
        return [s.id for s in self._snapshot.stages] if self._snapshot else []

    def on_resize(self) -> None:
        """A new size: the least scroll that shows the selection (never one left over from a
        smaller size met while the screen was being laid out)."""
        if self._snapshot is not None:
            self.virtual_size = Size(
                self.scrollable_content_region.width, len(self._snapshot.stages)
            )
        ids = self._ids()
        height = self.size.height
        if height > 0:
            index = ids.index(self.selected) if self.selected in ids else 0
            self.scroll_to(y=max(0, index - height + 1), animate=False)

    def _keep_in_view(self) -> None:
        ids = self._ids()
        height = self.size.height
        if self.selected in ids and height > 0:  # (not laid out yet: `on_resize` comes back)
            index = ids.index(self.selected)
            top = int(self.scroll_y)
            if index < top:
                self.scroll_to(y=index, animate=False)
            elif index >= top + height:
                self.scroll_to(y=index - height + 1, animate=False)

    def action_move(self, step: int) -> None:
        ids = self._ids()
        if not ids:
            return
        index = ids.index(self.selected) + step if self.selected in ids else 0
        if 0 <= index < len(ids):
            self.selected = ids[index]
            self.post_message(self.Picked(ids[index]))
            self._keep_in_view()
            self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        row = y + int(self.scroll_y)
        snap = self._snapshot
        if snap is None or row >= len(snap.stages):
            return Strip.blank(width, self.rich_style)
        stage = snap.stages[row]
        styles: dict[str, Style] = self._styles.get(self, self.COMPONENT_CLASSES)
        status_style = styles[f"status--{stage.status.value}"]
        text = Text(no_wrap=True, overflow="crop")
        text.append(f"{ICONS[stage.status]} ", status_style)
        text.append(one_line(stage.id), status_style)
        room = width - text.cell_len - 1
        tail = Text()
        if shows_gauge(stage):
            tail.append_text(gauge(stage.context_percent, stage.context_budget, BAR, styles))
        else:
            tail.append(stage.status.value, styles["compact--muted"])
        if tail.cell_len > room - 1:
            tail = Text(stage.status.value[: max(0, room - 1)], styles["compact--muted"])
        text.append(" " * max(1, room - tail.cell_len + 1))
        text.append_text(tail)
        text.truncate(width, pad=True)
        if stage.id == self.selected:
            cursor = styles["compact--cursor"]
            text.stylize(Style(bgcolor=cursor.bgcolor, bold=True))
        segments = [
            s if s.style is None else s.__class__(s.text, self.rich_style + s.style)
            for s in text.render(self.app.console)
        ]
        return Strip(segments, width)
