"""Handoffs, the context gauge and the agent's state, for real: `loom run --headless --agent sim`,
real git, real tmux (the project's private socket), the simulated agent in every pane.

Every test asserts on what `.work/` holds afterwards (handoff files, session and stage records,
signal files, hook logs, transcripts) and on the event log.  Waits are correctness waits with
generous limits (`Project.wait_until`), never timing claims.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loom_tui.core.handoff import read_handoff
from loom_tui.core.hook_log import normalize
from loom_tui.core.model import SessionRecord, Status
from tests.integration.conftest import MakeProject
from tests.integration.engine import Project, kill_process_group, sim_stage

DEFAULT_WINDOW = 200_000
ONE_MILLION = 1_000_000


# --------------------------------------------------------------------------------------------------
# Helpers


def ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr


def by_generation(project: Project, stage_id: str) -> list[SessionRecord]:
    return sorted(project.sessions(stage_id), key=lambda s: s.generation)


def signal_of(project: Project, session: SessionRecord) -> str:
    return (project.work / "signals" / f"{session.id}.md").read_text()


def handoff(project: Project, name: str) -> tuple[dict[str, object], str]:
    assert (project.work / "handoffs" / name).is_file(), name
    return read_handoff(project.store, name)


def statuses_of(project: Project, stage_id: str) -> list[str]:
    """The stage's statuses in order, as its events tell them: the scheduler's `stage-status`
    events say ``old`` and ``new``; the CLI's actions (`stage-completed`, ...) say ``status``."""
    out: list[str] = []
    for event in project.events():
        if event.get("stage") != stage_id or not str(event["kind"]).startswith("stage-"):
            continue
        if "new" in event:
            if not out:
                out.append(str(event["old"]))
            new = str(event["new"])
        elif "status" in event:
            new = str(event["status"])
        else:
            continue
        if not out or out[-1] != new:
            out.append(new)
    return out


def handoff_steps(project: Project, stage_id: str) -> list[tuple[str, str]]:
    """The handoff's steps in order: the scheduler's `handoff` events, and `handoff-written`
    (by the agent or by loom) as the step ``written``."""
    return [
        (
            "written" if e["kind"] == "handoff-written" else str(e["step"]),
            str(e.get("trigger") or ""),
        )
        for e in project.events()
        if e.get("stage") == stage_id and e["kind"] in ("handoff", "handoff-written")
    ]


def event_index(project: Project, predicate: Any) -> int:
    return next(i for i, e in enumerate(project.events()) if predicate(e))


def hook_records(project: Project, session: SessionRecord) -> list[dict[str, Any]]:
    """The session's hook log in one shape (the sh fast path logs payloads, see `hook_log`)."""
    path = project.work / "hooks" / f"{session.id}.jsonl"
    return [normalize(json.loads(line)) for line in path.read_text().splitlines()]


def transcript_figures(path: str) -> list[tuple[int, int]]:
    """(tokens, window) after each reply, in order; (0, window) at each compaction.

    A parser of my own, forwards over the whole file: an assistant line's usage counts unless the
    model is `<synthetic>`; a `compact_boundary` starts again from zero.
    """
    out: list[tuple[int, int]] = []
    window = DEFAULT_WINDOW
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = json.loads(raw)
            if line.get("type") == "system" and line.get("subtype") == "compact_boundary":
                out.append((0, window))
            if line.get("type") != "assistant":
                continue
            message = line["message"]
            if message.get("model") == "<synthetic>" or "usage" not in message:
                continue
            window = ONE_MILLION if message["model"].endswith("[1m]") else DEFAULT_WINDOW
            usage = message["usage"]
            tokens = sum(
                usage.get(k, 0)
                for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
            )
            out.append((tokens, window))
    return out


