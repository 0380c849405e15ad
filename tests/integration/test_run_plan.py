"""Plans run for real: `loom run --headless --agent sim`, a real git repository, a real tmux
server on the project's private socket, and the simulated agent in every pane."""

from __future__ import annotations

import os
import signal

from loom_tui.core.model import Status
from tests.conftest import SAMPLE_PLAN
from tests.integration.conftest import MakeProject
from tests.integration.engine import kill_process_group, sim_stage


def test_sample_plan_runs_to_completion_and_merges_every_stage(make_project: MakeProject) -> None:
    project = make_project([], plan_file=str(SAMPLE_PLAN))
    result = project.run_headless()
    assert result.returncode == 0, result.stdout + result.stderr
    stages = project.stages()
    assert {s.status for s in stages.values()} == {Status.COMPLETED}
    assert all(s.merged for s in stages.values())
    log = project.git("log", "--format=%s", "main")
    for stage in stages.values():
        assert f"{stage.id}: {stage.name}" in log  # the stage's own commit is on the base
        assert f"Merge loom/{stage.id} into main" in log
    merges = project.git("log", "--merges", "--format=%P", "main").split("\n")
    assert all(len(parents.split()) == 2 for parents in merges if parents)
    assert project.git("branch", "--list", "loom/*").strip() == ""
    assert not (project.root / ".worktrees").exists() or not os.listdir(project.root / ".worktrees")
    assert project.git("worktree", "list").count("\n") == 1
    assert (project.root / "CHANGELOG.md").exists()  # the user's checkout follows the merges
    # counter crashes once and is retried; cli hands off once; tokenizer and counter both add
    # their line to wordcount/__init__.py, so the second of them to merge conflicts and a resolver
    # session keeps both lines; the others run once
    conflicts = project.events("merge-conflict")
    assert len(conflicts) == 1 and conflicts[0]["stage"] in ("tokenizer", "counter")
    loser = conflicts[0]["stage"]
    assert project.starts_of("counter") == 2 + (loser == "counter")
    assert project.starts_of("tokenizer") == 1 + (loser == "tokenizer")
    package = (project.root / "wordcount" / "__init__.py").read_text()
    assert "# tokenizer: Tokenizer" in package and "# counter: Counter" in package
    assert "<<<<<<<" not in package
    assert project.starts_of("cli") == 2
    for stage_id in ("scaffold", "docs", "release"):
        assert project.starts_of(stage_id) == 1


def test_dependents_start_only_after_their_dependencies_merged(make_project: MakeProject) -> None:
    project = make_project(
        [sim_stage("a"), sim_stage("b", ["a"]), sim_stage("c", ["a"]), sim_stage("d", ["b", "c"])]
    )
    assert project.run_headless().returncode == 0
    events = project.events()
    merged_at = {e["stage"]: e["ts"] for e in events if e["kind"] == "merge-done"}
    started_at = {e["stage"]: e["ts"] for e in events if e["kind"] == "session-started"}
    assert started_at["b"] > merged_at["a"] and started_at["c"] > merged_at["a"]
    assert started_at["d"] > max(merged_at["b"], merged_at["c"])
    # d's worktree was made from a base that held b's and c's work
    assert (project.root / "sim" / "d.md").exists()


def test_max_parallel_limits_running_stages(make_project: MakeProject) -> None:
    stages = [sim_stage(f"s{i}", steps=3, step_seconds=0.2) for i in range(4)]
    project = make_project(stages)
    assert project.run_headless("-p", "2").returncode == 0
    running = 0
    peak = 0
    for event in project.events():
        if event["kind"] == "session-started":
            running += 1
        elif event["kind"] == "session-ended":
            running -= 1
        elif event["kind"] == "stage-status" and event.get("new") == "completed":
            continue
        peak = max(peak, running)
    assert peak <= 2


def test_runner_killed_mid_run_is_restarted_without_starting_any_agent_twice(
    make_project: MakeProject,
) -> None:
    stages = [sim_stage(s, steps=6, step_seconds=0.4) for s in ("a", "b", "c")]
    stages.append(sim_stage("d", ["a", "b", "c"]))
    project = make_project(stages)
    first = project.start_headless()
    project.wait_until(
        lambda: sum(1 for s in project.sessions() if s.status == "running") >= 2,
        "two sessions running",
    )
    kill_process_group(first)  # SIGKILL: no clean-up of any kind
    assert sum(1 for s in project.sessions() if s.live) >= 2
    second = project.run_headless()
    assert second.returncode == 0, second.stdout
    assert "re-adopted" in second.stdout
    assert {s.status for s in project.stages().values()} == {Status.COMPLETED}
    for stage_id in ("a", "b", "c", "d"):
        assert project.starts_of(stage_id) == 1, project.starts()


def test_pane_that_dies_while_no_scheduler_runs_counts_as_a_crash(
    make_project: MakeProject,
) -> None:
    project = make_project([sim_stage("a", scenario="stall")], settings={"tick_seconds": 0.2})
    runner = project.start_headless()
    project.wait_until(lambda: any(s.status == "running" for s in project.sessions()), "a runs")
    kill_process_group(runner)
    session = next(s for s in project.sessions() if s.status == "running")
    assert session.pid is not None
    os.kill(session.pid, signal.SIGKILL)  # the agent's wrapper shell dies: no exit status
    project.wait_until(
        lambda: any(p.dead for p in project.tmux().list_panes().values()), "the pane to die"
    )
    project.set_settings(retry_backoff_seconds=60.0)
    again = project.start_headless()
    project.wait_until(lambda: project.stage("a").status is Status.BLOCKED, "a blocked")
    again.terminate()
    again.wait(timeout=30)
    stage = project.stage("a")
    assert stage.failure is not None and stage.failure["session"] == session.id
    assert stage.next_retry_at is not None  # a retry is scheduled after the backoff
    ended = project.store.read_session(session.id)
    assert ended.status == "crashed"


