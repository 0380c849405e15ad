"""`loom worktree list|clean`: the stages' git worktrees (`.worktrees/<id>` on `loom/<id>`).

`list` shows every worktree or `loom/*` branch loom knows of, with its stage's status and how
many commits its branch holds that the base branch does not.

`clean` removes the worktrees and branches that are done with: those of stages that are merged
(their work is in the base), skipped, or no longer in the plan; then it prunes git's records of
worktrees whose folders are gone.  It never loses work: a branch with commits the base does not
have, or a worktree with uncommitted changes, is kept unless ``force``; a stage with a live
session is always kept; and it refuses to run while a scheduler runs (holding the scheduler's lock
while it works, so none starts meanwhile).
"""

from __future__ import annotations

import os

from loom_tui.core import git
from loom_tui.core.errors import LockBusy, LoomError
from loom_tui.core.fsutil import FileLock
from loom_tui.core.model import StageRecord, Status
from loom_tui.core.store import Store

RESET_BACKUP = "-before-reset-"


class WorktreeRow:
    """One stage worktree or `loom/*` branch, as `loom worktree list` shows it."""

    __slots__ = ("ahead", "branch", "exists", "path", "registered", "stage", "status")

    def __init__(
        self,
        stage: str,
        path: str,
        branch: str | None,
        exists: bool,
        registered: bool,
        status: str,
        ahead: int | None,
    ) -> None:
        self.stage = stage
        self.path = path
        self.branch = branch
        self.exists = exists
        self.registered = registered
        self.status = status
        self.ahead = ahead

    def to_dict(self, store: Store) -> dict[str, object]:
        return {
            "stage": self.stage,
            "path": store.rel(self.path),
            "branch": self.branch,
            "exists": self.exists,
            "registered": self.registered,
            "status": self.status,
            "ahead": self.ahead,
        }


def _status_text(stage: StageRecord | None, name: str) -> str:
    if stage is None:
        if RESET_BACKUP in name:
            return f"reset backup of {name.split(RESET_BACKUP, 1)[0]}"
        return "not in plan"
    flags = [f for f, on in (("merged", stage.merged), ("held", stage.held)) if on]
    return stage.status.value + (f" ({', '.join(flags)})" if flags else "")


def _loom_worktree_names(root: str) -> set[str]:
    """Names of the worktrees git has registered under `.worktrees/` (folder present or not)."""
    repo = git.open_repo(root)
    prefix = os.path.join(root, git.WORKTREES_DIR) + os.sep
    folders = _folders(root)
    names = set()
    for name in repo.list_worktrees():
        try:
            path = repo.lookup_worktree(name).path
        except Exception:
            continue
        if os.path.normpath(path).startswith(prefix) or name in folders:
            names.add(name)
    return names


def _folders(root: str) -> set[str]:
    try:
        entries = os.listdir(os.path.join(root, git.WORKTREES_DIR))
    except OSError:
        return set()
    return {e for e in entries if os.path.isdir(os.path.join(root, git.WORKTREES_DIR, e))}


def _branches(root: str) -> set[str]:
    repo = git.open_repo(root)
    return {
        b[len(git.BRANCH_PREFIX) :] for b in repo.branches.local if b.startswith(git.BRANCH_PREFIX)
    }


def worktree_rows(store: Store) -> list[WorktreeRow]:
    """Every stage worktree, registered worktree under `.worktrees/` and `loom/*` branch."""
    root = store.root
    stages = {s.id: s for s in store.stages()}
    try:
        base: str | None = store.config().base_branch
    except LoomError:
        base = None
    folders = _folders(root)
    registered = _loom_worktree_names(root)
    branches = _branches(root)
    names = folders | registered | branches
    names |= {s.id for s in stages.values() if s.worktree}
    order = {sid: i for i, sid in enumerate(stages)}
    rows = []
    for name in sorted(names, key=lambda n: (order.get(n, len(order)), n)):
        branch = git.stage_branch(name) if name in branches else None
        ahead: int | None = None
        if branch is not None and base is not None:
            try:
                ahead = git.commits_ahead(root, name, base)
            except LoomError:
                ahead = None
        rows.append(
            WorktreeRow(
                stage=name,
                path=git.worktree_path(root, name),
                branch=branch,
                exists=name in folders,
                registered=name in registered,
                status=_status_text(stages.get(name), name),
                ahead=ahead,
            )
        )
    return rows