def assert_readings_match_transcripts(project: Project) -> int:
    """Every context event agrees (within 1 point) with a figure of its session's transcript, in
    the transcript's order, and no reading is ever above 100%.  Returns how many were checked."""
    sessions = {s.id: s for s in project.sessions()}
    figures: dict[str, list[tuple[float, int]]] = {}
    position: dict[str, int] = {}
    checked = 0
    for event in project.events("context"):
        percent = float(event["percent"])
        assert 0.0 <= percent <= 100.0, event
        session = sessions[str(event["session"])]
        assert session.transcript_path is not None
        if session.id not in figures:
            pairs = transcript_figures(session.transcript_path)
            assert pairs, f"no usage in {session.transcript_path}"
            figures[session.id] = [(tokens * 100.0 / window, window) for tokens, window in pairs]
            position[session.id] = 0
        series = figures[session.id]
        start = position[session.id]
        matches = [i for i in range(start, len(series)) if abs(series[i][0] - percent) <= 1.0]
        assert matches, (
            f"context event {percent}% of session {session.id[:8]} matches no transcript figure "
            f"from #{start} on: {[round(f, 2) for f, _w in series]}"
        )
        position[session.id] = matches[0]
        assert event["window"] == series[matches[0]][1]
        checked += 1
    for session in sessions.values():
        assert session.context_percent is None or session.context_percent <= 100.0
    for stage in project.stages().values():
        assert stage.context_percent is None or stage.context_percent <= 100.0
    return checked


