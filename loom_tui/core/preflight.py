"""What `loom run` and `loom` check once, before anything starts.

A run needs tmux (every agent lives in a tmux pane), the agent's own command (`claude` for the
real agent), and the base branch the stages build on.  Without them the scheduler would start and
then fail on every pass; instead each missing piece is one line that says what to do, and the run
does not start.  A missing tool is exit 2 (the machine is not set up for the command as asked); a
missing base branch is exit 1 (the repository is not in a state the run can build on).

A `loom` that only watches a scheduler running elsewhere needs tmux (to show the panes) but not
the agent nor the branch: those are the running scheduler's business.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import TYPE_CHECKING

from loom_tui.core.errors import EXIT_USAGE, LoomError

if TYPE_CHECKING:
    from loom_tui.core.store import Store

#: What a missing tmux is told, here and by every tmux call (libtmux's own exception is empty).
TMUX_MISSING = (
    "tmux is not on PATH: loom runs every agent in its own tmux pane; "
    "install tmux (e.g. `apt install tmux` or `brew install tmux`) and run loom again"
)

CLAUDE_MISSING = (
    "claude (the Claude Code CLI) is not on PATH: install it "
    "(`npm install -g @anthropic-ai/claude-code`), or run loom's simulated agent with "
    "`--agent sim`"
)


class MissingTool(LoomError):
    """A program the run needs is not installed (or not on PATH)."""

    exit_code = EXIT_USAGE


def check_run(store: Store, agent: str) -> None:
    """Raise `MissingTool` or `LoomError` (one line each) unless ``store``'s plan can run with
    ``agent`` here and now."""
    check_tmux()
    from loom_tui.core.control import scheduler_pid

    if scheduler_pid(store) is not None:
        return  # watching a run: its scheduler has what it needs
    if agent == "claude":
        check_claude()
    check_base_branch(store.root, store.config().base_branch)


def check_tmux() -> None:
    if shutil.which("tmux") is None:  # libtmux is not imported for this: 0.1-0.8 s
        raise MissingTool(TMUX_MISSING)


def check_claude() -> None:
    explicit = os.environ.get("LOOM_CLAUDE_BIN")
    if explicit:
        if shutil.which(explicit) is None:  # a path, or a name looked up on PATH
            raise MissingTool(f"LOOM_CLAUDE_BIN={explicit} is not an executable program")
        return
    from loom_tui.core.agents.claude_code import BINARY

    if shutil.which(BINARY) is None:
        raise MissingTool(CLAUDE_MISSING)


def check_base_branch(root: str, branch: str) -> None:
    """Asked of git itself first (a few ms): importing pygit2 costs ten times more, on the way
    to every run's start; pygit2 only tells, when the branch is missing, why."""
    import subprocess

    ref = f"refs/heads/{branch}^{{commit}}"
    with contextlib.suppress(OSError):
        found = subprocess.run(
            ["git", "-C", root, "rev-parse", "--verify", "--quiet", ref],
            capture_output=True,
            check=False,
        )
        if found.returncode == 0:
            return
    from loom_tui.core import git

    repo = git.open_repo(root)
    if repo.branches.local.get(branch) is not None:
        return
    if repo.head_is_unborn and not list(repo.branches.local):
        raise LoomError(
            f"base branch {branch!r} does not exist: the repository has no commit yet; "
            f"commit once on {branch!r}, then run loom again"
        )
    raise LoomError(
        f"base branch {branch!r} does not exist: create or restore it "
        f"(`git branch {branch} <commit>`), or set base_branch under [plan] in "
        ".work/config.toml"
    )
