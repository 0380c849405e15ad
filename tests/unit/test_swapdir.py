"""`core.swapdir`: a directory replaced by another in one step, on real folders.

Both ways are checked: the atomic exchange (Linux ``renameat2``) and the two renames used where it
is missing, including what `recover` makes of a replacement killed between those two renames.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loom_tui.core import swapdir


def tree(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): p.read_text() for p in sorted(path.rglob("*")) if p.is_file()}


def make(path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


@pytest.fixture(params=["exchange", "two-renames"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "two-renames":
        monkeypatch.setattr(swapdir, "_exchange", lambda a, b: False)
    return str(request.param)


def test_the_new_folder_takes_the_place_of_the_old(tmp_path: Path, way: str) -> None:
    old = make(tmp_path / ".work", {"stages/a.md": "old", "memory/a.md": "note"})
    new = make(tmp_path / ".work.init", {"stages/b.md": "new"})
    swapdir.replace_dir(str(new), str(old))
    assert tree(old) == {"stages/b.md": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".work"]


def test_a_missing_target_is_simply_renamed(tmp_path: Path) -> None:
    new = make(tmp_path / ".work.init", {"config.toml": "x"})
    swapdir.replace_dir(str(new), str(tmp_path / ".work"))
    assert tree(tmp_path / ".work") == {"config.toml": "x"}
    assert not new.exists()


def test_the_exchange_trades_two_folders_at_once(tmp_path: Path) -> None:
    a = make(tmp_path / "a", {"x": "from a"})
    b = make(tmp_path / "b", {"y": "from b"})
    if not swapdir._exchange(str(a), str(b)):
        pytest.skip("no RENAME_EXCHANGE here: loom uses the two renames (tested above)")
    assert tree(a) == {"y": "from b"}
    assert tree(b) == {"x": "from a"}


def test_recover_puts_the_previous_state_back_after_a_kill_between_the_renames(
    tmp_path: Path,
) -> None:
    make(tmp_path / ".work.old", {"memory/a.md": "note"})  # the first rename done, not the second
    make(tmp_path / ".work.init", {"stages/b.md": "new"})
    swapdir.recover(str(tmp_path / ".work"))
    assert tree(tmp_path / ".work") == {"memory/a.md": "note"}
    assert not (tmp_path / ".work.old").exists()


def test_recover_removes_a_leftover_beside_a_complete_target(tmp_path: Path) -> None:
    make(tmp_path / ".work", {"stages/b.md": "new"})  # both renames done, not the clean-up
    make(tmp_path / ".work.old", {"memory/a.md": "note"})
    swapdir.recover(str(tmp_path / ".work"))
    assert tree(tmp_path / ".work") == {"stages/b.md": "new"}
    assert not (tmp_path / ".work.old").exists()


def test_remove_deletes_a_symbolic_link_not_what_it_points_to(tmp_path: Path) -> None:
    target = make(tmp_path / "elsewhere", {"keep.md": "keep"})
    link = tmp_path / ".work.init"
    link.symlink_to(target)
    swapdir.remove(str(link))
    assert not link.exists() and not link.is_symlink()
    assert tree(target) == {"keep.md": "keep"}