@pytest.fixture
def runners() -> Iterator[list[subprocess.Popen[str]]]:
    """Runners started with `start_headless`: always stopped at the end (tmux is the fixture's)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill_process_group(proc)
        if proc.stdout is not None:
            proc.stdout.close()


# --------------------------------------------------------------------------------------------------
# (a) the budget, with an agent that complies


def test_budget_handoff_with_a_compliant_agent(make_project: MakeProject) -> None:
    project = make_project([sim_stage("a", scenario="overrun", steps=4, context_budget=50)])
    ok(project.run_headless())

    stage = project.stage("a")
    assert stage.status is Status.COMPLETED and stage.merged
    assert stage.handoffs == ["a-handoff-001.md"]
    first, second = by_generation(project, "a")
    assert (first.generation, second.generation) == (1, 2)
    assert project.starts_of("a") == 2

    front, body = handoff(project, "a-handoff-001.md")
    assert front["written_by"] == "agent"
    assert front["trigger"] == "budget"
    assert front["stage"] == "a"
    assert front["session"] == first.id
    assert front["generation"] == 1
    context_percent = front["context_percent"]
    assert isinstance(context_percent, float) and context_percent >= 50
    assert "reached its context budget" in body  # the agent's own summary

    assert first.handoff == "a-handoff-001.md"
    assert first.handoff_trigger == "budget"
    assert first.handoff_requested_at is not None
    assert first.end_reason == "handed off"
    assert second.end_reason == "completed"

    signal = signal_of(project, second)
    assert "## Previous handoff" in signal
    assert "a-handoff-001.md" in signal
    assert body.strip() in signal
    assert "## Previous handoff" not in signal_of(project, first)

    assert "needs-handoff" in statuses_of(project, "a")
    assert statuses_of(project, "a")[-1] == "completed"
    assert handoff_steps(project, "a") == [
        ("requested", "budget"),
        ("written", "budget"),
        ("swapped", ""),
    ]
    requested = event_index(project, lambda e: e["kind"] == "handoff" and e["step"] == "requested")
    needs = event_index(
        project, lambda e: e["kind"] == "stage-status" and e["new"] == "needs-handoff"
    )
    started_2 = event_index(
        project, lambda e: e["kind"] == "session-started" and e["generation"] == 2
    )
    assert needs < started_2 and requested < started_2
    # the request reached the agent through its PostToolUse hook
    assert any(r["event"] == "PostToolUse" for r in hook_records(project, first))
    assert assert_readings_match_transcripts(project) > 0


# --------------------------------------------------------------------------------------------------
# (b) the budget, with an agent that ignores the request


def test_silent_agent_gets_a_handoff_written_by_loom(make_project: MakeProject) -> None:
    project = make_project(
        [sim_stage("a", scenario="overrun", steps=4, context_budget=50, compliant=False)],
        settings={"handoff_timeout_seconds": 1.0},
    )
    ok(project.run_headless())

    stage = project.stage("a")
    assert stage.status is Status.COMPLETED and stage.merged
    first, second = by_generation(project, "a")
    assert project.starts_of("a") == 2

    front, body = handoff(project, "a-handoff-001.md")
    assert front["written_by"] == "loom"
    assert front["trigger"] == "budget"
    assert front["session"] == first.id
    assert front["branch"] == "loom/a"
    assert isinstance(front["head"], str) and len(front["head"]) == 40
    assert "loom (the agent did not write one)" in body
    assert "## Current state" in body
    assert "- Branch: `loom/a`" in body
    assert "commit(s) ahead of `main`" in body
    assert "- Uncommitted files:" in body
    assert "## Next steps" in body
    assert "loom stage complete a" in body

    assert first.end_reason == "handed off"
    assert first.handoff == "a-handoff-001.md"
    assert second.end_reason == "completed"
    assert body.strip() in signal_of(project, second)

    steps = handoff_steps(project, "a")
    assert steps[0] == ("requested", "budget")
    assert ("timeout", "") in steps
    assert ("written", "budget") in steps
    assert steps[-1] == ("swapped", "")
    assert "needs-handoff" in statuses_of(project, "a")
    written = [e for e in project.events("handoff-written") if e["stage"] == "a"]
    assert [(e["written_by"], e["trigger"]) for e in written] == [("loom", "budget")]
    assert_readings_match_transcripts(project)


# --------------------------------------------------------------------------------------------------
# (c) a crash


def test_crash_leaves_a_handoff_that_the_retry_reads(make_project: MakeProject) -> None:
    project = make_project([sim_stage("a", scenario="crash-once", steps=3)])
    ok(project.run_headless())

    stage = project.stage("a")
    assert stage.status is Status.COMPLETED and stage.merged
    assert stage.retry_count == 1
    crashed, retry = by_generation(project, "a")
    assert crashed.status == "crashed"
    assert crashed.exit_code == 3
    assert project.starts_of("a") == 2

    front, body = handoff(project, "a-handoff-001.md")
    assert front["trigger"] == "crash"
    assert front["written_by"] == "loom"
    assert front["session"] == crashed.id
    assert "## Current state" in body

    written = event_index(
        project,
        lambda e: e["kind"] == "handoff-written" and e["trigger"] == "crash",
    )
    retried = event_index(
        project, lambda e: e["kind"] == "session-started" and e["session"] == retry.id
    )
    assert written < retried
    signal = signal_of(project, retry)
    assert "## Previous handoff" in signal
    assert body.strip() in signal
    assert "needs-handoff" not in statuses_of(project, "a")
    assert_readings_match_transcripts(project)


# --------------------------------------------------------------------------------------------------
# (d) PreCompact, the backstop when the budget was never reached


def test_precompact_backstop_requests_a_handoff(make_project: MakeProject) -> None:
    project = make_project([sim_stage("a", scenario="compact", steps=4, context_budget=95)])
    ok(project.run_headless())

    stage = project.stage("a")
    assert stage.status is Status.COMPLETED and stage.merged
    first, second = by_generation(project, "a")
    assert project.starts_of("a") == 2

    precompacts = [r for r in hook_records(project, first) if r["event"] == "PreCompact"]
    assert precompacts, "the agent never reached the auto-compact point"
    assert precompacts[0].get("blocked") is True
    assert all("blocked" not in r for r in precompacts[1:])
    assert first.precompact_blocked_at is not None
    assert first.handoff_trigger == "precompact"

    steps = handoff_steps(project, "a")
    assert steps[0] == ("requested", "precompact")
    assert ("requested", "budget") not in steps
    front, _body = handoff(project, "a-handoff-001.md")
    assert front["trigger"] == "precompact"
    assert first.handoff == "a-handoff-001.md"
    assert "needs-handoff" in statuses_of(project, "a")
    assert second.end_reason == "completed"
    assert second.precompact_blocked_at is None
    assert all(r["event"] != "PreCompact" for r in hook_records(project, second))
    assert_readings_match_transcripts(project)


def test_a_handoff_written_before_loom_asked_is_followed(
    make_project: MakeProject, runners: list[subprocess.Popen[str]]
) -> None:
    """A handoff that nobody requested (here written by hand with `loom handoff write`) ends the
    session like a requested one: the stage must not stay `executing` on a session that handed
    off (before the fix, the agent of the `compact` scenario, which writes its handoff as soon as
    the PreCompact hook blocks, was sometimes left idle for ever)."""
    project = make_project([sim_stage("a", steps=6, step_seconds=1.0)])
    runners.append(project.start_headless())

    def working() -> bool:
        stage = project.stage("a")
        if stage.status is not Status.EXECUTING or stage.session_id is None:
            return False
        return project.store.read_session(stage.session_id).agent_state == "working"

    project.wait_until(working, "stage a's first session at work")
    first_id = project.stage("a").session_id
    ok(project.loom("handoff", "write", "a", "--summary", "Stopped by hand."))
    project.wait_until(
        lambda: project.stage("a").merged and statuses_of(project, "a")[-1] == "completed",
        "stage a completed by its next generation",
    )

    first, second = by_generation(project, "a")
    assert first.id == first_id
    assert first.handoff == "a-handoff-001.md"
    assert first.handoff_trigger == "manual"
    assert first.end_reason == "handed off"
    front, body = handoff(project, "a-handoff-001.md")
    assert (front["trigger"], front["written_by"]) == ("manual", "user")
    assert "Stopped by hand." in body
    assert body.strip() in signal_of(project, second)
    assert "needs-handoff" in statuses_of(project, "a")
    # written by hand first; loom then follows it as a request, and swaps
    assert handoff_steps(project, "a")[:2] == [("written", "manual"), ("requested", "manual")]
    assert project.starts_of("a") == 2


# --------------------------------------------------------------------------------------------------
# (e) the loop guard


def test_loop_guard_blocks_a_stage_that_hands_off_without_progress(
    make_project: MakeProject,
) -> None:
    project = make_project(
        [sim_stage("a", scenario="handoff-loop", steps=4, context_budget=50)],
        settings={"handoff_loop_limit": 1},
    )
    result = project.run_headless()
    assert result.returncode == 1, result.stdout + result.stderr  # the plan is stuck

    stage = project.stage("a")
    assert stage.status is Status.BLOCKED
    assert stage.blocked_reason is not None and "loop guard" in stage.blocked_reason
    assert stage.next_retry_at is None  # no automatic retry after the guard
    assert stage.handoff_streak == 2
    assert stage.generation == 2
    assert project.starts_of("a") == 2  # handoff_loop_limit + 1 generations, then it stops
    assert stage.handoffs == ["a-handoff-001.md", "a-handoff-002.md"]
    assert ("loop-guard", "") in handoff_steps(project, "a")
    assert statuses_of(project, "a")[-2:] == ["needs-handoff", "blocked"]
    assert all(s.status != "running" for s in project.sessions("a"))
    assert "loom/a" in project.git("branch", "--list", "loom/a")  # nothing merged
    assert_readings_match_transcripts(project)


# --------------------------------------------------------------------------------------------------
# (f), (g) the agent waits for a person


@pytest.mark.parametrize(
    ("scenario", "agent_state", "notification"),
    [
        ("ask-input", "waiting-for-input", "idle_prompt"),
        ("ask-permission", "needs-permission", "permission_prompt"),
    ],
)
def test_agent_waiting_for_a_person_and_the_answer_typed_into_its_pane(
    make_project: MakeProject,
    runners: list[subprocess.Popen[str]],
    scenario: str,
    agent_state: str,
    notification: str,
) -> None:
    # One second per step: after the answer the agent works for a while, as a real one would.
    project = make_project([sim_stage("a", scenario=scenario, steps=3, step_seconds=1.0)])
    runners.append(project.start_headless())

    def waiting() -> bool:
        stage = project.stage("a")
        if stage.status is not Status.WAITING_FOR_INPUT or stage.session_id is None:
            return False
        return project.store.read_session(stage.session_id).agent_state == agent_state

    project.wait_until(waiting, f"stage a waiting for a person ({agent_state})")
    stage = project.stage("a")
    assert stage.session_id is not None
    session = project.store.read_session(stage.session_id)
    assert session.agent_state_source == "hook:Notification"
    assert session.pane_id is not None
    kinds = [r.get("type") for r in hook_records(project, session) if r["event"] == "Notification"]
    assert kinds == [notification]

    project.tmux().send_keys(session.pane_id, "json", "Enter")
    # The record is written before its event is appended: wait for both, and for the merge.
    project.wait_until(
        lambda: project.stage("a").merged and statuses_of(project, "a")[-1] == "completed",
        "stage a completed and merged after the answer",
    )

    statuses = statuses_of(project, "a")
    waiting_at = statuses.index("waiting-for-input")
    assert statuses[waiting_at - 1] == "executing"
    assert statuses[waiting_at + 1] == "executing"
    assert statuses[-1] == "completed"
    prompts = [r.get("prompt") for r in hook_records(project, session)]
    assert "json" in prompts  # the answer reached the agent
    session = project.store.read_session(session.id)
    assert session.generation == 1 and project.starts_of("a") == 1
    states = [e for e in project.events("agent-state") if e["session"] == session.id]
    back = [i for i, e in enumerate(states) if e["state"] == agent_state]
    assert back and states[back[0]]["seen_by"] == "hook:Notification"
    assert any(e["state"] == "working" for e in states[back[0] + 1 :])


# --------------------------------------------------------------------------------------------------
# (h) the gauge agrees with the transcripts


def test_every_context_reading_agrees_with_its_transcript(make_project: MakeProject) -> None:
    wide = sim_stage("wide", scenario="overrun", steps=4, context_budget=50)
    wide["model"] = "opus[1m]"
    project = make_project(
        [
            sim_stage("plain", steps=4),
            sim_stage("over", scenario="overrun", steps=4, context_budget=50),
            sim_stage("squeeze", scenario="compact", steps=4, context_budget=95),
            wide,
        ]
    )
    ok(project.run_headless())
    assert {s.status for s in project.stages().values()} == {Status.COMPLETED}

    checked = assert_readings_match_transcripts(project)
    sessions = project.sessions()
    assert len(sessions) == 7  # plain once; the three others hand off once each
    readers = {e["session"] for e in project.events("context")}
    assert readers == {s.id for s in sessions}
    assert checked >= len(sessions)
    windows = {e["window"] for e in project.events("context") if e["stage"] == "wide"}
    assert windows == {ONE_MILLION}
    wide_peak = max(e["tokens"] for e in project.events("context") if e["stage"] == "wide")
    assert wide_peak > DEFAULT_WINDOW  # over 200k tokens, and still at most 100%
    sources = {e["reading_source"] for e in project.events("context")}
    assert sources == {"statusline", "transcript"}
    # the compaction showed: a reading of 0 right after it, from the transcript
    squeeze_first = by_generation(project, "squeeze")[0]
    zero = [
        e
        for e in project.events("context")
        if e["session"] == squeeze_first.id and e["tokens"] == 0
    ]
    # (a scheduler busy elsewhere may read the transcript only after the next turn has filled it
    # again: the zero is then not seen, which is no error; one seen comes from the transcript)
    assert all(e["reading_source"] == "transcript" for e in zero)
    # each session's record ends on its transcript's last figure, or an earlier one
    for session in sessions:
        assert session.transcript_path is not None
        assert Path(session.transcript_path).is_file()
        pairs = transcript_figures(session.transcript_path)
        assert session.context_tokens in {tokens for tokens, _window in pairs}
