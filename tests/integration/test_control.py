"""Controlling a run from outside, through the real `loom` CLI: `loom stop`, `loom sessions
list|kill`, `loom run --stage`, `loom resume`, `loom memory`, `loom handoff write|show` and
`loom merge` after a resolved conflict.

Everything is real: `loom` runs as a subprocess, the scheduler is `loom run --headless --agent sim`,
the agents are the simulated agent in panes of the project's private tmux server, and git is git.
Waits are correctness waits with generous limits (`Project.wait_until`), never timing claims;
every runner started here is stopped at the end (terminate, then wait).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loom_tui.core.control import killed_by_hand, scheduler_pid
from loom_tui.core.fsutil import FileLock
from loom_tui.core.handoff import read_handoff
from loom_tui.core.model import SessionRecord, Status
from tests.conftest import LOOM
from tests.integration.conftest import MakeProject
from tests.integration.engine import Project, kill_process_group, sim_stage

Runner = subprocess.Popen[str]
StartRunner = Callable[..., Runner]
SESSION_HEADERS = ["session", "stage", "gen", "status", "pane", "alive", "context", "started"]
#: A git identity for commits made by hand (CI machines have none).
GIT_IDENTITY = ("-c", "user.name=loom tests", "-c", "user.email=tests@loom.invalid")


# --------------------------------------------------------------------------------------------------
# Helpers


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def refused(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """The process exited ``code`` with exactly one `loom: …` line on stderr; returns it."""
    assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("loom: "), proc.stderr
    return lines[0]


def loom_in_session(
    project: Project, stage_id: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """`loom ARGS` with ``LOOM_STAGE_ID`` set, as inside a stage session."""
    proc = subprocess.run(
        [LOOM, *args],
        cwd=project.root,
        env={**project.env, "LOOM_STAGE_ID": stage_id},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def running(project: Project, stage_id: str | None = None) -> list[SessionRecord]:
    return [s for s in project.sessions(stage_id) if s.status == "running"]


def by_generation(project: Project, stage_id: str) -> list[SessionRecord]:
    return sorted(project.sessions(stage_id), key=lambda s: s.generation)


def signal_of(project: Project, session: SessionRecord) -> str:
    return (project.work / "signals" / f"{session.id}.md").read_text()


#: The sections of a signal, and of a handoff (a signal embeds a handoff with its headings).
SIGNAL_SECTIONS = (
    "Target",
    "Assignment",
    "Dependencies",
    "Acceptance criteria",
    "Files",
    "Previous handoff",
    "Stage memory",
    "Commands",
)
HANDOFF_SECTIONS = (
    "Goal",
    "Completed work",
    "Decisions",
    "Current state",
    "Next steps",
    "Files touched",
)


def section(text: str, title: str) -> str:
    """The body of section ``## title``, up to the next section of the same document (a
    signal's or a handoff's, whichever ``title`` belongs to)."""
    own = SIGNAL_SECTIONS if title in SIGNAL_SECTIONS else HANDOFF_SECTIONS
    lines = text.splitlines()
    assert f"## {title}" in lines, f"no section {title!r} in:\n{text}"
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i][3:] in own), len(lines))
    return "\n".join(lines[start:end]).strip()


def shared_prefix(first: str, second: str) -> str:
    count = 0
    while count < min(len(first), len(second)) and first[count] == second[count]:
        count += 1
    return first[:count]


def table_rows(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    """`loom sessions list` as a table: one dict per row, keyed by the stage."""
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    assert rows and rows[0] == SESSION_HEADERS, proc.stdout
    return {row[1]: dict(zip(SESSION_HEADERS, row, strict=True)) for row in rows[1:]}


def json_rows(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    rows = json.loads(proc.stdout)
    assert isinstance(rows, list)
    return {str(row["stage"]): row for row in rows}


def live_panes(project: Project) -> dict[str, bool]:
    """Pane id -> alive, on the project's private tmux server."""
    return {pane_id: not pane.dead for pane_id, pane in project.tmux().list_panes().items()}


def lock_is_free(project: Project) -> bool:
    probe = FileLock(project.store.scheduler_lock_path, blocking=False)
    if not probe.acquire():
        return False
    probe.release()
    return True


def stop_runner(runner: Runner) -> None:
    if runner.poll() is None:
        runner.terminate()
        try:
            runner.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill_process_group(runner)


