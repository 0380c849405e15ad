"""Every key of the main screen, pressed through Textual's Pilot on the fixture project.

Each test presses the key the way a person would and then reads `.work/` again through a fresh
`Store`: the TUI's keys must change exactly what the matching `loom stage …` command changes, and
nothing when they are refused.  Attaching uses a real tmux pane on the project's private server.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any

import pygit2
import pytest
from textual.app import App
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input

from loom_tui.core.fsutil import FileLock
from loom_tui.core.model import Status
from loom_tui.core.tmux import Tmux
from loom_tui.tui.app import LoomApp
from loom_tui.tui.keys import KEYS
from loom_tui.tui.screens.confirm_screen import ConfirmScreen
from loom_tui.tui.screens.handoff_screen import HandoffScreen
from loom_tui.tui.screens.help_screen import HelpScreen
from loom_tui.tui.screens.main_screen import MainScreen
from loom_tui.tui.screens.pane_screen import PaneScreen
from loom_tui.tui.screens.prompt_screen import PromptScreen
from loom_tui.tui.screens.stage_screen import StageScreen
from loom_tui.tui.widgets.dag_view import DagView
from loom_tui.tui.widgets.detail_panel import DetailPanel
from loom_tui.tui.widgets.sessions_table import SessionsTable
from tests.tui.conftest import LIVE_STAGES, AppFactory, TuiProject

SIZE = (120, 40)
#: A generous limit for things that happen in other threads or processes (not a timing claim).
WAIT = 20.0


# ------------------------------------------------------------------------------------------------
# Helpers


def screen_text(app: App[Any]) -> str:
    """What the terminal shows now, as plain text (one line per row)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def notices(app: App[Any]) -> list[str]:
    """The notices said so far, on a bar or in a toast (`LoomApp.said`)."""
    return list(app.said)  # type: ignore[attr-defined]


async def settle(app: App[Any], pilot: Pilot[Any]) -> None:
    """Let the key's action run: its worker (the core function in a thread), then a refresh.
    (Not the read-only mode's file watcher: that one runs until the app ends.)"""
    await pilot.pause()
    busy = [w for w in app.workers if w.group != "watch"]
    if busy:  # (an empty list would mean "every worker")
        await app.workers.wait_for_complete(busy)
    await pilot.pause()


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def started(app: LoomApp, pilot: Pilot[Any]) -> None:
    """Wait for the first snapshot of `.work/` to be on screen."""
    await wait_for(pilot, lambda: app.snapshot is not None, "the first snapshot")
    await settle(app, pilot)


async def select(app: LoomApp, pilot: Pilot[Any], stage_id: str) -> None:
    """Move the DAG cursor to ``stage_id`` (the arrow keys have their own test)."""
    assert isinstance(app.screen, MainScreen)
    app.screen.select(stage_id)
    await pilot.pause()
    assert app.selected_stage == stage_id


def events_of(tp: TuiProject, kind: str) -> list[dict[str, object]]:
    return [e for e in tp.fresh().read_events() if e.get("kind") == kind]


# ------------------------------------------------------------------------------------------------
# Stage actions: h r t s x


async def test_h_holds_the_selected_stage(make_app: AppFactory, tui_project: TuiProject) -> None:
    assert not tui_project.stage("tokenizer").held
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "tokenizer")
        await pilot.press("h")
        await settle(app, pilot)
        assert "stage tokenizer held (its running session goes on; it will not be restarted)" in (
            notices(app)
        )
    stage = tui_project.stage("tokenizer")
    assert stage.held
    assert stage.status is Status.EXECUTING
    held = events_of(tui_project, "stage-held")
    assert [(e["stage"], e["source"]) for e in held] == [("tokenizer", "tui")]


async def test_r_releases_a_held_stage(make_app: AppFactory, tui_project: TuiProject) -> None:
    assert tui_project.stage("cli").held
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "cli")
        await pilot.press("r")
        await settle(app, pilot)
    stage = tui_project.stage("cli")
    assert not stage.held
    assert stage.status is Status.WAITING_FOR_DEPS


