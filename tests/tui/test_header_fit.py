"""The header at any width: the scheduler's state always shows whole; the plan's name gives way
first, then the counts (cut to "3/7 done", then gone), then the state's detail."""

from __future__ import annotations

import pytest
from rich.text import Text

from loom_tui.tui.screens.stage_screen import StageScreen
from loom_tui.tui.widgets.header import fit_header
from tests.tui.conftest import AppFactory
from tests.tui.test_keys import screen_text, select, settle, started

NAME = " loom · PLAN-0001: Word-count tool"
COUNTS = "3/7 done · 2 running · 1 waiting · 0 blocked"
STATES = {
    "running": ("● scheduler ", "● scheduler "),
    "complete": ("✓ plan complete ", "✓ plan complete "),
    "stuck": ("! stuck: counter is blocked ", "! stuck "),
    "no-scheduler": (
        "! no scheduler: 2 stage(s) wait for one · o takes over ",
        "! no scheduler (o) ",
    ),
}


def line(width: int, state: str) -> str:
    full, short = STATES[state]
    text = fit_header(
        width,
        named=Text(NAME),
        title=Text(" loom"),
        counts=Text(COUNTS),
        short_counts=Text("3/7 done"),
        state=Text(full),
        short_state=Text(short),
    )
    assert text.cell_len <= width
    return text.plain


@pytest.mark.parametrize("state", sorted(STATES))
def test_at_160_columns_everything_shows(state: str) -> None:
    text = line(160, state)
    assert NAME in text and COUNTS in text and STATES[state][0].strip() in text


def test_at_80_columns_the_name_is_cut_first() -> None:
    text = line(80, "running")
    assert text.startswith(" loom · PLAN-0001: ") and "…" in text
    assert COUNTS in text and text.rstrip().endswith("● scheduler")


def test_at_80_columns_a_long_state_keeps_its_detail_and_the_counts_shrink() -> None:
    text = line(80, "no-scheduler")
    assert "PLAN-0001" not in text and "3/7 done" in text and "running" not in text
    assert text.rstrip().endswith("! no scheduler: 2 stage(s) wait for one · o takes over")


@pytest.mark.parametrize("state", sorted(STATES))
def test_at_40_columns_the_state_is_whole(state: str) -> None:
    text = line(40, state)
    full, short = STATES[state]
    assert text.rstrip().endswith((full.strip(), short.strip())), text
    assert "PLAN-0001" not in text and "running" not in text
    assert "3/7 done" in text  # the counts' short form still fits beside it


def test_narrower_than_the_state_shows_what_fits_of_it() -> None:
    assert line(10, "no-scheduler") == " ! no sche"


async def test_the_40x12_header_shows_the_scheduler_state_whole(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(40, 12)) as pilot:
        await started(app, pilot)
        header = screen_text(app).splitlines()[0]
        assert header.rstrip().endswith("◌ no scheduler"), header
        assert header.startswith(" loom ") and "/6 done" in header
        app.scheduler_detail = "2 stage(s) wait for one · o takes over"
        app.scheduler_state = "no-scheduler"
        await settle(app, pilot)
        header = screen_text(app).splitlines()[0]
        assert header.rstrip().endswith("! no scheduler (o)"), header


async def test_the_stage_screen_shows_the_schedulers_state(make_app: AppFactory) -> None:
    """Its header said "no scheduler" while one ran: it follows the app's state now."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await select(app, pilot, "tokenizer")
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, StageScreen)
        app.scheduler_state = "running"
        await settle(app, pilot)
        assert screen_text(app).splitlines()[0].rstrip().endswith("● scheduler")
