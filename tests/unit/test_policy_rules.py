"""The run's rules, one by one: `decide` on worlds built by hand (no tmux, git or files).

Each test builds the recorded world of one situation and checks the commands `decide` asks for:
what a pass does in that situation, before the executor touches anything.
"""

from __future__ import annotations

from typing import Any

import pytest

from loom_tui.core.engine.commands import (
    AdoptSession,
    Block,
    EndSession,
    FollowAgent,
    MarkStalled,
    Merge,
    NudgeTmux,
    PasteHandoffRequest,
    Promote,
    RemoveWorktree,
    RequestHandoff,
    Requeue,
    Retry,
    StartSession,
    WriteHandoff,
)
from loom_tui.core.engine.policy import decide
from loom_tui.core.engine.rules_sessions import HANDED_OFF, NEVER_STARTED, NUDGE_ECHO, STALLED
from loom_tui.core.engine.world import PaneView, Settings, World
from loom_tui.core.model import SessionRecord, StageRecord, Status

S = Status
NOW = 10_000.0


def stage(stage_id: str, status: Status = S.WAITING_FOR_DEPS, **fields: Any) -> StageRecord:
    fields.setdefault("name", stage_id)
    fields.setdefault("description", f"do {stage_id}")
    return StageRecord(id=stage_id, status=status.value, **fields)


def session(
    session_id: str, stage_id: str, status: str = "running", **fields: Any
) -> SessionRecord:
    fields.setdefault("pane_id", f"%{session_id}")
    fields.setdefault("started_at", NOW - 100)
    return SessionRecord(id=session_id, stage_id=stage_id, status=status, **fields)


def running(
    stage_id: str, session_id: str, status: Status = S.EXECUTING, **fields: Any
) -> StageRecord:
    return stage(stage_id, status, session_id=session_id, generation=1, **fields)


def pane(session_id: str, dead: bool = False, dead_status: int | None = None) -> PaneView:
    return PaneView(
        pane_id=f"%{session_id}", window_id=f"@{session_id}", dead=dead, dead_status=dead_status
    )


def world(
    stages: list[StageRecord],
    sessions: list[SessionRecord] = (),  # type: ignore[assignment]
    *,
    panes: dict[str, PaneView] | None = None,
    settings: Settings | None = None,
    **fields: Any,
) -> World:
    live = [s for s in sessions if s.live]
    return World(
        now=fields.pop("now", NOW),
        stages={s.id: s for s in stages},
        sessions={s.id: s for s in sessions},
        settings=settings or Settings(max_parallel=4, retry_backoff=30, retry_backoff_max=300),
        panes=panes if panes is not None else {s.id: pane(s.id) for s in live},
        panes_listed_at=fields.pop("panes_listed_at", NOW - 1),
        **fields,
    )


def commands(w: World) -> list[object]:
    return decide(w).commands


# --------------------------------------------------------------------------------------------------
# readiness and starts


def test_every_ready_stage_is_promoted_by_one_command() -> None:
    root = stage("root", S.COMPLETED, merged=True)
    deps = [stage(f"d{i}", dependencies=["root"]) for i in range(32)]
    promote, *starts = commands(world([root, *deps], settings=Settings(max_parallel=16)))
    assert isinstance(promote, Promote)
    assert promote.changes == tuple((f"d{i}", S.QUEUED) for i in range(32))
    # the executor promotes before it starts: 16 of them start in the same decision
    assert starts == [StartSession(stage=f"d{i}", generation=1, fresh=True) for i in range(16)]


def test_a_completed_but_unmerged_dependency_holds_its_dependents_back() -> None:
    w = world([stage("root", S.COMPLETED), stage("a", dependencies=["root"])])
    assert commands(w) == [Merge(stage="root")]


def test_a_queued_stage_whose_dependency_went_back_waits_again() -> None:
    w = world([stage("root", S.QUEUED), stage("a", S.QUEUED, dependencies=["root"])])
    cmds = commands(w)
    assert Promote(stage="a", changes=(("a", S.WAITING_FOR_DEPS),)) in cmds
    assert [c.stage for c in cmds if isinstance(c, StartSession)] == ["root"]


def test_starts_fill_the_free_slots_continuing_stages_first() -> None:
    stages = [
        stage("busy", S.EXECUTING, session_id="s1"),
        stage("new1", S.QUEUED),
        stage("new2", S.QUEUED),
        stage("cont", S.QUEUED, generation=2, branch="loom/cont"),
        stage("held", S.QUEUED, held=True),
    ]
    w = world(stages, [session("s1", "busy")], settings=Settings(max_parallel=3))
    starts = [c for c in commands(w) if isinstance(c, StartSession)]
    assert starts == [
        StartSession(stage="cont", generation=3, fresh=False),
        StartSession(stage="new1", generation=1, fresh=True),
    ]