def output_of(runner: Runner) -> str:
    """What a runner printed (once it has exited)."""
    assert runner.stdout is not None
    return runner.stdout.read()


@pytest.fixture
def runners() -> Iterator[StartRunner]:
    """``runners(project, *extra)`` starts `loom run --headless --agent sim`; every runner started
    is stopped at the end (the project's tmux server is the `make_project` fixture's)."""
    started: list[Runner] = []

    def start(project: Project, *extra: str) -> Runner:
        proc = project.start_headless(*extra)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        stop_runner(proc)
        if proc.stdout is not None:
            proc.stdout.close()


# --------------------------------------------------------------------------------------------------
# loom stop


def test_stop_leaves_the_agents_running_and_the_next_run_adopts_them(
    make_project: MakeProject, runners: StartRunner
) -> None:
    project = make_project([sim_stage("a", scenario="stall"), sim_stage("b", scenario="stall")])
    runner = runners(project)
    project.wait_until(lambda: len(running(project)) == 2, "both agents running")
    sessions = {s.id: s for s in running(project)}

    stopped = ok(project.loom("stop"))
    assert stopped.stdout.splitlines() == [
        f"scheduler (pid {runner.pid}) stopped",
        "2 agent session(s) keep running; `loom run` adopts them again",
    ]
    runner.wait(timeout=30)
    assert "Traceback" not in output_of(runner)
    assert scheduler_pid(project.store) is None
    assert lock_is_free(project)
    # the agents run on: their panes are alive and their sessions and stages unchanged
    panes = live_panes(project)
    for session in sessions.values():
        assert panes.get(session.pane_id or "") is True, (session.pane_id, panes)
        assert project.store.read_session(session.id).status == "running"
    assert {s.status for s in project.stages().values()} == {Status.EXECUTING}

    nothing = ok(project.loom("stop"))
    assert nothing.stdout.strip() == "no scheduler is running"

    again = runners(project)
    project.wait_until(
        lambda: set(sessions) <= {e.get("session") for e in project.events("session-adopted")},
        "both sessions re-adopted",
    )
    adopted = project.events("session-adopted")
    assert {e["session"]: e["pane"] for e in adopted} == {
        s.id: s.pane_id for s in sessions.values()
    }
    assert {s.id for s in running(project)} == set(sessions)  # no new session was started
    assert project.starts_of("a") == 1 and project.starts_of("b") == 1
    ok(project.loom("stop"))
    again.wait(timeout=30)
    assert "re-adopted" in output_of(again)


def test_stop_kill_sessions_ends_every_pane_and_queues_their_stages(
    make_project: MakeProject, runners: StartRunner
) -> None:
    project = make_project(
        [
            sim_stage("a", scenario="stall"),
            sim_stage("b", scenario="stall"),
            sim_stage("c", ["a", "b"]),
        ]
    )
    runner = runners(project)
    project.wait_until(lambda: len(running(project)) == 2, "both agents running")
    sessions = running(project)

    stopped = ok(project.loom("stop", "--kill-sessions"))
    assert stopped.stdout.splitlines() == [
        f"scheduler (pid {runner.pid}) stopped",
        "2 agent session(s) ended; their stages are queued again",
    ]
    runner.wait(timeout=30)
    assert lock_is_free(project)
    assert live_panes(project) == {}
    for session in sessions:
        record = project.store.read_session(session.id)
        assert record.status == "killed"
        assert record.end_reason == "killed by `loom stop --kill-sessions`"
    stages = project.stages()
    assert stages["a"].status is Status.QUEUED and stages["b"].status is Status.QUEUED
    assert stages["c"].status is Status.WAITING_FOR_DEPS
    listed = ok(project.loom("sessions", "list"))
    assert listed.stdout.strip() == "no live sessions (--all shows ended ones)"
    assert {
        row["alive"]
        for row in json_rows(project.loom("sessions", "list", "--all", "--json")).values()
    } == {"no"}
    # with nothing left running, a second stop says so and changes nothing
    nothing = ok(project.loom("stop", "--kill-sessions"))
    assert nothing.stdout.splitlines()[0] == "no scheduler is running"


# --------------------------------------------------------------------------------------------------
# loom sessions list|kill


