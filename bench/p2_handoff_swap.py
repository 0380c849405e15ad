"""P2: from a context reading crossing the budget to the fresh session's process starting, leaving
out the agent's own time.

A chain of stages runs under `loom run --headless --agent sim`; each stage's first session overruns
its budget and complies with loom's request to hand off.  For each handoff, from `.work/`:

    loom's time = (request sent − reading taken)            noticing the crossing
                + (generation 2 starts − agent stopped)      ending the session, starting the next

where "agent stopped" is the later of its handoff file and its Stop hook (the agent's own time, from
the request to that moment, is left out, as the goal says).  Goal: at most 1 s.
"""

from __future__ import annotations

import json
from typing import Any

NAME = "P2"
KEY = "P2_handoff_swap"
GOAL_MS = 1000


def _plan(count: int) -> str:
    from benchlib import plan_markdown

    stages = [
        {
            "id": f"h{i}",
            "name": f"Handoff {i}",
            "description": "Overrun the budget, hand off, then finish.",
            "dependencies": f"[{f'h{i - 1}' if i else ''}]",
            "context_budget": "40",
            "sim": "{scenario: overrun, steps: 4, step_seconds: 0.05}",
        }
        for i in range(count)
    ]
    return plan_markdown("PLAN-0102: P2 handoffs", stages)


def run(bench: Any) -> dict[str, object]:
    from benchlib import BenchError, log, summary_ms

    from loom_tui.core.store import Store

    count = max(10, bench.runs // 2)
    root = bench.init_plan("p2", _plan(count))
    log(f"P2: running {count} stages that each hand off once")
    bench.run_plan(root)
    store = Store(str(root / ".work"))
    starts = [
        json.loads(line)
        for line in (root / ".work" / "sim" / "starts.jsonl").read_text().splitlines()
        if line.strip()
    ]
    requests = {
        e["session"]: e
        for e in store.read_events()
        if e.get("kind") == "handoff" and e.get("step") == "requested"
    }
    notice, swap, total = [], [], []
    for session in store.sessions():
        request = requests.get(session.id)
        if request is None or session.handoff_at is None:
            continue
        reading_at = request.get("reading_at") or request["ts"]
        stopped = max(session.handoff_at, session.stop_at or 0.0)
        successor = next(
            (
                s
                for s in starts
                if s["stage"] == session.stage_id and s["generation"] == session.generation + 1
            ),
            None,
        )
        if successor is None:
            continue
        noticed = (request["ts"] - reading_at) * 1000
        swapped = (successor["ts"] - stopped) * 1000
        notice.append(noticed)
        swap.append(swapped)
        total.append(noticed + swapped)
    if not total:
        raise BenchError("no handoff was measured")
    stats = summary_ms(total)
    return {
        "loom_time_ms": stats,
        "noticing_ms": summary_ms(notice),
        "swapping_ms": summary_ms(swap),
        "handoffs": len(total),
        "goal_ms": GOAL_MS,
        "goal_met": max(total) <= GOAL_MS,
        "max_ms": round(max(total), 1),
    }
