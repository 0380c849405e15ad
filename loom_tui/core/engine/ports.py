"""What the engine needs from the world outside `.work/`: panes to run agents in, and a git
repository.  `Tmux` (core/tmux.py) is the real pane host and `GitRepository` below the real
repository; the policy's property tests hand the executor in-memory ones instead."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from loom_tui.core import git, merge_check
from loom_tui.core.fsutil import FileLock, write_boundary
from loom_tui.core.git import MergeResult
from loom_tui.core.merge_check import MergeCheck
from loom_tui.core.model import StageRecord
from loom_tui.core.store import Store
from loom_tui.core.tmux import PaneInfo, TmuxError, WindowSpec

T = TypeVar("T")


class PaneHost(Protocol):
    socket_name: str

    def list_panes(self) -> dict[str, PaneInfo]: ...

    def new_windows(self, specs: list[WindowSpec]) -> list[PaneInfo | TmuxError]: ...

    def capture(self, pane_id: str, lines: int = 40) -> list[str]: ...

    def kill_window(self, target: str) -> None: ...

    def paste(self, pane_id: str, text: str, *, enter: bool = True) -> None: ...

    def nudge(self) -> None: ...

    def kill_server(self) -> None: ...

    def server_running(self) -> bool: ...

    def end_if_idle(self) -> bool: ...


class Repository(Protocol):
    #: stale lock files removed since the executor last looked (see `GitRepository._git`)
    cleared: list[str]

    def ensure_worktree(self, stage_id: str, *, fresh: bool) -> str: ...

    def merge(self, stage_id: str) -> MergeResult: ...

    def merge_check_needed(self, stage: StageRecord) -> bool: ...

    def check_merge(self, store: Store, stage_id: str) -> MergeCheck: ...

    def remove_worktree(self, stage_id: str) -> None: ...


class GitRepository:
    """The project's repository, through `core.git`; merges hold `.work/merge.lock` (shared with
    `loom merge`)."""

    def __init__(self, root: str, base_branch: str, work_dir: str) -> None:
        self.root = root
        self.base = base_branch
        self._merge_lock = os.path.join(work_dir, "merge.lock")
        #: stale git lock files removed (what the executor tells a person about)
        self.cleared: list[str] = []

    def ensure_worktree(self, stage_id: str, *, fresh: bool) -> str:
        path = self._git(git.ensure_worktree, self.root, stage_id, self.base, fresh=fresh)
        write_boundary()
        return path

    def merge(self, stage_id: str) -> MergeResult:
        with FileLock(self._merge_lock):
            result = self._git(git.merge_stage, self.root, stage_id, self.base)
        write_boundary()
        return result

    def merge_check_needed(self, stage: StageRecord) -> bool:
        return self._git(merge_check.needed, self.root, stage, self.base)

    def check_merge(self, store: Store, stage_id: str) -> MergeCheck:
        """Merge the base into the stage's branch and run its gates there (minutes, maybe): not
        under the merge lock, which would hold every other merge back meanwhile."""
        result = self._git(merge_check.run, store, stage_id, self.base)
        write_boundary()
        return result

    def remove_worktree(self, stage_id: str) -> None:
        self._git(git.remove_worktree, self.root, stage_id, delete_branch=True)
        write_boundary()

    def _git(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn``; if a lock file left by a killed process stands in its way, remove it and
        run ``fn`` again (git's own advice, "remove the file manually", done for loom's repo)."""
        for _attempt in range(3):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                cleared = git.clear_stale_lock(exc, self.root)
                if cleared is None:
                    raise
                self.cleared.append(cleared)
        return fn(*args, **kwargs)
