"""What the screens look like, pinned as SVG snapshots (pytest-textual-snapshot).

The app runs on the fixture project (every record fixed, the clock fixed, TZ=UTC, no scheduler),
so each screenshot depends on nothing but the code.  After a deliberate change of the look,
regenerate with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot

from loom_tui.tui.app import LoomApp
from loom_tui.tui.screens.handoff_screen import HandoffScreen
from loom_tui.tui.screens.help_screen import HelpScreen
from loom_tui.tui.screens.main_screen import MainScreen
from loom_tui.tui.screens.stage_screen import StageScreen
from tests.tui.conftest import AppFactory

WIDE = (120, 40)
NARROW = (80, 24)
SnapCompare = Callable[..., bool]


async def _ready(pilot: Pilot[Any]) -> None:
    """The first snapshot of `.work/` read and drawn."""
    app = pilot.app
    assert isinstance(app, LoomApp)
    deadline = time.monotonic() + 20
    while app.snapshot is None:
        assert time.monotonic() < deadline, "no snapshot of .work/"
        await pilot.pause(0.05)
    await app.workers.wait_for_complete()
    await pilot.pause()


def after(*keys: str, screen: type | None = None) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """A ``run_before`` that waits for the data, presses ``keys``, and checks the screen."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await _ready(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if screen is not None:
            assert isinstance(pilot.app.screen, screen), pilot.app.screen

    return run_before


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
