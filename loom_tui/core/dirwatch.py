"""Folders watched through inotify on the event loop itself: no thread, no polling.

watchfiles runs its watcher in a thread that wakes every ``step`` milliseconds to look for a stop
request (taking the GIL each time): at the 10 ms that keeps a dependent's start quick, that was a
hundred wake-ups a second, the largest single cost of a scheduler with 20 busy agents.  Here the
inotify descriptor sits in the event loop's own selector (`loop.add_reader`), so the process wakes
only when a watched folder changes, and a change is seen as soon as the kernel reports it.

`watch_folders` yields batches of `(kind, path)`, each path a file in one of the folders (not
recursive).  When the kernel's queue overflowed, a batch holds `(OVERFLOW, folder)` for every
folder: the caller must look at everything again.  Where inotify cannot be had (another system,
the per-user limit on watches reached), it falls back to watchfiles, with the same batches.

Core: imports neither textual nor watchfiles unless it falls back.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import struct
from collections.abc import AsyncIterator, Callable, Sequence

ADDED = "added"
MODIFIED = "modified"
DELETED = "deleted"
OVERFLOW = "overflow"

IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_Q_OVERFLOW = 0x00004000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = 0o2000000

#: What a watched folder reports: a file written and closed, renamed in or out (an atomic write's
#: rename), created (a `touch`), deleted, or its times changed (a `touch` of a file that exists).
MASK = IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)
READ_SIZE = 64 * 1024

Filter = Callable[[str, str], bool]
Batch = list[tuple[str, str]]


def kind_of(mask: int) -> str:
    if mask & (IN_DELETE | IN_MOVED_FROM):
        return DELETED
    if mask & (IN_CREATE | IN_MOVED_TO):
        return ADDED
    return MODIFIED


def parse_events(data: bytes, folders: dict[int, str]) -> Batch:
    """The changes in one read of an inotify descriptor; ``folders`` maps watch descriptors to
    their folders.  An overflow names every folder (see the module's docstring)."""
    changes: Batch = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        raw = data[offset : offset + length].split(b"\0", 1)[0]
        offset += length
        if mask & IN_Q_OVERFLOW:
            changes.extend((OVERFLOW, folder) for folder in folders.values())
            continue
        folder = folders.get(wd)
        if folder is None or not raw:  # a watch removed, or an event about the folder itself
            continue
        changes.append((kind_of(mask), os.path.join(folder, os.fsdecode(raw))))
    return changes


class _Libc:
    """The three inotify calls, found once per process (None where there are none)."""

    _lib: ctypes.CDLL | None = None
    _looked = False

    @classmethod
    def get(cls) -> ctypes.CDLL | None:
        if not cls._looked:
            cls._looked = True
            name = ctypes.util.find_library("c")
            try:
                lib = ctypes.CDLL(name, use_errno=True)
            except OSError:
                lib = None
            if lib is not None and hasattr(lib, "inotify_init1"):
                lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
                cls._lib = lib
        return cls._lib


class Inotify:
    """One inotify descriptor watching ``folders``; `open` raises OSError when it cannot."""

    def __init__(self, folders: Sequence[str]) -> None:
        self.folders = list(folders)
        self.fd = -1
        self._wds: dict[int, str] = {}

    def open(self) -> None:
        lib = _Libc.get()
        if lib is None:
            raise OSError("inotify is not available here")
        fd = lib.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"inotify_init1: {os.strerror(errno)}")
        self.fd = fd
        for folder in self.folders:
            wd = lib.inotify_add_watch(fd, os.fsencode(folder), MASK | IN_ONLYDIR)
            if wd < 0:
                errno = ctypes.get_errno()
                self.close()
                raise OSError(errno, f"cannot watch {folder}: {os.strerror(errno)}")
            self._wds[wd] = folder

    def read(self) -> Batch:
        """Everything queued now (never blocks)."""
        changes: Batch = []
        while True:
            try:
                data = os.read(self.fd, READ_SIZE)
            except BlockingIOError:
                return changes
            if not data:
                return changes
            changes.extend(parse_events(data, self._wds))

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


async def watch_folders(
    folders: Sequence[str], keep: Filter, stop: asyncio.Event | None = None
) -> AsyncIterator[Batch]:
    """Batches of the changes ``keep(kind, path)`` accepts (overflows always pass), until
    ``stop`` is set or the consumer stops iterating."""
    watcher = Inotify(folders)
    try:
        watcher.open()
    except OSError:
        async for batch in _watchfiles(folders, keep, stop):
            yield batch
        return
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    pending: Batch = []

    def readable() -> None:
        try:
            pending.extend(watcher.read())
        except OSError:  # the descriptor went bad: say everything may have changed
            pending.extend((OVERFLOW, folder) for folder in folders)
        ready.set()

    loop.add_reader(watcher.fd, readable)
    stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None
    try:
        while stop is None or not stop.is_set():
            waiter = asyncio.ensure_future(ready.wait())
            waits = {waiter} if stopper is None else {waiter, stopper}
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            ready.clear()
            batch = [c for c in pending if c[0] == OVERFLOW or keep(*c)]
            pending.clear()
            if batch:
                yield batch
    finally:
        if stopper is not None:
            stopper.cancel()
        with contextlib.suppress(Exception):  # (a loop already closed has no reader to remove)
            loop.remove_reader(watcher.fd)
        watcher.close()


async def _watchfiles(
    folders: Sequence[str], keep: Filter, stop: asyncio.Event | None
) -> AsyncIterator[Batch]:
    """The fallback: watchfiles' thread, polling every 50 ms."""
    import anyio
    from watchfiles import Change, awatch

    kinds = {Change.added: ADDED, Change.modified: MODIFIED, Change.deleted: DELETED}
    stop_event = anyio.Event()

    async def relay() -> None:
        if stop is not None:
            await stop.wait()
            stop_event.set()

    relay_task = asyncio.ensure_future(relay())
    try:
        async for changes in awatch(
            *folders,
            watch_filter=lambda change, path: keep(kinds[change], path),
            debounce=100,
            step=50,
            stop_event=stop_event,
            recursive=False,
        ):
            yield [(kinds[change], path) for change, path in changes]
    finally:
        relay_task.cancel()
