"""The diff of a stage against its base, on real git repositories made in temporary folders.

Each stage here is made as loom makes one (`ensure_worktree` on `loom/<id>`), its files written
in its worktree and committed with `commit_all`, as an agent's work is.
"""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
import pytest

from loom_tui.core import git
from loom_tui.core.errors import LoomError
from loom_tui.core.stage_diff import diff_key, stage_diff
from tests.conftest import make_repo

BASE_FILES = {
    "README.md": "# demo\n",
    "app.py": "def main():\n    return 1\n",
    "old_name.txt": "".join(f"line {i}\n" for i in range(20)),
    "gone.txt": "to be deleted\n",
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "repo", BASE_FILES)
    git.exclude_paths(str(repo), [".worktrees/"])  # as `loom init` does
    return repo


def _stage(root: Path, stage_id: str = "s") -> Path:
    return Path(git.ensure_worktree(str(root), stage_id, "main"))


def _commit(path: Path, message: str, files: dict[str, str | bytes | None]) -> None:
    """Write (or, for None, delete) ``files`` in the checkout at ``path``, then commit them all."""
    for name, content in files.items():
        target = path / name
        if content is None:
            target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    assert git.commit_all(str(path), message) is not None


def _base_commit(root: Path, files: dict[str, str]) -> None:
    """A commit on the base branch (as another stage's merge would make)."""
    _commit(root, "base moves on", files)


def test_a_stage_without_a_branch_says_so(root: Path) -> None:
    diff = stage_diff(str(root), "pending", "main")
    assert not diff.has_branch
    assert diff.commits == () and diff.committed == () and diff.working is None
    assert diff_key(str(root), "pending", "main") == ("no-branch", None)
    # a merge commit that is not one (or not there) is no help either
    head = str(pygit2.Repository(str(root)).head.target)
    for bogus in (head, "0123456789abcdef0123456789abcdef01234567", "not hex"):
        assert not stage_diff(str(root), "pending", "main", merge_commit=bogus).has_branch


def test_commits_ahead_are_listed_newest_first_and_the_base_s_own_are_not(root: Path) -> None:
    wt = _stage(root)
    _commit(wt, "first: add a module\n\nwith a body", {"mod.py": "x = 1\n"})
    _commit(wt, "second: change it", {"mod.py": "x = 2\n"})
    _base_commit(root, {"README.md": "# demo, moved on\n"})
    diff = stage_diff(str(root), "s", "main")
    assert [c.subject for c in diff.commits] == ["second: change it", "first: add a module"]
    assert all(len(c.short_id) == 7 and c.author and c.when > 0 for c in diff.commits)
    # the base's new commit is not the stage's: README.md is not among its files
    assert [f.path for f in diff.committed] == ["mod.py"]
    repo = pygit2.Repository(str(root))
    fork = repo.merge_base(repo.branches.local["loom/s"].target, repo.branches.local["main"].target)
    assert diff.fork_point == str(fork)[:7]
    assert diff.merged_in == ""


def test_added_modified_deleted_renamed_and_binary_files_with_their_counts(root: Path) -> None:
    wt = _stage(root)
    renamed = BASE_FILES["old_name.txt"]
    _commit(
        wt,
        "work",
        {
            "new.py": "a = 1\nb = 2\n",
            "app.py": "def main():\n    return 2\n\n\nmain()\n",
            "gone.txt": None,
            "old_name.txt": None,
            "new_name.txt": renamed,
            "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01\x02",
        },
    )
    files = {f.path: f for f in stage_diff(str(root), "s", "main").committed}
    assert set(files) == {"new.py", "app.py", "gone.txt", "new_name.txt", "logo.png"}
    assert (files["new.py"].status, files["new.py"].additions, files["new.py"].deletions) == (
        "added",
        2,
        0,
    )
    app = files["app.py"]
    assert (app.status, app.letter, app.additions, app.deletions) == ("modified", "M", 4, 1)
    assert ("-", "    return 1") in app.lines and ("+", "    return 2") in app.lines
    assert app.lines[0][0] == "@" and app.lines[0][1].startswith("@@ -1,2 +1,5 @@")
    assert (files["gone.txt"].status, files["gone.txt"].deletions) == ("deleted", 1)
    moved = files["new_name.txt"]
    assert (moved.status, moved.old_path, moved.lines) == ("renamed", "old_name.txt", ())
    logo = files["logo.png"]
    assert logo.binary and logo.status == "added" and logo.lines == ()


def test_the_worktree_s_uncommitted_changes_are_a_section_of_their_own(root: Path) -> None:
    wt = _stage(root)
    _commit(wt, "committed work", {"done.py": "done = True\n", ".gitignore": "build/\n"})
    (wt / "app.py").write_text("def main():\n    return 3\n")  # modified, not committed
    (wt / "README.md").unlink()  # deleted, not committed
    (wt / "notes").mkdir()
    (wt / "notes" / "todo.md").write_text("- one\n- two\n")  # untracked, in a folder
    (wt / "build").mkdir()
    (wt / "build" / "out.o").write_bytes(b"\x00" * 10)  # ignored
    diff = stage_diff(str(root), "s", "main")
    assert [f.path for f in diff.committed] == [".gitignore", "done.py"]
    assert diff.working is not None
    working = {f.path: f for f in diff.working}
    assert set(working) == {"app.py", "README.md", "notes/todo.md"}
    assert (working["app.py"].status, working["app.py"].additions) == ("modified", 1)
    assert working["README.md"].status == "deleted"
    todo = working["notes/todo.md"]
    assert (todo.status, todo.additions, todo.lines[1:]) == (
        "added",
        2,
        (("+", "- one"), ("+", "- two")),
    )


