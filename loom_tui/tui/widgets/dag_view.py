"""The stage DAG: stages in columns by dependency depth, edges in box-drawing characters.

Each node is two lines: its status icon (coloured by status), its id, the held mark and its
retries; under them, its context gauge (coloured by level against the stage's budget) while it has
a session.  Every node of a column has the same fixed width, room for the gauge and the marks
included, so nothing moves when a gauge comes or goes; columns out of view are counted in the
border ("+2 cols ▶").  The cursor moves with the arrow keys
(up/down within a column, left/right across columns) and by mouse; the selection is announced with
`DagView.Selected`.  Rendering uses Textual's line API (`render_line`), so a 200-stage plan costs
only the lines on screen; the layout is computed once per graph, not per frame.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from loom_tui.core.model import ACTIVE, StageRecord, Status
from loom_tui.core.textsafe import one_line
from loom_tui.tui.dag_layout import DagLayout, layout
from loom_tui.tui.glyphs import (
    COMPONENT_CLASSES,
    COMPONENT_CSS,
    HELD,
    ICONS,
    RETRY,
    STALLED,
    StyleCache,
    gauge,
)
from loom_tui.tui.snapshot import Snapshot

ID_WIDTH = 18
BAR_WIDTH = 5


class DagView(ScrollView, can_focus=True):
    """The plan as a graph; the focused widget of the main screen."""

    COMPONENT_CLASSES = {*COMPONENT_CLASSES, "dag--edge", "dag--cursor", "dag--dim", "dag--mark"}
    DEFAULT_CSS = (
        """
    DagView {
        background: $surface;
        scrollbar-size: 1 1;
        & > .dag--edge { color: $text-muted; }
        & > .dag--cursor { background: $accent 30%; text-style: bold; }
        & > .dag--dim { color: $text-disabled; }
        & > .dag--mark { color: $warning; }
    """
        + COMPONENT_CSS
        + "\n    }\n"
    )
    BINDINGS = [
        Binding("up,k", "move(0, -1)", "Up", show=False),
        Binding("down,j", "move(0, 1)", "Down", show=False),
        Binding("left", "move(-1, 0)", "Left", show=False),
        Binding("right,l", "move(1, 0)", "Right", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
    ]

    selected: reactive[str | None] = reactive(None, init=False)

    class Selected(Message):
        """The cursor moved to another stage."""

        def __init__(self, stage_id: str) -> None:
            super().__init__()
            self.stage_id = stage_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._snapshot: Snapshot | None = None
        self._graph_key: tuple[object, ...] = ()
        self._layout: DagLayout = layout({})
        self._row_nodes: dict[int, list[str]] = {}
        self._strips: dict[int, Strip] = {}
        self._dimmed: set[str] = set()
        self._style_cache = StyleCache()
        self._last_clock = 0.0
        #: whether the person chose the selection (then it no longer follows the run)
        self.picked = False

    # data -------------------------------------------------------------------------------------
    def show(self, snapshot: Snapshot) -> None:
        """Render ``snapshot`` (re-laying out only when the graph itself changed)."""
        previous, self._snapshot = self._snapshot, snapshot
        widths = {s.id: node_width(s) for s in snapshot.stages}
        key = tuple((s.id, tuple(s.dependencies), widths[s.id]) for s in snapshot.stages)
        if key != self._graph_key:
            self._graph_key = key
            self._layout = layout(snapshot.graph(), node_widths=widths)
            rows: dict[int, list[str]] = {}
            for node in self._layout.nodes.values():
                rows.setdefault(node.y, []).append(node.id)
            self._row_nodes = rows
            self.virtual_size = Size(self._layout.width, self._layout.height + 1)
            self._strips.clear()
            self.refresh()
            self.call_after_refresh(self._show_overflow)
        else:
            # unchanged records are the very same objects (the store's cache): redraw the rest
            for stage in snapshot.stages:
                if previous is None or previous.stage(stage.id) is not stage:
                    placed = self._layout.nodes.get(stage.id)
                    if placed is None:
                        continue
                    for y in (placed.y, placed.y + 1):  # its line and its gauge's
                        if self._strips.pop(y, None) is not None:
                            self.refresh_line(y - int(self.scroll_y))
        if self.selected is None or self.selected not in self._layout.nodes:
            first = next(iter(self._layout.nodes), None)
            if first is not None:
                self.selected = first

    def dim_all_but(self, matching: set[str] | None) -> None:
        """Dim the stages not in ``matching`` (None: dim none) — the filter's effect."""
        self._dimmed = set() if matching is None else set(self._layout.nodes) - matching
        self._strips.clear()
        self.refresh()

    # selection --------------------------------------------------------------------------------
    def watch_selected(self, old: str | None, new: str | None) -> None:
        for stage_id in (old, new):
            node = self._layout.nodes.get(stage_id or "")
            if node is not None:
                self._strips.pop(node.y, None)
                self.refresh_line(node.y - int(self.scroll_y))
        if new is not None:
            self._scroll_to_stage(new)
            self.post_message(self.Selected(new))

    def select(self, stage_id: str, *, by_user: bool = True) -> None:
        if stage_id in self._layout.nodes:
            self.picked = self.picked or by_user
            self.selected = stage_id

    @property
    def graph_width(self) -> int:
        return self._layout.width

    # overflow ---------------------------------------------------------------------------------
    def hidden_columns(self) -> tuple[int, int]:
        """How many columns of the graph are out of view (or cut) on the left and on the right."""
        left = int(self.scroll_x)
        right = left + self.scrollable_content_region.width
        widths = self._layout.column_widths
        xs = sorted({n.x for n in self._layout.nodes.values()})
        before = sum(1 for x in xs if x < left)
        after = sum(1 for i, x in enumerate(xs) if x + widths[i] > right) if right > 0 else 0
        return before, after

    def _show_overflow(self) -> None:
        """The border says when columns are out of view (the graph scrolls sideways to them)."""
        if not self.size.area:
            return
        before, after = self.hidden_columns()
        parts = []
        if before:
            parts.append(f"◀ {before} col{'s' if before > 1 else ''}")
        if after:
            parts.append(f"+{after} col{'s' if after > 1 else ''} ▶")
        subtitle = "  ".join(parts)
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle

    def watch_scroll_x(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_x(old_value, new_value)
        self._show_overflow()

    def on_resize(self) -> None:
        self._show_overflow()

    def _scroll_to_stage(self, stage_id: str) -> None:
        node = self._layout.nodes.get(stage_id)
        if node is None or not self.size.area:
            # not laid out yet: a 0×0 viewport would scroll the first node off to the right
            return
        from textual.geometry import Region

        width = self._layout.column_widths[node.column]
        self.scroll_to_region(Region(node.x, node.y, width, 1), animate=False, force=True)

    def action_move(self, dx: int, dy: int) -> None:
        self.picked = True
        node = self._layout.nodes.get(self.selected or "")
        columns = self._layout.columns
        if node is None:
            if self._layout.nodes:
                self.selected = next(iter(self._layout.nodes))
            return
        if dy:
            column = columns[node.column]
            index = column.index(node.id) + dy
            if 0 <= index < len(column):
                self.selected = column[index]
            return
        target = node.column + dx
        while 0 <= target < len(columns) and not columns[target]:
            target += dx
        if not 0 <= target < len(columns):
            return
        nearest = min(columns[target], key=lambda n: abs(self._layout.nodes[n].y - node.y))
        self.selected = nearest

    def action_first(self) -> None:
        self.picked = True
        if self._layout.nodes:
            self.selected = next(iter(self._layout.nodes))

    def action_last(self) -> None:
        self.picked = True
        if self._layout.nodes:
            self.selected = list(self._layout.nodes)[-1]

    def on_click(self, event: events.Click) -> None:
        x = event.x + int(self.scroll_x)
        y = event.y + int(self.scroll_y)
        for stage_id in self._row_nodes.get(y, []) + self._row_nodes.get(y - 1, []):
            node = self._layout.nodes[stage_id]
            if node.x <= x < node.x + self._layout.column_widths[node.column]:
                self.picked = True
                self.selected = stage_id
                return

    # rendering --------------------------------------------------------------------------------
    def _styles(self) -> dict[str, Style]:
        return self._style_cache.get(self, self.COMPONENT_CLASSES)

    def gauge_text(self, stage: StageRecord, styles: dict[str, Style], width: int) -> Text:
        """The line under a node: its gauge while the stage has a session, else nothing."""
        text = Text(" " * GAUGE_INDENT, no_wrap=True, overflow="crop")
        if shows_gauge(stage):
            text.append_text(gauge(stage.context_percent, stage.context_budget, BAR_WIDTH, styles))
        text.truncate(width, pad=True)
        if stage.id in self._dimmed:
            text.stylize(styles["dag--dim"])
        return text

    def node_text(self, stage: StageRecord, styles: dict[str, Style], width: int) -> Text:
        """One node: icon, id, held and retry marks (the gauge is on the line below)."""
        status_style = styles[f"status--{stage.status.value}"]
        text = Text(" ", no_wrap=True, overflow="crop")
        text.append(ICONS[stage.status], status_style)
        text.append(" ")
        text.append(_short_id(stage.id), status_style)
        marks = ""
        if stage.attention == "stalled":
            marks += f" {STALLED}"
        if stage.held:
            marks += f" {HELD}"
        if stage.retry_count:
            marks += f" {RETRY}{stage.retry_count}"
        text.append(marks, styles["dag--mark"])
        text.append(" ")
        text.truncate(width, pad=True)
        if stage.id in self._dimmed:
            text.stylize(styles["dag--dim"])
        if stage.id == self.selected:
            cursor = styles["dag--cursor"]  # its background and weight only: colours stay
            text.stylize(Style(bgcolor=cursor.bgcolor, bold=True))
        return text

    def _build_line(self, y: int) -> Strip:
        styles = self._styles()
        edge_style = styles["dag--edge"]
        base = self.rich_style
        line = self._layout.lines[y] if y < len(self._layout.lines) else ""
        text = Text(line, style=edge_style, no_wrap=True)
        snapshot = self._snapshot
        for stage_id in self._row_nodes.get(y, []):
            node = self._layout.nodes[stage_id]
            stage = snapshot.stage(stage_id) if snapshot else None
            if stage is None:
                continue
            width = self._layout.column_widths[node.column]
            label = self.node_text(stage, styles, width)
            text = text[: node.x] + label + text[node.x + width :]
        for stage_id in self._row_nodes.get(y - 1, []):
            node = self._layout.nodes[stage_id]
            stage = snapshot.stage(stage_id) if snapshot else None
            if stage is None:
                continue
            width = self._layout.column_widths[node.column]
            under = self.gauge_text(stage, styles, width)
            text = text[: node.x] + under + text[node.x + width :]
        segments = [
            Segment(s.text, base + s.style if s.style else base)
            for s in text.render(self.app.console)
        ]
        return Strip(segments, text.cell_len)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = y + scroll_y
        strip = self._strips.get(row)
        if strip is None:
            strip = self._build_line(row)
            self._strips[row] = strip
        width = self.size.width
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache.clear()
        self._strips.clear()


def _short_id(stage_id: str) -> str:
    # ids are checked at `loom init`; a record edited by hand is still shown, not obeyed
    stage_id = one_line(stage_id)
    return stage_id if len(stage_id) <= ID_WIDTH else stage_id[: ID_WIDTH - 1] + "…"


#: statuses whose last session's gauge still says something (it ran and stopped for a reason);
#: a completed, skipped or reset (pending, queued) stage shows none: it would be stale
GAUGE_AFTER = frozenset({Status.BLOCKED, Status.MERGE_CONFLICT, Status.NEEDS_HUMAN_REVIEW})


def shows_gauge(stage: StageRecord) -> bool:
    """A gauge while the stage has a session (running, handing off, waiting), or had one and
    now needs a person."""
    if stage.session_id is None:
        return False
    return stage.status in ACTIVE or (
        stage.status in GAUGE_AFTER and stage.context_percent is not None
    )


#: a node is two lines: " ● id ⏸ ↻2" and its gauge under the id ("   █████  58%"); both have
#: room kept for them, used or not, so that a gauge or a mark that comes or goes moves nothing
GAUGE_INDENT = 3
GAUGE_ROOM = BAR_WIDTH + 5
MARK_ROOM = 3


def node_width(stage: StageRecord) -> int:
    """The cells a stage's node takes: the same whatever its state, so nothing re-flows."""
    return max(4 + cell_len(_short_id(stage.id)) + MARK_ROOM, GAUGE_INDENT + GAUGE_ROOM + 1)
