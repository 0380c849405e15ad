"""Shared fixtures: real git repositories in temporary directories and the real `loom` CLI.

Nothing here mocks git or the CLI: repositories are made with pygit2 and `loom` runs as a
subprocess, exactly as an agent in a tmux pane runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PLAN = REPO_ROOT / "loom_tui" / "samples" / "PLAN-0001-wordcount.md"
LOOM = str(Path(sys.executable).parent / "loom")
SIGNATURE = pygit2.Signature("loom tests", "tests@loom.invalid")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's environment out of the tests."""
    for name in ("LOOM_WORK_DIR", "LOOM_STAGE_ID", "LOOM_SESSION_ID", "TMUX", "TMUX_PANE"):
        monkeypatch.delenv(name, raising=False)


def make_repo(path: Path, files: dict[str, str] | None = None, branch: str = "main") -> Path:
    """A git repository at ``path`` with one commit holding ``files``."""
    path.mkdir(parents=True, exist_ok=True)
    repo = pygit2.init_repository(str(path), initial_head=branch)
    for name, content in (files or {"README.md": "# demo project\n"}).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        repo.index.add(name)
    repo.index.write()
    tree = repo.index.write_tree()
    repo.create_commit("HEAD", SIGNATURE, SIGNATURE, "initial commit", tree, [])
    return path


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """An empty-ish git repository on branch main with one commit."""
    return make_repo(tmp_path / "repo")


@pytest.fixture
def sample_plan(git_repo: Path) -> Path:
    """The bundled sample plan, copied into the repository's doc/plans/."""
    target = git_repo / "doc" / "plans" / SAMPLE_PLAN.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLE_PLAN, target)
    return target


RunLoom = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def loom(git_repo: Path) -> RunLoom:
    """Run the real `loom` console script in the repository; returns the CompletedProcess."""

    def run(
        *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
        full_env.update(env or {})
        proc = subprocess.run(
            [LOOM, *args],
            cwd=cwd or git_repo,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"loom {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    return run


@pytest.fixture
def project(git_repo: Path, sample_plan: Path, loom: RunLoom) -> Path:
    """A repository initialised with the sample plan; returns the repository root."""
    loom("init", str(sample_plan.relative_to(git_repo)), check=True)
    return git_repo
