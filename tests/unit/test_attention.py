"""Which events interrupt a person (`tui/attention.py`): only what needs them, once each."""

from __future__ import annotations

from loom_tui.tui.attention import QUIET_SECONDS, Attention


def status(stage: str, new: str, old: str = "executing") -> dict[str, object]:
    return {"kind": "stage-status", "stage": stage, "old": old, "new": new}


def test_routine_changes_make_no_notice() -> None:
    attention = Attention()
    quiet = [
        status("a", "executing", "queued"),
        status("a", "completed"),
        {"kind": "context", "stage": "a", "percent": 40.0},
        {"kind": "agent-state", "stage": "a", "state": "working"},
        {"kind": "handoff-written", "stage": "a", "path": "x.md"},
        {"kind": "error", "stage": None, "message": "the repository has no commits"},
        {"kind": "merge-done", "stage": "a"},
        {"kind": "session-started", "stage": "a"},
    ]
    assert [attention.notice_for(e, 0.0) for e in quiet] == [None] * len(quiet)


def test_each_thing_that_needs_a_person_makes_one_notice() -> None:
    attention = Attention(auto_merge=False)
    needing = [
        {"kind": "agent-state", "stage": "a", "state": "waiting-for-input"},
        {"kind": "agent-state", "stage": "b", "state": "needs-permission"},
        {"kind": "stalled", "stage": "c", "step": "stalled"},
        status("d", "blocked"),
        {"kind": "merge-conflict", "stage": "e"},
        status("f", "completed"),  # waits for a manual merge (auto_merge is off)
        status("g", "needs-human-review"),
    ]
    notices = [attention.notice_for(e, 0.0) for e in needing]
    assert all(n is not None for n in notices), notices
    severities = [n.severity for n in notices if n]
    assert severities.count("error") == 2  # blocked, conflict


def test_repeats_are_said_once_until_the_stage_moves_on() -> None:
    attention = Attention()
    asks = {"kind": "agent-state", "stage": "a", "state": "waiting-for-input"}
    assert attention.notice_for(asks, 0.0) is not None
    assert attention.notice_for(asks, 1.0) is None
    # the status change that follows says the same thing: coalesced
    assert attention.notice_for(status("a", "waiting-for-input"), 2.0) is None
    # it moved on and asked again soon after: still quiet (no toast a second)
    assert attention.notice_for(status("a", "executing", "waiting-for-input"), 4.0) is None
    assert attention.notice_for(asks, 5.0) is None
    # moved on, and asked again a while later: said again
    assert attention.notice_for(status("a", "executing", "waiting-for-input"), 6.0) is None
    assert attention.notice_for(asks, 7.0 + QUIET_SECONDS) is not None


def test_plan_complete_only_when_everything_is_merged() -> None:
    attention = Attention(auto_merge=False)
    done = {"kind": "plan-finished", "ok": True, "summary": "6 of 6"}
    unmerged = attention.notice_for(done, 0.0, all_merged=False)
    assert unmerged is not None and "complete" not in unmerged.message
    merged = attention.notice_for(done, 1.0, all_merged=True)
    assert merged is not None and merged.message.startswith("plan complete")
    stuck = attention.notice_for({"kind": "plan-finished", "ok": False, "summary": "x"}, 2.0)
    assert stuck is not None and stuck.severity == "error"