async def test_t_retries_a_blocked_stage(make_app: AppFactory, tui_project: TuiProject) -> None:
    assert tui_project.stage("counter").status is Status.BLOCKED
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "counter")
        await pilot.press("t")
        await settle(app, pilot)
        assert "stage counter queued for a retry" in notices(app)
    stage = tui_project.stage("counter")
    assert stage.status is Status.QUEUED
    assert stage.blocked_reason is None
    assert stage.retry_count == 2  # a retry by hand is not one of the automatic retries


async def test_t_on_a_stage_that_is_not_blocked_is_refused(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    before = tui_project.files()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "tokenizer")
        await pilot.press("t")
        await settle(app, pilot)
        assert any(
            "only a blocked stage, or one that needs review, can be retried" in n
            for n in notices(app)
        )
    assert tui_project.files() == before


async def test_s_skips_the_selected_stage(make_app: AppFactory, tui_project: TuiProject) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "release")
        await pilot.press("s")
        await settle(app, pilot)
    assert tui_project.stage("release").status is Status.SKIPPED
    assert [e["stage"] for e in events_of(tui_project, "stage-skipped")] == ["release"]


async def test_x_asks_first_and_y_resets_the_stage(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "counter")
        await pilot.press("x")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "Reset stage counter?" in screen_text(app)
        assert tui_project.stage("counter").status is Status.BLOCKED  # nothing before the answer
        await pilot.press("y")
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
    stage = tui_project.stage("counter")
    assert stage.status is Status.QUEUED  # its dependency (scaffold) is merged
    assert stage.retry_count == 0
    assert stage.generation == 0
    assert stage.session_id is None
    assert stage.blocked_reason is None


@pytest.mark.parametrize("answer", ["n", "escape"])
async def test_x_answered_no_changes_nothing(
    make_app: AppFactory, tui_project: TuiProject, answer: str
) -> None:
    before = tui_project.files()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "counter")
        await pilot.press("x")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press(answer)
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
    assert tui_project.files() == before
    assert tui_project.stage("counter").status is Status.BLOCKED


async def test_shift_x_asks_then_resets_the_stage_for_a_fresh_worktree(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "counter")
        await pilot.press("X")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "Hard reset of stage counter?" in screen_text(app)
        await pilot.press("y")
        await settle(app, pilot)
    stage = tui_project.stage("counter")
    assert stage.status is Status.QUEUED and stage.fresh_start


async def type_answer(app: LoomApp, pilot: Pilot[Any], text: str) -> None:
    assert isinstance(app.screen, PromptScreen)
    for char in text:
        await pilot.press("space" if char == " " else char)
    await pilot.press("enter")
    await settle(app, pilot)


async def test_shift_t_retries_with_a_note_for_the_next_session(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "counter")
        await pilot.press("T")
        await settle(app, pilot)
        await type_answer(app, pilot, "use utf8")
        assert isinstance(app.screen, MainScreen)
    stage = tui_project.stage("counter")
    assert stage.status is Status.QUEUED and stage.guidance == ["use utf8"]


async def test_shift_s_skips_with_a_reason_and_escape_cancels(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "release")
        await pilot.press("S")
        await settle(app, pilot)
        await pilot.press("escape")
        await settle(app, pilot)
        assert tui_project.stage("release").status is not Status.SKIPPED
        await pilot.press("S")
        await settle(app, pilot)
        await pilot.press("enter")  # an empty reason is refused: the prompt stays
        await settle(app, pilot)
        await type_answer(app, pilot, "not needed")
    stage = tui_project.stage("release")
    assert stage.status is Status.SKIPPED and stage.skip_reason == "not needed"


async def test_shift_a_approves_a_stage_that_needs_review(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    tui_project.set_stage("counter", status=Status.NEEDS_HUMAN_REVIEW)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "counter")
        await pilot.press("A")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(app, pilot)
        assert "stage counter approved: completed" in notices(app)
    assert tui_project.stage("counter").status is Status.COMPLETED


async def test_shift_r_rejects_a_review_with_a_reason(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    tui_project.set_stage("counter", status=Status.NEEDS_HUMAN_REVIEW)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "counter")
        await pilot.press("R")
        await settle(app, pilot)
        await type_answer(app, pilot, "count bytes")
    stage = tui_project.stage("counter")
    assert stage.status is Status.QUEUED
    assert stage.guidance == ["Rejected in review: count bytes"]