def test_sessions_list_and_kill(make_project: MakeProject, runners: StartRunner) -> None:
    project = make_project(
        [
            sim_stage("done"),
            sim_stage("stuck", scenario="stall"),
            sim_stage("later", ["stuck"]),
        ]
    )
    runner = runners(project)
    project.wait_until(
        lambda: (
            project.stage("done").merged
            and not any(s.live for s in project.sessions("done"))
            and len(running(project, "stuck")) == 1
        ),
        "done merged and ended, stuck running",
    )
    (finished,) = project.sessions("done")
    (stuck,) = running(project, "stuck")

    # the live sessions: a table and JSON
    rows = table_rows(ok(project.loom("sessions", "list")))
    assert set(rows) == {"stuck"}
    assert rows["stuck"]["session"] == stuck.id[:8]
    assert rows["stuck"]["gen"] == "1"
    assert rows["stuck"]["status"] == "running"
    assert rows["stuck"]["pane"] == stuck.pane_id
    assert rows["stuck"]["alive"] == "yes"
    data = json_rows(ok(project.loom("sessions", "list", "--json")))
    assert set(data) == {"stuck"}
    assert data["stuck"]["id"] == stuck.id
    assert data["stuck"]["session"] == stuck.id[:8]
    assert data["stuck"]["pane"] == stuck.pane_id
    assert data["stuck"]["alive"] == "yes"
    assert data["stuck"]["gen"] == 1
    # --all adds the ended ones
    every = table_rows(ok(project.loom("sessions", "list", "--all")))
    assert set(every) == {"done", "stuck"}
    assert every["done"]["session"] == finished.id[:8]
    assert every["done"]["alive"] == "no"
    assert every["done"]["status"] == "ended"
    every_json = json_rows(ok(project.loom("sessions", "list", "--all", "--json")))
    assert every_json["done"]["id"] == finished.id and every_json["done"]["alive"] == "no"
    assert every_json["stuck"]["alive"] == "yes"

    # an ambiguous or unknown prefix: one line, exit 1, nothing killed
    common = shared_prefix(finished.id, stuck.id)  # both sessions start with it
    line = refused(project.loom("sessions", "kill", common), 1)
    assert line == f"loom: session prefix {common!r} is ambiguous (2 sessions)"
    line = refused(project.loom("sessions", "kill", "zzzz"), 1)
    assert line == "loom: no session 'zzzz'"
    assert live_panes(project).get(stuck.pane_id or "") is True
    assert project.stage("stuck").status is Status.EXECUTING

    # a unique prefix ends that session's pane; its stage is blocked, not retried
    killed = ok(project.loom("sessions", "kill", stuck.id[:6]))
    assert killed.stdout.strip() == f"session {stuck.id[:8]} of stage stuck killed"
    assert stuck.pane_id not in live_panes(project)
    record = project.store.read_session(stuck.id)
    assert record.status == "killed"
    assert record.end_reason == "killed by `loom sessions kill`"
    stage = project.stage("stuck")
    assert stage.status is Status.BLOCKED
    assert "`loom stage retry stuck`" in (stage.blocked_reason or ""), stage.blocked_reason
    assert stage.next_retry_at is None
    # the scheduler sees nothing left to run and exits by itself, without a retry
    assert runner.wait(timeout=60) == 1
    output = output_of(runner)
    assert "nothing can run" in output and "stuck blocked" in output, output
    assert project.starts_of("stuck") == 1
    stage = project.stage("stuck")
    assert stage.status is Status.BLOCKED and stage.retry_count == 0
    assert stage.next_retry_at is None and stage.handoffs == []  # no crash handoff, no retry
    assert stage.failure is not None and stage.failure["kind"] == "killed"
    assert not [e for e in project.events("retry-scheduled") if e.get("stage") == "stuck"]
    assert project.store.read_session(stuck.id).status == "killed"
    assert project.stage("later").status is Status.WAITING_FOR_DEPS

    # a session that has already ended is reported, not killed again
    again = ok(project.loom("sessions", "kill", finished.id))
    assert again.stdout.strip().startswith(f"session {finished.id[:8]} has already ended")


