"""Laying out the stage graph as text: layers by dependency depth, edges in box-drawing characters.

A small Sugiyama-style layout, pure Python and independent of Textual so that it can be tested and
timed on its own (a 200-stage plan must paint within a second):

1. each stage's column is its dependency depth;
2. an edge that skips columns gets a dummy node in every column it crosses, so that all edges join
   neighbouring columns (a dummy is drawn as a horizontal line through its column);
3. the order within a column comes from a few barycenter sweeps, which removes most crossings;
4. in the gap between two columns, every source of an edge gets its own vertical track; edge
   segments are drawn as connection bits per cell (up, down, left, right) and turned into the
   right box-drawing character at the end, so junctions (┬ ┴ ├ ┼) come out right by construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from loom_tui.core.dag import depths

UP, DOWN, LEFT, RIGHT = 1, 2, 4, 8
BOX = {
    0: " ",
    LEFT | RIGHT: "─",
    LEFT: "─",
    RIGHT: "─",
    UP | DOWN: "│",
    UP: "│",
    DOWN: "│",
    DOWN | RIGHT: "┌",
    DOWN | LEFT: "┐",
    UP | RIGHT: "└",
    UP | LEFT: "┘",
    UP | DOWN | RIGHT: "├",
    UP | DOWN | LEFT: "┤",
    DOWN | LEFT | RIGHT: "┬",
    UP | LEFT | RIGHT: "┴",
    UP | DOWN | LEFT | RIGHT: "┼",
}
ARROW = "▶"
ROW_HEIGHT = 2
MIN_GAP = 4


@dataclass
class Placed:
    """A stage's place on the canvas: its top-left cell."""

    id: str
    column: int
    row: int
    x: int
    y: int


@dataclass
class DagLayout:
    """Where each stage is, and the edge lines to draw around them."""

    #: The width of each column (its widest node): every node of a column is drawn that wide.
    column_widths: list[int]
    width: int
    height: int
    nodes: dict[str, Placed] = field(default_factory=dict)
    #: The edge drawing, one string per canvas line (spaces where nodes go).
    lines: list[str] = field(default_factory=list)
    #: Stage ids by column, top to bottom: the cursor moves through these.
    columns: list[list[str]] = field(default_factory=list)


def _order_columns(
    graph: Mapping[str, Sequence[str]], column_of: dict[str, int], plan_order: dict[str, int]
) -> tuple[list[list[str]], dict[str, list[str]], dict[str, list[str]]]:
    """Columns with dummy nodes for long edges; returns (columns, successors, predecessors)."""
    count = max(column_of.values(), default=-1) + 1
    columns: list[list[str]] = [[] for _ in range(count)]
    for node in sorted(column_of, key=lambda n: plan_order.get(n, 0)):
        columns[column_of[node]].append(node)
    succ: dict[str, list[str]] = {n: [] for n in column_of}
    pred: dict[str, list[str]] = {n: [] for n in column_of}
    dummy = 0
    for node, deps in graph.items():
        for dep in deps:
            if dep not in column_of or node not in column_of:
                continue
            source, span = dep, column_of[node] - column_of[dep]
            for step in range(1, span):
                dummy += 1
                name = f"\x00{dummy}"
                column_of[name] = column_of[dep] + step
                columns[column_of[name]].append(name)
                succ[name], pred[name] = [], []
                succ[source].append(name)
                pred[name].append(source)
                source = name
            succ[source].append(node)
            pred[node].append(source)
    # barycenter sweeps, down then up, a few times
    position = {n: i for col in columns for i, n in enumerate(col)}
    for _ in range(4):
        for index in range(1, count):
            _sort_by(columns[index], pred, position)
        for index in range(count - 2, -1, -1):
            _sort_by(columns[index], succ, position)
    return columns, succ, pred


def _sort_by(column: list[str], neighbours: dict[str, list[str]], position: dict[str, int]) -> None:
    def key(node: str) -> tuple[float, int]:
        near = neighbours.get(node) or []
        if not near:
            return (float(position[node]), position[node])
        return (sum(position[n] for n in near) / len(near), position[node])

    column.sort(key=key)
    for i, node in enumerate(column):
        position[node] = i


