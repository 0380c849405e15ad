"""The fast path (`cli.fast`) answers exactly as the click application does.

`loom status`, `loom memory note|decision` and `loom stage VERB` are parsed by hand on the fast
path; each form here is run twice on the same project, through the real `loom` console script
(the fast path) and through the click application alone (`cli.app.run`, in its own interpreter),
and both must print the same, exit the same and leave the same records.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LOOM

CLICK_ONLY = "import sys\nfrom loom_tui.cli.app import run\nsys.exit(run(sys.argv[1:]))"


def run(
    root: Path, args: list[str], *, click: bool, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", CLICK_ONLY, *args] if click else [LOOM, *args]
    full = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
    full.update(env or {})
    return subprocess.run(
        argv, cwd=root, env=full, capture_output=True, text=True, timeout=120, check=False
    )


def same(
    root: Path, args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    fast = run(root, args, click=False, env=env)
    slow = run(root, args, click=True, env=env)
    assert "Traceback" not in fast.stderr + slow.stderr
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        slow.returncode,
        slow.stdout,
        slow.stderr,
    ), args
    return fast


def memory_lines(root: Path, stage: str) -> list[str]:
    path = root / ".work" / "memory" / f"{stage}.md"
    return [line.split("): ", 1)[1] for line in path.read_text().splitlines() if "): " in line]


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["memory", "note", "--stage", "scaffold", "the", "input", "is", "UTF-8"], "the input"),
        (["memory", "decision", "keep", "--stage", "scaffold", "it small"], "keep it small"),
        (["memory", "note", "--stage=scaffold", "--", "--not-an-option"], "--not-an-option"),
        (["memory", "note", "--stage", "scaffold", "-", "dash"], "- dash"),
    ],
)
def test_memory_forms_record_as_click_does(project: Path, args: list[str], text: str) -> None:
    proc = same(project, args)
    assert proc.returncode == 0
    lines = memory_lines(project, "scaffold")
    assert len(lines) == 2
    assert lines[0] == lines[1]
    assert lines[0].startswith(text)


def test_memory_takes_the_stage_of_the_session(project: Path) -> None:
    proc = same(project, ["memory", "note", "from", "a", "session"], {"LOOM_STAGE_ID": "docs"})
    assert proc.stdout == "note recorded for stage docs\n"
    assert memory_lines(project, "docs") == ["from a session"] * 2


@pytest.mark.parametrize(
    "args",
    [
        ["memory", "note", "--stage", "nosuch", "x"],
        ["memory", "note", "--stage", "Bad!", "x"],
        ["memory", "note", "x"],
        ["memory", "note", "--stage", "scaffold"],
        ["memory", "note", "--stage"],
        ["memory", "note", "--stage", "a", "--stage", "b", "x"],
        ["memory", "note", "--verbose", "x"],
        ["stage", "hold", "nosuch"],
        ["stage", "hold", "scaffold", "nosuch"],
        ["stage", "complete", "Bad!"],
        ["status", "--jsn"],
        ["status", "extra"],
    ],
)
def test_error_paths_answer_as_click_does(project: Path, args: list[str]) -> None:
    assert same(project, args).returncode != 0
    assert not (project / ".work" / "memory" / "scaffold.md").exists()


@pytest.mark.parametrize("args", [["status"], ["status", "--json"], ["--work-dir", ".", "status"]])
def test_status_forms_print_as_click_does(project: Path, args: list[str]) -> None:
    assert same(project, args).returncode == 0


def test_status_outside_a_project_fails_as_click_does(tmp_path: Path) -> None:
    proc = same(tmp_path, ["status"])
    assert proc.returncode == 1
    assert proc.stderr.startswith("loom: no loom project here")
