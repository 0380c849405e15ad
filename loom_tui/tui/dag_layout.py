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
    # each column's x; the gap after a column holds one track per source of an edge
    sources_after = [[n for n in col if succ.get(n)] for col in columns]
    gaps = [max(gap or MIN_GAP, len(srcs) + 3) for srcs in sources_after]
    xs = []
    x = 1
    for index in range(len(columns)):
        xs.append(x)
        x += widths[index] + (gaps[index] if index < len(columns) - 1 else 0)
    width = x + 1
    height = max(len(col) for col in columns) * ROW_HEIGHT
    cells = [[0] * width for _ in range(height)]
    result = DagLayout(widths, width, height)
    rows = {n: i for col in columns for i, n in enumerate(col)}
    for index, col in enumerate(columns):
        for node in col:
            y = rows[node] * ROW_HEIGHT
            if node.startswith("\x00"):
                for cx in range(xs[index], xs[index] + widths[index]):
                    cells[y][cx] |= LEFT | RIGHT
            else:
                result.nodes[node] = Placed(node, index, rows[node], xs[index], y)
        result.columns.append([n for n in col if not n.startswith("\x00")])
    arrows: set[tuple[int, int]] = set()
    for index, srcs in enumerate(sources_after[:-1]):
        gap_start = xs[index] + widths[index]
        gap_end = xs[index + 1] - 1  # the arrow's cell
        for track, source in enumerate(srcs):
            tx = gap_start + 1 + track
            sy = rows[source] * ROW_HEIGHT
            for cx in range(gap_start, tx):
                cells[sy][cx] |= LEFT | RIGHT
            cells[sy][tx] |= LEFT
            for target in succ[source]:
                ty = rows[target] * ROW_HEIGHT
                if ty != sy:
                    step = 1 if ty > sy else -1
                    cells[sy][tx] |= DOWN if step > 0 else UP
                    for cy in range(sy + step, ty, step):
                        cells[cy][tx] |= UP | DOWN
                    cells[ty][tx] |= UP if step > 0 else DOWN
                cells[ty][tx] |= RIGHT
                for cx in range(tx + 1, gap_end):
                    cells[ty][cx] |= LEFT | RIGHT
                if target.startswith("\x00"):
                    cells[ty][gap_end] |= LEFT | RIGHT
                else:
                    arrows.add((gap_end, ty))
    for y in range(height):
        line = [BOX.get(bits, "┼") for bits in cells[y]]
        for ax, ay in arrows:
            if ay == y:
                line[ax] = ARROW
        result.lines.append("".join(line))
    return result