def layout(
    graph: Mapping[str, Sequence[str]],
    node_widths: Mapping[str, int] | int = 30,
    gap: int | None = None,
) -> DagLayout:
    """Lay out ``graph`` ({stage: dependencies}, in plan order); ``node_widths`` gives each
    stage's label width (or one width for all)."""
    plan_order = {n: i for i, n in enumerate(graph)}
    column_of = dict(depths(graph))
    columns, succ, _pred = _order_columns(graph, column_of, plan_order)
    if not columns:
        return DagLayout([], 0, 0)

    def width_of(node: str) -> int:
        if isinstance(node_widths, int):
            return node_widths
        return node_widths.get(node, 1)

    widths = [
        max((width_of(n) for n in col if not n.startswith("\x00")), default=1) for col in columns
    ]
    rows = {n: i for col in columns for i, n in enumerate(col)}
    # the vertical tracks of each gap: sources whose edges never share a row share a track
    tracks_after = [_assign_tracks(col, succ, rows) for col in columns]
    gaps = [max(gap or MIN_GAP, (max(t.values(), default=-1) + 1) + 3) for t in tracks_after]
    xs = []
    x = 1
    for index in range(len(columns)):
        xs.append(x)
        x += widths[index] + (gaps[index] if index < len(columns) - 1 else 0)
    width = x + 1
    height = max(len(col) for col in columns) * ROW_HEIGHT
    canvas = _Canvas(width, height, succ)
    result = DagLayout(widths, width, height)
    for index, col in enumerate(columns):
        for node in col:
            y = rows[node] * ROW_HEIGHT
            if node.startswith("\x00"):
                canvas.hline(("from", node), y, xs[index], xs[index] + widths[index] - 1)
            else:
                result.nodes[node] = Placed(node, index, rows[node], xs[index], y)
        result.columns.append([n for n in col if not n.startswith("\x00")])
    arrows: set[tuple[int, int]] = set()
    for index, col in enumerate(columns[:-1]):
        gap_start = xs[index] + widths[index]
        gap_end = xs[index + 1] - 1  # the arrow's cell
        tracks = tracks_after[index]
        # where each target row's line starts: a source whose own line would run along it jogs
        # down a row first, so that no two edges share a segment
        starts: dict[int, list[tuple[int, str]]] = {}
        for source, track in tracks.items():
            for target in succ[source]:
                starts.setdefault(rows[target] * ROW_HEIGHT, []).append(
                    (gap_start + 1 + track, target)
                )
        for source in col:
            targets = succ.get(source) or []
            if not targets:
                continue
            sy = rows[source] * ROW_HEIGHT
            owner = ("from", source)
            if source not in tracks:  # one target, on the same row: a straight line
                canvas.hline(("to", targets[0]), sy, gap_start, gap_end - 1)
                _end(canvas, arrows, targets[0], gap_end, sy)
                continue
            tx = gap_start + 1 + tracks[source]
            jog = any(x0 < tx and t not in targets for x0, t in starts.get(sy, []))
            top = sy
            if jog:
                canvas.bits(owner, gap_start, sy, LEFT | DOWN)
                canvas.bits(owner, gap_start, sy + 1, UP | RIGHT)
                canvas.hline(owner, sy + 1, gap_start + 1, tx - 1)
                canvas.bits(owner, tx, sy + 1, LEFT)
                top = sy + 1
            else:
                canvas.hline(owner, sy, gap_start, tx - 1)
                canvas.bits(owner, tx, sy, LEFT)
            ys = [rows[t] * ROW_HEIGHT for t in targets] + [top]
            canvas.vline(owner, tx, min(ys), max(ys))
            for target in targets:
                ty = rows[target] * ROW_HEIGHT
                into = ("to", target)
                canvas.bits(into, tx, ty, RIGHT)
                canvas.hline(into, ty, tx + 1, gap_end - 1)
                _end(canvas, arrows, target, gap_end, ty)
    for y in range(height):
        line = canvas.line(y)
        for ax, ay in arrows:
            if ay == y:
                line[ax] = ARROW
        result.lines.append("".join(line))
    return result