def test_a_stage_is_not_started_again_before_its_last_session_ended() -> None:
    # A reset sent the stage back while its agent still runs: the agent is stopped first.
    w = world([stage("a", S.QUEUED, session_id=None)], [session("s1", "a")])
    cmds = commands(w)
    assert cmds == [EndSession(stage="a", session="s1", reason="stopped", pane=pane("s1"))]


def test_only_the_wanted_stage_starts_with_run_stage() -> None:
    w = world([stage("a", S.QUEUED), stage("b", S.QUEUED)], settings=Settings(only_stage="b"))
    assert [c.stage for c in commands(w)] == ["b"]


def test_an_agent_that_completed_holds_its_slot_until_merged_and_ended() -> None:
    stages = [stage("done", S.COMPLETED, session_id="s1"), stage("next", S.QUEUED)]
    w = world(stages, [session("s1", "done")], settings=Settings(max_parallel=1))
    assert commands(w) == [Merge(stage="done")]
    waiting = world(
        stages,
        [session("s1", "done")],
        settings=Settings(max_parallel=1),
        merge_waits={"done": NOW + 2},
    )
    assert [type(c) for c in commands(waiting)] == [StartSession]


# --------------------------------------------------------------------------------------------------
# sessions that end


def test_a_dead_pane_of_the_current_session_is_a_crash() -> None:
    w = world(
        [running("a", "s1")],
        [session("s1", "a")],
        panes={"s1": pane("s1", dead=True, dead_status=3)},
    )
    (end,) = commands(w)
    assert end == EndSession(
        stage="a",
        session="s1",
        status="crashed",
        reason="crashed",
        exit_code=3,
        pane=pane("s1", dead=True, dead_status=3),
    )


def test_the_exit_file_wins_over_a_lost_dead_status() -> None:
    w = world(
        [running("a", "s1")],
        [session("s1", "a")],
        panes={"s1": pane("s1", dead=False)},
        exits={"s1": 0},
    )
    (end,) = commands(w)
    assert isinstance(end, EndSession) and (end.exit_code, end.reason) == (
        0,
        "exited without completing",
    )


def test_a_lost_exit_status_is_nudged_for_then_given_up_on() -> None:
    base: dict[str, Any] = {"panes": {"s1": pane("s1", dead=True)}}
    first = decide(world([running("a", "s1")], [session("s1", "a")], **base))
    assert first.commands == [NudgeTmux(stage="a", session="s1")]
    assert first.wake_at == pytest.approx(NOW + 0.2)
    soon = decide(
        world([running("a", "s1")], [session("s1", "a")], exit_waits={"s1": (1, NOW - 0.1)}, **base)
    )
    assert soon.commands == [] and soon.wake_at == pytest.approx(NOW + 0.1)
    later = world(
        [running("a", "s1")], [session("s1", "a")], exit_waits={"s1": (3, NOW - 1)}, **base
    )
    (end,) = commands(later)
    assert isinstance(end, EndSession) and end.reason == "lost" and end.exit_code is None


def test_a_pane_not_listed_since_the_session_started_is_not_judged() -> None:
    fresh = session("s1", "a", started_at=NOW - 0.1)
    w = world([running("a", "s1")], [fresh], panes={}, panes_listed_at=NOW - 0.5)
    assert commands(w) == []
    later = world([running("a", "s1")], [fresh], panes={}, panes_listed_at=NOW)
    (end,) = commands(later)
    assert isinstance(end, EndSession) and end.reason == "pane vanished"


def test_a_session_recorded_but_never_started_gives_its_stage_back() -> None:
    unstarted = session("s1", "a", status="starting", pane_id=None)
    w = world([running("a", "s1")], [unstarted], panes={})
    assert commands(w) == [EndSession(stage="a", session="s1", reason=NEVER_STARTED)]
    ended = session("s1", "a", status="ended", pane_id=None, end_reason=NEVER_STARTED)
    w = world([running("a", "s1")], [ended])
    assert commands(w) == [
        Requeue(stage="a", session="s1", reason="its session never started", undo_generation=True)
    ]


