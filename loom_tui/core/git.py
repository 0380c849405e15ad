"""Git, through pygit2: the repository, stage worktrees and branches, and merges into the base.

Each stage works in `.worktrees/<id>` on branch `loom/<id>`, made from the base branch (which by
then holds the merged work of the stage's dependencies).  A completed stage is merged into the base
as a merge commit with two parents; a conflict leaves branch, worktree and base untouched.  If the
base is checked out in the user's main checkout, its files follow the merge, but uncommitted
changes there are never overwritten: the merge waits and says which files hold it back.

pygit2 calls block, so the scheduler runs these functions in threads (`asyncio.to_thread`).  Every
commit loom makes passes an explicit signature: CI machines have no git identity.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from typing import TYPE_CHECKING

from loom_tui.core.errors import LoomError

if TYPE_CHECKING:
    import pygit2

NOT_A_REPO = (
    "not inside a git repository: loom keeps each stage's work on a git branch "
    "(run `git init` and make a first commit)"
)
BRANCH_PREFIX = "loom/"
WORKTREES_DIR = ".worktrees"
LOOM_NAME = "loom"
LOOM_EMAIL = "loom@localhost"


def open_repo(path: str) -> pygit2.Repository:
    import pygit2

    try:
        return pygit2.Repository(path)
    except pygit2.GitError as exc:
        raise LoomError(f"{path}: not a git repository ({exc})") from None


def signature(repo: pygit2.Repository) -> pygit2.Signature:
    """The user's identity when git has one, else loom's own (CI machines have none)."""
    import pygit2

    try:
        return repo.default_signature
    except (KeyError, pygit2.GitError):
        return pygit2.Signature(LOOM_NAME, LOOM_EMAIL)


def repo_root(cwd: str) -> str:
    """The main worktree of the repository that contains ``cwd``."""
    import pygit2

    found = pygit2.discover_repository(cwd)
    if found is None:
        raise LoomError(NOT_A_REPO)
    repo = pygit2.Repository(found)
    if repo.is_bare:
        raise LoomError("the git repository is bare: loom needs a working tree")
    common = os.path.normpath(repo.path)
    if os.path.basename(os.path.dirname(common)) == "worktrees":
        common = os.path.dirname(os.path.dirname(common))
    return os.path.dirname(common)


def current_branch(root: str) -> str:
    """The branch checked out in ``root`` (also when it has no commit yet)."""
    import pygit2

    repo = open_repo(root)
    try:
        ref = repo.lookup_reference("HEAD")
    except (KeyError, pygit2.GitError) as exc:
        raise LoomError(f"cannot read HEAD: {exc}") from None
    target = ref.target
    if not isinstance(target, str) or not target.startswith("refs/heads/"):
        raise LoomError(
            "HEAD is detached: check out the branch the plan should build on, "
            "or set base_branch in the plan"
        )
    return target[len("refs/heads/") :]


def branch_exists(root: str, branch: str) -> bool:
    return open_repo(root).branches.local.get(branch) is not None


def has_branches(root: str) -> bool:
    """Whether any local branch exists: False in a repository without a commit."""
    return any(True for _ in open_repo(root).branches.local)


def exclude_paths(root: str, patterns: list[str]) -> None:
    """Add ``patterns`` to `.git/info/exclude` (local to this clone, never committed)."""
    repo = open_repo(root)
    info = os.path.join(repo.path, "info")
    os.makedirs(info, exist_ok=True)
    path = os.path.join(info, "exclude")
    try:
        with open(path, encoding="utf-8") as fh:
            existing = fh.read()
    except FileNotFoundError:
        existing = ""
    present = {line.strip() for line in existing.splitlines()}
    missing = [p for p in patterns if p not in present]
    if missing:
        with open(path, "a", encoding="utf-8") as fh:
            if existing and not existing.endswith("\n"):
                fh.write("\n")
            fh.write("# loom's state and stage worktrees\n")
            fh.writelines(f"{p}\n" for p in missing)


# --------------------------------------------------------------------------------------------------
# Stage worktrees


def stage_branch(stage_id: str) -> str:
    return f"{BRANCH_PREFIX}{stage_id}"


def worktree_path(root: str, stage_id: str) -> str:
    return os.path.join(root, WORKTREES_DIR, stage_id)


def _base_commit(repo: pygit2.Repository, base_branch: str) -> pygit2.Commit:
    import pygit2

    branch = repo.branches.local.get(base_branch)
    if branch is None:
        raise LoomError(f"base branch {base_branch!r} does not exist")
    try:
        commit = branch.peel(pygit2.Commit)
    except (pygit2.GitError, KeyError):
        raise LoomError(
            f"base branch {base_branch!r} has no commit yet: commit once first"
        ) from None
    return commit


def _drop_worktree_admin(repo: pygit2.Repository, name: str) -> None:
    """Forget a worktree whose folder is gone (unlocking it first: locked ones cannot be pruned)."""
    if name not in repo.list_worktrees():
        return
    lock = os.path.join(repo.path, "worktrees", name, "locked")
    if os.path.exists(lock):
        os.unlink(lock)
    repo.lookup_worktree(name).prune(True)
    admin = os.path.join(repo.path, "worktrees", name)
    if os.path.isdir(admin):
        shutil.rmtree(admin, ignore_errors=True)


def ensure_worktree(root: str, stage_id: str, base_branch: str, *, fresh: bool = False) -> str:
    """The stage's worktree on `loom/<id>`, created from the base branch when missing.

    An existing branch is continued (a retry or the next generation keeps its commits).  With
    ``fresh`` (a stage started over after a reset), a branch that holds commits the base does not
    is first kept under `loom/<id>-before-reset-<time>`, then made again from the base: nothing is
    lost, and the new session starts from the base.
    """
    import pygit2

    repo = open_repo(root)
    path = worktree_path(root, stage_id)
    name = stage_branch(stage_id)
    base = _base_commit(repo, base_branch)
    branch = repo.branches.local.get(name)
    if branch is not None and fresh:
        tip = branch.peel(pygit2.Commit)
        if tip.id != base.id and not repo.descendant_of(base.id, tip.id):
            backup = f"{name}-before-reset-{time.strftime('%Y%m%d-%H%M%S')}"
            repo.branches.local.create(backup, tip)
        remove_worktree(root, stage_id, delete_branch=True)
        branch = None
    if os.path.isdir(path) and os.path.exists(os.path.join(path, ".git")):
        return path
    _drop_worktree_admin(repo, stage_id)
    if os.path.exists(path):
        shutil.rmtree(path)
    if branch is None:
        branch = repo.branches.local.create(name, base)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    repo.add_worktree(stage_id, path, branch)
    return path


def remove_worktree(root: str, stage_id: str, *, delete_branch: bool) -> None:
    """Remove the stage's worktree folder and admin data, and its branch when asked."""
    repo = open_repo(root)
    path = worktree_path(root, stage_id)
    if os.path.exists(path):
        shutil.rmtree(path, ignore_errors=True)
    _drop_worktree_admin(repo, stage_id)
    if delete_branch:
        branch = repo.branches.local.get(stage_branch(stage_id))
        if branch is not None:
            branch.delete()


