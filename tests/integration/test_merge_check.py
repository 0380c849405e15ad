"""The merge's own gate, with the real CLI, git, tmux and the simulated agent.

Two stages run side by side, each adding its own file; whichever merges second finds the base
moved.  Before the base moves again, loom merges the base into that stage's branch and runs the
stage's checks on the result (`merge_check.py`).  When each stage's acceptance forbids the other's
file, both pass on their own and fail together: the second is not merged, the base stays at the
first's merge, and the resolver sessions (then a person) get it.  When the merged result passes,
it is merged with the check's commit on the branch.
"""

from __future__ import annotations

from loom_tui.core.model import Status
from tests.integration.conftest import MakeProject
from tests.integration.engine import sim_stage

FILES = {"README.md": "# merge check demo\n"}


def pair(left_acceptance: str, right_acceptance: str) -> list[dict[str, object]]:
    left = sim_stage("left", edit="left.txt")
    right = sim_stage("right", edit="right.txt")
    left["acceptance"] = ["test -s left.txt", left_acceptance]
    right["acceptance"] = ["test -s right.txt", right_acceptance]
    return [left, right]


def test_a_merged_result_that_fails_its_checks_never_reaches_the_base(
    make_project: MakeProject,
) -> None:
    project = make_project(pair("test ! -e right.txt", "test ! -e left.txt"), files=FILES)
    result = project.run_headless()
    assert result.returncode == 1  # nothing can run: the second stage needs a person
    stages = project.stages()
    (loser,) = [s for s in stages.values() if s.status is Status.NEEDS_HUMAN_REVIEW]
    winner = stages["right" if loser.id == "left" else "left"]
    assert winner.merged and not loser.merged
    # the base is exactly the winner's merge: neither the check nor a resolver moved it
    assert project.git("rev-parse", "main").strip() == winner.merge_commit
    assert not (project.root / f"{loser.id}.txt").exists()
    checks = [e for e in project.events("merge-checked") if e["stage"] == loser.id]
    assert checks and checks[0]["passed"] is False
    assert "fails its acceptance layer" in checks[0]["message"]
    assert f"test ! -e {winner.id}.txt" in checks[0]["message"]
    # the stage's branch holds the base now (the check merged it in), so a resolver works on it
    branch = f"loom/{loser.id}"
    assert project.git("merge-base", "--is-ancestor", "main", branch) == ""
    assert loser.resolver_attempts == 2 and not loser.merge_check_pending
    # what failed last (the last resolver's `loom merge`) is kept for the person
    assert (loser.acceptance_failure or {}).get("layer") == "acceptance"


def test_the_resolvers_signal_shows_what_failed_on_the_merged_result(
    make_project: MakeProject,
) -> None:
    project = make_project(pair("test ! -e right.txt", "test ! -e left.txt"), files=FILES)
    project.set_settings(resolver_attempts=1)
    project.run_headless()
    (loser,) = [s for s in project.stages().values() if s.status is Status.NEEDS_HUMAN_REVIEW]
    resolver = max(project.sessions(loser.id), key=lambda s: s.generation)
    assert resolver.purpose == "resolve"
    text = (project.root / ".work" / "signals" / f"{resolver.id}.md").read_text()
    assert "without a textual conflict" in text
    assert "## Last acceptance failure" in text
    assert "loom merged `main` into this branch" in text  # the check's own failure
    assert "test ! -e" in text


def test_a_merged_result_that_passes_is_merged_with_the_checks_commit(
    make_project: MakeProject,
) -> None:
    project = make_project(pair("test -s left.txt", "test -s right.txt"), files=FILES)
    result = project.run_headless()
    assert result.returncode == 0, result.stdout + result.stderr
    stages = project.stages()
    assert all(s.merged for s in stages.values())
    checks = project.events("merge-checked")
    assert checks and all(c["passed"] is True for c in checks), checks
    merged = sorted(project.events("merge-done"), key=lambda e: e["ts"])
    second = merged[-1]["stage"]
    assert second in {c["stage"] for c in checks}
    log = project.git("log", "--format=%s", "main")
    assert f"Merge main into loom/{second} to check the merged result" in log
    assert (project.root / "left.txt").exists() and (project.root / "right.txt").exists()
    assert project.events("merge-conflict") == []


def test_loom_merge_by_hand_checks_the_merged_result_first(make_project: MakeProject) -> None:
    project = make_project(pair("test ! -e right.txt", "test ! -e left.txt"), files=FILES)
    project.set_settings(auto_merge=False)
    result = project.run_headless()
    assert result.returncode == 0, result.stdout + result.stderr
    assert project.loom("merge", "left").returncode == 0
    base = project.git("rev-parse", "main").strip()
    refused = project.loom("merge", "right")
    assert refused.returncode != 0
    assert "fails its acceptance layer" in refused.stderr and "main is unchanged" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert project.git("rev-parse", "main").strip() == base
    assert project.stage("right").status is Status.MERGE_CONFLICT
