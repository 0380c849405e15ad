"""Supervision on real runs: a stalled agent is noticed, nudged, ended and resumed from a handoff;
a failed acceptance is its own kind of failure, shown to the next session, and ends in review.

Real `loom run --headless --agent sim`, real git and tmux; the simulated agent stalls
(``stall-once``) or runs `loom stage complete` against acceptance commands that fail.
"""

from __future__ import annotations

import json
from pathlib import Path

from loom_tui.core.model import Status
from tests.integration.conftest import MakeProject
from tests.integration.engine import sim_stage


def test_a_stalled_agent_is_nudged_then_ended_and_its_stage_resumes_from_a_handoff(
    make_project: MakeProject,
) -> None:
    project = make_project([sim_stage("s", scenario="stall-once", steps=3)], stall_seconds=5)
    result = project.run_headless()
    assert result.returncode == 0, result.stdout + result.stderr
    stage = project.stage("s")
    assert stage.status is Status.COMPLETED and stage.merged
    assert stage.failure_counts == {"stalled": 1} and stage.retry_count == 1
    first, second = sorted(project.sessions("s"), key=lambda s: s.generation)
    assert (first.status, first.end_reason) == ("crashed", "stalled")
    stalled = [e for e in project.events("stalled") if e["step"] == "stalled"]
    assert len(stalled) == 1 and stalled[0]["nudged"] is True
    assert first.started_at is not None
    # noticed after the stall time and within the bound the issue names (10 s for 5 s)
    assert 5 <= stalled[0]["ts"] - first.started_at < 10
    # loom wrote a handoff, and the next session read it
    (handoff,) = stage.handoffs
    assert "trigger: stall" in (project.work / "handoffs" / handoff).read_text()
    signal = Path(project.store.signal_path(second.id)).read_text()
    assert "## Previous handoff" in signal
    assert project.starts_of("s") == 2
    print(f"stalled after {stalled[0]['ts'] - first.started_at:.2f} s")
    # the nudge was typed into the stalled agent's pane (it reached the terminal)
    assert any("no activity in this session" in line for line in first.last_lines)


def counting_acceptance(counter: Path, passes_from: int) -> str:
    """An acceptance command that fails (saying why) until it has run ``passes_from`` times."""
    return (
        f"n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}; "
        f'[ "$n" -ge {passes_from} ] || {{ echo "widgets: expected 3, found $n"; exit 1; }}'
    )


def test_a_failed_acceptance_is_not_a_crash_and_the_next_session_sees_its_output(
    make_project: MakeProject, tmp_path: Path
) -> None:
    stage_spec = sim_stage("a")
    # the simulated agent tries `stage complete` twice per session: 2 sessions fail, the 3rd passes
    stage_spec["acceptance"] = [counting_acceptance(tmp_path / "count", 4)]
    project = make_project([stage_spec])
    result = project.run_headless()
    assert result.returncode == 0, result.stdout + result.stderr
    stage = project.stage("a")
    assert stage.status is Status.COMPLETED and stage.merged
    assert stage.failure_counts == {"acceptance": 2}
    blocked = [e for e in project.events("stage-status") if e["new"] == "blocked"]
    assert len(blocked) == 2
    assert all(e["reason"].startswith("acceptance failed: ") for e in blocked), blocked
    assert not any("crashed" in e["reason"] for e in blocked)
    sessions = sorted(project.sessions("a"), key=lambda s: s.generation)
    assert len(sessions) == 3
    first_signal = Path(project.store.signal_path(sessions[0].id)).read_text()
    assert "## Last acceptance failure" not in first_signal
    for later in sessions[1:]:
        signal = Path(project.store.signal_path(later.id)).read_text()
        assert "## Last acceptance failure" in signal
        assert "widgets: expected 3, found" in signal


def test_an_acceptance_that_never_passes_ends_in_review_and_diagnose_says_why(
    make_project: MakeProject,
) -> None:
    stage_spec = sim_stage("a", max_retries=1)
    stage_spec["acceptance"] = ["echo 'schema check: column users.email missing'; exit 1"]
    project = make_project([stage_spec, sim_stage("b", ["a"])])
    result = project.run_headless()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "needs-human-review" in result.stdout + result.stderr
    stage = project.stage("a")
    assert stage.status is Status.NEEDS_HUMAN_REVIEW
    assert stage.failure_counts == {"acceptance": 2}
    assert stage.failure is not None and stage.failure["kind"] == "acceptance"
    assert project.stage("b").status is Status.WAITING_FOR_DEPS
    status = project.loom("status", "--json", check=True)
    row = next(s for s in json.loads(status.stdout)["stages"] if s["id"] == "a")
    assert row["attention"] == "needs-human-review" and row["failure_kind"] == "acceptance"
    report = project.loom("diagnose", "a", check=True).stdout
    assert "failure     acceptance" in report
    assert "column users.email missing" in report
    assert "loom stage retry a" in report
    # a person gives it one more attempt: allowed from review
    assert project.loom("stage", "retry", "a").returncode == 0
    assert project.stage("a").status is Status.QUEUED
