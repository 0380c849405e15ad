"""Git, through pygit2: the repository, its branches, stage worktrees and merges.

pygit2 calls block, so the scheduler runs them in threads (`asyncio.to_thread`).  Every commit loom
makes passes an explicit signature: CI machines have no git identity configured.
"""

from __future__ import annotations

import os

from loom_tui.core.errors import LoomError

NOT_A_REPO = (
    "not inside a git repository: loom keeps each stage's work on a git branch "
    "(run `git init` and make a first commit)"
)


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

    repo = pygit2.Repository(root)
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
    import pygit2

    repo = pygit2.Repository(root)
    return repo.branches.local.get(branch) is not None


def exclude_paths(root: str, patterns: list[str]) -> None:
    """Add ``patterns`` to `.git/info/exclude` (local to this clone, never committed)."""
    import pygit2

    repo = pygit2.Repository(root)
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
