"""No toast covers data on any screen: the stage, handoff and help screens say their notices on
an attention bar, as the main screen does; what the scheduler reports never becomes a toast; and
the one toast left (the answer to a key on a screen without a bar) is short and never stacks.

Pilot on the fixture project (scheduler off): the scheduler's events are posted as the
`SchedulerEvent` messages its sink posts.
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.widgets._toast import Toast

from loom_tui.tui.app import LoomApp, SchedulerEvent
from loom_tui.tui.notices import TOAST_SECONDS
from loom_tui.tui.screens.confirm_screen import ConfirmScreen
from loom_tui.tui.screens.handoff_screen import HandoffScreen
from loom_tui.tui.screens.help_screen import HelpScreen
from loom_tui.tui.screens.main_screen import MainScreen
from loom_tui.tui.screens.stage_screen import StageScreen
from loom_tui.tui.widgets.attention_bar import AttentionBar
from tests.tui.conftest import AppFactory
from tests.tui.test_keys import SIZE, select, settle, started

STALLED = {"kind": "stalled", "stage": "tokenizer", "step": "stalled", "ts": 1.0}
ASKS = {"kind": "agent-state", "stage": "docs", "state": "waiting-for-input", "ts": 2.0}


def bar_text(app: App[Any]) -> str:
    return app.screen.query_one(AttentionBar).render().plain


def no_toasts(app: App[Any]) -> bool:
    return not app._notifications and not list(app.screen.query(Toast))


async def opened(app: Any, pilot: Any, key: str, stage: str | None = "tokenizer") -> None:
    """The app started, ``stage`` selected (if any), and the screen ``key`` opens shown."""
    await started(app, pilot)
    if stage is not None:
        await select(app, pilot, stage)
    await pilot.press(key)
    await settle(app, pilot)


async def test_a_stalled_session_shows_on_the_stage_screens_bar_not_in_a_toast(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot, "enter")
        assert isinstance(app.screen, StageScreen)
        app.post_message(SchedulerEvent(STALLED))
        await settle(app, pilot)
        assert "tokenizer: stalled: no activity (n goes there)" in bar_text(app)
        assert no_toasts(app)
        app.post_message(SchedulerEvent(ASKS))
        await settle(app, pilot)
        assert "docs: the agent waits for your input" in bar_text(app)
        assert no_toasts(app)


async def test_the_stage_screens_bar_lists_what_needs_you_between_notices(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot, "enter")
        text = bar_text(app)
        assert "need you (n)" in text and "counter" in text and "docs" in text


async def test_the_handoff_screens_notices_go_to_its_bar(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot, "v")
        assert isinstance(app.screen, HandoffScreen)
        await pilot.press("right")  # already the newest: said, not toasted
        await settle(app, pilot)
        assert "this is the newest handoff" in bar_text(app)
        app.post_message(SchedulerEvent(STALLED))
        await settle(app, pilot)
        assert "tokenizer: stalled" in bar_text(app)
        assert no_toasts(app)


async def test_the_help_screen_has_a_bar_of_its_own(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot, "question_mark", stage=None)
        assert isinstance(app.screen, HelpScreen)
        app.post_message(SchedulerEvent(ASKS))
        await settle(app, pilot)
        assert "docs: the agent waits for your input" in bar_text(app)
        assert no_toasts(app)


async def test_on_a_screen_without_a_bar_news_waits_on_the_bar_below(
    make_app: AppFactory,
) -> None:
    """A dialog has no bar: the scheduler's news goes to the main screen's bar (seen on the way
    back), and the answer to a key is one short toast that a repeat replaces."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "tokenizer")
        await pilot.press("x")  # reset asks first: a dialog
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        app.post_message(SchedulerEvent(STALLED))
        await settle(app, pilot)
        assert not app._notifications
        main = app.screen_stack[0]
        assert isinstance(main, MainScreen)
        assert "tokenizer: stalled" in main.query_one(AttentionBar).render().plain

        for _ in range(3):
            app.notify("cannot attach: no such pane", severity="error", timeout=10)
        await settle(app, pilot)
        shown = list(app._notifications)
        assert [n.message for n in shown] == ["cannot attach: no such pane"]
        assert shown[0].timeout <= TOAST_SECONDS


async def test_the_main_screen_makes_no_toasts(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        app.post_message(SchedulerEvent(STALLED))
        app.notify("stage tokenizer held")
        await settle(app, pilot)
        assert isinstance(app, LoomApp) and "stage tokenizer held" in app.said
        assert no_toasts(app)


async def test_n_on_the_stage_screen_goes_where_its_bar_points(make_app: AppFactory) -> None:
    """The bar says "(n)": on the stage screen `n` shows the next stage that needs you, and the
    main screen has it selected on the way back."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot, "enter")
        screen = app.screen
        assert isinstance(screen, StageScreen)
        await pilot.press("n")
        await settle(app, pilot)
        assert screen.stage_id == "counter"
        await pilot.press("n")
        await settle(app, pilot)
        assert screen.stage_id == "docs"
        assert "docs" in screen.query_one("#stage-detail").border_title
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.screen.selected == "docs" and app.selected_stage == "docs"
