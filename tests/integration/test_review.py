"""A person's part in a run, end to end with the real CLI: reviewing a stage loom gave up on
(approve, reject with a reason), skipping with a reason, retrying with a note, a hard reset, and
ending a stage's session by its stage id."""

from __future__ import annotations

from pathlib import Path

from loom_tui.core.model import Status
from tests.integration.conftest import MakeProject
from tests.integration.engine import sim_stage
from tests.integration.test_supervision import counting_acceptance


def test_a_rejected_review_sends_the_stage_back_with_the_reason_in_its_next_signal(
    make_project: MakeProject, tmp_path: Path
) -> None:
    spec = sim_stage("a", max_retries=0)
    # the first session's two tries fail; the next session's passes
    spec["acceptance"] = [counting_acceptance(tmp_path / "count", 2)]
    project = make_project([spec, sim_stage("b", ["a"])])
    first = project.run_headless()
    assert first.returncode == 1 and project.stage("a").status is Status.NEEDS_HUMAN_REVIEW
    refused = project.loom("stage", "human-review", "a")
    assert refused.returncode == 2 and "--approve or --reject" in refused.stderr
    rejected = project.loom("stage", "human-review", "a", "--reject", "use the v2 schema")
    assert rejected.returncode == 0, rejected.stderr
    assert project.stage("a").status is Status.QUEUED
    second = project.run_headless()
    assert second.returncode == 0, second.stdout + second.stderr
    assert project.stage("a").merged and project.stage("b").merged
    later = max(project.sessions("a"), key=lambda s: s.generation)
    signal = Path(project.store.signal_path(later.id)).read_text()
    assert "## Notes from a person" in signal
    assert "Rejected in review: use the v2 schema" in signal
    (reviewed,) = project.events("stage-reviewed")
    assert reviewed["verdict"] == "rejected" and reviewed["reason"] == "use the v2 schema"


def test_an_approved_review_completes_and_merges_the_stage(make_project: MakeProject) -> None:
    spec = sim_stage("a", max_retries=0)
    spec["acceptance"] = ["echo 'flaky check'; exit 1"]
    project = make_project([spec, sim_stage("b", ["a"])])
    assert project.run_headless().returncode == 1
    approved = project.loom("stage", "human-review", "a", "--approve")
    assert approved.returncode == 0, approved.stderr
    assert "approved" in approved.stdout and "merged" in approved.stdout
    stage = project.stage("a")
    assert stage.status is Status.COMPLETED and stage.merged
    assert "sim/a.md" in project.git("ls-tree", "-r", "--name-only", "main")
    assert project.run_headless().returncode == 0
    assert project.stage("b").merged
    again = project.loom("stage", "human-review", "a", "--approve")
    assert again.returncode != 0 and "only a stage that needs review" in again.stderr


def test_skip_with_a_reason_retry_with_a_note_and_kill_by_stage(
    make_project: MakeProject,
) -> None:
    project = make_project(
        # z stalls throughout: the run stays busy, so it is still there for the retry below
        [
            sim_stage("a", scenario="stall"),
            sim_stage("b"),
            sim_stage("c", ["b"]),
            sim_stage("z", scenario="stall"),
        ],
    )
    skipped = project.loom("stage", "skip", "b", "--reason", "done by hand upstream", check=True)
    assert "skipped" in skipped.stdout
    assert project.stage("b").skip_reason == "done by hand upstream"
    (event,) = project.events("stage-skipped")
    assert event["reason"] == "done by hand upstream"
    runner = project.start_headless()
    try:
        project.wait_until(lambda: any(s.live for s in project.sessions("a")), "a runs")
        project.wait_until(
            lambda: any(s.status == "running" for s in project.sessions("a")), "a's pane"
        )
        killed = project.loom("sessions", "kill", "--stage", "a", check=True)
        assert "ended" in killed.stdout or "killed" in killed.stdout, killed.stdout
        project.wait_until(lambda: project.stage("a").status is Status.BLOCKED, "a blocked")
        nobody = project.loom("sessions", "kill", "--stage", "a")
        assert nobody.returncode != 0 and "no live session" in nobody.stderr
        retried = project.loom("stage", "retry", "a", "--context", "the API key is in .env.test")
        assert retried.returncode == 0, retried.stderr
        project.wait_until(
            lambda: (
                len([s for s in project.sessions("a") if s.live]) == 1
                and project.stage("a").generation == 2
            ),
            "a's next session",
        )
        newest = max(project.sessions("a"), key=lambda s: s.generation)
        signal = Path(project.store.signal_path(newest.id)).read_text()
        assert "- the API key is in .env.test" in signal
    finally:
        project.loom("stop", "--kill-sessions")
        runner.wait(timeout=30)


def test_a_hard_reset_starts_the_stage_from_the_base_and_keeps_its_old_branch(
    make_project: MakeProject,
) -> None:
    project = make_project([sim_stage("a")], settings={"auto_merge": False})
    assert project.run_headless().returncode == 0
    old_tip = project.git("rev-parse", "loom/a").strip()
    soft = project.loom("stage", "reset", "a", check=True)
    assert "fresh worktree" not in soft.stdout
    assert not project.stage("a").fresh_start  # continues on its branch
    hard = project.loom("stage", "reset", "a", "--hard", check=True)
    assert "fresh worktree" in hard.stdout and project.stage("a").fresh_start
    assert project.run_headless().returncode == 0
    kept = [b for b in project.git("branch", "--list", "loom/a-before-reset-*").split() if b]
    assert kept and project.git("rev-parse", kept[-1]).strip() == old_tip
    base = project.git("rev-parse", "main").strip()
    assert project.git("merge-base", "loom/a", "main").strip() == base