def test_a_pane_found_by_its_marker_is_adopted() -> None:
    recorded = session("s1", "a", status="starting", pane_id=None)
    w = world([running("a", "s1")], [recorded], panes={"s1": pane("s1")})
    assert commands(w) == [AdoptSession(stage="a", session="s1", pane=pane("s1"))]


def test_a_crashed_session_leaves_a_handoff_then_blocks_its_stage_with_a_retry() -> None:
    crashed = session("s1", "a", status="crashed", exit_code=3, end_reason="crashed")
    cmds = commands(world([running("a", "s1", retry_count=1)], [crashed]))
    assert cmds == [
        WriteHandoff(stage="a", session="s1", trigger="crash"),
        Block(
            stage="a",
            session="s1",
            reason="agent crashed (exit 3); retry 2 of 3 in 60 s",
            failure_kind="crash",
            exit_code=3,
            retry_at=NOW + 60,
            attempt=2,
        ),
    ]


def test_a_crash_whose_handoff_was_written_before_a_restart_is_only_blocked() -> None:
    crashed = session(
        "s1",
        "a",
        status="crashed",
        exit_code=3,
        end_reason="crashed",
        handoff="a-handoff-001.md",
        handoff_trigger="crash",
    )
    (block,) = commands(world([running("a", "s1")], [crashed]))
    assert isinstance(block, Block) and block.retry_at == NOW + 30


def test_a_crash_with_no_retries_left_blocks_for_good_and_says_what_to_do() -> None:
    crashed = session(
        "s1",
        "a",
        status="crashed",
        exit_code=1,
        end_reason="crashed",
        handoff="h",
        handoff_trigger="crash",
    )
    (block,) = commands(world([running("a", "s1", retry_count=3)], [crashed]))
    assert isinstance(block, Block)
    assert block.retry_at is None
    assert "retries are used up" in block.reason and "loom diagnose a" in block.reason


def test_a_session_killed_by_hand_blocks_its_stage_without_a_retry() -> None:
    killed = session("s1", "a", status="killed")
    (block,) = commands(world([running("a", "s1")], [killed]))
    assert isinstance(block, Block) and block.failure_kind == "killed" and block.retry_at is None


def test_an_active_stage_whose_session_record_is_gone_is_queued_again() -> None:
    (requeue,) = commands(world([running("a", "gone")]))
    assert requeue == Requeue(stage="a", session="gone", reason="its session record is missing")


# --------------------------------------------------------------------------------------------------
# handoffs


def test_a_reading_at_the_budget_asks_for_a_handoff() -> None:
    s1 = session("s1", "a", context_percent=66.0)
    (request,) = commands(world([running("a", "s1", context_budget=65)], [s1]))
    assert request == RequestHandoff(
        stage="a", session="s1", trigger="budget", detail="context 66% ≥ budget 65%"
    )


def test_a_blocked_compaction_asks_for_a_handoff() -> None:
    s1 = session("s1", "a", precompact_blocked_at=NOW - 1, handoff_trigger="precompact")
    (request,) = commands(world([running("a", "s1")], [s1]))
    assert isinstance(request, RequestHandoff) and request.trigger == "precompact"


def test_a_request_cut_short_by_a_restart_is_made_again() -> None:
    s1 = session("s1", "a", handoff_requested_at=NOW - 5, handoff_trigger="budget")
    (request,) = commands(world([running("a", "s1")], [s1]))
    assert isinstance(request, RequestHandoff) and request.trigger == "budget"


def test_an_idle_agent_gets_the_request_typed_into_its_pane() -> None:
    s1 = session("s1", "a", handoff_requested_at=NOW - 5, agent_state="finished-turn")
    d = decide(world([running("a", "s1", S.NEEDS_HANDOFF)], [s1]))
    assert d.commands == [PasteHandoffRequest(stage="a", session="s1")]
    assert d.wake_at == NOW - 5 + Settings().handoff_timeout


def test_a_handoff_not_written_in_time_ends_the_session() -> None:
    s1 = session("s1", "a", handoff_requested_at=NOW - 121)
    (end,) = commands(world([running("a", "s1", S.NEEDS_HANDOFF)], [s1]))
    assert isinstance(end, EndSession) and end.handoff_timeout and end.reason == HANDED_OFF


