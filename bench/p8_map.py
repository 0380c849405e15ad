"""P8: `loom map` on loom-tui's own repository, plain and `--deep`, against `python -c pass`; and
`loom knowledge show entry-points`, an agent-facing command on the fast path, in the same rounds.

The repository's files are copied to a temporary directory (with an empty `.git`, no
environments or caches, as a fresh clone would have), and each round times `python -c pass`,
`loom map` and `loom map --deep` there; every run rewrites the same generated sections.  At most
10 measured rounds: `--deep` parses every Python module.  Goal: a plain map within 10× the bare
interpreter's start (it walks the tree, reads the manifests and parses only the files that
mention `__main__`).
"""

from __future__ import annotations

import shutil
from typing import Any

NAME = "P8"
KEY = "P8_map"
GOAL_RATIO = 10


def run(bench: Any) -> dict[str, object]:
    from benchlib import REPO_ROOT, summary_ms

    copy = bench.fresh_dir("p8") / "loom-tui"
    shutil.copytree(
        REPO_ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".work", ".worktrees", "__pycache__", "*_cache", ".hypothesis", "doc"
        ),
    )
    (copy / ".git").mkdir()
    python_pass = [bench.python, "-c", "pass"]
    plain: list[float] = []
    deep: list[float] = []
    show: list[float] = []
    base: list[float] = []
    rounds = min(bench.runs, 10)
    for i in range(bench.warmup + rounds):
        measured = i >= bench.warmup
        p = bench.run(python_pass).ms
        m = bench.run([bench.loom, "map"], cwd=copy, expect="test command: make test").ms
        d = bench.run([bench.loom, "map", "--deep"], cwd=copy, expect="test command: make test").ms
        show_entry_points = [bench.loom, "knowledge", "show", "entry-points"]
        k = bench.run(show_entry_points, cwd=copy, expect="make test")
        if measured:
            show.append(k.ms)
            base.append(p)
            plain.append(m)
            deep.append(d)
    files = sum(1 for _ in copy.rglob("*.py"))
    ratio = summary_ms(plain)["p50"] / summary_ms(base)["p50"]
    return {
        "python_pass_ms": summary_ms(base),
        "map_ms": summary_ms(plain),
        "map_deep_ms": summary_ms(deep),
        "map_ratio_p50": round(ratio, 2),
        "deep_ratio_p50": round(summary_ms(deep)["p50"] / summary_ms(base)["p50"], 2),
        "knowledge_show_ms": summary_ms(show),
        "knowledge_show_ratio_p50": round(summary_ms(show)["p50"] / summary_ms(base)["p50"], 2),
        "python_files": files,
        "runs": len(plain),
        "goal_ratio": GOAL_RATIO,
        "goal_met": ratio <= GOAL_RATIO,
    }
