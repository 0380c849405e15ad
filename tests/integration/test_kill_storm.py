"""The scheduler killed again and again, for real: `loom run --headless --agent sim` SIGKILLed at
random moments (a storm), or right after each of its writes in turn (every write boundary of a
run), on a real git repository and the project's private tmux server.  And a reset that must stop
a dependent's pending retry.

After each run the same invariants are checked on what the run left (`assert_run_invariants`):
every stage completed and merged with no manual step; no session started twice; no stage ever had
two live agents at once (from the agents' own start and end records, `.work/sim/starts.jsonl` and
`.work/sim/ends.jsonl`); no session started before the one before it ended (the session records);
and no commit lost (each stage's file and commit are on `main`, and no commit of an agent is
unreachable).  Waits are correctness waits with generous limits, never timing claims.

Two assertions guard against engine bugs these tests found, now fixed: the merge commit a
scheduler killed between `git merge` and the stage record forgot to record, and a dependent of a
reset stage going on from its stale branch.  Set KILL_STORM_SEED for another storm.
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from loom_tui.core.model import Status
from tests.conftest import LOOM
from tests.integration.conftest import MakeProject
from tests.integration.engine import (
    DEFAULT_TIMEOUT,
    Project,
    kill_process_group,
    pid_alive,
    sim_stage,
)

KILL_AT_WRITE = "LOOM_TEST_KILL_AT_WRITE"
#: The storm: SIGKILLs this far apart (seconds), from this seed, until at least STORM_KILLS of them
#: hit a scheduler that had started (not one still importing) and every stage is merged, so that
#: each step of the plan is under fire (at most STORM_MAX_KILLS in all).
STORM_KILLS = 40
STORM_MAX_KILLS = 600
STORM_GAP = (0.05, 0.6)
STORM_SEED = int(os.environ.get("KILL_STORM_SEED", "20240611"))  # another seed: another storm
#: Restarts of a scheduler that kills itself after a write, before the test gives up.
MAX_RESTARTS = 2000
SIM_AUTHOR = "sim@loom.invalid"
#: The events of a person's actions on stages (an agent's `loom stage complete` is not one).
MANUAL_KINDS = frozenset(
    {
        "stage-held",
        "stage-released",
        "stage-skipped",
        "stage-retried",
        "stage-reset",
        "stage-blocked",
        "stage-resumed",
        "merge-failed",
    }
)


def note(text: str) -> None:
    """A line for the test's report (shown with `pytest -s` or `-rP`)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------------------------------
# The invariants