def test_killed_sessions_are_never_taken_for_crashes_by_a_busy_scheduler(
    make_project: MakeProject, runners: StartRunner
) -> None:
    # A scheduler that lists the panes every 10 ms: it must not see a killed pane vanish before
    # the kill is recorded (that would be a crash: a crash handoff and an automatic retry).
    ids = ["s1", "s2", "s3", "s4"]
    project = make_project(
        [sim_stage(i, scenario="stall") for i in ids],
        settings={"tick_seconds": 0.01, "retry_backoff_seconds": 0.05},
    )
    runner = runners(project)
    project.wait_until(lambda: len(running(project)) == 4, "four agents running")
    sessions = running(project)
    killed = ok(project.loom("sessions", "kill", *[s.id for s in sessions]))
    assert len(killed.stdout.splitlines()) == 4
    assert runner.wait(timeout=60) == 1  # nothing left that can run
    for session in sessions:
        record = project.store.read_session(session.id)
        assert (record.status, record.end_reason) == ("killed", "killed by `loom sessions kill`")
    for stage in project.stages().values():
        assert stage.status is Status.BLOCKED
        assert stage.handoffs == [] and stage.retry_count == 0
        assert stage.failure is not None and stage.failure["kind"] == "killed"
        assert stage.blocked_reason == killed_by_hand(stage.id)
    assert project.events("retry-scheduled") == []
    assert all(project.starts_of(i) == 1 for i in ids)


# --------------------------------------------------------------------------------------------------
# loom run --stage


def test_run_with_stage_runs_only_that_stage(make_project: MakeProject) -> None:
    project = make_project([sim_stage("a"), sim_stage("b"), sim_stage("c", ["a"])])
    result = ok(project.run_headless("--stage", "a"))
    stages = project.stages()
    assert stages["a"].status is Status.COMPLETED and stages["a"].merged
    assert project.starts_of("a") == 1
    for other in ("b", "c"):
        assert project.starts_of(other) == 0
        assert project.sessions(other) == []
        assert stages[other].generation == 0 and stages[other].worktree is None
    assert stages["b"].status is Status.QUEUED
    assert stages["c"].status is Status.QUEUED  # a is merged: c is ready, but was not started
    assert (project.root / "sim" / "a.md").exists()
    assert not (project.root / "sim" / "b.md").exists()
    assert not [s for s in project.sessions() if s.live]
    assert [e["ok"] for e in project.events("plan-finished")] == [True]
    assert "Traceback" not in result.stdout
    assert lock_is_free(project)


def test_run_with_an_unknown_stage_is_refused_before_anything_starts(
    make_project: MakeProject,
) -> None:
    project = make_project([sim_stage("a"), sim_stage("b")])
    line = refused(project.run_headless("--stage", "nosuch"), 1)
    assert line == "loom: no stage 'nosuch' in this plan (stages: a, b)"
    line = refused(project.run_headless("--stage", "Not-A-Stage!"), 2)
    assert line.startswith("loom: invalid stage id 'Not-A-Stage!'")
    assert project.sessions() == []
    assert project.starts() == []
    assert not project.events("session-started")
    assert {s.status for s in project.stages().values()} == {Status.QUEUED}
    assert lock_is_free(project)


# --------------------------------------------------------------------------------------------------
# loom resume


def test_resume_continues_a_crashed_stage_from_its_newest_handoff(
    make_project: MakeProject,
) -> None:
    # crash-once with no automatic retry: the stage stays blocked after its first crash
    project = make_project([sim_stage("a", scenario="crash-once", steps=3, max_retries=0)])
    line = refused(project.loom("resume", "a"), 1)
    assert line == (
        "loom: stage a has no handoff to resume from (`loom stage retry` starts it again from "
        "its branch)"
    )
    assert project.stage("a").status is Status.QUEUED

    assert project.run_headless().returncode == 1
    stage = project.stage("a")
    (crashed,) = project.sessions("a")
    assert stage.status is Status.BLOCKED and stage.next_retry_at is None
    assert stage.handoffs == ["a-handoff-001.md"]
    front, _body = read_handoff(project.store, "a-handoff-001.md")
    assert front["trigger"] == "crash" and front["written_by"] == "loom"
    assert front["session"] == crashed.id

    # a person adds a note: the newest handoff is the one the next session reads
    ok(
        project.loom(
            "handoff",
            "write",
            "a",
            "--summary",
            "Looked at the crash by hand: the file is not written yet.",
            "--next",
            "Write sim/a.md and commit it",
        )
    )
    assert project.stage("a").handoffs == ["a-handoff-001.md", "a-handoff-002.md"]
    _front, newest = read_handoff(project.store, "a-handoff-002.md")

    resumed = ok(project.loom("resume", "a"))
    assert (
        resumed.stdout.strip() == "stage a queued: a fresh session continues from a-handoff-002.md"
    )
    stage = project.stage("a")
    assert stage.status is Status.QUEUED
    assert stage.session_id is None and stage.blocked_reason is None
    assert [e["stage"] for e in project.events("stage-resumed")] == ["a"]

    ok(project.run_headless())
    stage = project.stage("a")
    assert stage.status is Status.COMPLETED and stage.merged
    assert project.starts_of("a") == 2
    first, fresh = by_generation(project, "a")
    assert first.id == crashed.id and fresh.generation == 2
    signal = signal_of(project, fresh)
    previous = section(signal, "Previous handoff")
    assert "`a-handoff-002.md`" in previous
    assert newest.strip() in signal  # the newest handoff's body, without its front matter
    assert "Looked at the crash by hand" in previous
    assert "# Handoff 001" not in signal
    assert "written_by:" not in signal
    # the first session's signal had no handoff to embed
    assert "## Previous handoff" not in signal_of(project, first)

    # a completed stage is not resumed
    line = refused(project.loom("resume", "a"), 1)
    assert line == (
        "loom: stage a is completed: only a blocked or running stage can be resumed from a handoff"
    )
    assert project.stage("a").status is Status.COMPLETED


