"""A stage record that cannot be read blocks its own stage and nothing else: `decide` on worlds
that hold a quarantined stand-in (see `core/quarantine.py`)."""

from __future__ import annotations

from loom_tui.core.engine.commands import EndSession, Promote, StartSession
from loom_tui.core.engine.policy import decide
from loom_tui.core.engine.world import World
from loom_tui.core.model import Status
from loom_tui.core.quarantine import broken_stage, world_sessions
from tests.unit.test_policy_rules import NOW, pane, session, stage, world

S = Status
PROBLEM = ".work/stages/b.md: retry_count: expected an integer, got 'x'"


def test_a_quarantined_stage_never_starts_and_its_dependents_wait_while_others_run() -> None:
    definition = stage("b", S.QUEUED, dependencies=[])
    w = world(
        [
            stage("a", S.QUEUED),
            broken_stage("b", PROBLEM, definition),
            stage("c", dependencies=["b"]),
            stage("d", dependencies=["a"]),
        ]
    )
    cmds = decide(w).commands
    assert [c.stage for c in cmds if isinstance(c, StartSession)] == ["a"]
    assert not [c for c in cmds if isinstance(c, Promote)]
    assert decide(w).finished is None  # a runs


def test_a_plan_whose_only_unfinished_stage_is_quarantined_is_stuck_and_says_which() -> None:
    w = world([stage("a", S.COMPLETED, merged=True), broken_stage("b", PROBLEM)])
    assert decide(w).commands == []
    assert decide(w).finished == (False, "nothing can run: b blocked")


def test_the_live_agent_of_a_quarantined_stage_is_left_alone() -> None:
    """Its stage cannot be read, so loom cannot tell what the agent is doing: it is neither
    ended nor adopted until the record reads again or is rebuilt."""
    stages = [broken_stage("b", PROBLEM), stage("a", S.QUEUED)]
    sessions = [session("s1", "b")]
    raw = world(stages, sessions)
    assert any(isinstance(c, EndSession) for c in decide(raw).commands)  # without the shelter
    shown = World(
        now=NOW,
        stages=raw.stages,
        sessions=world_sessions(raw.stages, raw.sessions),
        settings=raw.settings,
        panes={"s1": pane("s1")},
        panes_listed_at=NOW - 1,
    )
    cmds = decide(shown).commands
    assert not [c for c in cmds if c.stage == "b"]
    assert [c.stage for c in cmds if isinstance(c, StartSession)] == ["a"]
