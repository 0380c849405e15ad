"""The session monitor: what a session's hook log and transcript say about its agent.

Hook logs and transcripts are written here by hand, line by line, in the formats `loom hook` and
Claude Code write; the monitor is asked what is new after each addition.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from loom_tui.core.model import SessionRecord
from loom_tui.core.session_monitor import (
    FINISHED_TURN,
    NEEDS_PERMISSION,
    WAITING_FOR_INPUT,
    WORKING,
    SessionMonitor,
    state_from_pane_text,
)

SID = "11111111-2222-3333-4444-555555555555"


class Session:
    def __init__(self, tmp: Path) -> None:
        self.hooks = tmp / "hooks"
        self.hooks.mkdir()
        self.transcript = tmp / "transcript.jsonl"
        self.transcript.write_text("")
        self.record = SessionRecord(
            id=SID,
            stage_id="a",
            status="running",
            transcript_path=str(self.transcript),
            model="opus",
            started_at=time.time(),
        )
        self.monitor = SessionMonitor(str(self.hooks))

    def hook(self, event: str, **fields: object) -> None:
        line = {"ts": time.time() - 10, "event": event, **fields}  # older than any reply below
        with (self.hooks / f"{SID}.jsonl").open("a") as fh:
            fh.write(json.dumps(line) + "\n")

    def reply(self, tokens: int, model: str = "claude-opus-4-8") -> None:
        usage = {
            "input_tokens": 40,
            "cache_creation_input_tokens": 2000,
            "cache_read_input_tokens": tokens - 2040,
            "output_tokens": 100,
        }
        line = {"type": "assistant", "message": {"model": model, "usage": usage, "content": []}}
        with self.transcript.open("a") as fh:
            fh.write(json.dumps(line) + "\n")


def test_tool_hooks_mean_working_and_stop_means_the_turn_ended(tmp_path: Path) -> None:
    s = Session(tmp_path)
    s.hook("PreToolUse", tool="Bash")
    update = s.monitor.poll(s.record)
    assert update.state is not None and update.state.state == WORKING
    assert update.state.source == "hook:PreToolUse"
    s.hook("Stop", active=False)
    update = s.monitor.poll(s.record)
    assert update.state is not None and update.state.state == FINISHED_TURN
    assert update.stop_at is not None


def test_a_stop_that_loom_blocked_does_not_end_the_turn(tmp_path: Path) -> None:
    """A Stop hook answering exit 2 keeps the agent going: it must not look idle (or loom would
    type its request into the pane a second time)."""
    s = Session(tmp_path)
    s.hook("PostToolUse", tool="Bash")
    s.monitor.poll(s.record)
    s.hook("Stop", active=False, blocked=True)
    update = s.monitor.poll(s.record)
    assert update.state is None or update.state.state == WORKING


def test_notifications_say_waiting_for_input_or_needs_permission(tmp_path: Path) -> None:
    s = Session(tmp_path)
    s.hook("Notification", type="idle_prompt", message="Claude is waiting for your input")
    update = s.monitor.poll(s.record)
    assert update.state is not None
    assert (update.state.state, update.state.source) == (WAITING_FOR_INPUT, "hook:Notification")
    s.hook("Notification", type="permission_prompt", message="Claude needs your permission")
    update = s.monitor.poll(s.record)
    assert update.state is not None and update.state.state == NEEDS_PERMISSION


def test_only_new_hook_lines_are_read(tmp_path: Path) -> None:
    s = Session(tmp_path)
    s.hook("PreToolUse", tool="Bash")
    assert len(s.monitor.poll(s.record).events) == 1
    assert s.monitor.poll(s.record).events == []
    s.hook("PostToolUse", tool="Bash")
    assert [e["event"] for e in s.monitor.poll(s.record).events] == ["PostToolUse"]


def test_a_half_written_hook_line_waits_for_its_end(tmp_path: Path) -> None:
    s = Session(tmp_path)
    path = s.hooks / f"{SID}.jsonl"
    path.write_text('{"ts": 1, "event": "PreTool')
    assert s.monitor.poll(s.record).events == []
    with path.open("a") as fh:
        fh.write('Use"}\n')
    assert [e["event"] for e in s.monitor.poll(s.record).events] == ["PreToolUse"]


def test_the_newest_of_statusline_and_transcript_wins(tmp_path: Path) -> None:
    s = Session(tmp_path)
    s.hook("statusline", tokens=40_000, window=200_000, model="claude-opus-4-8")
    update = s.monitor.poll(s.record)
    assert update.reading is not None
    assert (update.reading.tokens, update.reading.source) == (40_000, "statusline")
    s.reply(60_000)
    update = s.monitor.poll(s.record)
    assert update.reading is not None
    assert (update.reading.tokens, update.reading.source) == (60_000, "transcript")
    assert update.reading.percent == 30.0


def test_the_window_claude_code_reports_applies_to_transcript_readings(tmp_path: Path) -> None:
    """Newer models have a 1M window without a `[1m]` id suffix: the statusLine says so."""
    s = Session(tmp_path)
    s.hook("statusline", context_window_size=1_000_000, used_percentage=None)
    s.monitor.poll(s.record)
    s.reply(300_000, model="claude-opus-5-5")
    update = s.monitor.poll(s.record)
    assert update.reading is not None
    assert update.reading.window == 1_000_000
    assert update.reading.percent == 30.0


def test_pane_text_tells_dialogs_apart() -> None:
    now = time.time()
    trust = state_from_pane_text(
        ["Quick safety check: Is this a project you created or one you trust?"], now
    )
    assert trust is not None and (trust.state, trust.source) == (WAITING_FOR_INPUT, "pane-text")
    permission = state_from_pane_text(["Bash command", "", "Do you want to proceed?"], now)
    assert permission is not None and permission.state == NEEDS_PERMISSION
    busy = state_from_pane_text(["✻ Editing api/routes.py… (41s · esc to interrupt)"], now)
    assert busy is not None and busy.state == WORKING
    assert state_from_pane_text(["plain output"], now) is None
