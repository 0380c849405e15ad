"""The merge-conflict rules, on hand-built worlds: a conflict asks for a resolver session, a
resolver that ends without a merge puts the stage back in conflict, and once the attempts are
used up the stage needs a person's review (`rules_conflicts.py`)."""

from __future__ import annotations

from loom_tui.core.engine.commands import (
    Block,
    EndSession,
    ResolverEnded,
    ReviewConflict,
    StartResolver,
    StartSession,
)
from loom_tui.core.engine.rules_stages import outcome
from loom_tui.core.engine.world import Settings
from loom_tui.core.model import Status
from tests.unit.test_policy_rules import NOW, commands, pane, running, session, stage, world

S = Status


def conflicted(**fields: object) -> object:
    fields.setdefault("conflict_files", ["app.py"])
    return stage("a", S.MERGE_CONFLICT, generation=1, branch="loom/a", **fields)  # type: ignore[arg-type]


def test_a_conflict_asks_for_a_resolver_session() -> None:
    w = world([conflicted()])
    assert commands(w) == [StartResolver(stage="a", attempt=1)]
    assert outcome(w) is None  # not stuck: a resolver is on its way


def test_the_queued_resolver_starts_as_the_next_generation_of_the_stage() -> None:
    a = stage("a", S.QUEUED, generation=1, branch="loom/a", resolving=True, resolver_attempts=1)
    assert commands(world([a])) == [StartSession(stage="a", generation=2, fresh=False)]


def test_a_second_attempt_follows_a_failed_first() -> None:
    w = world([conflicted(resolving=True, resolver_attempts=1)])
    assert commands(w) == [StartResolver(stage="a", attempt=2)]


def test_attempts_used_up_the_stage_needs_review_naming_the_files() -> None:
    w = world([conflicted(resolving=True, resolver_attempts=2, conflict_files=["x.py", "y.py"])])
    (cmd,) = commands(w)
    assert isinstance(cmd, ReviewConflict)
    assert "x.py, y.py" in cmd.reason and "loom merge a --resolved" in cmd.reason


def test_the_limit_is_the_resolver_attempts_setting() -> None:
    settings = Settings(resolver_attempts=3)
    w = world([conflicted(resolving=True, resolver_attempts=2)], settings=settings)
    assert commands(w) == [StartResolver(stage="a", attempt=3)]


def test_with_no_resolver_attempts_the_conflict_waits_for_a_person() -> None:
    w = world([conflicted()], settings=Settings(resolver_attempts=0))
    assert commands(w) == []
    result = outcome(w)
    assert result is not None and result[0] is False and "merge-conflict" in result[1]


def test_a_held_conflict_gets_no_resolver() -> None:
    assert commands(world([conflicted(held=True)])) == []


def test_a_resolver_that_ended_without_merging_puts_the_stage_back_in_conflict() -> None:
    a = running("a", "r1", resolving=True, resolver_attempts=1, conflict_files=["app.py"])
    ended = session("r1", "a", status="crashed", end_reason="exited without completing")
    (cmd,) = commands(world([a], [ended]))
    assert isinstance(cmd, ResolverEnded)
    assert cmd.session == "r1" and "attempt 1" in cmd.reason


def test_a_resolver_killed_by_a_person_is_blocked_like_any_session() -> None:
    a = running("a", "r1", resolving=True, resolver_attempts=1)
    killed = session("r1", "a", status="killed", end_reason="killed")
    (cmd,) = commands(world([a], [killed]))
    assert isinstance(cmd, Block) and cmd.failure_kind == "killed"


def test_the_completed_session_is_ended_before_its_resolver_starts() -> None:
    """The queued resolver waits for the stage's previous session (kept through the conflict)
    to end: a stage never has two live sessions."""
    a = stage("a", S.QUEUED, generation=1, branch="loom/a", session_id="s1", resolving=True)
    old = session("s1", "a")
    cmds = commands(world([a], [old], panes={"s1": pane("s1")}))
    assert [type(c) for c in cmds] == [EndSession]
    assert cmds[0].session == "s1"  # type: ignore[attr-defined]


def test_a_live_session_is_kept_through_the_conflict_itself() -> None:
    a = stage("a", S.MERGE_CONFLICT, generation=1, session_id="s1", conflict_files=["f"])
    cmds = commands(world([a], [session("s1", "a")], now=NOW))
    assert cmds == [StartResolver(stage="a", attempt=1)]