def test_a_clean_worktree_has_an_empty_section_and_none_without_a_worktree(root: Path) -> None:
    wt = _stage(root)
    _commit(wt, "work", {"a.py": "a = 1\n"})
    assert stage_diff(str(root), "s", "main").working == ()
    git.remove_worktree(str(root), "s", delete_branch=False)
    diff = stage_diff(str(root), "s", "main")
    assert diff.working is None
    assert [f.path for f in diff.committed] == ["a.py"]


def test_a_long_file_diff_is_cut_and_what_is_left_out_is_counted(root: Path) -> None:
    wt = _stage(root)
    _commit(wt, "big", {"big.txt": "".join(f"row {i}\n" for i in range(3000))})
    (big,) = stage_diff(str(root), "s", "main", max_lines=100).committed
    assert big.additions == 3000
    assert len(big.lines) == 100
    assert big.omitted == 3001 - 100  # one hunk header and 3000 lines in all


def test_past_the_limits_files_and_commits_are_counted_not_kept(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loom_tui.core import stage_diff as module

    monkeypatch.setattr(module, "MAX_FILES", 2)
    monkeypatch.setattr(module, "MAX_COMMITS", 1)
    wt = _stage(root)
    _commit(wt, "one", {"a.py": "a\n", "b.py": "b\n"})
    _commit(wt, "two", {"c.py": "c\n"})
    (wt / "d.py").write_text("d\n")
    (wt / "e.py").write_text("e\n")
    (wt / "f.py").write_text("f\n")
    diff = stage_diff(str(root), "s", "main")
    assert [c.subject for c in diff.commits] == ["two"] and diff.commits_omitted == 1
    assert [f.path for f in diff.committed] == ["a.py", "b.py"]
    assert diff.working is not None and [f.path for f in diff.working] == ["d.py", "e.py"]
    assert diff.files_omitted == 2  # c.py and f.py


def test_a_merged_stage_shows_what_its_merge_brought_in(root: Path) -> None:
    wt = _stage(root)
    _commit(wt, "feature", {"feature.py": "on = True\n"})
    result = git.merge_stage(str(root), "s", "main")
    assert result.status == "merged"
    diff = stage_diff(str(root), "s", "main")
    assert diff.merged_in == (result.commit or "")[:7]
    assert [c.subject for c in diff.commits] == ["feature"]
    assert [f.path for f in diff.committed] == ["feature.py"]


def test_a_merged_stage_whose_branch_was_removed_is_found_through_its_merge(
    root: Path,
) -> None:
    wt = _stage(root)
    _commit(wt, "feature", {"feature.py": "on = True\n"})
    _commit(wt, "more", {"feature.py": "on = False\n", "other.py": "x = 1\n"})
    result = git.merge_stage(str(root), "s", "main")
    git.remove_worktree(str(root), "s", delete_branch=True)  # as loom does after a merge
    _base_commit(root, {"later.py": "later = 1\n"})  # the base moves on afterwards
    diff = stage_diff(str(root), "s", "main", merge_commit=result.commit)
    assert diff.has_branch and diff.merged_in == (result.commit or "")[:7]
    assert [c.subject for c in diff.commits] == ["more", "feature"]
    assert [f.path for f in diff.committed] == ["feature.py", "other.py"]
    assert diff.working is None


def test_the_key_changes_with_the_work_and_only_then(root: Path) -> None:
    wt = _stage(root)
    key = diff_key(str(root), "s", "main")
    assert diff_key(str(root), "s", "main") == key
    (wt / "app.py").write_text("def main():\n    return 5\n")
    modified = diff_key(str(root), "s", "main")
    assert modified != key
    assert diff_key(str(root), "s", "main") == modified
    # changed again: the same status flags, but not the same size (or time)
    (wt / "app.py").write_text("def main():\n    return 500\n")
    assert diff_key(str(root), "s", "main") != modified
    again = diff_key(str(root), "s", "main")
    _commit(wt, "commit it", {})
    assert diff_key(str(root), "s", "main") != again


def test_a_missing_base_branch_is_a_clear_error(root: Path) -> None:
    _stage(root)
    with pytest.raises(LoomError, match="base branch 'trunk' does not exist"):
        stage_diff(str(root), "s", "trunk")


def test_text_that_is_not_utf8_is_shown_not_raised(root: Path) -> None:
    wt = _stage(root)
    _commit(wt, "latin-1", {"latin.txt": "caf\xe9\n".encode("latin-1") + b"ok\n"})
    (latin,) = stage_diff(str(root), "s", "main").committed
    assert not latin.binary
    assert latin.lines[1] == ("+", "caf\ufffd")
    assert os.path.exists(wt / "latin.txt")