def test_a_written_handoff_ends_the_session_once_it_stopped_or_after_the_grace() -> None:
    written = {
        "handoff_requested_at": NOW - 10,
        "handoff": "a-handoff-001.md",
        "handoff_at": NOW - 1,
    }
    d = decide(world([running("a", "s1", S.NEEDS_HANDOFF)], [session("s1", "a", **written)]))
    assert d.commands == [] and d.wake_at == NOW + 1
    stopped = session("s1", "a", stop_at=NOW - 0.5, **written)
    (end,) = commands(world([running("a", "s1", S.NEEDS_HANDOFF)], [stopped]))
    assert isinstance(end, EndSession) and end.reason == HANDED_OFF


def test_after_a_handoff_loom_writes_what_is_missing_then_queues_the_next_generation() -> None:
    ended = session(
        "s1", "a", status="ended", handoff_requested_at=NOW - 5, handoff_trigger="budget"
    )
    assert commands(world([running("a", "s1", S.NEEDS_HANDOFF)], [ended])) == [
        WriteHandoff(stage="a", session="s1", trigger="budget")
    ]
    written = session(
        "s1", "a", status="ended", handoff="a-handoff-001.md", handoff_trigger="budget"
    )
    assert commands(world([running("a", "s1", S.NEEDS_HANDOFF)], [written])) == [
        Requeue(stage="a", session="s1", reason="continues from a-handoff-001.md")
    ]


def test_the_loop_guard_blocks_a_stage_that_keeps_handing_off_without_commits() -> None:
    written = session(
        "s1", "a", status="ended", handoff="a-handoff-005.md", handoff_trigger="budget"
    )
    (block,) = commands(world([running("a", "s1", S.NEEDS_HANDOFF, handoff_streak=4)], [written]))
    assert isinstance(block, Block) and block.failure_kind == "handoff-loop"


def test_an_agent_that_handed_off_on_its_own_and_exited_is_not_a_crash() -> None:
    ended = session(
        "s1",
        "a",
        status="crashed",
        exit_code=0,
        handoff="a-handoff-001.md",
        handoff_trigger="manual",
    )
    assert commands(world([running("a", "s1")], [ended])) == [
        Requeue(stage="a", session="s1", reason="continues from a-handoff-001.md")
    ]


def test_the_stage_follows_its_agent_waiting_for_a_person_and_back() -> None:
    waiting = session(
        "s1", "a", agent_state="waiting-for-input", agent_state_source="hook:Notification"
    )
    assert commands(world([running("a", "s1")], [waiting])) == [
        FollowAgent(
            stage="a",
            session="s1",
            to=S.WAITING_FOR_INPUT,
            reason="agent waiting-for-input (hook:Notification)",
        )
    ]
    working = session("s1", "a", agent_state="working", agent_state_source="hook:UserPromptSubmit")
    (follow,) = commands(world([running("a", "s1", S.WAITING_FOR_INPUT)], [working]))
    assert isinstance(follow, FollowAgent) and follow.to is S.EXECUTING


# --------------------------------------------------------------------------------------------------
# supervision: stalls and failed acceptance

QUIET = Settings(max_parallel=4, retry_backoff=30, retry_backoff_max=300, stall_seconds=60)


def test_a_quiet_session_is_watched_then_marked_stalled() -> None:
    quiet = session("s1", "a", agent_state="working")
    watched = decide(
        world([running("a", "s1")], [quiet], settings=QUIET, activity={"s1": NOW - 10})
    )
    assert watched.commands == [] and watched.wake_at == NOW + 50
    stalled = commands(
        world([running("a", "s1")], [quiet], settings=QUIET, activity={"s1": NOW - 61})
    )
    assert stalled == [MarkStalled(stage="a", session="s1", idle_seconds=61.0)]


def test_a_stage_may_set_its_own_stall_seconds() -> None:
    quiet = session("s1", "a", agent_state="working")
    w = world(
        [running("a", "s1", stall_seconds=5)], [quiet], settings=QUIET, activity={"s1": NOW - 6}
    )
    assert commands(w) == [MarkStalled(stage="a", session="s1", idle_seconds=6.0)]


def test_an_agent_waiting_for_a_person_is_not_stalled() -> None:
    asking = session("s1", "a", agent_state="waiting-for-input", stalled_at=NOW - 30)
    w = world(
        [running("a", "s1", S.WAITING_FOR_INPUT)],
        [asking],
        settings=QUIET,
        activity={"s1": NOW - 600},
    )
    assert commands(w) == [MarkStalled(stage="a", session="s1", stalled=False)]


