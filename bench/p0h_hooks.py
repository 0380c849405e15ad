"""P0h: the cost of the hooks Claude Code runs on every tool call and statusLine redraw, against
`python -c pass`.

The commands are the ones a stage session's settings name (`session_settings`, the sh fast path
of core/hook.sh), run as Claude Code runs them: `sh -c COMMAND` with a real-shaped payload on
stdin, in the sample project's `scaffold` worktree, for a live session record.  Measured:

- PostToolUse after a Bash call (no handoff requested: the fast path);
- the statusLine, with the scheduler's status text in place;
- PreToolUse for a Read (never leaves sh), for `git status` (a plain read-only git command: sh
  too) and for `git commit -m wip` (the guard's Python path: the tool calls that still pay a
  Python start, shown for honesty).

Goal: PostToolUse and statusLine each at most 0.3 × `python -c pass` (median).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

NAME = "P0h"
KEY = "P0h_hook_fast_path"
GOAL_RATIO = 0.3
STAGE = "scaffold"


def _settings(project: Path) -> tuple[dict[str, Any], str, str]:
    from loom_tui.core import git
    from loom_tui.core.agents.base import LaunchContext, session_settings
    from loom_tui.core.hook_flags import set_flag
    from loom_tui.core.model import SessionRecord
    from loom_tui.core.store import Store

    store = Store(str(project / ".work"))
    worktree = git.ensure_worktree(str(project), STAGE, "main", fresh=False)
    session = SessionRecord(
        id=str(uuid.uuid4()), stage_id=STAGE, status="running", worktree=worktree
    )
    store.write_session(session)
    set_flag(store.work_dir, session.id, "status", f"loom {STAGE} · ctx 12%/65% (green) · $0.10")
    ctx = LaunchContext(
        store,
        store.read_stage(STAGE),
        session,
        worktree,
        str(project / ".work" / "signals" / f"{session.id}.md"),
        str(project / ".work" / "settings.json"),
    )
    return session_settings(ctx), session.id, worktree


def _time(bench: Any, label: str, command: str, payload: str, cwd: str) -> list[float]:
    samples = []
    for measured in bench.samples(label):
        started = time.perf_counter_ns()
        proc = subprocess.run(
            ["sh", "-c", command],
            input=payload,
            text=True,
            env=bench.env,
            cwd=cwd,
            capture_output=True,
            check=False,
        )
        elapsed = (time.perf_counter_ns() - started) / 1e6
        if proc.returncode != 0 or "Traceback" in proc.stderr:
            from benchlib import BenchError

            raise BenchError(f"{label}: exit {proc.returncode}: {proc.stderr}")
        if measured:
            samples.append(elapsed)
    return samples


def run(bench: Any) -> dict[str, object]:
    from benchlib import summary_ms

    project = bench.make_project()
    settings, session_id, worktree = _settings(project)
    hooks = settings["hooks"]
    common = {
        "session_id": session_id,
        "transcript_path": str(project / "transcript.jsonl"),
        "cwd": worktree,
        "permission_mode": "default",
    }

    def payload(event: str, **fields: object) -> str:
        return json.dumps({**common, "hook_event_name": event, **fields}, separators=(",", ":"))

    def command(event: str) -> str:
        return str(hooks[event][0]["hooks"][0]["command"])

    sample = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "claude-code"
    status_payload = json.loads((sample / "statusline_sample_opus1m.json").read_text())
    status_payload["session_id"] = session_id
    pass_ms = []
    for measured in bench.samples("P0h python -c pass"):
        t = bench.run([bench.python, "-c", "pass"]).ms
        if measured:
            pass_ms.append(t)
    post = _time(
        bench,
        "P0h PostToolUse",
        command("PostToolUse"),
        payload(
            "PostToolUse",
            tool_name="Bash",
            tool_input={"command": "pytest -q", "description": "Run the tests"},
            tool_response={"stdout": "1 passed", "stderr": "", "interrupted": False},
            tool_use_id="toolu_01",
        ),
        worktree,
    )
    status = _time(
        bench,
        "P0h statusLine",
        str(settings["statusLine"]["command"]),
        json.dumps(status_payload, separators=(",", ":")),
        worktree,
    )
    read = _time(
        bench,
        "P0h PreToolUse Read",
        command("PreToolUse"),
        payload("PreToolUse", tool_name="Read", tool_input={"file_path": f"{worktree}/README.md"}),
        worktree,
    )
    status_git = _time(
        bench,
        "P0h PreToolUse Bash git status",
        command("PreToolUse"),
        payload("PreToolUse", tool_name="Bash", tool_input={"command": "git status"}),
        worktree,
    )
    guarded = _time(
        bench,
        "P0h PreToolUse Bash git commit (guard)",
        command("PreToolUse"),
        payload("PreToolUse", tool_name="Bash", tool_input={"command": "git commit -m wip"}),
        worktree,
    )
    base = statistics.median(pass_ms)
    post_ratio = statistics.median(post) / base
    status_ratio = statistics.median(status) / base
    return {
        "python_pass_ms": summary_ms(pass_ms),
        "post_tool_use_ms": summary_ms(post),
        "statusline_ms": summary_ms(status),
        "pre_tool_use_read_ms": summary_ms(read),
        "pre_tool_use_git_status_ms": summary_ms(status_git),
        "pre_tool_use_git_commit_guard_ms": summary_ms(guarded),
        "post_tool_use_ratio_p50": round(post_ratio, 3),
        "statusline_ratio_p50": round(status_ratio, 3),
        "pre_tool_use_read_ratio_p50": round(statistics.median(read) / base, 3),
        "pre_tool_use_git_status_ratio_p50": round(statistics.median(status_git) / base, 3),
        "pre_tool_use_git_commit_guard_ratio_p50": round(statistics.median(guarded) / base, 3),
        "goal_ratio": GOAL_RATIO,
        "goal_met": post_ratio <= GOAL_RATIO and status_ratio <= GOAL_RATIO,
        "runs": len(post),
        "warmup_runs": bench.warmup,
    }
