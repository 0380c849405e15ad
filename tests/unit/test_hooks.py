"""`loom hook <event>` through the real console script, as Claude Code runs it in a stage session,
and the pre-acceptance of Claude Code's first-run dialogs in `~/.claude.json`.

Each hook call is a subprocess of `.venv/bin/loom` with Claude Code's JSON on stdin and the
environment loom gives a session's pane (LOOM_WORK_DIR, LOOM_SESSION_ID, LOOM_STAGE_ID).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from loom_tui.core import claude_config
from loom_tui.core.errors import LoomError
from loom_tui.core.hooks import EVENTS
from loom_tui.core.model import SessionRecord
from loom_tui.core.store import Store
from tests.conftest import LOOM

SHARED = Path(__file__).parents[3] / "shared" / "reference" / "claude-code"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "claude-code"
CAPTURES = SHARED if SHARED.is_dir() else FIXTURES
STAGE = "cli"  # a stage of the sample plan with a budget of its own (50%)
BUDGET = 50


# --------------------------------------------------------------------------------------------------
# Helpers


class Session:
    """A hand-written session record of the sample plan's `cli` stage."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.work = root / ".work"
        self.store = Store(str(self.work))
        self.id = str(uuid.uuid4())
        self.stage_id = STAGE
        self.store.write_session(
            SessionRecord(
                id=self.id,
                stage_id=STAGE,
                generation=1,
                agent="claude",
                status="running",
                worktree=str(root / ".worktrees" / STAGE),
                model="opus",
                started_at=time.time(),
                context_percent=53.0,
            )
        )

    @property
    def record(self) -> SessionRecord:
        return self.store.read_session(self.id)

    def update(self, **values: object) -> None:
        def change(record: SessionRecord) -> None:
            for key, value in values.items():
                setattr(record, key, value)

        self.store.update_session(self.id, change)

    @property
    def hook_log(self) -> Path:
        return self.work / "hooks" / f"{self.id}.jsonl"

    def hook_records(self) -> list[dict[str, Any]]:
        if not self.hook_log.exists():
            return []
        return [json.loads(line) for line in self.hook_log.read_text().splitlines()]

    def env(self) -> dict[str, str]:
        return {
            "LOOM_WORK_DIR": str(self.work),
            "LOOM_SESSION_ID": self.id,
            "LOOM_STAGE_ID": self.stage_id,
        }

    def payload(self, event: str, **fields: object) -> dict[str, object]:
        """Claude Code's common hook fields, plus the event's own."""
        return {
            "session_id": self.id,
            "transcript_path": str(self.root / "t.jsonl"),
            "cwd": str(self.root / ".worktrees" / STAGE),
            "hook_event_name": event,
            **fields,
        }

    def hook(self, command: str, stdin: object, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run_hook(command, stdin, self.env(), cwd=self.root, **kwargs)


def run_hook(
    command: str,
    stdin: object,
    env: dict[str, str],
    cwd: Path,
    without: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """`loom hook <command>` with ``stdin`` (a JSON value, or a raw string) as Claude Code does."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
    full.update(env)
    for name in without:
        full.pop(name, None)
    text = stdin if isinstance(stdin, str) else json.dumps(stdin)
    proc = subprocess.run(
        [LOOM, "hook", command],
        input=text,
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def hooks_log(work: Path) -> list[str]:
    path = work / "logs" / "hooks.log"
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def session(project: Path) -> Session:
    return Session(project)


def statusline_sample() -> dict[str, Any]:
    payload = json.loads((CAPTURES / "statusline_sample_opus1m.json").read_text())
    assert isinstance(payload, dict)
    return payload


# --------------------------------------------------------------------------------------------------
# statusline


def test_statusline_prints_one_short_line_and_records_the_reading(session: Session) -> None:
    proc = session.hook("statusline", statusline_sample())
    assert proc.returncode == 0
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    line = lines[0]
    assert len(line) <= 80
    assert STAGE in line
    assert f"2%/{BUDGET}%" in line
    assert "green" in line
    assert "$0.02" in line
    [record] = session.hook_records()
    assert record["event"] == "statusline"
    assert record["tokens"] == 22025
    assert record["window"] == 1_000_000
    assert record["percent"] == pytest.approx(2.2025, abs=0.01)
    assert record["used_percentage"] == 2
    assert record["source"] == "statusline"
    assert record["model"] == "claude-opus-4-8[1m]"
    assert record["cost_usd"] == pytest.approx(0.0236775)
    assert record["total_input_tokens"] == 22025
    assert record["transcript"] == statusline_sample()["transcript_path"]


def test_statusline_appends_one_reading_per_redraw(session: Session) -> None:
    for _ in range(3):
        assert session.hook("statusline", statusline_sample()).returncode == 0
    records = session.hook_records()
    assert [r["event"] for r in records] == ["statusline"] * 3
    assert [r["tokens"] for r in records] == [22025] * 3


def test_statusline_before_the_first_reply_shows_no_figure(session: Session) -> None:
    payload = statusline_sample()
    payload["context_window"]["current_usage"] = None
    payload["context_window"]["used_percentage"] = None
    proc = session.hook("statusline", payload)
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [f"loom {STAGE} · ctx -/{BUDGET}% · $0.02"]
    [record] = session.hook_records()
    assert "tokens" not in record
    assert record["used_percentage"] is None


def test_statusline_turns_red_at_the_budget(session: Session) -> None:
    payload = statusline_sample()
    payload["context_window"]["current_usage"]["cache_read_input_tokens"] = 600_000
    proc = session.hook("statusline", payload)
    assert proc.returncode == 0
    assert f"60%/{BUDGET}% (red)" in proc.stdout  # 23 + 2002 + 600,000 of 1M


# --------------------------------------------------------------------------------------------------
# post-tool-use and stop: loom's handoff request


def post_tool_use(session: Session) -> dict[str, object]:
    return session.payload(
        "PostToolUse",
        tool_name="Bash",
        tool_input={"command": "pytest -q", "description": "Run the tests"},
        tool_response={"stdout": "ok", "stderr": ""},
        tool_use_id="toolu_1",
    )


def test_post_tool_use_passes_until_a_handoff_is_requested(session: Session) -> None:
    proc = session.hook("post-tool-use", post_tool_use(session))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    [record] = session.hook_records()
    assert record["event"] == "PostToolUse"
    assert record["tool"] == "Bash"
    assert record["input"] == "pytest -q"

    session.update(handoff_requested_at=time.time(), handoff_trigger="budget")
    proc = session.hook("post-tool-use", post_tool_use(session))
    assert proc.returncode == 2
    assert f"loom handoff write {STAGE}" in proc.stderr
    assert f"budget is {BUDGET}%" in proc.stderr
    assert "53%" in proc.stderr  # the session's context figure
    assert proc.stdout == ""

    session.update(handoff=f"{STAGE}-handoff-001.md", handoff_at=time.time())
    proc = session.hook("post-tool-use", post_tool_use(session))
    assert (proc.returncode, proc.stderr) == (0, "")
    assert len(session.hook_records()) == 3


def test_stop_blocks_once_for_a_handoff_but_never_twice_in_a_row(session: Session) -> None:
    stop = session.payload("Stop", stop_hook_active=False, last_assistant_message="Done.")
    assert session.hook("stop", stop).returncode == 0

    session.update(handoff_requested_at=time.time(), handoff_trigger="budget")
    proc = session.hook("stop", stop)
    assert proc.returncode == 2
    assert f"loom handoff write {STAGE}" in proc.stderr

    again = session.payload("Stop", stop_hook_active=True, last_assistant_message="Still here.")
    proc = session.hook("stop", again)
    assert (proc.returncode, proc.stderr) == (0, "")
    records = session.hook_records()
    assert [r["active"] for r in records] == [False, False, True]
    assert records[-1]["message"] == "Still here."


# --------------------------------------------------------------------------------------------------
# pre-compact: the backstop


def test_pre_compact_blocks_the_first_compaction_only(session: Session) -> None:
    payload = session.payload("PreCompact", trigger="auto", custom_instructions="")
    proc = session.hook("pre-compact", payload)
    assert proc.returncode == 2
    assert "compaction blocked" in proc.stderr
    assert f"loom handoff write {STAGE}" in proc.stderr
    blocked_at = session.record.precompact_blocked_at
    assert blocked_at is not None

    proc = session.hook("pre-compact", payload)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert session.record.precompact_blocked_at == blocked_at
    first, second = session.hook_records()
    assert first["event"] == second["event"] == "PreCompact"
    assert first["trigger"] == "auto"
    assert first.get("blocked") is True
    assert "blocked" not in second


def test_pre_compact_does_not_block_a_session_that_handed_off(session: Session) -> None:
    session.update(handoff=f"{STAGE}-handoff-001.md")
    proc = session.hook("pre-compact", session.payload("PreCompact", trigger="manual"))
    assert proc.returncode == 0
    assert session.record.precompact_blocked_at is None


# --------------------------------------------------------------------------------------------------
# session-start


def test_session_start_after_a_compaction_points_back_to_the_signal(session: Session) -> None:
    proc = session.hook("session-start", session.payload("SessionStart", source="compact"))
    assert proc.returncode == 0
    answer = json.loads(proc.stdout)
    output = answer["hookSpecificOutput"]
    assert output["hookEventName"] == "SessionStart"
    context = output["additionalContext"]
    assert f"stage {STAGE}" in context
    assert session.store.signal_path(session.id) in context
    [record] = session.hook_records()
    assert (record["event"], record["source"]) == ("SessionStart", "compact")


def test_session_start_at_startup_adds_nothing(session: Session) -> None:
    proc = session.hook("session-start", session.payload("SessionStart", source="startup"))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


# --------------------------------------------------------------------------------------------------
# Every event, and what must never break the agent


@pytest.mark.parametrize("command", sorted(EVENTS))
def test_every_event_exits_0_and_is_recorded(session: Session, command: str) -> None:
    event = EVENTS[command]
    payload = (
        statusline_sample()
        if command == "statusline"
        else session.payload(event, source="startup", trigger="auto", reason="other")
    )
    proc = session.hook(command, payload)
    assert proc.returncode == (2 if command == "pre-compact" else 0)
    [record] = session.hook_records()
    assert record["event"] == event
    assert hooks_log(session.work) == []


def test_notification_records_its_type_and_message(session: Session) -> None:
    payload = session.payload(
        "Notification",
        message="Claude needs your permission to use Bash",
        notification_type="permission_prompt",
    )
    assert session.hook("notification", payload).returncode == 0
    [record] = session.hook_records()
    assert record["type"] == "permission_prompt"
    assert record["message"] == "Claude needs your permission to use Bash"


@pytest.mark.parametrize("garbage", ["{not json", "[1, 2, 3]", '"a string"', "\x00\x01 nonsense"])
def test_garbage_stdin_exits_0_and_is_logged(session: Session, garbage: str) -> None:
    for command in ("statusline", "post-tool-use", "stop", "session-start"):
        proc = session.hook(command, garbage)
        assert (proc.returncode, proc.stderr) == (0, ""), command
    log = hooks_log(session.work)
    assert len(log) == 4
    assert all("stdin is not" in line for line in log)
    # The session is known from the environment: its hook records are still kept.
    assert [r["event"] for r in session.hook_records()] == [
        "statusline",
        "PostToolUse",
        "Stop",
        "SessionStart",
    ]


def test_an_unknown_session_exits_0_and_is_logged(session: Session) -> None:
    unknown = str(uuid.uuid4())
    env = {**session.env(), "LOOM_SESSION_ID": unknown}
    payload = session.payload("PostToolUse", tool_name="Bash", tool_input={"command": "ls"})
    for command in ("post-tool-use", "stop", "pre-compact"):
        proc = run_hook(command, payload, env, cwd=session.root)
        assert (proc.returncode, proc.stderr) == (0, ""), command
    log = hooks_log(session.work)
    assert len(log) == 3
    assert all(unknown in line for line in log)


def test_without_loom_work_dir_the_project_is_found_from_the_payload_cwd(
    session: Session,
) -> None:
    payload = {**post_tool_use(session), "cwd": str(session.root)}
    proc = run_hook(
        "post-tool-use", payload, session.env(), cwd=Path("/"), without=("LOOM_WORK_DIR",)
    )
    assert proc.returncode == 0
    assert [r["event"] for r in session.hook_records()] == ["PostToolUse"]


def test_without_loom_work_dir_and_outside_any_project_exits_0(tmp_path: Path) -> None:
    payload = {"session_id": str(uuid.uuid4()), "cwd": str(tmp_path), "hook_event_name": "Stop"}
    for command in ("statusline", "stop", "pre-compact", "session-start"):
        proc = run_hook(command, payload, {}, cwd=tmp_path)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), command
    assert list(tmp_path.iterdir()) == []


def test_an_internal_error_exits_0_and_is_logged(session: Session) -> None:
    hooks_dir = session.work / "hooks"
    if hooks_dir.exists():
        hooks_dir.rmdir()
    hooks_dir.write_text("not a directory")
    proc = session.hook("post-tool-use", post_tool_use(session))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    [line] = hooks_log(session.work)
    assert "hook post-tool-use" in line
    assert "Error" in line


# --------------------------------------------------------------------------------------------------
# ~/.claude.json: Claude Code's first-run dialogs, pre-accepted

API_KEY = "sk-ant-api03-fake-key-for-tests-0123456789-ABCDEFGHIJKLMNOPQRST"
EXISTING: dict[str, Any] = {
    "numStartups": 12,
    "theme": "dark",
    "tipsHistory": {"new-user-warmup": 7},
    "oauthAccount": {"emailAddress": "someone@example.invalid"},
    "projects": {
        "/home/someone/other": {
            "allowedTools": ["Bash(ls)"],
            "hasTrustDialogAccepted": False,
            "history": [{"display": "hello"}],
        }
    },
    "customApiKeyResponses": {"approved": ["older-key-suffix-1234"], "rejected": ["rej"]},
}


def write_config(path: Path, data: dict[str, Any], mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    path.chmod(mode)


def test_pre_accept_keeps_every_other_key_and_trusts_the_path(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = home / ".claude.json"
    write_config(target, EXISTING)
    folder = tmp_path / "repo" / ".worktrees"
    env = {"HOME": str(home), "ANTHROPIC_API_KEY": API_KEY}

    written = claude_config.pre_accept([str(folder)], env)

    assert written.path == str(target)
    data = json.loads(target.read_text())
    for key in ("numStartups", "theme", "tipsHistory", "oauthAccount"):
        assert data[key] == EXISTING[key]
    assert data["projects"]["/home/someone/other"] == EXISTING["projects"]["/home/someone/other"]
    entry = data["projects"][str(folder)]
    assert entry["hasTrustDialogAccepted"] is True
    assert data["hasCompletedOnboarding"] is True
    # the API key answer is the user's: never changed, even with a key in the environment
    assert data["customApiKeyResponses"] == EXISTING["customApiKeyResponses"]
    assert API_KEY[-20:] not in target.read_text()
    assert set(data) == {*EXISTING, "hasCompletedOnboarding"}


def test_pre_accept_writes_atomically_and_keeps_the_mode(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = home / ".claude.json"
    write_config(target, EXISTING, mode=0o600)
    old_text = target.read_text()
    link = tmp_path / "old-inode.json"
    os.link(target, link)  # a second name for the old file: an in-place write would change it

    claude_config.pre_accept([str(tmp_path / "repo")], {"HOME": str(home)})

    assert link.read_text() == old_text
    assert not os.path.samefile(link, target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in home.iterdir() if p.name.endswith(".tmp")] == []
    json.loads(target.read_text())


def test_pre_accept_is_idempotent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"HOME": str(home), "ANTHROPIC_API_KEY": API_KEY}
    folder = str(tmp_path / "repo" / ".worktrees")
    claude_config.pre_accept([folder], env)
    first = (home / ".claude.json").read_text()
    claude_config.pre_accept([folder], env)
    assert (home / ".claude.json").read_text() == first
    data = json.loads(first)
    assert "customApiKeyResponses" not in data
    assert data["projects"][folder]["hasTrustDialogAccepted"] is True


def test_pre_accept_in_claude_config_dir(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home / ".claude.json", {"theme": "light"})
    config_dir = tmp_path / "claude-config"
    env = {"HOME": str(home), "CLAUDE_CONFIG_DIR": str(config_dir)}
    folder = str(tmp_path / "repo" / ".worktrees")

    written = claude_config.pre_accept([folder], env)

    assert written.path == str(config_dir / ".claude.json")
    data = json.loads((config_dir / ".claude.json").read_text())
    assert data["projects"][folder]["hasTrustDialogAccepted"] is True
    assert data["hasCompletedOnboarding"] is True
    assert "customApiKeyResponses" not in data  # no key in the environment
    assert json.loads((home / ".claude.json").read_text()) == {"theme": "light"}


def test_pre_accept_refuses_a_broken_file_and_leaves_it_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = home / ".claude.json"
    home.mkdir()
    target.write_text("{broken")
    with pytest.raises(LoomError, match="cannot read"):
        claude_config.pre_accept([str(tmp_path)], {"HOME": str(home)})
    assert target.read_text() == "{broken"