def test_a_stalled_session_that_shows_life_after_the_nudge_is_no_longer_stalled() -> None:
    nudged = session("s1", "a", agent_state="working", stalled_at=NOW - 20)
    echo = {"s1": NOW - 20 + NUDGE_ECHO / 2}  # the nudge's own echo is no sign of life
    assert (
        decide(world([running("a", "s1")], [nudged], settings=QUIET, activity=echo)).commands == []
    )
    alive = {"s1": NOW - 1}
    assert commands(world([running("a", "s1")], [nudged], settings=QUIET, activity=alive)) == [
        MarkStalled(stage="a", session="s1", stalled=False)
    ]


def test_a_session_that_stays_stalled_is_ended_then_resumed_at_once_from_a_handoff() -> None:
    nudged = session("s1", "a", agent_state="working", stalled_at=NOW - 60)
    (end,) = commands(
        world([running("a", "s1")], [nudged], settings=QUIET, activity={"s1": NOW - 121})
    )
    assert isinstance(end, EndSession) and end.reason == STALLED and end.status == "crashed"
    ended = session("s1", "a", status="crashed", end_reason=STALLED, stalled_at=NOW - 60)
    cmds = commands(world([running("a", "s1", stalled_at=NOW - 60)], [ended], settings=QUIET))
    assert cmds == [
        WriteHandoff(stage="a", session="s1", trigger="stall"),
        Block(
            stage="a",
            session="s1",
            reason="agent stalled (no activity for 60 s); retry 1 of 3 now",
            failure_kind="stalled",
            retry_at=NOW,
            attempt=1,
        ),
    ]


def test_a_stall_handoff_written_before_a_restart_is_still_a_failure() -> None:
    ended = session(
        "s1", "a", status="crashed", end_reason=STALLED, handoff="h", handoff_trigger="stall"
    )
    (block,) = commands(world([running("a", "s1")], [ended], settings=QUIET))
    assert isinstance(block, Block) and block.failure_kind == "stalled"


def failed_acceptance(session_id: str) -> dict[str, object]:
    return {
        "session": session_id,
        "failed": [{"command": "pytest -q", "exit_code": 1, "tail": "1 failed"}],
    }


def test_an_agent_that_exits_after_its_acceptance_failed_is_not_a_crash() -> None:
    exited = session(
        "s1",
        "a",
        status="crashed",
        exit_code=1,
        end_reason="crashed",
        handoff="h",
        handoff_trigger="crash",
    )
    a = running("a", "s1", acceptance_failure=failed_acceptance("s1"))
    (block,) = commands(world([a], [exited]))
    assert isinstance(block, Block)
    assert block.failure_kind == "acceptance" and block.to is S.BLOCKED
    assert block.reason == "acceptance failed: `pytest -q` (exit 1); retry 1 of 3 in 30 s"
    # a failure recorded by an earlier session says nothing of this one's end
    older = running("a", "s1", acceptance_failure=failed_acceptance("s0"))
    (crash,) = commands(world([older], [exited]))
    assert isinstance(crash, Block) and crash.failure_kind == "crash"


def test_failures_the_agent_cannot_get_past_end_in_review_once_retries_are_used_up() -> None:
    exited = session(
        "s1",
        "a",
        status="crashed",
        exit_code=1,
        end_reason="crashed",
        handoff="h",
        handoff_trigger="crash",
    )
    a = running("a", "s1", retry_count=3, acceptance_failure=failed_acceptance("s1"))
    (review,) = commands(world([a], [exited]))
    assert isinstance(review, Block) and review.to is S.NEEDS_HUMAN_REVIEW
    assert review.retry_at is None and "loom diagnose a" in review.reason
    stalled = session(
        "s1", "a", status="crashed", end_reason=STALLED, handoff="h", handoff_trigger="stall"
    )
    (review,) = commands(world([running("a", "s1", retry_count=3)], [stalled]))
    assert isinstance(review, Block) and review.to is S.NEEDS_HUMAN_REVIEW
    crashed = session(
        "s1",
        "a",
        status="crashed",
        exit_code=3,
        end_reason="crashed",
        handoff="h",
        handoff_trigger="crash",
    )
    (blocked,) = commands(world([running("a", "s1", retry_count=3)], [crashed]))
    assert isinstance(blocked, Block) and blocked.to is S.BLOCKED


# --------------------------------------------------------------------------------------------------
# retries, merges, tidying up, the outcome