def uncommitted(path: str) -> list[str]:
    """Files with uncommitted changes (untracked ones too) in the worktree at ``path``."""
    if not os.path.exists(os.path.join(path, ".git")):
        return sorted(os.listdir(path)) if os.path.isdir(path) else []
    try:
        return sorted(set(git.dirty_files(path)) | set(git.untracked_files(path)))
    except LoomError:
        return ["(unreadable worktree)"]


def _listed(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def hold_scheduler_lock(store: Store, what: str) -> FileLock:
    """Take the scheduler's lock (so that none starts meanwhile), or refuse naming its pid."""
    from loom_tui.core.control import scheduler_pid

    lock = FileLock(store.scheduler_lock_path, blocking=False)
    if not lock.acquire():
        pid = scheduler_pid(store)
        raise LockBusy(
            f"a loom scheduler is running on this project{f' (pid {pid})' if pid else ''}: "
            f"stop it first (`loom stop`), then {what}"
        )
    return lock


def prune_stale(store: Store, *, dry_run: bool = False) -> list[str]:
    """Forget git's records of worktrees whose folders are gone (as `git worktree prune`).

    Records of loom's own worktrees are pruned even when locked; other locked ones are left.
    """
    repo = git.open_repo(store.root)
    prefix = os.path.join(store.root, git.WORKTREES_DIR) + os.sep
    lines = []
    for name in repo.list_worktrees():
        try:
            worktree = repo.lookup_worktree(name)
            path = worktree.path
        except Exception:
            continue
        if os.path.exists(path):
            continue
        ours = os.path.normpath(path).startswith(prefix)
        locked = os.path.exists(os.path.join(repo.path, "worktrees", name, "locked"))
        if locked and not ours:
            lines.append(f"kept git's record of worktree {name}: it is locked")
            continue
        if not dry_run:
            if ours:
                git.remove_worktree(store.root, name, delete_branch=False)
            else:
                worktree.prune(True)
        verb = "would prune" if dry_run else "pruned"
        lines.append(f"{verb} git's record of worktree {name} (its folder {path} is gone)")
    return lines


def clean_worktrees(store: Store, *, force: bool = False, dry_run: bool = False) -> list[str]:
    """`loom worktree clean`: the messages to print, one per worktree acted on or kept."""
    lock = hold_scheduler_lock(store, "clean the worktrees")
    try:
        return _clean(store, force=force, dry_run=dry_run)
    finally:
        lock.release()


def _clean(store: Store, *, force: bool, dry_run: bool) -> list[str]:
    stages = {s.id: s for s in store.stages()}
    live = {s.stage_id: s.id for s in store.sessions() if s.live}
    base = store.config().base_branch
    lines: list[str] = []
    removed = 0
    for row in worktree_rows(store):
        stage = stages.get(row.stage)
        if stage is not None and not (stage.merged or stage.status is Status.SKIPPED):
            continue
        where = store.rel(row.path) if row.exists else None
        what = (
            " and ".join(x for x in (where, f"branch {row.branch}" if row.branch else None) if x)
            or f"worktree {row.stage}"
        )
        why = "merged" if stage is not None and stage.merged else None
        why = why or ("skipped" if stage is not None else row.status)
        if row.stage in live:
            lines.append(f"kept {what}: session {live[row.stage][:8]} is live")
            continue
        if not force:
            if row.ahead is None and row.branch is not None:
                lines.append(
                    f"kept {what}: cannot tell whether {row.branch} holds commits not in "
                    f"{base} (--force removes it)"
                )
                continue
            if row.ahead:
                lines.append(
                    f"kept {what}: {row.branch} has {row.ahead} commit"
                    f"{'s' if row.ahead != 1 else ''} not in {base} (--force removes it)"
                )
                continue
            changes = uncommitted(row.path) if row.exists else []
            if changes:
                lines.append(
                    f"kept {what}: uncommitted changes to {_listed(changes)} (--force removes it)"
                )
                continue
        if not dry_run:
            git.remove_worktree(store.root, row.stage, delete_branch=True)
            if stage is not None and stage.worktree:
                store.update_stage(row.stage, lambda r: setattr(r, "worktree", None))
        removed += 1
        lines.append(f"{'would remove' if dry_run else 'removed'} {what} ({why})")
    lines.extend(prune_stale(store, dry_run=dry_run))
    if not lines:
        lines.append("no worktree to clean")
    elif removed == 0 and all(line.startswith("kept") for line in lines):
        lines.append("nothing was removed")
    return lines
