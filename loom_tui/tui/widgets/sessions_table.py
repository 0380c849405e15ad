"""Live sessions: stage, generation, agent state, context gauge, tokens, cost, age.

Sorted by context use (fullest first) with `c`, or by clicking a column header; rows are updated
in place so that the cursor stays where it is while gauges move.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from loom_tui.core.model import SessionRecord
from loom_tui.core.textsafe import one_line
from loom_tui.tui.glyphs import (
    COMPONENT_CLASSES,
    COMPONENT_CSS,
    StyleCache,
    gauge,
    short_tokens,
    since,
)
from loom_tui.tui.snapshot import Snapshot
from loom_tui.tui.widgets.detail_panel import describe_state

COLUMNS = ("stage", "gen", "state", "context", "tokens", "cost", "since")
WIDTHS = {"stage": 16, "gen": 3, "state": 42, "context": 15, "tokens": 6, "cost": 7, "since": 6}
NARROW_COLUMNS = ("stage", "state", "context")


class SessionsTable(DataTable[Text | str]):
    """One row per live session."""

    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | COMPONENT_CLASSES | {"sessions--attention"}
    DEFAULT_CSS = (
        """
    SessionsTable {
        background: $surface;
        & > .sessions--attention { color: $warning; text-style: bold; }
    """
        + COMPONENT_CSS
        + "\n    }\n"
    )
    BINDINGS = [Binding("c", "sort_context", "Sort by context", show=False)]

    class StageChosen(Message):
        def __init__(self, stage_id: str) -> None:
            super().__init__()
            self.stage_id = stage_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._narrow = False
        self._sort_by_context = True
        self._sort_column: str | None = None
        self._sort_reverse = False
        self._rows: dict[str, SessionRecord] = {}
        self._cells_shown: dict[str, dict[str, Text | str]] = {}
        self._style_cache = StyleCache()

    def on_mount(self) -> None:
        self._make_columns()

    def set_narrow(self, narrow: bool) -> None:
        if narrow != self._narrow:
            self._narrow = narrow
            self.clear(columns=True)
            self._rows.clear()
            self._cells_shown.clear()
            self._make_columns()

    def _make_columns(self) -> None:
        # Fixed widths: measuring every cell again whenever one changes is what costs most.
        for name in NARROW_COLUMNS if self._narrow else COLUMNS:
            self.add_column(name, key=name, width=WIDTHS[name])

    def _styles(self) -> dict[str, Style]:
        return self._style_cache.get(self, COMPONENT_CLASSES | {"sessions--attention"})

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache.clear()
        self._cells_shown.clear()

    def _cells(self, s: SessionRecord, snap: Snapshot, now: float) -> dict[str, Text | str]:
        styles = self._styles()
        stage = snap.stage(s.stage_id)
        budget = stage.context_budget if stage else 65
        state = Text(one_line(describe_state(s, short=True)))
        if s.stalled_at is not None and s.live:
            state = Text("stalled")
            state.stylize(styles["sessions--attention"])
            state.append(" ◀ needs you (n)")
        elif s.agent_state in ("waiting-for-input", "needs-permission"):
            state.stylize(styles["sessions--attention"])
            state.append(" ◀ needs you (n)")
        return {
            "stage": s.stage_id,
            "gen": str(s.generation),
            "state": state,
            "context": gauge(s.context_percent, budget, 10, styles),
            "tokens": short_tokens(s.context_tokens),
            "cost": f"${s.cost_usd:.2f}" if s.cost_usd else "-",
            "since": since(s.started_at, now),
        }

    def show(self, snapshot: Snapshot, now: float) -> None:
        live = {s.id: s for s in snapshot.live_sessions()}
        changed = False
        for key in [k for k in self._rows if k not in live]:
            self.remove_row(key)
            del self._rows[key]
            self._cells_shown.pop(key, None)
            changed = True
        columns = NARROW_COLUMNS if self._narrow else COLUMNS
        for session_id, session in live.items():
            cells = self._cells(session, snapshot, now)
            shown = self._cells_shown.get(session_id)
            if session_id not in self._rows:
                self.add_row(*(cells[c] for c in columns), key=session_id)
                changed = True
            else:
                # shown is None after a style change (notify_style_update): redraw every cell
                new = {
                    column: cells[column]
                    for column in columns
                    if shown is None or _plain(shown[column]) != _plain(cells[column])
                }
                if new:
                    self._update_row(session_id, new)
                    changed = True
            self._cells_shown[session_id] = cells
            self._rows[session_id] = session
        if changed:
            self._apply_sort()

    def _update_row(self, row_key: str, cells: dict[str, Text | str]) -> None:
        """Change some cells of one row and redraw that row only.

        `DataTable.update_cell` counts an update, which every cached line of the table is keyed
        by: a changed cost in one row redrew the whole table (most of a redraw's cost with 20
        agents).  Here the cells are set and the render caches emptied (what is not redrawn is
        rendered again only when it is next drawn), and only the row's region is refreshed.
        Private parts of textual's DataTable: the version is pinned, and
        `tests/tui/test_sessions_rows.py` checks the table shows what it was given."""
        key = RowKey(row_key)
        data = self._data[key]
        for column, value in cells.items():
            data[ColumnKey(column)] = value
        for cache in (
            self._row_render_cache,
            self._cell_render_cache,
            self._row_renderable_cache,
            self._line_cache,
        ):
            cache.clear()
        self.refresh_row(self.get_row_index(key))

    def _apply_sort(self) -> None:
        """Sort by the records' numbers (never by the text drawn): each row is found by its stage
        cell, as a stage has one live session at a time."""
        if not self._rows:
            return
        by_stage = {s.stage_id: s for s in self._rows.values()}

        def value(column: str) -> Callable[[object], Any]:
            def of(stage_cell: object) -> Any:
                session = by_stage.get(_plain(stage_cell))
                return sort_value(column, session) if session else (0, "")

            return of

        if self._sort_by_context:
            column, reverse = "context", True
        elif self._sort_column:
            column, reverse = self._sort_column, self._sort_reverse
        else:
            return
        of = value(column)
        order = [str(row.key.value) for row in self.ordered_rows]
        wanted = sorted(order, key=lambda k: of(self._rows[k].stage_id), reverse=reverse)
        if wanted != order:  # sorting redraws the whole table: only when the order changes
            self.sort("stage", key=of, reverse=reverse)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        if column == "context":
            self._sort_by_context = True
        else:
            self._sort_by_context = False
            self._sort_reverse = not self._sort_reverse if self._sort_column == column else False
            self._sort_column = column
        self._apply_sort()

    def action_sort_context(self) -> None:
        self._sort_by_context = not self._sort_by_context
        self.notify(
            "sessions sorted by context use" if self._sort_by_context else "sessions unsorted",
            timeout=2,
        )
        self._apply_sort()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        session = self._rows.get(str(event.row_key.value))
        if session is not None:
            self.post_message(self.StageChosen(session.stage_id))


def _plain(cell: object) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def sort_value(column: str, session: SessionRecord) -> tuple[int, Any]:
    """What a column sorts by: the record's number (a session without one sorts last), or its
    text for the others."""
    number: float | None
    if column == "context":
        number = session.context_percent
    elif column == "tokens":
        number = session.context_tokens
    elif column == "cost":
        number = session.cost_usd
    elif column == "gen":
        number = session.generation
    elif column == "since":
        number = -(session.started_at or 0.0)  # the longest-running first, as "since" grows
    else:
        text = session.stage_id if column == "stage" else (session.agent_state or "")
        return (1, text)
    return (1, float(number)) if number is not None else (0, 0.0)
