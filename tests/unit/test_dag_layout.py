"""The DAG's text layout: fixed node slots, and edges that never share a segment.

"Share" means: a cell where lines of two edges meet that do not belong together.  Lines belong
together when they are one source's own line and track, or the line into one target (a fan-in
merges there honestly: every line in it ends at that target), or a source's track turning into a
target it feeds.  Every other meeting must be drawn as a crossing (no junction character).
"""

from __future__ import annotations

import random

from loom_tui.core.model import StageRecord, Status
from loom_tui.tui.dag_layout import BOX, DOWN, LEFT, RIGHT, UP, _Canvas, layout
from loom_tui.tui.widgets.dag_view import node_width, shows_gauge

FAN = {
    "setup": [],
    "api": ["setup"],
    "cli": ["setup"],
    "docs": ["setup"],
    "parser": ["setup"],
    "storage": ["setup"],
    "ui-kit": ["setup"],
    "backend": ["api", "parser", "storage"],
    "frontend": ["ui-kit", "cli", "api"],
    "release": ["backend", "frontend", "docs"],
}
JUNCTIONS = set("┬┴├┤┼")


def _canvases(graph: dict[str, list[str]]) -> list[_Canvas]:
    """The canvases `layout` drew on (caught by wrapping the class)."""
    import loom_tui.tui.dag_layout as module

    made: list[_Canvas] = []
    original = module._Canvas

    class Spy(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object) -> None:
            super().__init__(*args)  # type: ignore[arg-type]
            made.append(self)

    module._Canvas = Spy  # type: ignore[misc]
    try:
        layout(graph, node_widths=12)
    finally:
        module._Canvas = original  # type: ignore[misc]
    return made


def _no_shared_segments(graph: dict[str, list[str]]) -> None:
    (canvas,) = _canvases(graph)
    for (x, y), owners in canvas.cells.items():
        char = canvas.char(owners)
        if len(owners) > 1 and not canvas._connected(list(owners)):
            # a crossing: one vertical line over one horizontal line, drawn as the vertical one
            across = [o for o, bits in owners.items() if bits & (LEFT | RIGHT)]
            along = [o for o, bits in owners.items() if bits & (UP | DOWN)]
            assert len(across) < 2 or canvas._connected(across), (x, y, owners)
            assert len(along) < 2 or canvas._connected(along), (x, y, owners)
            assert char == "│", (x, y, owners, char)
        if char in JUNCTIONS:
            assert canvas._connected(list(owners)), (x, y, owners, char)


def test_the_fan_out_fan_in_plan_has_no_shared_edge_segments() -> None:
    _no_shared_segments(FAN)


def test_random_plans_have_no_shared_edge_segments() -> None:
    rng = random.Random(12)
    for _ in range(60):
        count = rng.randint(2, 25)
        graph = {
            f"s{i}": sorted(
                {f"s{rng.randrange(i)}" for _ in range(rng.randint(0, 3))} if i else set()
            )
            for i in range(count)
        }
        _no_shared_segments(graph)


def test_the_fan_plan_has_crossings_and_draws_them_as_straight_lines() -> None:
    (canvas,) = _canvases(FAN)
    crossings = [owners for owners in canvas.cells.values() if not canvas._connected(list(owners))]
    assert crossings  # docs' long edge to release crosses the lines into backend
    assert {canvas.char(owners) for owners in crossings} <= {"│", "─"}


def test_every_edge_ends_in_an_arrow_at_its_target() -> None:
    result = layout(FAN, node_widths=12)
    arrows = sum(line.count("▶") for line in result.lines)
    # one arrow per stage with dependencies (edges into one stage merge before the arrow)
    assert arrows == sum(1 for deps in FAN.values() if deps)


def test_box_characters_cover_every_bit_pattern_used() -> None:
    for bits in (LEFT | RIGHT, UP | DOWN, UP | RIGHT, DOWN | LEFT, UP | DOWN | RIGHT):
        assert bits in BOX


def _stage(**fields: object) -> StageRecord:
    record = StageRecord(id="tokenizer", name="Tokenizer")
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def test_a_node_is_as_wide_whatever_its_state() -> None:
    # a gauge that comes or goes, a hold or a retry must not move the graph
    quiet = _stage()
    busy = _stage(
        status=Status.EXECUTING, session_id="s1", context_percent=58.0, held=True, retry_count=3
    )
    assert node_width(quiet) == node_width(busy)


def test_completed_skipped_and_reset_stages_show_no_gauge() -> None:
    for status in (Status.COMPLETED, Status.SKIPPED, Status.WAITING_FOR_DEPS, Status.QUEUED):
        stage = _stage(status=status, session_id="s1", context_percent=40.0)
        assert not shows_gauge(stage), status
    assert shows_gauge(_stage(status=Status.EXECUTING, session_id="s1", context_percent=40.0))
    assert shows_gauge(_stage(status=Status.BLOCKED, session_id="s1", context_percent=40.0))