def test_a_due_retry_queues_the_stage_or_makes_it_wait_if_a_dependency_went_back() -> None:
    due = stage("b", S.BLOCKED, next_retry_at=NOW - 1, dependencies=["a"], blocked_reason="x")
    done = stage("a", S.COMPLETED, merged=True)
    assert commands(world([done, due])) == [Retry(stage="b", due_at=NOW - 1, to=S.QUEUED)]
    undone = stage("a", S.QUEUED)
    cmds = commands(world([undone, due]))
    assert Retry(stage="b", due_at=NOW - 1, to=S.WAITING_FOR_DEPS) in cmds


def test_a_retry_not_due_yet_is_a_deadline_and_a_held_one_is_not() -> None:
    later = stage("a", S.BLOCKED, next_retry_at=NOW + 7, blocked_reason="x")
    d = decide(world([later]))
    assert d.commands == [] and d.wake_at == NOW + 7
    held = stage("a", S.BLOCKED, next_retry_at=NOW - 1, held=True, blocked_reason="x")
    assert decide(world([held])).commands == []


def test_a_merged_stage_has_its_agent_ended_then_its_worktree_removed() -> None:
    merged = stage("a", S.COMPLETED, merged=True, session_id="s1", worktree="/w/a")
    assert commands(world([merged], [session("s1", "a")])) == [
        EndSession(stage="a", session="s1", reason="completed", pane=pane("s1"))
    ]
    ended = session("s1", "a", status="ended")
    assert commands(world([merged], [ended])) == [RemoveWorktree(stage="a")]


def test_a_merge_held_back_by_the_users_checkout_is_tried_again_later() -> None:
    d = decide(world([stage("a", S.COMPLETED)], merge_waits={"a": NOW + 2}))
    assert d.commands == [] and d.wake_at == NOW + 2


def test_without_auto_merge_a_completed_stage_waits_for_a_person() -> None:
    w = world([stage("a", S.COMPLETED)], settings=Settings(auto_merge=False))
    d = decide(w)
    assert d.commands == [] and d.finished == (True, "1 completed")


def test_repeated_start_failures_block_the_stage_with_the_error() -> None:
    w = world([stage("a", S.QUEUED)], failures={"a": (3, "base branch 'main' does not exist")})
    (block,) = commands(w)
    assert block == Block(
        stage="a",
        reason="cannot start: base branch 'main' does not exist",
        failure_kind="start-failed",
    )


def test_a_failed_setup_blocks_the_stage_with_kind_setup_and_its_output() -> None:
    message = "setup command `make deps` failed (exit 2):\nno rule to make target"
    w = world([stage("a", S.QUEUED)], failures={"a": (3, message)})
    (block,) = commands(w)
    assert block == Block(stage="a", reason=message, failure_kind="setup")


def test_a_stage_cooling_down_after_a_failure_waits() -> None:
    d = decide(world([stage("a", S.QUEUED)], cooldowns={"a": NOW + 4}, failures={"a": (1, "x")}))
    assert d.commands == [] and d.wake_at == NOW + 4


@pytest.mark.parametrize(
    ("stages", "finished"),
    [
        (
            [stage("a", S.COMPLETED, merged=True), stage("b", S.SKIPPED)],
            (True, "1 completed, 1 skipped"),
        ),
        (
            [stage("a", S.BLOCKED, blocked_reason="x"), stage("b", dependencies=["a"])],
            (False, "nothing can run: a blocked, b waiting-for-deps"),
        ),
        ([stage("a", S.QUEUED, held=True)], (False, "nothing can run: a queued and held")),
        ([stage("a", S.BLOCKED, next_retry_at=NOW + 5, blocked_reason="x")], None),
    ],
)
def test_the_plan_outcome(stages: list[StageRecord], finished: tuple[bool, str] | None) -> None:
    assert decide(world(stages)).finished == finished


def test_decide_changes_nothing_it_is_given() -> None:
    stages = [
        running("a", "s1", S.NEEDS_HANDOFF),
        stage("b", S.COMPLETED),
        stage("c", S.BLOCKED, next_retry_at=NOW - 1, blocked_reason="x"),
        stage("d", dependencies=["b"]),
    ]
    sessions = [session("s1", "a", status="ended")]
    before = [r.to_dict() for r in [*stages, *sessions]]
    decide(world(stages, sessions))
    assert [r.to_dict() for r in [*stages, *sessions]] == before


def test_one_command_per_stage_per_decision() -> None:
    # A dead pane and a due handoff at once: the end comes first; the rest next time.
    s1 = session("s1", "a", context_percent=90.0)
    w = world([running("a", "s1")], [s1], panes={"s1": pane("s1", dead=True, dead_status=0)})
    cmds = commands(w)
    assert len([c for c in cmds if c.stage == "a"]) == 1