def wait_for_agents_to_exit(project: Project, timeout: float = 60.0) -> None:
    """Every agent that recorded a start has exited (or the wait gives up: the check that
    follows says which are still alive)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pid_alive(int(s["pid"])) for s in project.starts()):
            return
        time.sleep(0.1)


def agent_intervals(project: Project) -> dict[str, list[tuple[float, float, dict[str, Any]]]]:
    """Each stage's agents as (start, end, start record), by start; ``end`` is infinite for an
    agent still alive.  An agent that exited without recording its end fails the test."""
    ends: dict[tuple[str, int], dict[str, Any]] = {}
    for end in project.ends():
        ends[(end["session"], int(end["pid"]))] = end
    out: dict[str, list[tuple[float, float, dict[str, Any]]]] = defaultdict(list)
    for start in project.starts():
        pid = int(start["pid"])
        end = ends.get((start["session"], pid))
        if end is not None:
            stop = float(end["ts"])
        elif pid_alive(pid):
            stop = float("inf")
        else:
            raise AssertionError(
                f"the agent of session {start['session']} (stage {start['stage']}, pid {pid}) "
                "exited without recording its end in .work/sim/ends.jsonl"
            )
        out[start["stage"]].append((float(start["ts"]), stop, start))
    for intervals in out.values():
        intervals.sort(key=lambda i: i[0])
    return out


def assert_run_invariants(
    project: Project,
    stage_ids: list[str],
    expected_starts: dict[str, int] | None = None,
    *,
    manual_steps: bool = False,
) -> None:
    stages = project.stages()
    assert set(stages) == set(stage_ids)

    # every stage completed and merged, with no manual step
    not_done = {
        s.id: (s.status.value, s.merged, s.blocked_reason)
        for s in stages.values()
        if s.status is not Status.COMPLETED or not s.merged
    }
    assert not not_done, f"stages not completed and merged: {not_done}"
    if not manual_steps:
        manual = [e for e in project.events() if e["kind"] in MANUAL_KINDS]
        assert not manual, f"manual steps in the run: {manual}"

    # no session started twice: each session id at most once in starts.jsonl
    starts = project.starts()
    twice = {sid: n for sid, n in Counter(s["session"] for s in starts).items() if n > 1}
    assert not twice, f"sessions whose agent started more than once: {twice}"
    sessions = {s.id: s for s in project.sessions()}
    for start in starts:  # every agent ran for a session the scheduler recorded, of its stage
        assert start["session"] in sessions, start
        assert sessions[start["session"]].stage_id == start["stage"], start

    # no stage ever had two live agents at once
    wait_for_agents_to_exit(project)
    for stage_id, intervals in agent_intervals(project).items():
        for (_s1, e1, first), (s2, _e2, second) in itertools.pairwise(intervals):
            assert e1 <= s2, (
                f"stage {stage_id}: the agent of session {second['session']} started at {s2:.3f} "
                f"while the agent of session {first['session']} still ran (it ended at {e1:.3f})"
            )

    # no session started again before the one before it ended (the session records)
    for stage_id in stage_ids:
        records = sorted(project.sessions(stage_id), key=lambda s: s.started_at or 0.0)
        assert records, f"stage {stage_id} has no session"
        assert all(not s.live for s in records), [(s.id, s.status) for s in records if s.live]
        for before, after in itertools.pairwise(records):
            assert before.ended_at is not None, before
            assert after.started_at is not None and before.ended_at <= after.started_at, (
                f"stage {stage_id}: session {after.id} started at {after.started_at} before "
                f"session {before.id} ended at {before.ended_at}"
            )

    # no commit lost
    tree = set(project.git("ls-tree", "-r", "--name-only", "main").split())
    log = project.git("log", "--format=%s", "main").splitlines()
    for stage_id in stage_ids:
        assert f"sim/{stage_id}.md" in tree, f"sim/{stage_id}.md is not on main"
        assert f"{stage_id}: Stage {stage_id}" in log, f"{stage_id}'s commit is not on main"
    fsck = subprocess.run(
        ["git", "fsck", "--unreachable", "--no-reflogs", "--no-progress"],
        cwd=project.root,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split("\n")
    unreachable = [line.split()[2] for line in fsck if line.startswith("unreachable commit ")]
    lost = []
    for sha in unreachable:
        author, subject = project.git("log", "-1", "--format=%ae%x09%s", sha).strip().split("\t")
        if author == SIM_AUTHOR:
            lost.append(f"{sha[:10]} {subject}")
    assert not lost, f"commits of agents reachable from no branch: {lost}"

    # and no agent run was wasted: each stage ran exactly as often as its scenario needs
    if expected_starts is not None:
        counts = {stage_id: project.starts_of(stage_id) for stage_id in stage_ids}
        assert counts == expected_starts, (counts, expected_starts)

    # every merged stage names its merge commit, a merge of its branch on main, even when the
    # scheduler was killed between `git merge` and the stage record (the next one finds it).
    no_commit = [s.id for s in project.stages().values() if s.merged and not s.merge_commit]
    assert not no_commit, f"merged stages whose record lost their merge commit: {no_commit}"
    for stage in project.stages().values():
        assert stage.merge_commit is not None
        subject = project.git("log", "-1", "--format=%s", stage.merge_commit).strip()
        assert subject == f"Merge loom/{stage.id} into main", (stage.id, subject)
        project.git("merge-base", "--is-ancestor", stage.merge_commit, "main")


def describe(project: Project) -> str:
    """The state of the records, for a failure's message."""
    lines = []
    for stage in project.stages().values():
        lines.append(
            f"  stage {stage.id}: {stage.status.value} merged={stage.merged} gen={stage.generation}"
            f" retries={stage.retry_count} next_retry_at={stage.next_retry_at}"
            f" session={stage.session_id} reason={stage.blocked_reason!r}"
        )
    for session in sorted(project.sessions(), key=lambda s: s.started_at or 0.0):
        lines.append(
            f"  session {session.id[:8]} of {session.stage_id}: {session.status}"
            f" gen={session.generation} pane={session.pane_id} reason={session.end_reason!r}"
            f" started={session.started_at} ended={session.ended_at}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# 1. A storm of SIGKILLs


def storm_plan() -> list[dict[str, Any]]:
    """Twelve stages: a fans out to b, c, d and j; e, f, g, h, i fan in again; k joins h, i, j;
    l follows k.  c and h crash once; f and i overrun their budget and hand off."""
    slow = {"steps": 3, "step_seconds": 0.25}
    over = {"scenario": "overrun", "steps": 4, "step_seconds": 0.25, "context_budget": 50}
    return [
        sim_stage("a", **slow),
        sim_stage("b", ["a"], **slow),
        sim_stage("c", ["a"], scenario="crash-once", **slow),
        sim_stage("d", ["a"], **slow),
        sim_stage("e", ["b"], **slow),
        sim_stage("f", ["b", "c"], **over),
        sim_stage("g", ["c", "d"], **slow),
        sim_stage("h", ["e", "f"], scenario="crash-once", **slow),
        sim_stage("i", ["g"], **over),
        sim_stage("j", ["a"], **slow),
        sim_stage("k", ["h", "i", "j"], **slow),
        sim_stage("l", ["k"], **slow),
    ]


STORM_IDS = list("abcdefghijkl")
STORM_STARTS = {i: 2 if i in "cfhi" else 1 for i in STORM_IDS}


def plan_done(project: Project) -> bool:
    return all(s.status is Status.COMPLETED and s.merged for s in project.store.stages())


def scheduler_pid(project: Project) -> int | None:
    try:
        text = Path(project.store.scheduler_lock_path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@pytest.mark.slow
def test_kill_storm_loses_nothing_and_starts_nothing_twice(make_project: MakeProject) -> None:
    project = make_project(storm_plan())
    log = project.root.parent / "runners.log"
    rng = random.Random(STORM_SEED)
    t0 = time.monotonic()
    kills = landed = 0
    finished_early = False
    while kills < STORM_MAX_KILLS and (landed < STORM_KILLS or not plan_done(project)):
        runner = project.start_headless(log=log)
        # The gap is counted from when the scheduler holds the project: on a loaded machine its
        # start-up alone can take longer than the whole gap, and a kill then only hits an import.
        holding = time.monotonic() + 15
        while scheduler_pid(project) != runner.pid and runner.poll() is None:
            if time.monotonic() > holding:
                break
            time.sleep(0.005)
        time.sleep(rng.uniform(*STORM_GAP))
        if runner.poll() is not None:  # it ended by itself: the plan is finished (or stuck)
            assert runner.returncode == 0, f"runner exited {runner.returncode}\n{log.read_text()}"
            finished_early = True
            break
        if scheduler_pid(project) == runner.pid:
            landed += 1  # killed while holding the project (not still importing)
        kill_process_group(runner)
        kills += 1
    storm = time.monotonic() - t0
    progress = {s.id: s.status.value for s in project.stages().values()}
    final = project.run_headless(timeout=300)
    note(
        f"storm: {kills} kills in {storm:.1f} s, {landed} in a running scheduler; "
        f"finished during the storm: {finished_early}; after it: {progress}"
    )
    # a plan may finish under fire before the 30th kill lands (a runner gets further on a quiet
    # machine); the storm has then still been through every step of it
    enough = 20 if finished_early else 30
    assert landed >= enough, f"only {landed} of {kills} kills hit a scheduler that had started"
    assert final.returncode == 0, final.stdout + final.stderr + "\n" + describe(project)
    assert_run_invariants(project, STORM_IDS, STORM_STARTS)


# --------------------------------------------------------------------------------------------------
# 2. Every write boundary


def boundary_plan() -> list[dict[str, Any]]:
    """y (crashes once) and z (overruns and hands off), then w after both: a crash, a retry, a
    handoff, merges and a promotion, in as few writes as that takes."""
    return [
        sim_stage("y", scenario="crash-once", steps=2, step_seconds=0.1),
        sim_stage("z", scenario="overrun", steps=2, step_seconds=0.1, context_budget=50),
        sim_stage("w", ["y", "z"], steps=1),
    ]


BOUNDARY_IDS = ["y", "z", "w"]
BOUNDARY_STARTS = {"y": 2, "z": 2, "w": 1}


#: Record fields that name a process, a pane or a file rather than the state of the run (and the
#: moments, the fields ``*_at``): only whether they are set counts.
VOLATILE = frozenset(
    {"id", "pid", "pane_id", "window", "worktree", "transcript_path", "tmux_socket", "updated_at"}
)


def _stable(record: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    out = {}
    for key, value in record.items():
        if key in VOLATILE or key == "session_id" or key.endswith("_at"):
            out[key] = repr(value is not None)
        elif key == "failure":
            out[key] = repr((value or {}).get("kind"))
        else:
            out[key] = repr(value)
    return tuple(sorted(out.items()))


def run_state(project: Project) -> tuple[Any, ...]:
    """What a scheduler's writes change, for telling whether a killed scheduler's writes took the
    run somewhere it had not been: the stage records, the session records (but the sessions that
    never started: each abandoned start leaves a new one), the branches and worktrees, the handoff
    files and the panes.  Ids, pids and times are left out (a redo is no progress)."""
    stages = tuple(sorted(_stable(s.to_dict()) for s in project.store.stages()))
    sessions = tuple(
        sorted(_stable(s.to_dict()) for s in project.sessions() if s.end_reason != "never started")
    )
    refs = project.git("for-each-ref", "--format=%(refname) %(objectname)", "refs/heads")
    worktrees = project.root / ".worktrees"
    trees = tuple(sorted(os.listdir(worktrees))) if worktrees.is_dir() else ()
    handoffs = tuple(sorted(os.listdir(project.work / "handoffs")))
    panes = tuple(sorted((p.window_name, p.dead) for p in project.tmux().list_panes().values()))
    return stages, sessions, refs, trees, handoffs, panes


def kill_after_every_write(
    project: Project,
) -> tuple[subprocess.CompletedProcess[str], Counter[int], set[object]]:
    """Run the plan with the scheduler killing itself after its Nth write, restarting it until
    one exits by itself (the walk of N is explained in the test below).  Returns that last run,
    the kills by N, and the states the run was seen in."""
    env = {**project.env}
    seen: set[object] = {run_state(project)}
    n = 1
    trace = project.root.parent / "restarts.log"  # each restart's N and where it left the run
    kills_at: Counter[int] = Counter()
    for restart in range(MAX_RESTARTS):
        env[KILL_AT_WRITE] = str(n)
        result = subprocess.run(
            [LOOM, "run", "--headless", "--agent", "sim"],
            cwd=project.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=DEFAULT_TIMEOUT,
            check=False,
        )
        if result.returncode != -9:
            return result, kills_at, seen
        kills_at[n] += 1
        state = run_state(project)
        new = state not in seen
        with trace.open("a") as fh:
            statuses = " ".join(f"{s.id}:{s.status.value}" for s in project.store.stages())
            fh.write(f"{restart} N={n} {'new' if new else 'seen'} {statuses}\n")
        if new:
            seen.add(state)
            n = 1
        else:
            n += 1
    raise AssertionError(
        f"still not finished after {MAX_RESTARTS} restarts (kills by N: {dict(kills_at)})\n"
        + describe(project)
    )


@pytest.mark.slow
def test_a_scheduler_killed_after_every_write_still_finishes_the_plan(
    make_project: MakeProject,
) -> None:
    """The scheduler kills itself right after its Nth write, and is restarted, again and again
    until a scheduler finds less than N writes left to do and exits 0 by itself.

    N starts at 1.  A scheduler's first writes after a restart often redo what the killed one did
    (`ensure_worktree` counts as a write even when the worktree is there), and a start cut short
    is abandoned, not finished (its session "never started", its stage queued again).  So with N
    always 1 the run would never get past its first start.  Instead, when a killed scheduler left
    the run in a state it had been in before, the next one is killed one write later (N + 1);
    when it reached a new state, N goes back to 1.  So from every state the run reaches, it is
    killed after each write in turn up to the first write that leads somewhere new: every write
    boundary of the run is a kill point."""
    project = make_project(boundary_plan())
    t0 = time.monotonic()
    result, kills_at, seen = kill_after_every_write(project)
    took = time.monotonic() - t0
    kills = sum(kills_at.values())
    note(
        f"every write boundary: {kills} kills, {len(seen)} states, kills by N "
        f"{dict(sorted(kills_at.items()))}, in {took:.1f} s"
    )
    assert result.returncode == 0, (
        f"exit {result.returncode} after {kills} kills\n{result.stdout}{result.stderr}\n"
        + describe(project)
    )
    assert kills > 20  # the hook was armed: a run of three stages writes far more than this
    # the run had its crash, its retry and its handoff (told by the records: the events of a
    # step are appended after its writes, so a kill right after them loses them)
    y, z = project.stage("y"), project.stage("z")
    assert y.retry_count == 1
    assert [(s.status, s.exit_code) for s in project.sessions("y") if s.status == "crashed"] == [
        ("crashed", 3)
    ]
    assert len(z.handoffs) == 1 and z.generation == 2
    assert [s.end_reason for s in project.sessions("z") if s.generation == 1 and s.pane_id] == [
        "handed off"
    ]
    assert_run_invariants(project, BOUNDARY_IDS, BOUNDARY_STARTS)


# --------------------------------------------------------------------------------------------------
# 3. A reset cancels a dependent's pending retry


@pytest.mark.slow
def test_reset_of_a_dependency_cancels_a_dependents_pending_retry(
    make_project: MakeProject,
) -> None:
    """ui blocks (its first run crashes, no retries); skipped, it lets integration start, which
    crashes and gets a retry after a backoff.  Resetting ui then sends integration back to
    waiting for ui, with no retry: it never starts again until ui is completed and merged, even
    once the old retry time has passed.  ui's second run works, and the plan completes."""
    backoff = 3.0
    project = make_project(
        [
            # ui's first run crashes at step 2 (after 1 s); its second takes 6 steps of 1 s
            sim_stage("ui", scenario="crash-once", steps=6, step_seconds=1.0, max_retries=0),
            sim_stage("integration", ["ui"], scenario="crash-once", steps=2, step_seconds=0.1),
        ],
        settings={"retry_backoff_seconds": backoff, "retry_backoff_max_seconds": backoff},
    )
    log = project.root.parent / "runner.log"
    t0 = time.monotonic()
    stuck = project.run_headless()  # a headless run exits when nothing can run any more
    assert stuck.returncode == 1, stuck.stdout + stuck.stderr
    ui = project.stage("ui")
    assert ui.status is Status.BLOCKED, describe(project)
    assert ui.next_retry_at is None and ui.retry_count == 0  # max_retries 0: no retry

    project.loom("stage", "skip", "ui", check=True)
    runner = project.start_headless(log=log)
    try:
        project.wait_until(
            lambda: any(e.get("stage") == "integration" for e in project.events("retry-scheduled")),
            "integration's retry to be scheduled",
        )
        integration = project.stage("integration")
        assert integration.status is Status.BLOCKED, describe(project)
        old_retry_at = integration.next_retry_at
        assert old_retry_at is not None
        assert project.starts_of("integration") == 1

        project.loom("stage", "reset", "ui", check=True)
        reset_at = time.time()
        integration = project.stage("integration")
        assert integration.status is Status.WAITING_FOR_DEPS, describe(project)
        assert integration.next_retry_at is None
        assert integration.retry_count == 0

        # the scheduler runs on past the old retry time: integration does not start again
        # while ui is not completed and merged
        tick = float(project.store.config().settings["tick_seconds"])

        def past_old_retry() -> bool:
            assert runner.poll() is None, log.read_text()
            ui_now = project.stage("ui")
            if not (ui_now.status is Status.COMPLETED and ui_now.merged):
                assert project.starts_of("integration") == 1, describe(project)
                assert project.stage("integration").status is Status.WAITING_FOR_DEPS, describe(
                    project
                )
            return time.time() > old_retry_at + 3 * tick

        project.wait_until(past_old_retry, "the old retry time to pass")
        ui_merged_before_old_retry = project.stage("ui").merged

        runner.wait(timeout=DEFAULT_TIMEOUT)
        assert runner.returncode == 0, log.read_text() + "\n" + describe(project)
    finally:
        if runner.poll() is None:
            kill_process_group(runner)
    took = time.monotonic() - t0
    note(f"reset: {took:.1f} s; ui merged before the old retry time: {ui_merged_before_old_retry}")

    # integration's starts after the reset all come after ui's merge
    events = project.events()
    ui_merged = [e["ts"] for e in events if e["kind"] == "merge-done" and e["stage"] == "ui"]
    assert len(ui_merged) == 1
    later = [
        e["ts"]
        for e in events
        if e["kind"] == "session-started" and e["stage"] == "integration" and e["ts"] > reset_at
    ]
    assert later and all(ts > ui_merged[0] for ts in later), (later, ui_merged)
    agents = [s["ts"] for s in project.starts() if s["stage"] == "integration"]
    assert len(agents) == 2 and agents[1] > ui_merged[0]
    assert not any(
        e["kind"] == "stage-status"
        and e.get("stage") == "integration"
        and str(e.get("reason", "")).startswith("automatic retry")
        for e in events
        if e["ts"] > reset_at
    ), "integration's cancelled retry fired"
    assert_run_invariants(
        project, ["ui", "integration"], {"ui": 2, "integration": 2}, manual_steps=True
    )

    # integration's run after the reset built on ui's new work: the reset made it start afresh
    # from the base (its old branch, made while ui was skipped, is kept under another name).
    ui_commit = project.git("log", "-1", "--format=%H", "--grep=^ui: Stage ui", "main").strip()
    merged = project.git(
        "log", "-1", "--format=%H", "--grep=^Merge loom/integration into main", "main"
    ).strip()
    assert ui_commit and merged
    built_on_ui = subprocess.run(
        ["git", "merge-base", "--is-ancestor", ui_commit, f"{merged}^2"],
        cwd=project.root,
        check=False,
    )
    assert built_on_ui.returncode == 0, (
        "integration's branch does not hold ui's work: after the reset it went on from its old "
        "branch\n" + project.git("log", "--graph", "--format=%h %s", "main")
    )