def commit_all(path: str, message: str) -> str | None:
    """Commit every change in the worktree at ``path`` (agents sometimes forget); None if clean."""
    import pygit2

    repo = open_repo(path)
    index = repo.index
    index.add_all()
    index.write()
    tree = index.write_tree()
    try:
        head = repo.head.peel(pygit2.Commit)
    except (pygit2.GitError, KeyError):
        return None
    if head.tree_id == tree:
        return None
    sig = signature(repo)
    return str(repo.create_commit("HEAD", sig, sig, message, tree, [head.id]))


def dirty_files(path: str) -> list[str]:
    """Tracked files with uncommitted changes in the checkout at ``path``."""
    import pygit2

    repo = open_repo(path)
    clean = pygit2.enums.FileStatus.CURRENT | pygit2.enums.FileStatus.IGNORED
    return sorted(f for f, flags in repo.status(untracked_files="no").items() if flags & ~clean)


def untracked_files(path: str) -> list[str]:
    import pygit2

    repo = open_repo(path)
    return sorted(
        f
        for f, flags in repo.status(untracked_files="all").items()
        if flags & pygit2.enums.FileStatus.WT_NEW
    )


def commits_ahead(root: str, stage_id: str, base_branch: str) -> int:
    """How many commits the stage branch has that the base does not."""
    import pygit2

    repo = open_repo(root)
    branch = repo.branches.local.get(stage_branch(stage_id))
    if branch is None:
        return 0
    base = _base_commit(repo, base_branch)
    ahead, _behind = repo.ahead_behind(branch.peel(pygit2.Commit).id, base.id)
    return int(ahead)


# --------------------------------------------------------------------------------------------------
# Merging


