"""Plans in the original loom's v1 format (tests/fixtures/original_plans): each loads with the
real `loom init` in a real git repository, the runnable ones run to the end with the simulated
agent, and a failing ``setup`` blocks its stage with the command's output."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from loom_tui.core.model import Status
from tests.conftest import LOOM, make_repo
from tests.integration.conftest import MakeProject

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "original_plans"
PLANS = sorted(p for p in CORPUS.glob("*.md") if p.name != "README.md")
#: what the runnable plans need in the repository: ``app/`` is the working_dir of a stage
FILES = {"app/README.md": "# app\n"}


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.stem)
def test_every_plan_of_the_corpus_loads_with_loom_init(plan: Path, tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", FILES)
    target = root / "doc" / "plans" / plan.name
    target.parent.mkdir(parents=True)
    target.write_text(plan.read_text())
    proc = subprocess.run(
        [LOOM, "init", str(target.relative_to(root))],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "initialised" in proc.stdout
    if plan.name == "every-key.md":
        lines = [line for line in proc.stdout.splitlines() if "accepted, no effect here" in line]
        assert len(lines) == 1  # listed once
        for key in ("stages[].parallel_group", "stages[].implementers", "change_impact"):
            assert key in lines[0]
        assert "working_dir" not in lines[0] and "setup" not in lines[0]  # those act here


def test_the_corpus_covers_both_marker_spellings() -> None:
    texts = [p.read_text() for p in PLANS]
    assert any("<!-- loom METADATA -->" in t for t in texts)
    assert any("<!-- loom METADATA - Do not edit manually -->" in t for t in texts)


@pytest.mark.parametrize(
    "plan", [p for p in PLANS if p.name.startswith("run-")], ids=lambda p: p.stem
)
def test_runnable_plans_run_to_the_end_with_the_sim_agent(
    plan: Path, make_project: MakeProject
) -> None:
    project = make_project([], plan_file=str(plan), files=FILES)
    result = project.run_headless()
    assert result.returncode == 0, result.stdout + result.stderr
    stages = project.stages()
    assert {s.status for s in stages.values()} == {Status.COMPLETED}
    assert all(s.merged for s in stages.values())
    if plan.name == "run-three-types.md":
        # setup ran in app/ (its working_dir) of the worktree, before the agent
        assert (project.root / "setup-ran.txt").read_text() == "set up\n"
        assert stages["app"].working_dir == "app"
        assert stages["integration-verify"].stage_type == "integration-verify"
        completed = [
            e for e in project.events("stage-completed") if e["stage"] == "integration-verify"
        ]
        assert completed and completed[-1].get("acceptance") == 1 + 3 + 1  # its own, then its deps'


def test_a_failing_setup_blocks_the_stage_with_its_output(make_project: MakeProject) -> None:
    project = make_project([], plan_file=str(CORPUS / "setup-fails.md"))
    result = project.run_headless()
    assert result.returncode != 0
    stage = project.stage("broken")
    assert stage.status is Status.BLOCKED
    assert (stage.failure or {}).get("kind") == "setup"
    assert stage.blocked_reason is not None
    assert "setup command `echo preparing;" in stage.blocked_reason
    assert "exit 3" in stage.blocked_reason and "the toolchain is missing" in stage.blocked_reason
    assert project.starts_of("broken") == 0  # the agent never started
