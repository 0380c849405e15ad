"""A full disk loses nothing that was acknowledged: on a real full file system (a small tmpfs),
appends are whole lines or nothing, atomic writes leave the old file and no temporary file, and
every failed write is one `loom: cannot write FILE: REASON` line from the real CLI."""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from loom_tui.core.engine.write_health import WriteHealth, is_disk_error
from loom_tui.core.errors import WriteError
from loom_tui.core.events import Notice
from loom_tui.core.fsutil import append_line, atomic_write
from loom_tui.core.store import Store
from tests.conftest import RunLoom
from tests.tmpfs import fill, free, tmpfs_over

NO_SPACE = "No space left on device"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """An empty `.work` directory on a 1 MB tmpfs."""
    with tmpfs_over(tmp_path / ".work", "1m") as work:
        yield work


@pytest.fixture
def full_project(project: Path) -> Iterator[Path]:
    """The sample project with its `.work/` on a 2 MB tmpfs (not filled yet)."""
    with tmpfs_over(project / ".work", "2m"):
        yield project


def temp_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize("leave", [0, 6000], ids=["no room at all", "room for part of it"])
def test_a_line_that_does_not_fit_is_not_written_at_all(disk: Path, leave: int) -> None:
    log = disk / "events.jsonl"
    append_line(str(log), '{"n": 1}')
    before = log.read_bytes()
    fill(disk, leave)
    with pytest.raises(WriteError) as info:
        append_line(str(log), json.dumps({"n": 2, "pad": "x" * 20_000}))
    assert str(info.value) == f"cannot write .work/events.jsonl: {NO_SPACE}"
    assert info.value.errno == errno.ENOSPC
    assert log.read_bytes() == before  # cut back to the last whole line
    free(disk)
    append_line(str(log), '{"n": 3}')
    assert [json.loads(line)["n"] for line in log.read_text().splitlines()] == [1, 3]


def test_a_torn_last_line_is_skipped_and_never_swallows_the_next(tmp_path: Path) -> None:
    """A line torn by a power cut (no newline) stays one bad line that readers skip."""
    store = Store(str(tmp_path / ".work"))
    store.create_layout()
    store.append_event(Notice(message="one"))
    with open(store.events_path, "a", encoding="utf-8") as fh:
        fh.write('{"kind": "notice", "message": "to')
    store.append_event(Notice(message="two"))
    assert [e["message"] for e in store.read_events()] == ["one", "two"]
    assert (
        Path(store.events_path).read_text().splitlines()[1] == '{"kind": "notice", "message": "to'
    )


def test_an_atomic_write_on_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(
    disk: Path,
) -> None:
    target = disk / "stages" / "a.md"
    target.parent.mkdir()
    atomic_write(str(target), "old")
    fill(disk, 2000)
    with pytest.raises(WriteError, match=f"^cannot write .work/stages/a.md: {NO_SPACE}$"):
        atomic_write(str(target), "new " * 10_000)
    assert target.read_text() == "old"
    assert temp_files(disk) == []


def test_memory_note_on_a_full_disk_is_all_or_nothing(full_project: Path, loom: RunLoom) -> None:
    work = full_project / ".work"
    assert loom("memory", "note", "--stage", "scaffold", "first").returncode == 0
    journal = (work / "memory" / "scaffold.md").read_bytes()
    fill(work)
    proc = loom("memory", "note", "--stage", "scaffold", "second " * 2000)
    assert proc.returncode == 1
    assert proc.stderr == f"loom: cannot write .work/memory/scaffold.md: {NO_SPACE}\n"
    assert (work / "memory" / "scaffold.md").read_bytes() == journal
    listed = loom("memory", "list", "--stage", "scaffold")
    assert listed.stdout.splitlines() == ["note      first"]
    assert temp_files(work) == []
    free(work)
    assert loom("memory", "note", "--stage", "scaffold", "second").returncode == 0
    assert len(loom("memory", "list", "--stage", "scaffold").stdout.splitlines()) == 2


def test_a_stage_command_on_a_full_disk_names_the_file_and_changes_nothing(
    full_project: Path, loom: RunLoom
) -> None:
    work = full_project / ".work"
    record = (work / "stages" / "scaffold.md").read_bytes()
    fill(work)
    proc = loom("stage", "hold", "scaffold")
    assert proc.returncode == 1
    assert proc.stderr == f"loom: cannot write .work/stages/scaffold.md: {NO_SPACE}\n"
    assert (work / "stages" / "scaffold.md").read_bytes() == record
    assert temp_files(work) == []
    free(work)
    assert loom("stage", "hold", "scaffold").returncode == 0


def test_an_event_line_that_cannot_be_written_does_not_undo_or_fail_the_change(
    project: Path, loom: RunLoom
) -> None:
    """The record is the change; the event only reports it: the command succeeds, and says
    once which log line was lost."""
    events = project / ".work" / "events.jsonl"
    events.unlink(missing_ok=True)
    events.mkdir()  # cannot be appended to
    proc = loom("stage", "hold", "scaffold")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "stage scaffold held\n"
    assert proc.stderr == (
        "loom: warning: cannot write .work/events.jsonl: Is a directory "
        "(the change itself was made)\n"
    )
    assert Store(str(project / ".work")).read_stage("scaffold").held


def test_what_counts_as_a_full_disk() -> None:
    assert is_disk_error(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_error(WriteError("cannot write x: Disk quota exceeded", errno.EDQUOT))
    assert is_disk_error(RuntimeError("failed to write worktree: No space left on device"))
    assert not is_disk_error(OSError(errno.ENOENT, "No such file or directory"))
    assert not is_disk_error(RuntimeError("merge conflict"))


def test_the_write_probe_says_when_space_is_back_and_backs_off_a_relapsing_disk(
    disk: Path,
) -> None:
    health = WriteHealth(str(disk))
    full = OSError(errno.ENOSPC, "No space left on device")
    fill(disk)
    assert health.hit(full, 100.0) and health.problem is not None
    assert health.due(100.0) and not health.probe(100.0)
    assert list(disk.iterdir()) == [disk / ".ballast"]  # the probe leaves nothing behind
    free(disk)
    assert health.probe(101.0) and health.problem is None
    # It fails again at once (say git's disk is full, not this one): the next probes wait longer.
    waits = []
    now = 102.0
    for _ in range(8):
        health.hit(full, now)
        waits.append(next(t for t in range(200) if health.due(now + t)))
        assert health.probe(now + waits[-1])
        now += waits[-1] + 1.0
    assert waits == [1, 3, 7, 15, 31, 60, 60, 60]