class MergeResult:
    """How a merge attempt ended.

    ``status`` is ``merged`` (a merge commit now heads the base), ``nothing`` (the stage branch had
    no commit beyond the base, or no longer exists), ``conflict`` (``files`` conflict; nothing was
    changed) or ``waiting`` (the user's checkout of the base has uncommitted changes in ``files``).
    """

    __slots__ = ("commit", "files", "status")

    def __init__(self, status: str, commit: str | None = None, files: list[str] | None = None):
        self.status = status
        self.commit = commit
        self.files = files or []

    @property
    def ok(self) -> bool:
        return self.status in ("merged", "nothing")

    def describe(self, stage_id: str, base: str) -> str:
        listed = ", ".join(self.files[:5]) + (" …" if len(self.files) > 5 else "")
        if self.status == "merged":
            return f"merged loom/{stage_id} into {base} ({(self.commit or '')[:10]})"
        if self.status == "nothing":
            return f"loom/{stage_id} had nothing to merge into {base}"
        if self.status == "conflict":
            return f"merge of loom/{stage_id} into {base} conflicts in {listed}"
        return (
            f"merge of loom/{stage_id} waits: uncommitted changes to {listed} in the checkout of "
            f"{base} (commit or stash them)"
        )


def merge_stage(root: str, stage_id: str, base_branch: str) -> MergeResult:
    """Merge `loom/<id>` into the base branch with a two-parent merge commit.

    Uncommitted work left in the stage's worktree is committed first, so that it is not lost.
    """
    import pygit2

    wt = worktree_path(root, stage_id)
    if os.path.isdir(wt):
        commit_all(wt, f"loom: work left uncommitted in stage {stage_id}")
    repo = open_repo(root)
    branch = repo.branches.local.get(stage_branch(stage_id))
    if branch is None:
        return MergeResult("nothing")
    base_ref = repo.branches.local.get(base_branch)
    if base_ref is None:
        raise LoomError(f"base branch {base_branch!r} does not exist")
    base = base_ref.peel(pygit2.Commit)
    tip = branch.peel(pygit2.Commit)
    if tip.id == base.id or repo.descendant_of(base.id, tip.id):
        # Merged already (a scheduler killed after the merge, before recording it): name the
        # merge commit rather than say there was nothing to merge.
        done = _merge_commit_of(repo, base, tip.id)
        return MergeResult("merged", commit=done) if done else MergeResult("nothing")
    index = repo.merge_commits(base, tip)
    if index.conflicts is not None:
        files = sorted(
            {entry.path for triple in index.conflicts for entry in triple if entry is not None}
        )
        return MergeResult("conflict", files=files)
    tree_id = index.write_tree(repo)
    checked_out = (
        not repo.head_is_unborn and not repo.head_is_detached and repo.head.name == base_ref.name
    )
    own: list[str] = []
    if checked_out:
        new_tree = repo.get(tree_id)
        # A file that is already as the merge has it is this merge's own checkout, cut short
        # before the branch moved (loom was killed): not the user's change, and no obstacle.
        changed = dirty_files(root) + [f for f in untracked_files(root) if _tree_has(new_tree, f)]
        own = [f for f in changed if _as_in_tree(repo, root, new_tree, f)]
        blocking = [f for f in changed if f not in own]
        if blocking:
            return MergeResult("waiting", files=blocking)
    sig = signature(repo)
    message = f"Merge {stage_branch(stage_id)} into {base_branch}\n"
    commit_id = repo.create_commit(None, sig, sig, message, tree_id, [base.id, tip.id])
    if checked_out:
        # Update the files while HEAD still names the old commit: SAFE compares against it and
        # never overwrites a file the user changed in the meantime.  The files found above to
        # be as the merge has them already are left as they are, and staged as they are.
        strategy = pygit2.enums.CheckoutStrategy.SAFE
        if own:
            strategy |= pygit2.enums.CheckoutStrategy.ALLOW_CONFLICTS
        try:
            repo.checkout_tree(repo.get(commit_id), strategy=strategy)  # type: ignore[no-untyped-call]
        except pygit2.GitError:
            return MergeResult("waiting", files=dirty_files(root) or ["(files changed meanwhile)"])
        if own:
            _stage_as_found(repo, root, own)
    if base_ref.peel(pygit2.Commit).id != base.id:
        # The base moved while we merged (a commit by the user): try again on the next pass.
        return MergeResult("waiting", files=[f"{base_branch} moved during the merge"])
    base_ref.set_target(commit_id, f"loom: merge {stage_branch(stage_id)}")
    return MergeResult("merged", commit=str(commit_id))


#: A git lock file older than this was left by a process killed while it held it: git holds its
#: locks (refs, the index) for milliseconds.
STALE_LOCK_SECONDS = 5.0
_LOCK_IN_MESSAGE = re.compile(r"'([^']+\.lock)'")


