"""P7: the diff screen's costs on a large stage.

The stage's branch holds 200 changed Python files (about 80 lines each) and one generated file of
20,000 lines (cut after 2,000 in the view); its worktree holds 50 more modified files and 20
untracked ones.  Measured, each as p50/p95 over the runs:

- ``diff_ms``: `stage_diff`, the whole computation a refresh makes when something changed;
- ``key_ms``: `diff_key`, what a refresh costs when nothing changed (the diff screen checks it
  every 2 s while it is open, in a worker thread);
- ``render_ms``: highlighting the cut 2,000-line file for the view (in a worker thread too).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

NAME = "P7"
KEY = "P7_stage_diff"
FILES = 200
LINES = 80
BIG_LINES = 20_000
WORKTREE_MODIFIED = 50
WORKTREE_NEW = 20


def _module(index: int, variant: str) -> str:
    body = [f'"""Module {index} ({variant})."""', "", "import os", ""]
    for n in range(LINES // 4):
        body += [f"def f_{n}(x):", f"    return x + {n}  # {variant}", "", ""]
    return "\n".join(body) + "\n"


def _stage(bench: Any) -> Path:
    import pygit2

    from loom_tui.core import git

    root = bench.make_repo("p7")
    git.exclude_paths(str(root), [".worktrees/"])
    repo = pygit2.Repository(str(root))
    pkg = root / "pkg"
    pkg.mkdir()
    for i in range(FILES):
        (pkg / f"m{i}.py").write_text(_module(i, "base"))
    repo.index.add_all()
    repo.index.write()
    sig = pygit2.Signature("loom bench", "bench@loom.invalid")
    repo.create_commit(
        "HEAD", sig, sig, "base modules", repo.index.write_tree(), [repo.head.target]
    )
    wt = Path(git.ensure_worktree(str(root), "big", "main"))
    for i in range(FILES):
        (wt / "pkg" / f"m{i}.py").write_text(_module(i, "stage"))
    (wt / "generated.txt").write_text("".join(f"row {n}\n" for n in range(BIG_LINES)))
    git.commit_all(str(wt), "the stage's work")
    for i in range(WORKTREE_MODIFIED):
        (wt / "pkg" / f"m{i}.py").write_text(_module(i, "uncommitted"))
    for i in range(WORKTREE_NEW):
        (wt / f"new{i}.py").write_text(_module(i, "new"))
    return root


def _time(call: Any, runs: int) -> tuple[list[float], Any]:
    samples, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples, result


def run(bench: Any) -> dict[str, object]:
    from benchlib import log, summary_ms

    from loom_tui.core.stage_diff import diff_key, stage_diff
    from loom_tui.tui.diff_render import DiffStyles, render_file

    log("P7: making a stage with 201 committed files and 70 uncommitted ones")
    root = str(_stage(bench))
    runs = max(bench.runs, 10)
    stage_diff(root, "big", "main")  # warm the imports and the page cache
    diff_samples, diff = _time(lambda: stage_diff(root, "big", "main"), runs)
    key_samples, _ = _time(lambda: diff_key(root, "big", "main"), runs)
    big = next(f for f in diff.committed if f.path == "generated.txt")
    module = next(f for f in diff.committed if f.path == "pkg/m0.py")
    render_file(module, DiffStyles())
    render_samples, lines = _time(lambda: render_file(big, DiffStyles()), runs)
    module_samples, _ = _time(lambda: render_file(module, DiffStyles()), runs)
    return {
        "diff_ms": summary_ms(diff_samples),
        "key_ms": summary_ms(key_samples),
        "render_2000_lines_ms": summary_ms(render_samples),
        "render_python_file_ms": summary_ms(module_samples),
        "committed_files": len(diff.committed),
        "uncommitted_files": len(diff.working or ()),
        "big_file_lines_kept": len(big.lines),
        "big_file_lines_omitted": big.omitted,
        "rendered_lines": len(lines),
        "runs": runs,
    }
