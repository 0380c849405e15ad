"""How changes reach the screen: messages in-process, one changed file at a time from disk.

Nothing re-reads all of `.work/` on a timer: these tests count the full reads (`read_snapshot`)
and see that a key's write, a write by another process (a fresh `Store`, as the CLI does) and an
event appended by another process all reach the screen without one.  Then: the detail panel follows
what changed until the person moves the cursor, and notices go to the attention bar, not to toasts
over the panels.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets._toast import ToastRack

from loom_tui.core.events import StageHeld
from loom_tui.core.model import Status
from loom_tui.tui import app as app_module
from loom_tui.tui.app import SchedulerEvent
from loom_tui.tui.screens.main_screen import MainScreen
from loom_tui.tui.widgets.attention_bar import AttentionBar
from loom_tui.tui.widgets.dag_view import DagView
from tests.tui.conftest import AppFactory, TuiProject
from tests.tui.test_keys import SIZE, select, settle, started, wait_for


@pytest.fixture
def full_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = app_module.read_snapshot

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(app_module, "read_snapshot", counted)
    return calls


async def test_a_keys_write_reaches_the_screen_as_a_message(
    make_app: AppFactory, full_reads: list[int]
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "tokenizer")
        await pilot.press("h")
        await settle(app, pilot)
        await wait_for(pilot, lambda: app.snapshot.stage("tokenizer").held, "the held stage")
    assert len(full_reads) == 1  # the one at start


async def test_another_process_write_is_read_by_the_watcher(
    make_app: AppFactory, tui_project: TuiProject, full_reads: list[int]
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        assert app.snapshot is not None and app.snapshot.stage("cli").held
        tui_project.set_stage("cli", held=False)  # as `loom stage release cli` does
        await wait_for(pilot, lambda: not app.snapshot.stage("cli").held, "the released stage")
        tui_project.fresh().append_event(StageHeld(stage="release", source="cli"))
        await wait_for(
            pilot,
            lambda: any(e.get("kind") == "stage-held" for e in app.recent_events),
            "the CLI's event",
        )
    assert len(full_reads) == 1


async def test_the_detail_panel_follows_changes_until_the_cursor_is_moved(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        dag = app.screen.query_one(DagView)
        assert dag.selected == "scaffold" and not dag.picked
        event = {"kind": "stage-status", "stage": "release", "old": "queued", "new": "executing"}
        app.post_message(SchedulerEvent({**event, "ts": 1.0}))
        await wait_for(pilot, lambda: dag.selected == "release", "following release")
        await pilot.press("left")  # the person picks a stage: no more following
        await pilot.pause()
        picked = dag.selected
        app.post_message(SchedulerEvent({**event, "stage": "docs", "ts": 2.0}))
        await pilot.pause()
        await pilot.pause()
        assert dag.selected == picked


async def test_notices_go_to_the_attention_bar_not_over_the_panels(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        assert isinstance(app.screen, MainScreen)
        bar = app.screen.query_one(AttentionBar)
        assert "2 need you (n): counter blocked" in bar.render().plain
        app.notify("stage tokenizer held")
        await pilot.pause()
        assert "stage tokenizer held" in bar.render().plain
        # (run_test draws no toasts at all; a real run has the rack, hidden on this screen)
        assert all(not rack.display for rack in app.screen.query(ToastRack))
        # the attention events come once each: a repeat makes no second notice
        asks = {"kind": "agent-state", "stage": "docs", "state": "needs-permission", "ts": 3.0}
        app.post_message(SchedulerEvent(asks))
        app.post_message(SchedulerEvent({**asks, "ts": 4.0}))
        await pilot.pause()
        await pilot.pause()
        said = [n for n in app.said if "permission" in n]
        assert said == ["docs: the agent asks for permission (n goes there)"]


async def test_a_notice_gives_way_when_its_stage_stops_needing_you(make_app: AppFactory) -> None:
    """ "counter: blocked" must not stay on the bar after counter was retried and runs again."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        bar = app.screen.query_one(AttentionBar)
        assert "counter blocked" in bar.render().plain
        app.notify("counter: blocked (n goes there)", severity="error", timeout=60)
        await pilot.pause()
        assert "counter: blocked (n goes there)" in bar.render().plain
        app.store.update_stage("counter", _unblock)
        await wait_for(
            pilot,
            lambda: "counter" not in bar.render().plain,
            "the notice about counter gone once counter no longer needs you",
        )


def _unblock(record: Any) -> None:
    record.status = Status.QUEUED
    record.blocked_reason = None
