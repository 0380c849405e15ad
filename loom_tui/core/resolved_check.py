"""Is a stage's merge conflict resolved?  Checked before `loom merge ID --resolved` (a person
resolved it by hand) and before a resolver session's `loom merge ID` completes the stage.

Resolved means: the stage's branch contains the base branch's tip (the base was merged into it,
so merging it back cannot conflict on what conflicted before), its worktree has no unfinished
merge (unmerged index entries), and no file that conflicted still holds conflict markers.  Any of
those left would otherwise be committed as they are by the merge (`git.merge_stage` commits work
left uncommitted), markers and all.
"""

from __future__ import annotations

import os

from loom_tui.core import git
from loom_tui.core.errors import LoomError
from loom_tui.core.model import StageRecord

_MARKERS = ("<<<<<<< ", ">>>>>>> ")


def marker_files(worktree: str, files: list[str]) -> list[str]:
    """Those of ``files`` (relative to ``worktree``) that still hold a conflict marker line."""
    out = []
    for rel in files:
        try:
            with open(os.path.join(worktree, rel), encoding="utf-8", errors="replace") as fh:
                if any(line.startswith(_MARKERS) or line.rstrip("\n") == "=======" for line in fh):
                    out.append(rel)
        except (FileNotFoundError, IsADirectoryError):
            continue
    return out


def unresolved(
    root: str, stage: StageRecord, base_branch: str, *, need_base: bool = True
) -> list[str]:
    """What is still unresolved, in words (empty: resolved).  Without ``need_base`` the branch
    need not contain the base's tip (a resolver's `loom merge`: the base may have moved again
    since, and the merge itself tells whether that conflicts)."""
    import pygit2

    problems: list[str] = []
    worktree = git.worktree_path(root, stage.id)
    if os.path.isdir(worktree):
        index_conflicts = git.open_repo(worktree).index.conflicts
        if index_conflicts is not None:
            paths = sorted({e.path for triple in index_conflicts for e in triple if e is not None})
            problems.append("the merge in the worktree is unfinished: " + ", ".join(paths[:5]))
        left = marker_files(worktree, stage.conflict_files)
        if left:
            problems.append("conflict markers are left in " + ", ".join(left[:5]))
    repo = git.open_repo(root)
    branch = repo.branches.local.get(git.stage_branch(stage.id))
    base = repo.branches.local.get(base_branch)
    if need_base and branch is not None and base is not None:
        tip = branch.peel(pygit2.Commit).id
        base_tip = base.peel(pygit2.Commit).id
        if tip != base_tip and not repo.descendant_of(tip, base_tip):
            problems.append(
                f"loom/{stage.id} does not contain {base_branch}'s tip yet: run "
                f"`git merge {base_branch}` in its worktree and commit"
            )
    return problems


def require_resolved(
    root: str, stage: StageRecord, base_branch: str, *, need_base: bool = True
) -> None:
    problems = unresolved(root, stage, base_branch, need_base=need_base)
    if problems:
        raise LoomError(
            f"stage {stage.id}: the merge conflict is not resolved: " + "; ".join(problems)
        )
