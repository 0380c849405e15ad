"""Gauge figures reach the screen on the app's beat; everything else at once.

With 20 agents a gauge reading arrives about every second, and each redraw costs more than what it
draws: a record write that changes only gauge figures (tokens, cost, context) waits for the next
beat, which shows it together with the pane preview in one redraw.  A status change is shown at
once.  In the sessions table a changed figure redraws its own row only; these tests check that the
table still shows what it was given, row by row.
"""

from __future__ import annotations

import pytest

from loom_tui.core.model import SessionRecord, StageRecord
from loom_tui.tui import app as app_module
from loom_tui.tui.app import LoomApp
from loom_tui.tui.live_records import Change, LiveRecords
from loom_tui.tui.widgets.sessions_table import SessionsTable
from tests.tui.conftest import AppFactory, TuiProject
from tests.tui.test_keys import SIZE, started, wait_for


def rows(table: SessionsTable) -> list[str]:
    """The table's lines as drawn now (header first)."""
    return [table.render_line(y).text for y in range(table.size.height)]


def test_a_record_that_changes_only_gauge_figures_is_a_gauge_change(
    tui_project: TuiProject,
) -> None:
    records = LiveRecords(tui_project.store)
    session = next(s for s in tui_project.store.sessions() if s.live)
    assert records.put(session) is Change.SHOWN  # new to the screen
    again = session.copy()
    again.cost_usd = (session.cost_usd or 0) + 1.0
    again.context_percent = (session.context_percent or 0) + 3.0
    assert records.put(again) is Change.GAUGES
    ended = again.copy()
    ended.status = "ended"
    assert records.put(ended) is Change.SHOWN
    stage = tui_project.store.stages()[0]
    records.put(stage)
    gauge = stage.copy()
    gauge.context_percent = 99.0
    gauge.updated_at = 1.0
    assert records.put(gauge) is Change.GAUGES
    held = gauge.copy()
    held.held = True
    assert records.put(held) is Change.SHOWN
    assert not Change.NOTHING and isinstance(stage, StageRecord)


async def test_gauge_figures_wait_for_the_beat_and_redraw_their_row_only(
    make_app: AppFactory, tui_project: TuiProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "BEAT_EVERY", 3600.0)  # the test beats itself
    app: LoomApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        table = app.screen.query_one(SessionsTable)
        before = rows(table)
        assert any("tokenizer" in line for line in before)
        # as another process would (the CLI's store): read by the watcher, a gauge change
        tui_project.set_session("s-docs-1", cost_usd=9.87)
        await wait_for(pilot, lambda: app._gauges_pending, "the gauge change to arrive")
        docs = app.snapshot.sessions_of("docs") if app.snapshot else []
        assert all(s.cost_usd != 9.87 for s in docs)  # not shown yet: it waits for the beat
        await app._beat()
        await pilot.pause()
        after = rows(table)
        assert any("$9.87" in line for line in after)
        changed = [new for new, old in zip(after, before, strict=True) if new != old]
        assert len(changed) == 1 and "docs" in changed[0], changed


async def test_a_status_change_does_not_wait_for_the_beat(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    app: LoomApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        tui_project.set_session("s-docs-1", agent_state="working")

        def docs_working() -> bool:
            sessions: list[SessionRecord] = app.snapshot.sessions_of("docs") if app.snapshot else []
            return any(s.agent_state == "working" for s in sessions)

        await wait_for(pilot, docs_working, "the new agent state, without a beat")
        assert not app._gauges_pending
