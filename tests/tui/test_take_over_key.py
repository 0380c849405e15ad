"""``o`` (take over) is one of the main screen's keys (`keys.py`): the help screen lists it, and
the footer and the palette offer it only while a take-over is possible, in a read-only view
whose scheduler is gone.  The scheduler is a real process holding the real lock
(`test_viewer.LockHolder`), killed as a crash would."""

from __future__ import annotations

import re
from typing import Any

from textual.app import App

from loom_tui.tui.app import LoomApp
from loom_tui.tui.keys import KEYS
from loom_tui.tui.screens.help_screen import HelpScreen
from tests.tui.conftest import AppFactory
from tests.tui.test_keys import SIZE, notices, screen_text, settle, started, wait_for
from tests.tui.test_viewer import LockHolder, holder  # noqa: F401

TAKE_OVER = "o take over"


def footer(app: App[Any]) -> str:
    return screen_text(app).splitlines()[-1]


def palette_titles(app: LoomApp) -> list[str]:
    return [command.title for command in app.get_system_commands(app.screen)]


def test_o_is_in_the_key_table() -> None:
    key = next(k for k in KEYS if k.key == "o")
    assert key.action == "app.take_over" and key.show
    assert [k.key for k in KEYS][-2:] == ["o", "q"]  # the footer still ends with "q quit"


async def test_the_footer_offers_o_only_once_the_scheduler_is_gone(
    make_app: AppFactory,
    holder: LockHolder,  # noqa: F811
) -> None:
    app = make_app(run_scheduler=True)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        assert app.read_only and app.scheduler_detail == f"scheduler runs in pid {holder.pid}"
        assert TAKE_OVER not in footer(app)
        assert "Take over (o)" not in palette_titles(app)
        await pilot.press("o")  # nothing to take over: the key says so
        await settle(app, pilot)
        assert f"the scheduler runs in pid {holder.pid}: nothing to take over" in notices(app)

        holder.crash()
        await wait_for(pilot, lambda: app.scheduler_state == "no-scheduler", "the death noticed")
        await wait_for(pilot, lambda: TAKE_OVER in footer(app), "o in the footer")
        assert "? help o take over q quit" in footer(app)
        assert "Take over (o)" in palette_titles(app)


async def test_a_scheduler_of_its_own_offers_no_o(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        assert not app.read_only
        assert TAKE_OVER not in footer(app)
        assert "Take over (o)" not in palette_titles(app)


async def test_the_help_screen_lists_o(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert re.search(r"\so\s+take over the run: start a scheduler", text), text


async def test_at_80_columns_a_viewer_offers_o_and_leaves_out_what_it_refuses(
    make_app: AppFactory,
    holder: LockHolder,  # noqa: F811
) -> None:
    """A read-only view refuses the keys that change a stage: they leave the footer (which had no
    room for them and ``o`` at 80 columns) and the palette, and pressing one still says why."""
    app = make_app(run_scheduler=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        holder.crash()
        await wait_for(pilot, lambda: app.scheduler_state == "no-scheduler", "the death noticed")
        await wait_for(pilot, lambda: TAKE_OVER in footer(app), "o in the footer")
        shown = footer(app).rstrip()
        assert shown.endswith("o take over q quit"), shown
        assert "h hold" not in shown and "m merge" not in shown
        titles = palette_titles(app)
        assert "Take over (o)" in titles and "Hold (h)" not in titles
        await pilot.press("h")
        await settle(app, pilot)
        assert any(n.startswith("read-only:") for n in notices(app))