def test_crash_once_blocks_then_retries_and_completes(make_project: MakeProject) -> None:
    project = make_project([sim_stage("a", scenario="crash-once", steps=3)])
    result = project.run_headless()
    assert result.returncode == 0, result.stdout
    stage = project.stage("a")
    assert stage.status is Status.COMPLETED and stage.retry_count == 1
    changes = [
        (e.get("old"), e.get("new"))
        for e in project.events("stage-status")
        if e.get("stage") == "a"
    ]
    assert ("executing", "blocked") in changes
    assert ("blocked", "queued") in changes
    crashed = [s for s in project.sessions("a") if s.status == "crashed"]
    assert len(crashed) == 1 and crashed[0].exit_code == 3
    assert any("simulated crash" in line for line in crashed[0].last_lines)
    assert project.starts_of("a") == 2


def test_always_crash_stays_blocked_after_max_retries_with_a_diagnosis_hint(
    make_project: MakeProject,
) -> None:
    project = make_project([sim_stage("a", scenario="always-crash", max_retries=2)])
    result = project.run_headless()
    assert result.returncode == 1
    stage = project.stage("a")
    assert stage.status is Status.BLOCKED
    assert stage.retry_count == 2
    assert stage.next_retry_at is None
    assert "loom diagnose a" in (stage.blocked_reason or "")
    assert project.starts_of("a") == 3
    report = project.loom("diagnose", "a")
    assert report.returncode == 0
    assert "simulated crash" in report.stdout
    assert "loom stage retry a" in report.stdout
    retried = project.loom("stage", "retry", "a")
    assert retried.returncode == 0
    assert project.stage("a").status is Status.QUEUED


def test_backoff_doubles_and_is_capped() -> None:
    from loom_tui.core.engine.rules_stages import backoff_seconds

    assert [backoff_seconds(n, 30, 300) for n in range(1, 7)] == [30, 60, 120, 240, 300, 300]


def test_merge_conflict_keeps_branch_worktree_and_base(make_project: MakeProject) -> None:
    # two independent stages write different text to the same new file
    project = make_project(
        [sim_stage("left", edit="shared.txt"), sim_stage("right", edit="shared.txt")],
        files={"README.md": "# conflict demo\n"},
        settings={"resolver_attempts": 0},  # no resolver session: the conflict waits
    )
    result = project.run_headless()
    assert result.returncode == 1  # stuck on the conflict
    stages = project.stages()
    winner, loser = sorted(stages.values(), key=lambda s: s.status is Status.MERGE_CONFLICT)
    assert winner.status is Status.COMPLETED and winner.merged
    assert loser.status is Status.MERGE_CONFLICT and not loser.merged
    assert "shared.txt" in (loser.blocked_reason or "")
    head = project.git("rev-parse", "main").strip()
    assert project.git("log", "-1", "--format=%s", "main").strip() == (
        f"Merge loom/{winner.id} into main"
    )
    # the loser's work is intact: its branch, its worktree, its commit
    assert project.git("branch", "--list", f"loom/{loser.id}").strip()
    worktree = project.root / ".worktrees" / loser.id
    assert (worktree / "shared.txt").read_text().endswith(f"Written by stage {loser.id}.\n")
    assert f"{loser.id}: Stage {loser.id}" in project.git("log", "--format=%s", f"loom/{loser.id}")
    # a failed `loom merge` changes nothing
    again = project.loom("merge", loser.id)
    assert again.returncode == 1 and "conflicts in shared.txt" in again.stderr
    assert project.git("rev-parse", "main").strip() == head


def test_merge_waits_for_uncommitted_changes_in_the_users_checkout(
    make_project: MakeProject,
) -> None:
    project = make_project([sim_stage("a", edit="README.md")], files={"README.md": "original\n"})
    (project.root / "README.md").write_text("my own unsaved edit\n")
    runner = project.start_headless()
    project.wait_until(lambda: bool(project.events("merge-waiting")), "the merge to wait")
    assert (project.root / "README.md").read_text() == "my own unsaved edit\n"
    assert not project.stage("a").merged
    waiting = project.events("merge-waiting")[0]
    assert "README.md" in waiting["message"]
    (project.root / "README.md").write_text("original\n")  # the user reverts their edit
    project.wait_until(lambda: project.stage("a").merged, "the merge")
    runner.wait(timeout=60)
    assert runner.returncode == 0
    assert "Written by stage a." in (project.root / "README.md").read_text()


def test_bare_loom_takes_run_options(make_project: MakeProject) -> None:
    """`loom` is `loom run`, so `loom --agent sim --headless` runs the plan; the same options
    before another command are refused with a hint rather than ignored."""
    project = make_project([sim_stage("a")])
    result = project.loom("--agent", "sim", "-p", "2", "--headless", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert project.stage("a").status is Status.COMPLETED
    refused = project.loom("--agent", "sim", "status")
    assert refused.returncode == 2 and "loom run --agent sim" in refused.stderr
