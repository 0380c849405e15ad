"""A run whose `.work/` fills up: real `loom run --headless`, git, tmux and simulated agents, with
`.work/` on a small tmpfs filled to the last byte by a ballast file and then given back.

The scheduler pauses as a whole (nothing starts, no stage's retries are spent on the disk), says so
once, and goes on by itself when space comes back; nothing it wrote is torn or left half-done.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from loom_tui.core.model import Status
from tests.integration.conftest import MakeProject
from tests.integration.engine import Project, sim_stage
from tests.tmpfs import fill, free, tmpfs_over

PAUSED = "scheduler cannot-write: cannot write .work/"
RESUMED = "can write .work/ again"


def _run_through_a_full_disk(project: Project, log: Path, when_full: str) -> str:
    """Run headless; fill `.work/` once ``when_full`` says so, give the space back once the
    scheduler said it paused; returns the run's output (it must exit 0)."""
    runner = project.start_headless(log=log)
    try:
        if when_full == "at once":
            fill(project.work)
        else:
            project.wait_until(
                lambda: project.stage("a").status is Status.EXECUTING, "a to start", 60
            )
            fill(project.work)
        project.wait_until(lambda: PAUSED in log.read_text(), "the scheduler to pause")
        time.sleep(1.5)  # a few ticks of the pause (0.5 s each): it must not repeat itself
        free(project.work)
        assert runner.wait(timeout=120) == 0, log.read_text()
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    return log.read_text()


def _check_nothing_torn(work: Path) -> None:
    """Every JSONL line loom or its agents wrote is whole; no temporary file is left."""
    logs = [work / "events.jsonl", *(work / "hooks").glob("*.jsonl")]
    logs += (work / "sim-claude").rglob("*.jsonl")  # the simulated agents' transcripts
    for path in logs:
        for line in path.read_text().splitlines():
            assert isinstance(json.loads(line), dict), (path, line)
    leftovers = [p.name for p in work.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def _started_between(output: str, first: str, last: str) -> list[str]:
    lines = output.splitlines()
    begin = next(i for i, line in enumerate(lines) if first in line)
    end = next(i for i, line in enumerate(lines) if last in line)
    return [line for line in lines[begin:end] if "queued → executing" in line]


def test_a_run_on_a_full_disk_starts_nothing_says_so_once_and_goes_on_when_space_is_back(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = make_project([sim_stage("a"), sim_stage("b", ["a"]), sim_stage("c")])
    with tmpfs_over(project.work, "4m") as work:
        output = _run_through_a_full_disk(project, tmp_path / "run.log", "at once")
        assert output.count(PAUSED) == 1, output
        assert output.count(RESUMED) == 1, output
        assert _started_between(output, PAUSED, RESUMED) == []
        stages = project.stages()
        assert all(s.status is Status.COMPLETED and s.merged for s in stages.values())
        assert [s.retry_count for s in stages.values()] == [0, 0, 0]  # no retry spent on the disk
        assert "error:" not in output, output
        _check_nothing_torn(work)


def test_a_disk_that_fills_mid_run_pauses_the_run_and_loses_nothing_acknowledged(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """The disk fills while a's agent works: its `loom stage complete` cannot be recorded (and
    says so, naming the file), so a is not completed behind its back; the scheduler pauses at
    its first failed write, starts nothing meanwhile, and once space is back the run finishes."""
    project = make_project(
        [sim_stage("a", steps=8, step_seconds=0.2), sim_stage("b", ["a"]), sim_stage("c", ["a"])]
    )
    with tmpfs_over(project.work, "4m") as work:
        output = _run_through_a_full_disk(project, tmp_path / "run.log", "mid-run")
        assert output.count(PAUSED) == 1, output
        assert output.count(RESUMED) == 1, output
        assert _started_between(output, PAUSED, RESUMED) == []
        stages = project.stages()
        assert all(s.status is Status.COMPLETED and s.merged for s in stages.values())
        # a's agent may have hit the full disk (then it failed, visibly, and was retried once);
        # the stages that were not running spent nothing
        assert stages["a"].retry_count <= 1
        assert (stages["b"].retry_count, stages["c"].retry_count) == (0, 0)
        _check_nothing_torn(work)
