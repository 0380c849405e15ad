"""P5: the cost of one context-gauge reading on a 100 MB transcript against a 1 MB one.

Both transcripts are built from the real capture's line shapes (user prompts, assistant messages
with usage, tool results with long outputs); the newest assistant usage is near the end, as in a
live session.  A reading walks back from the end to that line, so its cost must not grow with the
file: the goal is a ratio of at most 1.5.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

NAME = "P5"
KEY = "P5_gauge_reading_cost"
GOAL_RATIO = 1.5
MB = 1024 * 1024


def _lines(index: int) -> list[str]:
    usage = {
        "input_tokens": 40 + index % 7,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 20_000 + index * 3,
        "output_tokens": 120,
    }
    assistant = {
        "type": "assistant",
        "sessionId": "bench",
        "message": {
            "id": f"msg_{index}",
            "type": "message",
            "role": "assistant",
            "model": "claude-opus-4-8",
            "content": [
                {
                    "type": "tool_use",
                    "id": f"toolu_{index}",
                    "name": "Bash",
                    "input": {"command": f"pytest -q tests/test_{index}.py"},
                }
            ],
            "usage": usage,
        },
    }
    result = {
        "type": "user",
        "sessionId": "bench",
        "message": {
            "role": "user",
            "content": [
                {
                    "tool_use_id": f"toolu_{index}",
                    "type": "tool_result",
                    "content": ("collected 120 items ... " * 120)[:3000],
                    "is_error": False,
                }
            ],
        },
    }
    return [json.dumps(assistant), json.dumps(result)]


def _write(path: Path, size: int) -> int:
    written = 0
    index = 0
    with path.open("w", encoding="utf-8") as fh:
        while written < size:
            for line in _lines(index):
                fh.write(line + "\n")
                written += len(line) + 1
            index += 1
    return index


def _time_reading(path: Path, runs: int) -> tuple[float, Any]:
    from loom_tui.core.context import from_transcript

    samples = []
    reading = None
    for _ in range(runs):
        started = time.perf_counter()
        reading = from_transcript(str(path))
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), reading


def run(bench: Any) -> dict[str, object]:
    from benchlib import log

    folder = bench.fresh_dir("p5")
    small, large = folder / "1mb.jsonl", folder / "100mb.jsonl"
    log("P5: writing a 1 MB and a 100 MB transcript")
    small_messages = _write(small, 1 * MB)
    large_messages = _write(large, 100 * MB)
    runs = max(bench.runs, 20)
    _time_reading(small, 3)  # warm the page cache and the imports
    _time_reading(large, 3)
    small_ms, small_reading = _time_reading(small, runs)
    large_ms, large_reading = _time_reading(large, runs)
    ratio = large_ms / small_ms if small_ms else float("inf")
    return {
        "reading_ms": {"1MB": round(small_ms, 4), "100MB": round(large_ms, 4)},
        "ratio": round(ratio, 3),
        "goal_ratio": GOAL_RATIO,
        "goal_met": ratio <= GOAL_RATIO,
        "runs": runs,
        "transcript_messages": {"1MB": small_messages, "100MB": large_messages},
        "readings_agree": bool(small_reading and large_reading)
        and small_reading.window == large_reading.window,
    }
