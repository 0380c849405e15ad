"""P6: how soon loom notices that an agent crashed.

Ten stages whose simulated agents die at their first step (exit 3, no retries) run under
`loom run --headless --agent sim`.  For each crash: from the moment the pane's wrapper recorded the
agent's exit status (the exit file's modification time) to loom's `session-ended` event.  A pane
killed outright (no exit file) is noticed at the next listing of the panes instead (every other
tick, 2 s).
The original tool noticed crashes after 5–6 s; the goal is within 1 s.
"""

from __future__ import annotations

import os
from typing import Any

NAME = "P6"
KEY = "P6_crash_notice"
GOAL_MS = 1000
STAGES = 10


def _plan() -> str:
    from benchlib import plan_markdown

    stages = [
        {
            "id": f"x{i}",
            "name": f"Crash {i}",
            "description": "Die at once.",
            "max_retries": "0",
            "sim": "{scenario: always-crash, steps: 1}",
        }
        for i in range(STAGES)
    ]
    return plan_markdown("PLAN-0106: crashes", stages, max_parallel=STAGES)


def run(bench: Any) -> dict[str, object]:
    from benchlib import BenchError, summary_ms

    from loom_tui.core.store import Store

    root = bench.init_plan("p6", _plan())
    bench.run_plan(root, expect_ok=False)
    store = Store(str(root / ".work"))
    ended = {e["session"]: e["ts"] for e in store.read_events() if e.get("kind") == "session-ended"}
    samples = []
    for session in store.sessions():
        exit_file = os.path.join(store.sessions_dir, f"{session.id}.exit")
        if session.id not in ended or not os.path.exists(exit_file):
            continue
        samples.append((ended[session.id] - os.stat(exit_file).st_mtime) * 1000)
    if not samples:
        raise BenchError("no crash was measured")
    stats = summary_ms(samples)
    return {
        "crash_noticed_ms": stats,
        "max_ms": round(max(samples), 1),
        "crashes": len(samples),
        "goal_ms": GOAL_MS,
        "goal_met": max(samples) <= GOAL_MS,
        "original_tool_s": "5-6",
    }
