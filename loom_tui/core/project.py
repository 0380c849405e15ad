"""Finding the project: which `.work/` directory a command acts on.

In order: ``--work-dir``, else ``$LOOM_WORK_DIR``, else the nearest ancestor of the current
directory that holds `.work/`, else the main worktree of the enclosing git repository (so that a
command run inside a stage's worktree under `.worktrees/` still finds the project).  Either the
project root or the `.work` directory itself may be given explicitly.
"""

from __future__ import annotations

import os

from loom_tui.core.errors import ProjectNotFound

WORK_DIR_NAME = ".work"
WORKTREES_DIR_NAME = ".worktrees"
ENV_WORK_DIR = "LOOM_WORK_DIR"


def _as_work_dir(path: str) -> str | None:
    path = os.path.abspath(path)
    if os.path.basename(path) == WORK_DIR_NAME and os.path.isdir(path):
        return path
    candidate = os.path.join(path, WORK_DIR_NAME)
    if os.path.isdir(candidate):
        return candidate
    return None


def _main_worktree(start: str) -> str | None:
    """The main worktree of the git repository enclosing ``start``, read from `.git` files only."""
    current = os.path.abspath(start)
    while True:
        dot_git = os.path.join(current, ".git")
        if os.path.isdir(dot_git):
            return current
        if os.path.isfile(dot_git):
            try:
                with open(dot_git, encoding="utf-8") as fh:
                    first = fh.readline().strip()
            except OSError:
                return None
            if not first.startswith("gitdir:"):
                return None
            gitdir = os.path.normpath(os.path.join(current, first[len("gitdir:") :].strip()))
            common = gitdir
            try:
                with open(os.path.join(gitdir, "commondir"), encoding="utf-8") as fh:
                    common = os.path.normpath(os.path.join(gitdir, fh.readline().strip()))
            except OSError:
                pass
            if os.path.basename(common) == ".git":
                return os.path.dirname(common)
            return None
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def find_work_dir(explicit: str | None = None, cwd: str | None = None) -> str:
    """The absolute path of the `.work/` directory to use, or `ProjectNotFound`."""
    if explicit:
        found = _as_work_dir(explicit)
        if found is None:
            raise ProjectNotFound(f"--work-dir {explicit}: no .work/ directory there")
        return found
    from_env = os.environ.get(ENV_WORK_DIR)
    if from_env:
        found = _as_work_dir(from_env)
        if found is None:
            raise ProjectNotFound(f"${ENV_WORK_DIR}={from_env}: no .work/ directory there")
        return found
    start = os.path.abspath(cwd or os.getcwd())
    current = start
    while True:
        candidate = os.path.join(current, WORK_DIR_NAME)
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    main = _main_worktree(start)
    if main is not None:
        found = _as_work_dir(main)
        if found is not None:
            return found
    raise ProjectNotFound(
        "no loom project here: no .work/ directory in this directory or its parents "
        "(start one with `loom init PLAN`)"
    )
