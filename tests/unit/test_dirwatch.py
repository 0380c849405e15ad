"""The inotify watcher on the event loop (core/dirwatch.py): what it reports, and its fallback."""

from __future__ import annotations

import asyncio
import os
import struct
from pathlib import Path

import pytest

from loom_tui.core import dirwatch
from loom_tui.core.dirwatch import ADDED, DELETED, MODIFIED, OVERFLOW, watch_folders
from loom_tui.core.fsutil import atomic_write


async def _next(gen: object) -> list[tuple[str, str]]:
    return await asyncio.wait_for(gen.__anext__(), 10)  # type: ignore[attr-defined]


def _keep_all(_kind: str, path: str) -> bool:
    return not os.path.basename(path).startswith(".")


async def test_reports_an_atomic_write_a_touch_and_a_removal(tmp_path: Path) -> None:
    stages, other = tmp_path / "stages", tmp_path / "other"
    stages.mkdir()
    other.mkdir()
    gen = watch_folders([str(stages), str(other)], _keep_all)
    first = asyncio.ensure_future(_next(gen))
    await asyncio.sleep(0.05)  # the watch is in place once the generator has started
    atomic_write(str(stages / "a.md"), "x")
    batch = await first
    assert (ADDED, str(stages / "a.md")) in batch  # the rename into place; no temp file is kept
    assert all(not os.path.basename(p).startswith(".") for _k, p in batch)

    (other / "pulse").touch()
    assert (ADDED, str(other / "pulse")) in await _next(gen)
    os.utime(other / "pulse")
    assert (MODIFIED, str(other / "pulse")) in await _next(gen)
    (stages / "a.md").unlink()
    assert (DELETED, str(stages / "a.md")) in await _next(gen)
    await gen.aclose()


async def test_a_filtered_change_wakes_no_consumer(tmp_path: Path) -> None:
    gen = watch_folders([str(tmp_path)], lambda _k, p: p.endswith(".md"))
    pending = asyncio.ensure_future(_next(gen))
    await asyncio.sleep(0.05)
    (tmp_path / "ignored.txt").write_text("x")
    await asyncio.sleep(0.1)
    assert not pending.done()
    (tmp_path / "kept.md").write_text("x")
    assert {p for _k, p in await pending} == {str(tmp_path / "kept.md")}
    await gen.aclose()


async def test_stops_when_told(tmp_path: Path) -> None:
    stop = asyncio.Event()
    seen: list[object] = []

    async def consume() -> None:
        async for batch in watch_folders([str(tmp_path)], _keep_all, stop):
            seen.append(batch)

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert seen == []


def test_parses_events_and_an_overflow() -> None:
    def event(wd: int, mask: int, name: bytes) -> bytes:
        padded = name + b"\0" * (16 - len(name) % 16) if name else b""
        return struct.pack("iIII", wd, mask, 0, len(padded)) + padded

    folders = {1: "/w/stages", 2: "/w/sessions"}
    data = (
        event(1, dirwatch.IN_MOVED_TO, b"a.md")
        + event(2, dirwatch.IN_CLOSE_WRITE, b"s.exit")
        + event(2, dirwatch.IN_MOVED_FROM, b".s.md.1.tmp")
        + event(9, dirwatch.IN_CREATE, b"gone-watch")
        + event(-1, dirwatch.IN_Q_OVERFLOW, b"")
    )
    assert dirwatch.parse_events(data, folders) == [
        (ADDED, "/w/stages/a.md"),
        (MODIFIED, "/w/sessions/s.exit"),
        (DELETED, "/w/sessions/.s.md.1.tmp"),
        (OVERFLOW, "/w/stages"),
        (OVERFLOW, "/w/sessions"),
    ]


async def test_falls_back_to_watchfiles_without_inotify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(_self: object) -> None:
        raise OSError("inotify is not available here")

    monkeypatch.setattr(dirwatch.Inotify, "open", unavailable)
    gen = watch_folders([str(tmp_path)], _keep_all)
    first = asyncio.ensure_future(_next(gen))
    await asyncio.sleep(0.3)  # watchfiles' thread sets its watch up
    (tmp_path / "a.md").write_text("x")
    assert str(tmp_path / "a.md") in {p for _k, p in await first}
    await gen.aclose()


def test_a_missing_folder_is_an_oserror(tmp_path: Path) -> None:
    watcher = dirwatch.Inotify([str(tmp_path / "nope")])
    with pytest.raises(OSError, match="cannot watch"):
        watcher.open()
    assert watcher.fd == -1
