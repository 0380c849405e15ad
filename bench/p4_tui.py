"""P4: the TUI's first paint on a 200-stage plan, and its CPU use with 20 live sessions.

Both run the real `loom` console script in a real tmux pane (a private server, 200x60), as a person
would, and read the screen with `capture-pane`:

- first paint: from starting `loom` in the pane to the screen showing the header's progress and
  the DAG's first stage, over several starts, for a 200-stage plan and for a 5-stage plan in the
  same run (goals: 1 s, and the 200-stage median at most 1.5 times the 5-stage one: the start-up
  of Python and Textual is the same for both, so the ratio is what the plan's size costs);
- CPU: 20 independent stages whose simulated agents keep working (a tool call, hooks, a statusLine
  reading and a transcript line every 1.5 s each), all running; the `loom` process's user+system
  time is read from /proc over 30 s (goal: at most 1.5% of one core).  The scheduler runs inside
  the TUI, so this is the whole of loom's cost; the TUI itself re-reads nothing on a timer.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path
from typing import Any

NAME = "P4"
KEY = "P4_tui"
GOAL_PAINT_MS = 1000
GOAL_PAINT_RATIO = 1.5
GOAL_CPU_PERCENT = 1.5
CPU_SECONDS = 30.0
SESSIONS = 20


def _big_plan(count: int) -> str:
    from benchlib import plan_markdown

    rng = random.Random(200)
    stages = []
    for i in range(count):
        deps = sorted({f"s{rng.randrange(i)}" for _ in range(rng.randint(0, 2))} if i else set())
        stages.append(
            {
                "id": f"s{i}",
                "name": f"Stage {i}",
                "description": "A stage of a large plan.",
                "dependencies": f"[{', '.join(deps)}]",
                "sim": "{scenario: stall}",
            }
        )
    return plan_markdown(f"PLAN-0104: {count} stages", stages, max_parallel=1)


def _busy_plan(count: int) -> str:
    from benchlib import plan_markdown

    stages = [
        {
            "id": f"w{i}",
            "name": f"Worker {i}",
            "description": "Keep working for minutes.",
            "context_budget": "99",
            "sim": "{steps: 400, step_seconds: 1.5, tokens_per_step: 100}",
        }
        for i in range(count)
    ]
    return plan_markdown("PLAN-0105: 20 sessions", stages, max_parallel=count)


class Pane:
    """A private tmux server with one 200x60 pane running a command."""

    def __init__(self, socket: str, env: dict[str, str]) -> None:
        self.socket = socket
        self.env = {k: v for k, v in env.items() if k not in ("TMUX", "TMUX_PANE")}

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        ).stdout

    def start(self, command: str, cwd: Path) -> int:
        self.tmux("kill-server")
        self.tmux(
            "new-session", "-d", "-s", "bench", "-x", "200", "-y", "60", "-c", str(cwd), command
        )
        return int(self.tmux("display-message", "-p", "-t", "bench", "#{pane_pid}").strip())

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "bench")

    def kill(self) -> None:
        self.tmux("kill-server")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def _first_paint(bench: Any, root: Path, pane: Pane, runs: int, count: int) -> list[float]:
    from benchlib import BenchError

    samples = []
    for _ in range(runs):
        bench.stop_sessions(root)
        started = time.perf_counter()
        pane.start(f"{bench.loom} run --agent sim", root)
        deadline = started + 30
        while True:
            screen = pane.screen()
            if f"/{count} done" in screen and " s0" in screen:
                samples.append((time.perf_counter() - started) * 1000)
                break
            if time.perf_counter() > deadline:
                raise BenchError(f"the TUI did not paint within 30 s:\n{screen}")
            time.sleep(0.005)
        pane.tmux("send-keys", "-t", "bench", "q")
        time.sleep(0.3)
        pane.kill()
    return samples


def run(bench: Any) -> dict[str, object]:
    from benchlib import BenchError, log, summary_ms

    pane = Pane(f"loom-bench-{os.getpid()}", bench.env)
    runs = max(5, bench.runs // 4)
    small = bench.init_plan("p4-small", _big_plan(5))
    big = bench.init_plan("p4-big", _big_plan(200))
    log("P4: first paint of a 5-stage and of a 200-stage plan, turn about")
    paints: list[float] = []
    small_paints: list[float] = []
    try:
        for _ in range(runs):  # alternated, so that both see the same machine
            small_paints += _first_paint(bench, small, pane, 1, 5)
            paints += _first_paint(bench, big, pane, 1, 200)
    finally:
        pane.kill()
        bench.stop_sessions(big)
        bench.stop_sessions(small)

    busy = bench.init_plan("p4-busy", _busy_plan(SESSIONS))
    from loom_tui.core.store import Store

    store = Store(str(busy / ".work"))
    log(f"P4: CPU of the TUI with {SESSIONS} live sessions over {CPU_SECONDS:.0f} s")
    try:
        pane.start(f"{bench.loom} run --agent sim", busy)
        deadline = time.monotonic() + 120
        while sum(1 for s in store.sessions() if s.status == "running") < SESSIONS:
            if time.monotonic() > deadline:
                raise BenchError("the 20 sessions did not all start")
            time.sleep(0.2)
        # the TUI and its scheduler run in loom's control window, not in the pane (which holds
        # only the attached tmux client): measure the process that holds the scheduler's lock
        from loom_tui.core.control import scheduler_pid

        pid = scheduler_pid(store) or 0
        if pid <= 0:
            raise BenchError("no scheduler holds the project")
        time.sleep(3)  # let the start-up settle
        cpu0, wall0 = _cpu_seconds(pid), time.monotonic()
        time.sleep(CPU_SECONDS)
        cpu1, wall1 = _cpu_seconds(pid), time.monotonic()
        readings = sum(1 for e in store.read_events() if e.get("kind") == "context")
        screen = pane.screen()
    finally:
        pane.kill()
        bench.stop_sessions(busy)
    percent = (cpu1 - cpu0) / (wall1 - wall0) * 100
    paint = summary_ms(paints)
    small_paint = summary_ms(small_paints)
    ratio = paint["p50"] / small_paint["p50"] if small_paint["p50"] else 0.0
    return {
        "first_paint_200_stages_ms": paint,
        "first_paint_5_stages_ms": small_paint,
        "paint_ratio_200_to_5": round(ratio, 2),
        "goal_paint_ratio": GOAL_PAINT_RATIO,
        "first_paint_runs": len(paints),
        "goal_paint_ms": GOAL_PAINT_MS,
        "cpu_percent_of_one_core": round(percent, 2),
        "cpu_window_seconds": round(wall1 - wall0, 1),
        "live_sessions": SESSIONS,
        "context_readings_during_run": readings,
        "goal_cpu_percent": GOAL_CPU_PERCENT,
        "goal_met": paint["p95"] <= GOAL_PAINT_MS
        and ratio <= GOAL_PAINT_RATIO
        and percent <= GOAL_CPU_PERCENT,
        "screen_tail": screen.splitlines()[:3],
    }
