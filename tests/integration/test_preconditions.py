"""`loom run` and `loom` check what a run needs before anything starts.

Without tmux, the scheduler used to start and print `error: TmuxCommandNotFound:` (an exception's
name, no message) every second, forever; without the base branch, an error per pass.  Now each
missing piece is one `loom: …` line saying what to do, and nothing starts: no scheduler lock, no
session, no worktree.  The real `loom` runs with a PATH made for each case.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import LOOM

#: The issue's bound is 2 s; asserted generously (a loaded machine), measured in the report.
EXIT_WITHIN = 10.0


def path_with(tmp_path: Path, *tools: str) -> str:
    """A PATH of one folder holding only ``tools`` (links to the real ones)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for tool in tools:
        real = shutil.which(tool)
        assert real is not None, f"{tool} is needed by this test"
        (folder / tool).symlink_to(real)
    return str(folder)


def run_loom(
    project: Path, path: str, *args: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOM_", "TMUX"))}
    env["PATH"] = path
    start = time.monotonic()
    proc = subprocess.run(
        [LOOM, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return proc, time.monotonic() - start


def assert_nothing_started(project: Path) -> None:
    work = project / ".work"
    assert not list((work / "sessions").glob("*.md")), "a session was recorded"
    assert not (project / ".worktrees").exists() or not any((project / ".worktrees").iterdir())


@pytest.mark.parametrize("args", [("run", "--headless", "--agent", "sim"), ()])
def test_without_tmux_loom_says_so_in_one_line_and_exits_2(
    project: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    proc, took = run_loom(project, path_with(tmp_path, "git"), *args)
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("loom: tmux is not on PATH") and "install tmux" in line
    assert "Traceback" not in proc.stderr and "TmuxCommandNotFound" not in proc.stderr
    assert took < EXIT_WITHIN
    assert_nothing_started(project)


def test_the_claude_agent_without_claude_says_so_and_names_the_simulated_one(
    project: Path, tmp_path: Path
) -> None:
    proc, _took = run_loom(
        project, path_with(tmp_path, "git", "tmux"), "run", "--headless", "--agent", "claude"
    )
    assert proc.returncode == 2, proc
    (line,) = proc.stderr.splitlines()
    assert line.startswith("loom: claude (the Claude Code CLI) is not on PATH")
    assert "--agent sim" in line
    assert_nothing_started(project)


def test_a_missing_base_branch_is_one_line_and_nothing_starts(project: Path) -> None:
    """The base branch renamed after `loom init`: the run cannot build on anything."""
    subprocess.run(["git", "branch", "-m", "main", "trunk"], cwd=project, check=True)
    proc, _took = run_loom(project, os.environ["PATH"], "run", "--headless", "--agent", "sim")
    assert proc.returncode == 1, proc
    (line,) = proc.stderr.splitlines()
    assert line.startswith("loom: base branch 'main' does not exist")
    assert "base_branch" in line  # where to point the run at another branch
    assert_nothing_started(project)