async def test_shift_k_asks_then_ends_the_stages_session(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "docs")
        await pilot.press("K")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(app, pilot)
        await select(app, pilot, "release")
        await pilot.press("K")
        await settle(app, pilot)
        assert "stage release has no live session" in notices(app)
    assert tui_project.stage("docs").status is Status.BLOCKED
    assert not any(s.live for s in tui_project.fresh().sessions() if s.stage_id == "docs")


# ------------------------------------------------------------------------------------------------
# a: attach


def start_pane(tui_project: TuiProject, tmux: Tmux, command: str) -> str:
    """A real pane on the project's tmux server running ``command``; the live session of
    `tokenizer` is pointed at it.  Returns the pane id."""
    pane = tmux.new_window(
        "tokenizer",
        str(tui_project.root),
        ["sh", "-c", command],
        {},
        "s-tokenizer-2",
        str(tui_project.work / "tokenizer.exit"),
    )
    tui_project.set_session("s-tokenizer-2", pane_id=pane.pane_id, window=pane.window_id)
    return pane.pane_id


async def test_a_without_a_terminal_to_hand_over_shows_the_live_pane(
    make_app: AppFactory, tui_project: TuiProject, project_tmux: Tmux
) -> None:
    pane_id = start_pane(tui_project, project_tmux, "echo hello-from-pane; sleep 60")
    app = make_app()  # the default attacher: App.suspend raises SuspendNotSupported here
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "tokenizer")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, PaneScreen), "the pane view")
        await wait_for(pilot, lambda: "hello-from-pane" in screen_text(app), "the pane's text")
        text = screen_text(app)
        assert f"stage tokenizer · pane {pane_id} · read-only live view" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
    assert tui_project.stage("tokenizer").status is Status.EXECUTING


async def test_a_hands_the_pane_to_the_attacher(
    make_app: AppFactory, tui_project: TuiProject, project_tmux: Tmux
) -> None:
    pane_id = start_pane(tui_project, project_tmux, "sleep 60")
    asked: list[tuple[str, str]] = []

    async def attacher(app: App[Any], socket: str, target: str) -> str:
        asked.append((socket, target))
        return "detached"

    app = make_app(attacher=attacher)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "tokenizer")
        await pilot.press("a")
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
        assert "tokenizer: detached" in notices(app)
    assert asked == [(tui_project.socket, pane_id)]


async def test_a_on_a_stage_without_a_live_session_attaches_nothing(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    asked: list[str] = []

    async def attacher(app: App[Any], socket: str, target: str) -> str:
        asked.append(target)
        return "detached"

    app = make_app(attacher=attacher)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "scaffold")
        await pilot.press("a")
        await settle(app, pilot)
        assert "stage scaffold has no running session" in notices(app)
    assert asked == []


# ------------------------------------------------------------------------------------------------
# n: next needing attention; m: merge


