"""Small terminals: below 60×20 a compact list of the stages replaces the panels, and the keys act
on its selection; at 80 columns the footer ends with a whole key, not a cut-off word."""

from __future__ import annotations

from pathlib import Path

from loom_tui.tui.screens.main_screen import MainScreen
from loom_tui.tui.widgets.compact_list import CompactList
from loom_tui.tui.widgets.dag_view import DagView
from tests.tui.conftest import AppFactory, TuiProject
from tests.tui.test_keys import screen_text, settle, started

TINY = (40, 12)


async def test_a_tiny_terminal_shows_the_compact_list_and_its_keys_work(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    app = make_app()
    async with app.run_test(size=TINY) as pilot:
        await started(app, pilot)
        assert isinstance(app.screen, MainScreen)
        compact = app.screen.query_one(CompactList)
        assert compact.display and compact.has_focus
        text = screen_text(app)
        for stage_id in ("scaffold", "tokenizer", "counter", "docs", "cli", "release"):
            assert stage_id in text
        assert "58%" in text  # tokenizer's gauge
        await pilot.press("down")  # scaffold -> tokenizer
        await pilot.pause()
        assert app.selected_stage == "tokenizer"
        await pilot.press("h")
        await settle(app, pilot)
    assert tui_project.stage("tokenizer").held


async def test_growing_the_terminal_brings_the_graph_back(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=TINY) as pilot:
        await started(app, pilot)
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        await pilot.pause()
        assert not app.screen.query_one(CompactList).display
        assert "╭─ Plan" in screen_text(app)


async def test_the_footer_at_80_columns_ends_with_a_whole_key(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        footer = screen_text(app).splitlines()[-1]
        assert footer.rstrip().endswith("q quit"), footer
        assert "palette" not in footer


async def test_columns_out_of_view_are_counted_and_can_be_scrolled_to(tmp_path: Path) -> None:
    from tests.tui.fanout import make_fan_project
    from tests.tui.test_snapshots import _fan_app

    app = _fan_app(make_fan_project(tmp_path / "fan"))
    async with app.run_test(size=(64, 30)) as pilot:
        await started(app, pilot)
        dag = app.screen.query_one(DagView)
        before, after = dag.hidden_columns()
        assert (before, after) != (0, 0) and before == 0
        assert dag.border_subtitle.endswith("▶") and "+" in dag.border_subtitle
        for _ in range(3):  # to the last column: release
            await pilot.press("right")
            await pilot.pause()
        assert app.selected_stage == "release"
        assert dag.hidden_columns()[1] == 0
        assert dag.border_subtitle.startswith("◀")
