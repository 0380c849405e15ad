"""Atomic, locked file writes: no `.work/` file is ever half-written or lost to a concurrent writer.

Every write goes to a temporary file in the same directory, is flushed to disk (fsync), and is then
renamed over the target, so a reader sees the old content or the new, never a mix, even if the
writer is killed mid-way.  Read-modify-write sequences run under an exclusive `flock` on a lock file
so that two `loom` processes cannot both read the old state and each overwrite the other's change.
Appends to the JSONL logs (`events.jsonl`, the hook logs) are whole lines or nothing: one line is
written under an `flock` of the file itself and, when the disk fills part-way, cut back off.  A
write that fails raises `WriteError`, which names the file.  Only cheap standard-library modules
are imported here (no tempfile, no pathlib): agent-facing commands load this on every call.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import os

from loom_tui.core.errors import WriteError

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


def shown_path(path: str) -> str:
    """``path`` as a person knows it: from `.work/` on for loom's own files, else as given."""
    marker = os.sep + ".work" + os.sep
    at = path.rfind(marker)
    return path[at + 1 :] if at >= 0 else path


def write_error(path: str, exc: OSError) -> WriteError:
    """The error to raise for a failed write of ``path``: ``cannot write PATH: REASON``."""
    if isinstance(exc, WriteError):
        return exc
    reason = exc.strerror or str(exc) or type(exc).__name__
    return WriteError(f"cannot write {shown_path(path)}: {reason}", exc.errno, path)


def atomic_write(path: str, data: str | bytes, mode: int = 0o644, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (temporary file, fsync, rename).

    Atomic either way: a reader, or a process killed at any moment, sees the old content or the
    new.  ``durable=False`` skips the two fsyncs, for what survives a power cut only as well as
    the tmux server does: the scheduler's batches of start and promotion writes, and the signal
    and settings files, all of which `decide` rebuilds from the records when they are lost.
    Whatever fails (a full disk, the rename), the temporary file is removed and `WriteError`
    names ``path``."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = _temp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        view = memoryview(raw)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException as exc:
        if fd >= 0:
            _close_quietly(fd)
        _unlink_quietly(tmp)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise
    if durable:
        fsync_dir(os.path.dirname(path))
    if _writes_left:
        write_boundary()


def append_line(path: str, line: str) -> int:
    """Append ``line`` and a newline to ``path`` whole, or nothing (a JSONL log's one way in).

    One process at a time (an `flock` of the file itself): the line is written with O_APPEND,
    and when the disk fills part-way the file is cut back to its size before, so no reader ever
    finds a torn line of ours, and no other writer's line is cut.  A file left with a torn last
    line (by a power cut) gets a newline first: that line stays one bad line that readers skip,
    rather than swallowing this one.  Returns the file's size after the line."""
    data = (line + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise write_error(path, exc) from None
    size = -1
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            if not written:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            view = view[written:]
        return size + len(data)
    except BaseException as exc:
        if size >= 0:
            try:  # noqa: SIM105 - contextlib is not worth its import on the agent-facing path
                os.ftruncate(fd, size)
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise
    finally:
        os.close(fd)


def json_line(data: dict[str, object]) -> str:
    """One JSON line for a log: readable UTF-8, or escaped ASCII for text UTF-8 cannot hold (a
    lone surrogate), so that writing the line never fails on its text."""
    from loom_tui.core.jsontext import dumps  # json's own encoder, without importing json

    line = dumps(data, ensure_ascii=False, default=str)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = dumps(data, ensure_ascii=True, default=str)
    return line


def _close_quietly(fd: int) -> None:
    try:  # noqa: SIM105 - contextlib is not worth its import on the agent-facing path
        os.close(fd)
    except OSError:
        pass


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
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a lock file that cannot even be created (no inode left)
            raise write_error(self.path, exc) from None
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