def _end(canvas: _Canvas, arrows: set[tuple[int, int]], target: str, x: int, y: int) -> None:
    """The last cell of an edge: an arrow into a stage, a line on into a long edge's dummy."""
    if target.startswith("\x00"):
        canvas.bits(("to", target), x, y, LEFT | RIGHT)
    else:
        arrows.add((x, y))


def _assign_tracks(
    column: list[str], succ: Mapping[str, Sequence[str]], rows: Mapping[str, int]
) -> dict[str, int]:
    """A track (0, 1, …) in the gap after ``column`` for each source that needs one; sources
    whose rows (their own and their targets') do not overlap share a track, which keeps gaps
    narrow.  A source with one target on its own row needs none: its line runs straight."""
    spans = []
    for source in column:
        targets = succ.get(source) or []
        if not targets:
            continue
        ys = [rows[t] for t in targets] + [rows[source]]
        if len(targets) == 1 and ys[0] == rows[source]:
            continue
        # one row more below: a source's line may jog down a row (see `layout`)
        spans.append((min(ys), max(ys) + 1, source))
    spans.sort()
    ends: list[int] = []  # the last row used on each track
    tracks: dict[str, int] = {}
    for low, high, source in spans:
        for track, end in enumerate(ends):
            if end < low:
                ends[track] = high
                tracks[source] = track
                break
        else:
            tracks[source] = len(ends)
            ends.append(high)
    return tracks


Owner = tuple[str, str]


class _Canvas:
    """Line cells, with who drew each bit: ("from", source) for a source's own line and track,
    ("to", target) for the line into a target.  Where two lines meet without belonging to one
    edge (a source's track and the line into a stage it does not feed), the cell is drawn as a
    crossing: the vertical line runs on unbroken, and no junction suggests they join."""

    def __init__(self, width: int, height: int, succ: Mapping[str, Sequence[str]]) -> None:
        self.width = width
        self.height = height
        self.succ = succ
        self.cells: dict[tuple[int, int], dict[Owner, int]] = {}

    def bits(self, owner: Owner, x: int, y: int, bits: int) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            cell = self.cells.setdefault((x, y), {})
            cell[owner] = cell.get(owner, 0) | bits

    def hline(self, owner: Owner, y: int, x0: int, x1: int) -> None:
        for x in range(x0, x1 + 1):
            self.bits(owner, x, y, LEFT | RIGHT)

    def vline(self, owner: Owner, x: int, y0: int, y1: int) -> None:
        for y in range(y0, y1 + 1):
            self.bits(owner, x, y, (UP if y > y0 else 0) | (DOWN if y < y1 else 0))

    def joined(self, a: Owner, b: Owner) -> bool:
        """Whether two owners' lines are one edge (a source and the line into its target)."""
        if a == b:
            return True
        (ka, na), (kb, nb) = a, b
        if ka == "from" and kb == "to":
            return nb in self.succ.get(na, ())
        if kb == "from" and ka == "to":
            return na in self.succ.get(nb, ())
        return ka == kb == "to" and na == nb

    def char(self, cell: dict[Owner, int]) -> str:
        owners = list(cell)
        if len(owners) == 1 or self._connected(owners):
            bits = 0
            for value in cell.values():
                bits |= value
            return BOX.get(bits, "┼")
        # lines that cross: the vertical one is drawn whole, the horizontal one passes under it
        vertical = 0
        for value in cell.values():
            if value & (UP | DOWN):
                vertical |= value & (UP | DOWN)
        return BOX.get(vertical or LEFT | RIGHT, "┼")

    def _connected(self, owners: list[Owner]) -> bool:
        """Whether the owners form one edge bundle (joined, directly or through another)."""
        reached = {owners[0]}
        grew = True
        while grew:
            grew = False
            for owner in owners:
                if owner not in reached and any(self.joined(owner, r) for r in reached):
                    reached.add(owner)
                    grew = True
        return len(reached) == len(owners)

    def line(self, y: int) -> list[str]:
        return [
            self.char(self.cells[(x, y)]) if (x, y) in self.cells else " "
            for x in range(self.width)
        ]

    def owners_at(self, x: int, y: int) -> dict[Owner, int]:
        return dict(self.cells.get((x, y), {}))