def clear_stale_lock(exc: BaseException, root: str) -> str | None:
    """If ``exc`` is libgit2 failing to take a lock file of this repository (a ref, the index)
    that is older than `STALE_LOCK_SECONDS`, remove that file and return its path: it was left by
    a process killed mid-write (loom itself, in a kill storm), and would fail every later write.
    A younger one may be a live git process's: it is left alone."""
    git_dir = os.path.realpath(os.path.join(root, ".git"))
    match = _LOCK_IN_MESSAGE.search(str(exc))
    if match is None and _INDEX_LOCKED in str(exc):
        # libgit2's checkout names no file: the index of the repository or of a worktree
        found = [os.path.join(git_dir, "index.lock")]
        with contextlib.suppress(OSError):
            admin = os.path.join(git_dir, "worktrees")
            found += [os.path.join(admin, name, "index.lock") for name in os.listdir(admin)]
        cleared = [path for path in found if _remove_if_stale(path)]
        return cleared[0] if cleared else None
    if match is None or "lock" not in str(exc).split("'")[0]:
        return None
    path = os.path.realpath(match.group(1))
    if not path.startswith(git_dir + os.sep):
        return None
    return path if _remove_if_stale(path) else None


#: How libgit2 says a checkout found the index locked (without naming the lock file).
_INDEX_LOCKED = "the index is locked"


def _remove_if_stale(path: str) -> bool:
    try:
        if time.time() - os.stat(path).st_mtime < STALE_LOCK_SECONDS:
            return False
        os.unlink(path)
    except OSError:
        return False
    return True


def _merge_commit_of(
    repo: pygit2.Repository, base: pygit2.Commit, tip: object, limit: int = 500
) -> str | None:
    """The merge commit on the base's first-parent line whose second parent is ``tip``."""
    import pygit2

    commit = base
    for _ in range(limit):
        parents = commit.parent_ids
        if len(parents) > 1 and parents[1] == tip:
            return str(commit.id)
        if not parents:
            return None
        commit = repo[parents[0]].peel(pygit2.Commit)
    return None


def _stage_as_found(repo: pygit2.Repository, root: str, paths: list[str]) -> None:
    index = repo.index
    index.read()
    for path in paths:
        if os.path.lexists(os.path.join(root, path)):
            index.add(path)
        else:
            with contextlib.suppress(KeyError, OSError):
                index.remove(path)
    index.write()


def _as_in_tree(repo: pygit2.Repository, root: str, tree: object, path: str) -> bool:
    """Whether the checkout's file ``path`` is exactly as ``tree`` has it (absent from both
    counts too)."""
    full = os.path.join(root, path)
    try:
        entry = tree[path]  # type: ignore[index]
    except (KeyError, TypeError):
        return not os.path.lexists(full)
    try:
        with open(full, "rb") as fh:
            data = fh.read()
    except OSError:
        return False
    blob = repo.get(entry.id)
    return blob is not None and bytes(blob.data) == data  # type: ignore[attr-defined]


def _tree_has(tree: object, path: str) -> bool:
    try:
        tree[path]  # type: ignore[index]
    except (KeyError, TypeError):
        return False
    return True


def stage_state(root: str, stage_id: str, base_branch: str) -> dict[str, object]:
    """What a handoff records of the stage's git state: branch, head, commits ahead of the base,
    their subjects, the diff stat against the base, changed and uncommitted files."""
    import pygit2

    repo = open_repo(root)
    name = stage_branch(stage_id)
    state: dict[str, object] = {
        "branch": name,
        "base": base_branch,
        "ahead": 0,
        "head": None,
        "commits": [],
        "uncommitted": [],
        "diffstat": "",
        "changed": [],
    }
    base = _base_commit(repo, base_branch)
    branch = repo.branches.local.get(name)
    if branch is not None:
        tip = branch.peel(pygit2.Commit)
        state["head"] = str(tip.id)
        ahead, _behind = repo.ahead_behind(tip.id, base.id)
        state["ahead"] = int(ahead)
        walker = repo.walk(tip.id, pygit2.enums.SortMode.TOPOLOGICAL)
        walker.hide(base.id)
        commits = []
        for commit in walker:
            subject = commit.message.splitlines()[0] if commit.message else ""
            commits.append(f"{str(commit.id)[:8]} {subject}")
            if len(commits) >= 20:
                break
        state["commits"] = commits
        merge_base = repo.merge_base(base.id, tip.id)
        if merge_base is not None:
            diff = repo.diff(repo[merge_base].peel(pygit2.Commit), tip)
            state["changed"] = [d.new_file.path for d in diff.deltas]
            state["diffstat"] = diff.stats.format(pygit2.enums.DiffStatsFormat.FULL, 80)
    path = worktree_path(root, stage_id)
    if os.path.isdir(path):
        wt = open_repo(path)
        clean = pygit2.enums.FileStatus.CURRENT | pygit2.enums.FileStatus.IGNORED
        state["uncommitted"] = sorted(
            f for f, flags in wt.status(untracked_files="all").items() if flags & ~clean
        )
    return state
