"""Merging a stage's branch into the base, with real repositories (pygit2)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pygit2
import pytest

from loom_tui.core import git
from loom_tui.core.engine.ports import GitRepository
from tests.conftest import SIGNATURE, make_repo


def _commit_on_branch(root: Path, stage_id: str, name: str) -> str:
    repo = pygit2.Repository(str(root))
    base = repo.branches.local["main"].peel(pygit2.Commit)
    blob = repo.create_blob(b"work\n")
    builder = repo.TreeBuilder(base.tree)
    builder.insert(name, blob, pygit2.enums.FileMode.BLOB)
    tree = builder.write()
    branch = repo.branches.local.create(git.stage_branch(stage_id), base)
    return str(repo.create_commit(branch.name, SIGNATURE, SIGNATURE, "work", tree, [base.id]))


def test_a_merge_done_before_a_kill_is_found_again_with_its_commit(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    tip = _commit_on_branch(root, "a", "a.txt")
    first = git.merge_stage(str(root), "a", "main")
    assert first.status == "merged" and first.commit is not None
    # the scheduler died before recording it: the next attempt names the same merge commit
    again = git.merge_stage(str(root), "a", "main")
    assert (again.status, again.commit) == ("merged", first.commit)
    merge = pygit2.Repository(str(root))[first.commit].peel(pygit2.Commit)
    assert str(merge.parent_ids[1]) == tip


def test_a_branch_with_nothing_new_has_nothing_to_merge(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    repo = pygit2.Repository(str(root))
    repo.branches.local.create("loom/b", repo.branches.local["main"].peel(pygit2.Commit))
    result = git.merge_stage(str(root), "b", "main")
    assert (result.status, result.commit) == ("nothing", None)


@pytest.mark.parametrize("index_written", [True, False])
def test_a_merge_killed_while_it_updated_the_checkout_goes_on(
    tmp_path: Path, index_written: bool
) -> None:
    """The base is checked out: a merge writes the files, then moves the branch.  Killed in
    between, the checkout holds the merged files while the branch names the old commit: that
    is the merge's own work, not the user's, and must not hold the next merge back forever."""
    root = make_repo(tmp_path / "repo", {"README.md": "# demo\n", "old.txt": "old\n"})
    _commit_on_branch(root, "a", "a.txt")
    repo = pygit2.Repository(str(root))
    base = repo.branches.local["main"].peel(pygit2.Commit)
    tip = repo.branches.local["loom/a"].peel(pygit2.Commit)
    merged_tree = repo.merge_commits(base, tip).write_tree(repo)
    if index_written:
        repo.checkout_tree(repo.get(merged_tree), strategy=pygit2.enums.CheckoutStrategy.FORCE)
    else:  # killed before the checkout wrote the index
        (root / "a.txt").write_text("work\n")
    assert (root / "a.txt").read_text() == "work\n"  # the files of the merge, the branch not

    result = git.merge_stage(str(root), "a", "main")

    assert result.status == "merged"
    assert str(repo.branches.local["main"].peel(pygit2.Commit).id) == result.commit
    assert git.dirty_files(str(root)) == [] and git.untracked_files(str(root)) == []


def test_the_users_own_change_still_holds_a_merge_back(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", {"README.md": "# demo\n"})
    _commit_on_branch(root, "a", "a.txt")
    (root / "README.md").write_text("# mine\n")
    result = git.merge_stage(str(root), "a", "main")
    assert (result.status, result.files) == ("waiting", ["README.md"])
    assert (root / "README.md").read_text() == "# mine\n"


def test_a_lock_left_by_a_killed_process_is_removed_and_the_write_done(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    repo = GitRepository(str(root), "main", str(root / ".work"))
    repo.ensure_worktree("a", fresh=True)
    lock = root / ".git" / "refs" / "heads" / "loom" / "a.lock"
    lock.write_text("")
    old = time.time() - 60
    os.utime(lock, (old, old))
    repo.remove_worktree("a")  # deletes the branch: its ref lock stood in the way
    assert not lock.exists()
    assert repo.cleared == [str(lock)]
    assert pygit2.Repository(str(root)).branches.local.get("loom/a") is None


def test_a_lock_held_just_now_may_be_a_live_gits_and_is_left_alone(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    repo = GitRepository(str(root), "main", str(root / ".work"))
    repo.ensure_worktree("a", fresh=True)
    lock = root / ".git" / "refs" / "heads" / "loom" / "a.lock"
    lock.write_text("")
    with pytest.raises(Exception, match=r"a\.lock"):
        repo.remove_worktree("a")
    assert lock.exists() and repo.cleared == []


def test_a_stale_worktree_index_lock_named_by_no_path_is_removed(tmp_path: Path) -> None:
    """libgit2's checkout says only "the index is locked": the stale lock of a worktree's index
    (a loom killed while a merge check checked out) is found and removed all the same."""
    root = make_repo(tmp_path / "repo")
    path = git.ensure_worktree(str(root), "a", "main")
    lock = root / ".git" / "worktrees" / "a" / "index.lock"
    lock.write_text("")
    old = time.time() - 60
    os.utime(lock, (old, old))
    error = pygit2.GitError(
        "the index is locked; this might be due to a concurrent or crashed process"
    )
    assert git.clear_stale_lock(error, str(root)) == str(lock)
    assert not lock.exists() and os.path.isdir(path)
    lock.write_text("")  # a fresh one may be a live git's
    assert git.clear_stale_lock(error, str(root)) is None and lock.exists()
