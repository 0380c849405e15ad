"""The diff screen's scrollable diff: a line-API widget over a list of rich `Text` lines.

A file's diff can be thousands of lines: only the rows on screen are turned into strips (and kept
in a cache until the lines or the theme change), so scrolling costs the same for any length.
Lines are not wrapped (a diff's columns matter); wide ones scroll sideways.  Each line's own
background (added, removed) runs to the right edge.  The styles of each kind of line come from the
theme through the component classes below.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from loom_tui.tui.diff_render import DiffStyles


class DiffView(ScrollView, can_focus=False):
    COMPONENT_CLASSES = {
        "diff-view--added",
        "diff-view--removed",
        "diff-view--hunk",
        "diff-view--note",
        "diff-view--header",
        "diff-view--plus",
        "diff-view--minus",
        "diff-view--modified",
        "diff-view--moved",
    }
    DEFAULT_CSS = """
    DiffView { background: $surface; }
    DiffView > .diff-view--added { background: $success 18%; }
    DiffView > .diff-view--removed { background: $error 18%; }
    DiffView > .diff-view--hunk { color: $accent; text-style: dim; }
    DiffView > .diff-view--note { color: $text-muted; text-style: italic; }
    DiffView > .diff-view--header { color: $text; text-style: bold; background: $panel; }
    DiffView > .diff-view--plus { color: $text-success; }
    DiffView > .diff-view--minus { color: $text-error; }
    DiffView > .diff-view--modified { color: $text-warning; }
    DiffView > .diff-view--moved { color: $text-accent; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: list[Text] = []
        self._strips: dict[int, Strip] = {}

    def diff_styles(self) -> DiffStyles:
        """The theme's styles for each kind of line, read on the event loop (the renderer runs
        in a thread and takes them as plain data)."""
        get = self.get_component_rich_style
        return DiffStyles(
            added=get("diff-view--added"),
            removed=get("diff-view--removed"),
            hunk=get("diff-view--hunk"),
            note=get("diff-view--note"),
            header=get("diff-view--header"),
            plus=get("diff-view--plus", partial=True),
            minus=get("diff-view--minus", partial=True),
            modified=get("diff-view--modified", partial=True),
            moved=get("diff-view--moved", partial=True),
            dark=self.app.current_theme.dark,
        )

    @property
    def lines(self) -> list[Text]:
        return self._lines

    def set_lines(self, lines: list[Text], *, keep_scroll: bool = False) -> None:
        self._lines = lines
        self._strips.clear()
        width = max((line.cell_len for line in lines), default=0)
        self.virtual_size = Size(width, len(lines))
        if not keep_scroll:
            self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        if index >= len(self._lines):
            return Strip.blank(width, self.rich_style)
        strip = self._strips.get(index)
        if strip is None:
            strip = self._strip(self._lines[index])
            self._strips[index] = strip
        fill = self._line_fill(self._lines[index])
        if strip.cell_length < scroll_x + width:
            strip = strip.extend_cell_length(scroll_x + width, fill)
        return strip.crop(scroll_x, scroll_x + width)

    def _strip(self, line: Text) -> Strip:
        segments = list(line.render(self.app.console, end=""))
        return Strip(Segment.apply_style(segments, self.rich_style)).simplify()

    def _line_fill(self, line: Text) -> Style:
        style = line.style if isinstance(line.style, Style) else Style.parse(line.style or "none")
        return self.rich_style + Style(bgcolor=style.bgcolor) if style.bgcolor else self.rich_style
