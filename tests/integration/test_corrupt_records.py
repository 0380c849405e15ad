"""A corrupt stage record blocks its own stage only: real `loom` processes, git, tmux and the
simulated agent, with a record truncated or broken by hand before or during the run."""

from __future__ import annotations

import json

from loom_tui.core.fsutil import atomic_write
from loom_tui.core.model import Status
from tests.integration.conftest import MakeProject
from tests.integration.engine import sim_stage

#: Six stages; s05 (a leaf) is the one whose record breaks.
SIX = [
    sim_stage("s01"),
    sim_stage("s02", ["s01"]),
    sim_stage("s03"),
    sim_stage("s04", ["s03"]),
    sim_stage("s05", ["s01"]),
    sim_stage("s06"),
]


def test_a_truncated_record_blocks_its_stage_while_every_other_stage_completes(
    make_project: MakeProject,
) -> None:
    project = make_project(SIX)
    path = project.work / "stages" / "s05.md"
    path.write_bytes(path.read_bytes()[:200])  # cut mid-way through the front matter
    broken = path.read_bytes()

    run = project.run_headless()
    assert run.returncode == 1, run.stdout + run.stderr  # stuck on s05, not crashed
    assert "plan stuck: nothing can run: s05 blocked" in run.stdout
    quarantined = [line for line in run.stdout.splitlines() if "its record cannot be read" in line]
    assert len(quarantined) == 1, run.stdout  # said once, not every tick
    assert ".work/stages/s05.md" in quarantined[0]
    assert path.read_bytes() == broken  # never written over

    status = project.loom("status", "--json")
    assert status.returncode == 0, status.stderr
    stages = {s["id"]: s for s in json.loads(status.stdout)["stages"]}
    assert list(stages) == ["s01", "s02", "s03", "s04", "s05", "s06"]
    for stage_id, stage in stages.items():
        if stage_id != "s05":
            assert (stage["status"], stage["merged"], stage["retry_count"]) == (
                "completed",
                True,
                0,
            ), stage
    assert stages["s05"]["status"] == "blocked"
    assert stages["s05"]["dependencies"] == ["s01"]  # from the plan
    assert "never closed" in stages["s05"]["record_error"]
    assert project.loom("status").returncode == 0

    reset = project.loom("stage", "reset", "s05")
    assert reset.returncode == 0, reset.stderr
    assert "rebuilt from the plan and reset to queued" in reset.stdout
    assert (project.work / "stages" / "s05.md.broken").read_bytes() == broken
    assert project.stage("s05").status is Status.QUEUED

    again = project.run_headless()
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(s.status is Status.COMPLETED and s.merged for s in project.stages().values())


def test_a_record_broken_during_the_run_never_fails_another_stages_completion(
    make_project: MakeProject,
) -> None:
    """s02's record breaks while s01, which it depends on, runs: s01 completes as usual (no
    crash, no retry), s02 waits quarantined and the run ends stuck on it; repaired by hand,
    it runs without a reset."""
    project = make_project(
        [sim_stage("s01", steps=6, step_seconds=0.3), sim_stage("s02", ["s01"]), sim_stage("s03")]
    )
    path = project.work / "stages" / "s02.md"
    good = path.read_bytes()
    runner = project.start_headless()
    try:
        project.wait_until(
            lambda: project.stage("s01").status is Status.EXECUTING, "s01 to start", 60
        )
        # (atomically, as an editor saves: a reader never sees it half-written)
        atomic_write(str(path), good.replace(b"retry_count: 0", b"retry_count: many"))
        output, _ = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert runner.returncode == 1, output
    assert "plan stuck: nothing can run: s02 blocked" in output
    s01 = project.stage("s01")
    assert s01.status is Status.COMPLETED and s01.merged and s01.retry_count == 0, s01
    assert [s.end_reason for s in project.sessions("s01")] == ["completed"]
    assert project.stage("s03").merged
    assert project.sessions("s02") == []  # not started while its record cannot be read
    errors = [e for e in project.events("error") if e.get("stage") == "s02"]
    assert len(errors) == 1, errors
    assert "retry_count: expected an integer, got 'many'" in str(errors[0]["message"])

    atomic_write(str(path), good)  # repaired by hand
    again = project.run_headless()
    assert again.returncode == 0, again.stdout
    assert project.stage("s02").status is Status.COMPLETED