# --------------------------------------------------------------------------------------------------
# loom memory


def test_memory_is_recorded_listed_and_reaches_signals_and_handoffs(
    make_project: MakeProject,
) -> None:
    project = make_project([sim_stage("a", scenario="always-crash", max_retries=0), sim_stage("b")])
    noted = ok(project.loom("memory", "note", "--stage", "a", "The", "input", "is", "UTF-8"))
    assert noted.stdout.strip() == "note recorded for stage a"
    decided = ok(loom_in_session(project, "a", "memory", "decision", "Write Markdown, not HTML"))
    assert decided.stdout.strip() == "decision recorded for stage a"

    expected = ["note      The input is UTF-8", "decision  Write Markdown, not HTML"]
    assert ok(project.loom("memory", "list", "--stage", "a")).stdout.splitlines() == expected
    assert ok(loom_in_session(project, "a", "memory", "list")).stdout.splitlines() == expected
    assert ok(project.loom("memory", "list", "--stage", "b")).stdout == ""
    # --stage wins over the environment
    ok(loom_in_session(project, "a", "memory", "note", "--stage", "b", "for b only"))
    assert ok(project.loom("memory", "list", "--stage", "b")).stdout.splitlines() == [
        "note      for b only"
    ]
    assert ok(project.loom("memory", "list", "--stage", "a")).stdout.splitlines() == expected

    missing = project.loom("memory", "note", "no stage given")
    assert missing.returncode == 2
    assert "give --stage ID (or run inside a stage session)" in missing.stderr
    line = refused(project.loom("memory", "note", "--stage", "nosuch", "text"), 1)
    assert line.startswith("loom: no stage 'nosuch'")
    assert ok(project.loom("memory", "list", "--stage", "a")).stdout.splitlines() == expected

    assert project.run_headless().returncode == 1  # a crashes and has no retries left
    (session,) = project.sessions("a")
    memory = section(signal_of(project, session), "Stage memory")
    assert "**note**" in memory and "The input is UTF-8" in memory
    assert "**decision**" in memory and "Write Markdown, not HTML" in memory
    (other,) = project.sessions("b")
    assert "for b only" in section(signal_of(project, other), "Stage memory")
    assert "The input is UTF-8" not in signal_of(project, other)
    # the crash handoff loom wrote lists the stage's decisions (not its notes)
    front, body = read_handoff(project.store, "a-handoff-001.md")
    assert front["written_by"] == "loom" and front["trigger"] == "crash"
    assert section(body, "Decisions") == "- Write Markdown, not HTML"
    assert "The input is UTF-8" not in body


# --------------------------------------------------------------------------------------------------
# loom handoff write|show


