"""The hooks' sh fast path (core/hook.sh) and the PreToolUse guard, run as Claude Code runs them:
the command the per-session settings name, through `sh -c`, with a payload on stdin.

The project is the sample plan's, initialised by the real `loom init`; the stage `cli` gets its
real worktree on `loom/cli` (core.git, pygit2).  Whether Python ran is seen, not timed: the
settings' interpreter is replaced by a recording wrapper around the real one.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from loom_tui.core import git
from loom_tui.core.agents.base import LaunchContext, session_settings
from loom_tui.core.hook_flags import flag_path, set_flag
from loom_tui.core.hook_log import normalize
from loom_tui.core.model import SessionRecord
from loom_tui.core.store import Store

SHARED = Path(__file__).parents[3] / "shared" / "reference" / "claude-code"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "claude-code"
CAPTURES = SHARED if SHARED.is_dir() else FIXTURES
STAGE = "cli"


class Hooked:
    """A live session of stage `cli` with its settings, as a backend would launch it."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self.root = root
        self.work = root / ".work"
        self.store = Store(str(self.work))
        self.worktree = git.ensure_worktree(str(root), STAGE, "main", fresh=False)
        self.id = str(uuid.uuid4())
        session = SessionRecord(
            id=self.id,
            stage_id=STAGE,
            generation=1,
            agent="claude",
            status="running",
            worktree=self.worktree,
            started_at=time.time(),
            context_percent=20.0,
        )
        self.store.write_session(session)
        self.python_log = tmp / "python-ran"
        wrapper = tmp / "python"
        wrapper.write_text(
            f'#!/bin/sh\necho "$*" >> {shlex.quote(str(self.python_log))}\n'
            f'exec {shlex.quote(sys.executable)} "$@"\n'
        )
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
        ctx = LaunchContext(
            self.store,
            self.store.read_stage(STAGE),
            session,
            self.worktree,
            str(self.work / "signals" / f"{self.id}.md"),
            str(tmp / "settings.json"),
        )
        settings = session_settings(ctx)
        text = json.dumps(settings).replace(shlex.quote(sys.executable), str(wrapper))
        self.settings: dict[str, Any] = json.loads(text)

    def command(self, event: str) -> str:
        if event == "statusline":
            return str(self.settings["statusLine"]["command"])
        return str(self.settings["hooks"][event][0]["hooks"][0]["command"])

    def payload(self, event: str, **fields: object) -> dict[str, object]:
        return {
            "session_id": self.id,
            "transcript_path": str(self.root / "t.jsonl"),
            "cwd": self.worktree,
            "hook_event_name": event,
            **fields,
        }

    def run(self, event: str, payload: dict[str, object] | str) -> subprocess.CompletedProcess[str]:
        text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
        return subprocess.run(
            ["sh", "-c", self.command(event)],
            input=text,
            cwd=self.worktree,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def tool(self, name: str, **tool_input: object) -> subprocess.CompletedProcess[str]:
        return self.run(
            "PreToolUse", self.payload("PreToolUse", tool_name=name, tool_input=tool_input)
        )

    def python_ran(self) -> int:
        return len(self.python_log.read_text().splitlines()) if self.python_log.exists() else 0

    def records(self) -> list[dict[str, Any]]:
        path = self.work / "hooks" / f"{self.id}.jsonl"
        return [normalize(json.loads(line)) for line in path.read_text().splitlines()]


@pytest.fixture
def hooked(project: Path, tmp_path: Path) -> Hooked:
    return Hooked(project, tmp_path)


# --------------------------------------------------------------------------------------------------
# The fast path


def test_routine_calls_never_start_python_and_are_logged(hooked: Hooked) -> None:
    for tool, tool_input in [
        ("Read", {"file_path": f"{hooked.worktree}/README.md"}),
        ("Glob", {"pattern": "**/*.py"}),
        ("Grep", {"pattern": "def main"}),
        ("Bash", {"command": "pytest -q", "description": "Run the tests"}),
        (
            "Edit",
            {"file_path": f"{hooked.worktree}/src/a.py", "old_string": "a", "new_string": "b"},
        ),
        ("Write", {"file_path": f"{hooked.worktree}/notes.txt", "content": "x"}),
    ]:
        assert hooked.tool(tool, **tool_input).returncode == 0
        post = hooked.payload(
            "PostToolUse", tool_name=tool, tool_input=tool_input, tool_response={"out": "x" * 5000}
        )
        assert hooked.run("PostToolUse", post).returncode == 0
    assert hooked.python_ran() == 0
    records = hooked.records()
    assert [r["event"] for r in records] == ["PreToolUse", "PostToolUse"] * 6
    assert records[0]["tool"] == "Read" and records[0]["transcript"] == str(hooked.root / "t.jsonl")
    assert records[6]["input"] == "pytest -q"
    raw = (hooked.work / "hooks" / f"{hooked.id}.jsonl").read_text()
    assert "x" * 5000 not in raw  # a tool's output is not copied into the log


def test_statusline_prints_what_the_scheduler_wrote(hooked: Hooked) -> None:
    sample = json.loads((CAPTURES / "statusline_sample_opus1m.json").read_text())
    sample["session_id"] = hooked.id
    first = hooked.run("statusline", sample)
    assert first.returncode == 0 and first.stdout.strip() == f"loom {STAGE}"
    set_flag(str(hooked.work), hooked.id, "status", "loom cli · ctx 12%/50% (green) · $0.10")
    assert hooked.run("statusline", sample).stdout == "loom cli · ctx 12%/50% (green) · $0.10\n"
    assert hooked.python_ran() == 0
    pulse = hooked.work / "pulse" / hooked.id
    assert not pulse.exists()
    set_flag(str(hooked.work), hooked.id, "near", "50")
    hooked.run("statusline", sample)
    assert pulse.exists()  # near the budget, each reading wakes the scheduler
    record = hooked.records()[0]
    assert record["event"] == "statusline" and record["tokens"] > 0 and record["window"] > 0


def test_flagged_handoff_goes_to_python_and_reaches_the_agent(hooked: Hooked) -> None:
    post = hooked.payload("PostToolUse", tool_name="Bash", tool_input={"command": "ls"})
    assert hooked.run("PostToolUse", post).returncode == 0
    stop = hooked.payload("Stop", stop_hook_active=False)
    assert hooked.run("Stop", stop).returncode == 0
    assert hooked.python_ran() == 0

    def requested(record: SessionRecord) -> None:
        record.handoff_requested_at = time.time()

    set_flag(str(hooked.work), hooked.id, "handoff", "loom: hand off")
    hooked.store.update_session(hooked.id, requested)
    answer = hooked.run("PostToolUse", post)
    assert answer.returncode == 2 and f"loom handoff write {STAGE}" in answer.stderr
    assert hooked.run("Stop", stop).returncode == 2
    assert hooked.run("Stop", {**stop, "stop_hook_active": True}).returncode == 0
    assert hooked.python_ran() == 3
    assert [r.get("blocked") for r in hooked.records()[-3:]] == [True, True, None]

    def handed_off(record: SessionRecord) -> None:
        record.handoff = "cli-handoff-001.md"

    hooked.store.update_session(hooked.id, handed_off)
    assert hooked.run("PostToolUse", post).returncode == 0
    assert not os.path.exists(flag_path(str(hooked.work), hooked.id, "handoff"))
    assert hooked.run("PostToolUse", post).returncode == 0
    assert hooked.python_ran() == 4  # the stale flag was removed: back on the fast path


def test_session_start_after_compaction_still_reminds(hooked: Hooked) -> None:
    answer = hooked.run("SessionStart", hooked.payload("SessionStart", source="compact"))
    assert answer.returncode == 0
    context = json.loads(answer.stdout)["hookSpecificOutput"]["additionalContext"]
    assert f"loom stage {STAGE}" in context


def test_bad_input_never_breaks_the_agent(hooked: Hooked) -> None:
    for event in ("PreToolUse", "PostToolUse", "statusline", "Stop"):
        answer = hooked.run(event, "not json {")
        assert answer.returncode == 0 and "Traceback" not in answer.stderr


# --------------------------------------------------------------------------------------------------
# The guard, through the same command


VIOLATIONS = [
    ("Bash", {"command": "git add -A"}, "git add -A"),
    ("Bash", {"command": "git add ."}, "git add ."),
    ("Bash", {"command": "cd src && git add --all && git commit -m x"}, "git add --all"),
    ("Bash", {"command": "git push origin loom/cli"}, "git push"),
    ("Bash", {"command": "git checkout main"}, "git checkout"),
    ("Bash", {"command": "git switch -c elsewhere"}, "git switch"),
    ("Bash", {"command": "loom stage complete scaffold"}, "loom stage complete scaffold"),
    ("Bash", {"command": "loom handoff write scaffold --summary s"}, "loom handoff write"),
    ("Write", {"file_path": "/etc/cron.d/x", "content": "x"}, "outside this stage's worktree"),
    ("Edit", {"file_path": "../../README.md", "old_string": "a", "new_string": "b"}, "outside"),
    ("NotebookEdit", {"notebook_path": "/tmp/x.ipynb", "new_source": "1"}, "outside"),
]


@pytest.mark.parametrize(("tool", "tool_input", "says"), VIOLATIONS)
def test_guard_refuses_each_violation(
    hooked: Hooked, tool: str, tool_input: dict[str, object], says: str
) -> None:
    answer = hooked.tool(tool, **tool_input)
    assert answer.returncode == 2, answer.stderr
    assert answer.stderr.startswith("loom guard: ") and says in answer.stderr
    assert hooked.records()[-1]["refused"].startswith("loom guard: ")


def test_commit_on_another_branch_is_refused(hooked: Hooked) -> None:
    assert hooked.tool("Bash", command="git commit -m 'own work'").returncode == 0
    head = Path(hooked.worktree) / ".git"
    gitdir = head.read_text().split(":", 1)[1].strip()
    (Path(hooked.worktree) / gitdir / "HEAD").write_text("ref: refs/heads/main\n")
    answer = hooked.tool("Bash", command="git commit -m 'own work'")
    assert (
        answer.returncode == 2 and "`main`, not on this stage's branch `loom/cli`" in answer.stderr
    )


NORMAL_WORK = [
    ("Bash", {"command": "git status && git diff --stat"}),
    ("Bash", {"command": "git add src/wc.py tests/test_wc.py && git commit -m 'cli: parse args'"}),
    ("Bash", {"command": "git commit -m 'do not git push; ok' -- src/wc.py"}),
    ("Bash", {"command": "git checkout -- src/wc.py"}),
    ("Bash", {"command": "git log --oneline -5 | cat"}),
    ("Bash", {"command": "loom stage complete cli"}),
    ("Bash", {"command": 'loom handoff write cli --summary "scaffold is done" --next "tests"'}),
    ("Bash", {"command": "loom memory note 'loom stage complete scaffold is not mine'"}),
    ("Edit", {"file_path": "src/wc.py", "old_string": "a", "new_string": "b"}),
    ("Write", {"file_path": "docs/../notes.md", "content": "x"}),
]


@pytest.mark.parametrize(("tool", "tool_input"), NORMAL_WORK)
def test_normal_work_in_the_worktree_never_trips_the_guard(
    hooked: Hooked, tool: str, tool_input: dict[str, object]
) -> None:
    answer = hooked.tool(tool, **tool_input)
    assert answer.returncode == 0, answer.stderr


def test_real_captured_tool_calls_pass(hooked: Hooked) -> None:
    """Every tool call of the real transcripts, replayed as PreToolUse in the stage's worktree."""
    calls = []
    for path in sorted(CAPTURES.glob("transcript_*.jsonl")):
        for line in path.read_text().splitlines():
            message = json.loads(line).get("message")
            content = message.get("content") if isinstance(message, dict) else None
            for block in content if isinstance(content, list) else []:
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    calls.append((block["name"], block["input"]))
    assert calls
    for name, tool_input in calls:
        text = json.dumps(tool_input).replace("/tmp/demo/proj2", hooked.worktree)
        answer = hooked.tool(name, **json.loads(text))
        assert answer.returncode == 0, answer.stderr


def test_real_pretooluse_payloads_pass_and_a_sweep_is_refused(hooked: Hooked) -> None:
    """PreToolUse payloads Claude Code 2.1.197 sent in `make test-claude`, moved into this
    stage's worktree: their own command, then that run's commit command, pass; `git add -A` in the
    same envelope is refused."""
    fixture = FIXTURES / "hook_pretooluse_payloads.jsonl"
    commit = (
        "printf '%s\\n' 'stage cli generation 1' >> cli.txt && git add cli.txt && "
        "GIT_AUTHOR_NAME='Fake Claude' GIT_AUTHOR_EMAIL=fake-claude@example.invalid "
        "git commit -q -m 'cli: stage cli generation 1'"
    )
    for line in fixture.read_text().splitlines():
        payload = json.loads(line)
        payload["cwd"] = hooked.worktree
        payload["session_id"] = hooked.id
        assert hooked.run("PreToolUse", payload).returncode == 0
        for command, code in ((commit, 0), ("git add -A", 2)):
            payload["tool_input"] = {**payload["tool_input"], "command": command}
            answer = hooked.run("PreToolUse", payload)
            assert answer.returncode == code, answer.stderr


def test_plain_own_stage_commands_stay_on_the_fast_path(hooked: Hooked) -> None:
    for command in (
        f"loom stage complete {STAGE}",
        f"loom handoff write {STAGE} --summary 'fixed the git push docs' --next 'tests'",
        "git status",
        "git diff --stat HEAD~1",
        "git log --oneline -5",
    ):
        assert hooked.tool("Bash", command=command).returncode == 0, command
    assert hooked.python_ran() == 0
    for command, code in (
        (f"loom stage complete {STAGE} && git push", 2),
        (f"loom stage complete {STAGE}; git add -A", 2),
        ("git status | cat", 0),
        ("git log $(git push)", 2),
        (f"loom stage complete {STAGE}x", 2),
    ):
        assert hooked.tool("Bash", command=command).returncode == code, command
    assert hooked.python_ran() == 5  # each of these went to the guard


def test_the_scheduler_reads_what_the_fast_path_logged(hooked: Hooked) -> None:
    """`SessionMonitor` (what the scheduler's observer polls) on a log written only by sh: the
    statusLine's reading with its own time, the tool calls, a permission prompt."""
    from loom_tui.core.session_monitor import NEEDS_PERMISSION, SessionMonitor

    sample = json.loads((CAPTURES / "statusline_sample_opus1m.json").read_text())
    sample["session_id"] = hooked.id
    before = time.time()
    hooked.run("statusline", sample)
    hooked.tool("Read", file_path=f"{hooked.worktree}/README.md")
    notice = hooked.payload(
        "Notification",
        message="Claude needs your permission",
        notification_type="permission_prompt",
    )
    hooked.run("Notification", notice)
    assert hooked.python_ran() == 0
    monitor = SessionMonitor(str(hooked.work / "hooks"))
    update = monitor.poll(hooked.store.read_session(hooked.id))
    assert update.reading is not None and update.reading.source == "statusline"
    assert update.reading.window == 1_000_000 and update.reading.tokens == 22_025
    assert update.reading.ts is not None and abs(update.reading.ts - before) < 5
    assert update.state is not None and update.state.state == NEEDS_PERMISSION
    assert update.transcript_path == str(hooked.root / "t.jsonl")
    assert (hooked.work / "pulse" / hooked.id).exists()  # a notification wakes the scheduler