async def test_n_jumps_to_the_next_stage_needing_attention_and_wraps(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    tui_project.set_stage("release", status=Status.MERGE_CONFLICT)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        assert app.selected_stage == "scaffold"
        seen = []
        for _ in range(4):
            await pilot.press("n")
            await pilot.pause()
            seen.append(app.selected_stage)
    # counter is blocked, docs waits for input, release has a merge conflict; then round again
    assert seen == ["counter", "docs", "release", "counter"]


async def test_n_stops_at_a_stalled_stage_and_at_one_that_needs_review(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    tui_project.set_stage("counter", status=Status.NEEDS_HUMAN_REVIEW, blocked_reason="review")
    tui_project.set_stage("docs", status=Status.EXECUTING, stalled_at=1.0)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        seen = []
        for _ in range(2):
            await pilot.press("n")
            await pilot.pause()
            seen.append(app.selected_stage)
        assert "stalled" in screen_text(app)
    assert seen == ["counter", "docs"]


async def test_n_stops_at_a_stage_whose_agent_asks_for_permission(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    # the stage is still executing: only its session says that the agent waits for a yes
    tui_project.set_stage("counter", status=Status.QUEUED, blocked_reason=None)
    tui_project.set_stage("docs", status=Status.EXECUTING)
    tui_project.set_session("s-docs-1", agent_state="needs-permission")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        assert app.selected_stage == "docs"


async def test_n_stops_at_a_completed_stage_that_waits_for_a_merge_without_auto_merge(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    from loom_tui.core.config import read_config, write_config

    config = read_config(tui_project.fresh().work_dir)
    config.settings["auto_merge"] = False
    write_config(tui_project.fresh().work_dir, config)
    tui_project.set_stage("counter", status=Status.QUEUED, blocked_reason=None)
    tui_project.set_stage("docs", status=Status.COMPLETED, merged=False)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        assert app.selected_stage == "docs"
        assert "1 to merge (m)" in screen_text(app)


async def test_n_with_nothing_needing_attention_says_so(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    tui_project.set_stage("counter", status=Status.QUEUED, blocked_reason=None)
    tui_project.set_stage("docs", status=Status.EXECUTING)
    tui_project.set_session("s-docs-1", agent_state="working")  # its agent asks for nothing
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        assert app.selected_stage == "scaffold"
        assert "nothing needs you right now" in notices(app)


async def test_m_merges_a_completed_stage(make_app: AppFactory, tui_project: TuiProject) -> None:
    commit = tui_project.commit_on_branch("counter", {"COUNT.md": "counted\n"})
    tui_project.set_stage(
        "counter",
        status=Status.COMPLETED,
        blocked_reason=None,
        worktree=None,
        completed_at=tui_project.stage("counter").started_at,
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "counter")
        await pilot.press("m")
        await settle(app, pilot)
        assert any(n.startswith("merged loom/counter into main") for n in notices(app)), notices(
            app
        )
    stage = tui_project.stage("counter")
    assert stage.merged
    assert stage.status is Status.COMPLETED
    repo = pygit2.Repository(str(tui_project.root))
    tip = repo.branches.local["main"].peel(pygit2.Commit)
    assert [str(p) for p in tip.parent_ids][1] == commit
    assert (tui_project.root / "COUNT.md").read_text() == "counted\n"
    assert [e["stage"] for e in events_of(tui_project, "merge-done")][-1] == "counter"


async def test_m_on_a_stage_that_is_not_completed_is_refused(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    before = tui_project.files()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "tokenizer")
        await pilot.press("m")
        await settle(app, pilot)
        assert any("only a completed stage" in n for n in notices(app))
    assert tui_project.files() == before


# ------------------------------------------------------------------------------------------------
# enter, v, /, ?


async def test_enter_opens_the_selected_stage_in_full(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "tokenizer")
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, StageScreen)
        assert app.screen.stage_id == "tokenizer"
        text = screen_text(app)
        assert "Tokenizer" in text
        assert "● executing · gen 2" in text
        assert "2 of 2 · working (hook PostToolUse)" in text
        assert "001 budget 66% · agent · 11:56" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_v_opens_the_newest_handoff(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "tokenizer")
        await pilot.press("v")
        await settle(app, pilot)
        assert isinstance(app.screen, HandoffScreen)
        text = screen_text(app)
        assert "tokenizer-handoff-001.md (1 of 1)" in text
        assert "Handoff 001 — stage tokenizer (Tokenizer)" in text
        assert "Strip leading and trailing apostrophes." in text
        await pilot.press("right")  # the newest: it stays, never wraps round to the oldest
        await settle(app, pilot)
        assert "this is the newest handoff" in notices(app)
        assert "tokenizer-handoff-001.md (1 of 1)" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_the_detail_panel_numbers_sessions_by_their_order_after_a_reset(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    live = next(s for s in tui_project.fresh().sessions() if s.stage_id == "tokenizer" and s.live)
    tui_project.set_session(live.id, generation=1)  # a reset starts generations from 1 again
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "tokenizer")
        text = screen_text(app)
    assert "session  2/2" in text
    assert "session  1/2" not in text


async def test_v_on_a_stage_without_handoffs_says_so(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "docs")
        await pilot.press("v")
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
        assert "stage docs has no handoff yet" in notices(app)


async def test_slash_filters_the_dag_and_escape_clears(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        box = screen.query_one("#filter", Input)
        dag = screen.query_one(DagView)
        assert not box.display
        await pilot.press("slash")
        await pilot.pause()
        assert box.display
        assert box.has_focus
        await pilot.press(*"rel")
        await pilot.pause()
        assert app.selected_stage == "release"
        assert dag._dimmed == {"scaffold", "tokenizer", "counter", "docs", "cli"}
        await pilot.press("escape")
        await pilot.pause()
        assert not box.display
        assert box.value == ""
        assert dag.has_focus
        assert dag._dimmed == set()
        assert app.selected_stage == "release"


async def test_slash_matches_a_status_too(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("slash", *"blocked", "enter")
        await pilot.pause()
        assert app.selected_stage == "counter"
        assert app.screen.query_one(DagView).has_focus


async def test_question_mark_lists_every_key(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for key in KEYS:
            row = rf"\s{re.escape(key.display)}\s+{re.escape(key.help[:30])}"
            assert re.search(row, text), f"{key.display} {key.help!r} not on the help screen"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


# ------------------------------------------------------------------------------------------------
# q


async def test_q_with_no_live_sessions_quits_at_once(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    tui_project.end_live_sessions()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == 0


async def test_q_with_live_sessions_asks_first(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("q")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "2 agent session(s) are running" in screen_text(app)
        await pilot.press("n")
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.is_running
        await pilot.press("q")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
    assert app.return_value == 0
    # quitting leaves the agents alone: their sessions are still live in `.work/`
    live = sorted(s.stage_id for s in tui_project.fresh().sessions() if s.live)
    assert live == sorted(LIVE_STAGES)


# ------------------------------------------------------------------------------------------------
# ctrl+p, arrows, the sessions table


async def run_from_palette(app: LoomApp, pilot: Pilot[Any], title: str) -> None:
    """ctrl+p, type ``title``, wait until it is the best match, then pick it."""
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
    palette = app.screen
    await pilot.press(*title)
    results = palette.query_one(CommandList)

    def best_match() -> str:
        if not results.option_count:
            return ""
        prompt = results.get_option_at_index(0).prompt
        return str(getattr(prompt, "plain", prompt))

    await wait_for(pilot, lambda: best_match().startswith(title), f"{title!r} in the palette")
    await pilot.press("down", "enter")
    await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the palette to close")
    await settle(app, pilot)


async def test_ctrl_p_runs_a_key_from_the_command_palette(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "release")
        await run_from_palette(app, pilot, "Hold (h)")
    assert tui_project.stage("release").held


async def test_ctrl_p_goes_to_a_stage(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await run_from_palette(app, pilot, "Go to stage docs")
        assert app.selected_stage == "docs"


async def test_arrow_keys_move_the_dag_cursor(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        assert app.selected_stage == "scaffold"
        path = []
        for key in ("right", "down", "down", "down", "up", "right", "right", "left", "left"):
            await pilot.press(key)
            await pilot.pause()
            path.append((key, app.selected_stage))
    assert path == [
        ("right", "tokenizer"),
        ("down", "counter"),
        ("down", "docs"),
        ("down", "docs"),  # the bottom of its column
        ("up", "counter"),
        ("right", "cli"),
        ("right", "release"),
        ("left", "cli"),
        ("left", "tokenizer"),  # the nearest row in the column to the left: cli's own
    ]


async def test_the_detail_panel_follows_the_cursor(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("right", "down")
        await pilot.pause()
        text = screen_text(app)
        assert "─ counter ─" in text
        assert "its session crashed" in text  # the reason, in the detail panel


async def test_c_toggles_the_sessions_sort(make_app: AppFactory, tui_project: TuiProject) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        table = app.screen.query_one(SessionsTable)

        def order() -> list[str]:
            return [str(table.get_row(row.key)[0]) for row in table.ordered_rows]

        assert order() == ["tokenizer", "docs"]  # fullest context first: 58 % > 31 %
        await pilot.press("tab")
        await pilot.pause()
        assert table.has_focus
        await pilot.press("c")
        await pilot.pause()
        assert "sessions unsorted" in notices(app)
        # docs' context grows past tokenizer's: unsorted, the rows stay where they are
        tui_project.set_session("s-docs-1", context_percent=80.0)
        app.refresh_snapshot_now()
        await wait_for(
            pilot, lambda: "80%" in str(table.get_row(table.ordered_rows[1].key)[3]), "80 %"
        )
        assert order() == ["tokenizer", "docs"]
        await pilot.press("c")
        await pilot.pause()
        assert "sessions sorted by context use" in notices(app)
        assert order() == ["docs", "tokenizer"]


async def test_a_theme_change_keeps_the_screen_working_and_is_saved(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    app = make_app(theme=None)  # no --theme: the choice is the user's, saved in ~/.config/loom
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        assert app.theme == "loom-dark"
        await select(app, pilot, "tokenizer")
        app.theme = "loom-light"
        panel = app.screen.query_one(DetailPanel)

        def panel_in_new_colours() -> bool:
            background = panel.rich_style.bgcolor
            return all(
                segment.style is not None and segment.style.bgcolor == background
                for y in range(3)
                for segment in panel.render_line(y)
            )

        # drawn again in the new theme, although no record changed
        await wait_for(pilot, panel_in_new_colours, "the detail panel in the light theme")
        table = app.screen.query_one(SessionsTable)
        assert table.row_count == 2
        await pilot.press("question_mark", "escape", "h")  # screens come and go
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
        assert table.row_count == 2
    config = tui_project.root.parent / "home" / ".config" / "loom" / "config.toml"
    assert config.read_text(encoding="utf-8") == '[tui]\ntheme = "loom-light"\n'


async def test_the_detail_panel_draws_every_cell_in_the_theme_colours(
    make_app: AppFactory,
) -> None:
    app = make_app(theme="loom-light")
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "tokenizer")
        panel = app.screen.query_one(DetailPanel)
        for y in range(panel.size.height):
            for segment in panel.render_line(y):
                assert segment.style is not None and segment.style.bgcolor is not None, (
                    f"line {y}: {segment.text!r} has no colours of its own"
                )


async def test_the_dag_opens_at_its_top_left_corner(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(60, 24)) as pilot:
        await started(app, pilot)
        dag = app.screen.query_one(DagView)
        assert dag.max_scroll_x > 0  # wider than the panel: it could be scrolled
        assert (dag.scroll_x, dag.scroll_y) == (0, 0)


async def test_every_key_has_a_test() -> None:
    """A new key in keys.py must get a test here (this list is the reminder)."""
    tested = {"h", "r", "t", "s", "x", "a", "n", "m", "enter", "v", "slash", "question_mark", "q"}
    tested |= {"d"}  # in test_diff_screen.py
    tested |= {"X", "T", "S", "A", "R", "K"}
    tested |= {"o"}  # in test_take_over_key.py
    assert {key.key for key in KEYS} == tested


# ------------------------------------------------------------------------------------------------
# Read-only: another loom runs the scheduler


async def test_read_only_when_another_scheduler_holds_the_lock(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    lock = FileLock(tui_project.store.scheduler_lock_path, blocking=False)
    assert lock.acquire()
    try:
        assert lock.fd is not None
        os.pwrite(lock.fd, b"424242\n", 0)
        before = tui_project.files()
        app = make_app(run_scheduler=True)
        async with app.run_test(size=SIZE) as pilot:
            await started(app, pilot)
            assert app.read_only
            assert app.scheduler is None
            assert app.scheduler_state == "read-only"
            assert app.scheduler_detail == "scheduler runs in pid 424242"
            header = screen_text(app).splitlines()[0]
            # (at 120 columns the header's end is cut: the pid shows only in part)
            assert "◌ read-only: scheduler runs in pid" in header
            await select(app, pilot, "counter")
            for key in ("h", "r", "t", "s", "m"):
                await pilot.press(key)
                await settle(app, pilot)
            await pilot.press("x")
            await settle(app, pilot)
            assert isinstance(app.screen, MainScreen)  # no question: reset is refused at once
            refused = [n for n in notices(app) if n.startswith("read-only:")]
            assert len(refused) == 6
            assert "use that loom (or the CLI) to change stages" in refused[0]
            # watching still works: a change made by "the other loom" shows up
            tui_project.set_stage("release", held=True)

            def release_held() -> bool:
                release = app.snapshot.stage("release") if app.snapshot else None
                return release is not None and release.held

            await wait_for(pilot, release_held, "the change made elsewhere")
            after = tui_project.files()
            del after["stages/release.md"]
            del before["stages/release.md"]
            assert after == before
    finally:
        lock.release()


async def test_the_scheduler_worker_is_not_started_in_tests(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        assert app.scheduler is None
        assert "◌ no scheduler" in screen_text(app).splitlines()[0]
        assert not [w for w in app.workers if w.name == "scheduler"]
