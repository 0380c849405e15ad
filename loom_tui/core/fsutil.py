"""Atomic, locked file writes: no `.work/` file is ever half-written or lost to a concurrent writer.

Every write goes to a temporary file in the same directory, is flushed to disk (fsync), and is then
renamed over the target, so a reader sees the old content or the new, never a mix, even if the
writer is killed mid-way.  Read-modify-write sequences run under an exclusive `flock` on a lock file
so that two `loom` processes cannot both read the old state and each overwrite the other's change.
Only cheap standard-library modules are imported here (no tempfile, no pathlib): agent-facing
commands load this on every call.
"""

from __future__ import annotations

import fcntl
import itertools
import os

TEMP_SUFFIX = ".tmp"
_counter = itertools.count(1)
#: The test hook behind `LOOM_TEST_KILL_AT_WRITE`: writes left before this process kills itself.
_writes_left: list[int] = []


def arm_kill_at_write(count: int) -> None:
    """Make this process SIGKILL itself right after its ``count``-th write (a test hook: the
    scheduler arms it from ``LOOM_TEST_KILL_AT_WRITE`` to prove every write boundary resumable)."""
    _writes_left[:] = [count] if count > 0 else []


def write_boundary() -> None:
    """Called after each write that changes the world (a record, a pane, a branch)."""
    if _writes_left:
        _writes_left[0] -= 1
        if _writes_left[0] <= 0:
            import signal

            os.kill(os.getpid(), signal.SIGKILL)


def _temp_name(path: str) -> str:
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.{os.getpid()}.{next(_counter)}{TEMP_SUFFIX}")


def fsync_dir(directory: str) -> None:
    """Make a rename in ``directory`` durable."""
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str, data: str | bytes, mode: int = 0o644, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (temporary file, fsync, rename).

    Atomic either way: a reader, or a process killed at any moment, sees the old content or the
    new.  ``durable=False`` skips the two fsyncs, for what survives a power cut only as well as
    the tmux server does: the scheduler's batches of start and promotion writes, and the signal
    and settings files, all of which `decide` rebuilds from the records when they are lost."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = _temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(raw)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    if durable:
        fsync_dir(os.path.dirname(path))
    if _writes_left:
        write_boundary()


def _unlink_quietly(path: str) -> None:
    try:  # noqa: SIM105 - contextlib is not worth its import on the agent-facing path
        os.unlink(path)
    except OSError:
        pass


def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


class FileLock:
    """An exclusive `flock` on ``path``, as a context manager.

    Locks belong to an open file description, so two threads of one process that each enter their
    own `FileLock` on the same path exclude each other too.  Not re-entrant.
    """

    def __init__(self, path: str, *, blocking: bool = True) -> None:
        self.path = path
        self.blocking = blocking
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        flags = fcntl.LOCK_EX if self.blocking else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    @property
    def fd(self) -> int | None:
        return self._fd

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
