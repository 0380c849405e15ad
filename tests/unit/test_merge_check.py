"""The merge's own gate (`merge_check.py`) on real repositories: when it is needed, how the base
is brought into the stage's branch, and what a failure records."""

from __future__ import annotations

from pathlib import Path

import pygit2

from loom_tui.core import git, merge_check
from loom_tui.core.model import StageRecord, Status
from loom_tui.core.store import Store
from tests.conftest import SIGNATURE, make_repo


def commit(path: Path, name: str, text: str) -> str:
    (path / name).write_text(text)
    return git.commit_all(str(path), f"add {name}") or ""


def project(tmp_path: Path, acceptance: list[str]) -> tuple[Store, Path]:
    root = make_repo(tmp_path / "repo", {"README.md": "# demo\n"})
    store = Store(str(root / ".work"))
    store.create_layout()
    store.write_stage(
        StageRecord(id="s", name="S", status=Status.COMPLETED.value, acceptance=acceptance)
    )
    worktree = Path(git.ensure_worktree(str(root), "s", "main"))
    commit(worktree, "s.txt", "stage s\n")
    return store, root


def move_base(root: Path, name: str, text: str = "base\n") -> None:
    repo = pygit2.Repository(str(root))
    base = repo.branches.local["main"].peel(pygit2.Commit)
    builder = repo.TreeBuilder(base.tree)
    builder.insert(name, repo.create_blob(text.encode()), pygit2.enums.FileMode.BLOB)
    repo.create_commit(
        "refs/heads/main", SIGNATURE, SIGNATURE, f"base adds {name}", builder.write(), [base.id]
    )
    repo.checkout_head(strategy=pygit2.enums.CheckoutStrategy.FORCE)


def test_no_check_while_the_base_has_not_moved(tmp_path: Path) -> None:
    store, root = project(tmp_path, ["test -s s.txt"])
    assert not merge_check.needed(str(root), store.read_stage("s"), "main")


def test_a_stage_with_no_gates_needs_no_check(tmp_path: Path) -> None:
    store, root = project(tmp_path, [])
    move_base(root, "other.txt")
    assert not merge_check.needed(str(root), store.read_stage("s"), "main")


def test_a_moved_base_is_merged_into_the_branch_and_checked(tmp_path: Path) -> None:
    store, root = project(tmp_path, ["test -s s.txt", "test -s other.txt"])
    move_base(root, "other.txt")
    stage = store.read_stage("s")
    assert merge_check.needed(str(root), stage, "main")
    result = merge_check.run(store, "s", "main")
    assert result.passed
    repo = pygit2.Repository(str(root))
    tip = repo.branches.local["loom/s"].peel(pygit2.Commit)
    assert len(tip.parent_ids) == 2 and tip.parent_ids[1] == repo.branches.local["main"].target
    assert "to check the merged result" in tip.message
    assert (root / ".worktrees" / "s" / "other.txt").exists()  # the worktree follows the branch
    assert not store.read_stage("s").merge_check_pending
    assert not merge_check.needed(str(root), store.read_stage("s"), "main")  # checked: merge


def test_a_failing_merged_result_is_kept_for_the_resolver(tmp_path: Path) -> None:
    store, root = project(tmp_path, ["test ! -e other.txt"])
    base_before = str(pygit2.Repository(str(root)).branches.local["main"].target)
    move_base(root, "other.txt")
    base_moved = str(pygit2.Repository(str(root)).branches.local["main"].target)
    assert base_moved != base_before
    result = merge_check.run(store, "s", "main")
    assert not result.passed and result.layer == "acceptance"
    # a check cut short here (killed) is made again: the pending mark stays until a result
    assert store.read_stage("s").merge_check_pending
    assert merge_check.needed(str(root), store.read_stage("s"), "main")
    assert merge_check.record_failure(store, "s", result, "main")
    stage = store.read_stage("s")
    assert stage.status is Status.MERGE_CONFLICT and stage.conflict_files == []
    assert not stage.merge_check_pending
    assert (stage.acceptance_failure or {}).get("merged_with") == "main"
    assert "fails its acceptance layer" in (stage.blocked_reason or "")
    assert str(pygit2.Repository(str(root)).branches.local["main"].target) == base_moved


def test_a_textual_conflict_changes_nothing_and_names_the_files(tmp_path: Path) -> None:
    store, root = project(tmp_path, ["test -s s.txt"])
    before = str(pygit2.Repository(str(root)).branches.local["loom/s"].target)
    move_base(root, "s.txt", "the base's own s.txt\n")
    result = merge_check.run(store, "s", "main")
    assert result.conflicts == ["s.txt"] and not result.passed
    assert str(pygit2.Repository(str(root)).branches.local["loom/s"].target) == before
    assert not store.read_stage("s").merge_check_pending  # the resolver takes it from here


def test_a_branch_merged_already_needs_no_check(tmp_path: Path) -> None:
    """Killed after the merge and before it was recorded: the base holds the branch's tip, and
    the next merge only records it (a check would merge the base in and merge again, for ever)."""
    store, root = project(tmp_path, ["test -s s.txt"])
    move_base(root, "other.txt")
    assert merge_check.run(store, "s", "main").passed
    assert git.merge_stage(str(root), "s", "main").status == "merged"
    assert not merge_check.needed(str(root), store.read_stage("s"), "main")
