"""The rules for a tmux server that died: `decide` on worlds built by hand.

When loom's private tmux server dies (killed by hand, by the OOM killer, by a reboot of tmux),
every agent in it dies at once.  That is no stage's fault, so it must not read as N crashes that
each spend a retry: every session ends with one reason, and each stage goes on from a handoff.
"""

from __future__ import annotations

from loom_tui.core.engine.commands import Block, EndSession, Requeue, WriteHandoff
from loom_tui.core.engine.rules_sessions import SERVER_LOST, SERVER_LOST_KIND
from tests.unit.test_policy_rules import S, commands, running, session, stage, world


def test_every_session_of_a_lost_server_ends_with_that_one_reason() -> None:
    w = world(
        [running("a", "s1"), running("b", "s2"), stage("c", S.COMPLETED, session_id="s3")],
        [session("s1", "a"), session("s2", "b"), session("s3", "c")],
        panes={},
        exits={"s2": 129},  # the wrapper may still have written the SIGHUP it died of
        tmux_server_lost=True,
    )
    ends = {c.session: c for c in commands(w) if isinstance(c, EndSession)}
    assert (ends["s1"].status, ends["s1"].reason) == ("crashed", SERVER_LOST)
    assert (ends["s2"].status, ends["s2"].reason) == ("crashed", SERVER_LOST)
    assert ends["s3"].status == "ended"  # its stage had completed: no failure of anyone's


def test_a_vanished_pane_while_the_server_runs_is_still_a_crash() -> None:
    w = world([running("a", "s1")], [session("s1", "a")], panes={})
    (end,) = commands(w)
    assert isinstance(end, EndSession) and end.reason == "pane vanished"


def test_a_stage_that_lost_its_server_continues_from_a_handoff_without_a_retry() -> None:
    lost = session("s1", "a", status="crashed", end_reason=SERVER_LOST)
    cmds = commands(world([running("a", "s1", retry_count=2)], [lost]))
    assert cmds[0] == WriteHandoff(stage="a", session="s1", trigger="crash")
    requeue = cmds[1]
    assert isinstance(requeue, Requeue)
    assert (requeue.failure_kind, requeue.failure_count) == (SERVER_LOST_KIND, 1)
    assert not any(isinstance(c, Block) for c in cmds)  # no retry spent, none scheduled


def test_a_stage_that_keeps_losing_its_server_waits_for_a_person() -> None:
    lost = session(
        "s1", "a", status="crashed", end_reason=SERVER_LOST, handoff="h", handoff_trigger="crash"
    )
    before = {"kind": SERVER_LOST_KIND, "count": 2}
    (block,) = commands(world([running("a", "s1", failure=before)], [lost]))
    assert isinstance(block, Block)
    assert block.failure_kind == SERVER_LOST_KIND and block.retry_at is None
    assert "3 times" in block.reason and "loom diagnose a" in block.reason
