"""What the screens look like, pinned as SVG snapshots (pytest-textual-snapshot).

The app runs on the fixture project (every record fixed, the clock fixed, TZ=UTC, no scheduler),
so each screenshot depends on nothing but the code.  After a deliberate change of the look,
regenerate with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from loom_tui.core.engine import SchedulerOptions
from loom_tui.tui.app import LoomApp
from loom_tui.tui.screens.handoff_screen import HandoffScreen
from loom_tui.tui.screens.help_screen import HelpScreen
from loom_tui.tui.screens.main_screen import MainScreen
from loom_tui.tui.screens.stage_screen import StageScreen
from loom_tui.tui.widgets.dag_view import DagView
from tests.tui.conftest import NOW, AppFactory, TuiProject
from tests.tui.fanout import make_fan_project

WIDE = (120, 40)
NARROW = (80, 24)
SnapCompare = Callable[..., bool]


@pytest.fixture
def fan_project(tmp_path: Path) -> TuiProject:
    return make_fan_project(tmp_path / "fan")


def _fan_app(project: TuiProject) -> LoomApp:
    return LoomApp(
        project.fresh(),
        SchedulerOptions(agent="sim"),
        theme="loom-dark",
        run_scheduler=False,
        clock=lambda: NOW,
    )


async def _ready(pilot: Pilot[Any]) -> None:
    """The first snapshot of `.work/` read and drawn."""
    app = pilot.app
    assert isinstance(app, LoomApp)
    deadline = time.monotonic() + 20
    while app.snapshot is None:
        assert time.monotonic() < deadline, "no snapshot of .work/"
        await pilot.pause(0.05)
    await _workers_done(app)
    await pilot.pause()
    await _built(pilot)


async def _built(pilot: Pilot[Any]) -> None:
    """No snapshot build waiting (builds are spaced out: `LoomApp._schedule_build`), so that what
    is drawn is what the records say now, not what they said a moment ago."""
    deadline = time.monotonic() + 20
    while getattr(pilot.app, "_build_pending", False):
        assert time.monotonic() < deadline, "a snapshot build never ran"
        await pilot.pause(0.05)
    await _workers_done(pilot.app)
    await pilot.pause()


async def _workers_done(app: Any) -> None:
    """Every worker done but the file watcher (it runs until the app ends)."""
    busy = [w for w in app.workers if w.group != "watch"]
    if busy:
        await app.workers.wait_for_complete(busy)


def after(*keys: str, screen: type | None = None) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """A ``run_before`` that waits for the data, presses ``keys``, and checks the screen."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await _ready(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await _workers_done(pilot.app)
        await pilot.pause()
        await _built(pilot)
        await _settled(pilot)
        if screen is not None:
            assert isinstance(pilot.app.screen, screen), pilot.app.screen

    return run_before


async def _settled(pilot: Pilot[Any]) -> None:
    """The screen drawn the same twice in a row: a scroll to the cursor, or a layout that follows
    a late refresh, lands before the snapshot is taken, whatever the machine's load."""
    deadline = time.monotonic() + 10
    before = pilot.app.export_screenshot()
    while True:
        await pilot.pause(0.1)
        now = pilot.app.export_screenshot()
        if now == before or time.monotonic() > deadline:
            return
        before = now


def test_main_screen_dark(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    # the cursor on tokenizer: executing, a gauge, a handoff and its pane's last lines
    app = make_app(theme="loom-dark")
    assert snap_compare(app, terminal_size=WIDE, run_before=after("right", screen=MainScreen))


def test_main_screen_light(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    app = make_app(theme="loom-light")
    assert snap_compare(app, terminal_size=WIDE, run_before=after("right", screen=MainScreen))


def test_main_screen_narrow(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    # below 100 columns the details fold under the DAG; the cursor on docs (waiting for input)
    app = make_app()
    assert snap_compare(
        app, terminal_size=NARROW, run_before=after("right", "down", "down", screen=MainScreen)
    )


def test_stage_screen(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    app = make_app()
    assert snap_compare(
        app, terminal_size=WIDE, run_before=after("right", "enter", screen=StageScreen)
    )


def test_handoff_screen(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    app = make_app()
    assert snap_compare(
        app, terminal_size=WIDE, run_before=after("right", "v", screen=HandoffScreen)
    )


def test_help_screen(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    app = make_app()
    assert snap_compare(
        app, terminal_size=WIDE, run_before=after("question_mark", screen=HelpScreen)
    )


# ------------------------------------------------------------------------------------------------
# The sizes people use: 160×45, 80×24 and 40×12, and the 10-stage fan-out/fan-in plan


BIG = (160, 45)
TINY = (40, 12)


def test_main_screen_at_160x45(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    # the Events panel takes the height the graph leaves; the attention bar over the footer
    app = make_app()
    assert snap_compare(app, terminal_size=BIG, run_before=after("right", screen=MainScreen))


def test_main_screen_at_40x12_is_a_compact_list(
    snap_compare: SnapCompare, make_app: AppFactory
) -> None:
    # too small for the graph: one line per stage with its status or gauge; ↓ moves the cursor
    app = make_app()
    assert snap_compare(app, terminal_size=TINY, run_before=after("down", screen=MainScreen))


def test_fanout_plan_at_160x45_shows_every_column(
    snap_compare: SnapCompare, fan_project: TuiProject
) -> None:
    app = _fan_app(fan_project)

    async def run_before(pilot: Pilot[Any]) -> None:
        await after(screen=MainScreen)(pilot)
        dag = pilot.app.screen.query_one(DagView)
        assert dag.hidden_columns() == (0, 0)  # no column cut, none out of view
        assert dag.border_subtitle == ""

    assert snap_compare(app, terminal_size=BIG, run_before=run_before)


def test_fanout_plan_at_80x24(snap_compare: SnapCompare, fan_project: TuiProject) -> None:
    # two-line nodes (the gauge under the id): the whole graph fits at 80 columns too
    app = _fan_app(fan_project)

    async def run_before(pilot: Pilot[Any]) -> None:
        await after(screen=MainScreen)(pilot)
        assert pilot.app.screen.query_one(DagView).hidden_columns() == (0, 0)

    assert snap_compare(app, terminal_size=NARROW, run_before=run_before)


def test_fanout_plan_at_40x12(snap_compare: SnapCompare, fan_project: TuiProject) -> None:
    app = _fan_app(fan_project)
    assert snap_compare(app, terminal_size=TINY, run_before=after(screen=MainScreen))
