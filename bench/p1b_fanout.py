"""P1b: a fan-out: how soon 16 dependents' agents start after their one dependency completes.

A plan of one root stage and 32 dependents of it runs under `loom run --headless --agent sim -p 16`,
each agent stalling (it never completes by itself).  Once the root's agent has started (and had
a moment to settle), the benchmark runs `loom stage complete root` itself and measures from that
command returning to the moment the 16th dependent's agent started (each simulated agent notes
`time.time()` before importing anything, in `.work/sim/starts.jsonl`); also the 1st dependent's
start and the spread between them.  In between, the scheduler notices the change (inotify), merges
the root, ends its session, promotes all 32 dependents under one lock, and starts 16 of them at
once: 16 worktrees, session records, signals and settings, and 16 tmux panes.

Each round is a fresh project.  ``timeline_ms`` places the scheduler's events of each round
(`.work/events.jsonl`) on the same clock (p50 over the rounds): the completion's write, the merge,
the root session's end, the promotion, the first and last `session-started` (an event made when
its start's pane is open), and ``start_latency_ms`` is the executor's own `latency_ms` of each
start (worktree to pane), over every start of every round.

For comparison, ``floor_fanout_ms``: 16 bare `tmux new-window` commands on a private server, run
at once from a thread pool as the scheduler runs its starts (``threads``), or chained in one tmux
client (``chained``), until the 16th program in them notes its start.

Goal: p50 <= 300 ms.
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

NAME = "P1b"
KEY = "P1b_fanout_start"
DEPENDENTS = 32
PARALLEL = 16
ROOT = "root"
GOAL_P50_MS = 300
#: after the root's agent started: let it finish its own start-up (hooks) before completing it
SETTLE_SECONDS = 0.5


def _plan() -> str:
    from benchlib import plan_markdown

    stages = [
        {
            "id": ROOT,
            "name": "Root",
            "description": "Wait to be completed by the benchmark.",
            "dependencies": "[]",
            "sim": "{scenario: stall}",
        }
    ]
    stages += [
        {
            "id": f"d{i:02d}",
            "name": f"Dependent {i}",
            "description": "Wait; never complete.",
            "dependencies": f"[{ROOT}]",
            "sim": "{scenario: stall}",
        }
        for i in range(DEPENDENTS)
    ]
    return plan_markdown("PLAN-0101: P1b fan-out", stages)


def _starts(path: Path) -> dict[str, float]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.strip():
            entry = json.loads(line)
            out.setdefault(entry["stage"], entry["ts"])
    return out


def _wait(predicate: Any, what: str, timeout: float = 60.0) -> None:
    from benchlib import BenchError

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out waiting for {what}")
        time.sleep(0.002)


def _events(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def _timeline(
    events: list[dict[str, Any]], returned: float
) -> tuple[dict[str, float], list[float]]:
    """The round's scheduler events, in ms from the command's return (negative: before it)."""
    marks: dict[str, float] = {}

    def mark(name: str, ts: float) -> None:
        marks.setdefault(name, (ts - returned) * 1000)

    dependents = {f"d{i:02d}" for i in range(DEPENDENTS)}
    started = []
    latencies = []
    for event in events:
        kind, stage, ts = event.get("kind"), event.get("stage"), float(event.get("ts") or 0)
        if stage == ROOT and kind == "stage-completed":
            mark("completion_written", ts)
        elif stage == ROOT and kind == "merge-done":
            mark("merge_done", ts)
        elif stage == ROOT and kind == "session-ended":
            mark("root_session_ended", ts)
        elif stage in dependents and kind == "stage-status" and event.get("new") == "queued":
            mark("promoted", ts)
        elif stage in dependents and kind == "session-started":
            started.append(ts)
            if event.get("latency_ms") is not None:
                latencies.append(float(event["latency_ms"]))
    if started:
        started.sort()
        mark("first_session_started_event", started[0])
        mark("last_session_started_event", started[-1])
    return marks, latencies


def _round(bench: Any, n: int) -> tuple[float, float, dict[str, float], list[float]]:
    """One fresh project: (1st, 16th) dependent start in ms from `stage complete` returning, the
    timeline of the scheduler's events, and its starts' latencies."""
    root = bench.init_plan(f"p1b-{n}", _plan())
    starts_file = root / ".work" / "sim" / "starts.jsonl"
    runner = subprocess.Popen(
        [bench.loom, "run", "--headless", "--agent", "sim", "-p", str(PARALLEL)],
        cwd=root,
        env=bench.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait(lambda: ROOT in _starts(starts_file), "the root's agent")
        time.sleep(SETTLE_SECONDS)
        bench.run([bench.loom, "stage", "complete", ROOT], cwd=root)
        returned = time.time()

        def enough() -> bool:
            return len(_starts(starts_file)) - 1 >= PARALLEL

        _wait(enough, f"{PARALLEL} dependents to start")
        time.sleep(0.1)  # the last session-started events are written after the last pane opens
        found = sorted(ts for stage, ts in _starts(starts_file).items() if stage != ROOT)
        first = (found[0] - returned) * 1000
        last = (found[PARALLEL - 1] - returned) * 1000
        marks, latencies = _timeline(_events(root / ".work" / "events.jsonl"), returned)
        marks["first_agent_started"] = first
        marks["agent_16_started"] = last
    finally:
        runner.send_signal(signal.SIGTERM)
        try:
            runner.wait(timeout=30)
        except subprocess.TimeoutExpired:
            runner.kill()
        bench.stop_sessions(root)
    return first, last, marks, latencies


def run(bench: Any) -> dict[str, object]:
    from benchlib import fanout_floor, log, summary_ms

    firsts: list[float] = []
    lasts: list[float] = []
    spreads: list[float] = []
    timelines: list[dict[str, float]] = []
    latencies: list[float] = []
    for n, measured in enumerate(bench.samples("P1b")):
        first, last, marks, lat = _round(bench, n)
        log(f"P1b: round {n + 1}: 1st {first:.0f} ms, {PARALLEL}th {last:.0f} ms")
        if measured:
            firsts.append(first)
            lasts.append(last)
            spreads.append(last - first)
            timelines.append(marks)
            latencies += lat
    floor = fanout_floor(bench, PARALLEL, "P1b floor (16 bare tmux new-window)")
    stats = summary_ms(lasts)
    names = sorted({k for t in timelines for k in t}, key=lambda k: statistics.median(
        [t[k] for t in timelines if k in t]
    ))  # fmt: skip
    timeline = {k: round(statistics.median([t[k] for t in timelines if k in t]), 1) for k in names}
    return {
        "dependent_16_start_ms": stats,
        "dependent_1_start_ms": summary_ms(firsts),
        "spread_16th_minus_1st_ms": summary_ms(spreads),
        "timeline_ms": timeline,
        "start_latency_ms": summary_ms(latencies) | {"max": round(max(latencies), 3)},
        "floor_fanout_ms": {k: summary_ms(v) for k, v in floor.items()},
        "ratio_to_fanout_floor": round(stats["p50"] / statistics.median(floor["threads"]), 2),
        "note": "measured from `loom stage complete root` returning (the scheduler may react to "
        "the state file before the command's process has exited); timeline_ms is the p50 of each "
        "mark over the rounds, on the same clock",
        "dependents": DEPENDENTS,
        "max_parallel": PARALLEL,
        "runs": len(lasts),
        "samples_ms": [round(s, 1) for s in lasts],
        "goal_p50_ms": GOAL_P50_MS,
        "goal_met": stats["p50"] <= GOAL_P50_MS,
    }