def test_handoff_written_by_hand_and_shown(make_project: MakeProject) -> None:
    project = make_project([sim_stage("a"), sim_stage("b")])
    ok(project.loom("memory", "decision", "--stage", "a", "Use the standard library only"))
    written = ok(
        project.loom(
            "handoff",
            "write",
            "a",
            "--summary",
            "Parsed the input; counting is next.",
            "--next",
            "Count the words",
            "--next",
            "Print the ten most common",
            "--decision",
            "Read files as UTF-8",
        )
    )
    assert written.stdout.strip() == "handoff written: .work/handoffs/a-handoff-001.md"
    path = project.work / "handoffs" / "a-handoff-001.md"
    front, body = read_handoff(project.store, path.name)
    assert front["stage"] == "a"
    assert front["written_by"] == "user"
    assert front["trigger"] == "manual"
    assert front["session"] is None
    # the body says who wrote it, as the front matter does (not "loom", not "the agent")
    assert body.splitlines()[2] == (
        "Written by hand (`loom handoff write` outside a session); trigger: manual."
    )
    assert section(body, "Completed work") == "Parsed the input; counting is next."
    assert section(body, "Next steps") == "- Count the words\n- Print the ten most common"
    assert section(body, "Decisions") == "- Use the standard library only\n- Read files as UTF-8"
    assert project.stage("a").handoffs == ["a-handoff-001.md"]
    assert project.stage("a").status is Status.QUEUED
    (event,) = project.events("handoff-written")
    assert event["stage"] == "a" and event["written_by"] == "user"

    shown = ok(project.loom("handoff", "show", "a"))
    assert shown.stdout == path.read_text()
    ok(project.loom("handoff", "write", "a", "--summary", "Second thoughts."))
    shown = ok(project.loom("handoff", "show", "a"))
    assert shown.stdout == (project.work / "handoffs" / "a-handoff-002.md").read_text()
    assert "Second thoughts." in shown.stdout

    line = refused(project.loom("handoff", "show", "b"), 1)
    assert line == "loom: stage b has no handoff"


# --------------------------------------------------------------------------------------------------
# loom merge after a resolved conflict


def git_in(worktree: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *GIT_IDENTITY, "-c", "commit.gpgsign=false", *args],
        cwd=worktree,
        capture_output=True,
        text=True,
        check=check,
    )


def test_merge_after_a_conflict_resolved_on_the_stage_branch(make_project: MakeProject) -> None:
    project = make_project(
        [
            sim_stage("left", edit="shared.txt"),
            sim_stage("right", edit="shared.txt"),
            sim_stage("after", ["left", "right"]),
        ],
        files={"README.md": "# conflict demo\n"},
        settings={"resolver_attempts": 0},  # no resolver session: a person resolves it
    )
    assert project.run_headless().returncode == 1  # stuck on the conflict
    stages = project.stages()
    loser = next(s for s in stages.values() if s.status is Status.MERGE_CONFLICT)
    winner = next(s for s in stages.values() if s.id in ("left", "right") and s.id != loser.id)
    assert winner.status is Status.COMPLETED and winner.merged
    assert stages["after"].status is Status.WAITING_FOR_DEPS
    assert project.starts_of("after") == 0
    refused(project.loom("merge", loser.id), 1)  # still conflicting

    # resolve it on the stage's branch: merge the base in, keep both texts, commit
    worktree = project.root / ".worktrees" / loser.id
    conflict = git_in(worktree, "merge", "main", check=False)
    assert conflict.returncode != 0 and "CONFLICT" in conflict.stdout, conflict.stdout
    resolved = f"Written by stage {winner.id}.\nWritten by stage {loser.id}.\n"
    (worktree / "shared.txt").write_text(resolved)
    git_in(worktree, "add", "shared.txt")
    git_in(worktree, "commit", "--no-edit")
    base_before = project.git("rev-parse", "main").strip()
    branch_tip = project.git("rev-parse", f"loom/{loser.id}").strip()

    merged = ok(project.loom("merge", loser.id))
    assert merged.stderr == ""
    stage = project.stage(loser.id)
    assert stage.status is Status.COMPLETED and stage.merged
    assert stage.blocked_reason is None
    head = project.git("rev-parse", "main").strip()
    assert stage.merge_commit == head
    assert project.git("log", "-1", "--format=%s", "main").strip() == (
        f"Merge loom/{loser.id} into main"
    )
    assert project.git("rev-list", "--parents", "-n", "1", "main").split() == [
        head,
        base_before,
        branch_tip,
    ]
    assert (project.root / "shared.txt").read_text() == resolved
    assert [e["stage"] for e in project.events("merge-done") if e.get("source") == "cli"] == [
        loser.id
    ]
    # its dependent is ready, and runs
    assert project.stage("after").status is Status.QUEUED
    ok(project.run_headless())
    assert project.stage("after").status is Status.COMPLETED and project.stage("after").merged
    assert project.starts_of("after") == 1
    assert project.starts_of(loser.id) == 1
    assert (project.root / "shared.txt").read_text() == resolved
