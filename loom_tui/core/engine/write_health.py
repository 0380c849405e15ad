"""Whether the scheduler can write `.work/`: a full disk pauses the run as a whole, not a stage.

A write that fails because the disk is full (or over quota, read-only, failing) is no fault of the
stage whose command hit it.  Counted against that stage, as other failures are (a cool-down, then
blocked after three), it would spend the stage's retries on the disk, and the scheduler would
repeat the error every tick.  So such failures come here instead: the scheduler then stops
deciding (no starts, no record changes, each of which would fail the same way), says so once, and
before each later pass probes whether a write of a record's size goes through again.  Agents run on
in tmux meanwhile; once space is back the next pass reads the world as it is, as after a restart
(every step is resumable from any write, see `scheduler.py`).
"""

from __future__ import annotations

import errno
import os

#: The errors that mean "nothing can be written here now", whichever file was being written.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG})
#: The probe's size: a few records' worth, so that the run does not resume into the next failure.
PROBE_BYTES = 64 * 1024


#: The same conditions as libgit2 (pygit2's `GitError`) and git report them: text only.
DISK_WORDS = tuple(os.strerror(code) for code in sorted(DISK_ERRNOS))
#: Probes after a resume that failed again at once back off up to this (seconds): a disk that is
#: full for git's worktrees but not for `.work/` must not make the run flap every tick.
PROBE_BACKOFF_MAX = 60.0


def is_disk_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that failed for want of a writable disk (see `DISK_ERRNOS`):
    an `OSError` with one of those errors, or another error (git's) that names one."""
    if isinstance(exc, OSError):
        return exc.errno in DISK_ERRNOS
    text = str(exc)
    return any(words in text for words in DISK_WORDS)


class WriteHealth:
    """The run's one "cannot write `.work/`" condition: set by the first failed write, cleared
    by a successful probe."""

    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir
        #: the first failed write of the current outage (naming the file), None when writing works
        self.problem: str | None = None
        #: when the current outage began (the scheduler's clock)
        self.since: float | None = None
        #: outages in a row that came back right after a successful probe, and when to probe next
        self._relapses = 0
        self._resumed_at: float | None = None
        self._next_probe = 0.0

    def hit(self, exc: BaseException, now: float) -> bool:
        """Note ``exc`` if it is a disk error; returns whether it was one."""
        if not is_disk_error(exc):
            return False
        if self.problem is None:
            self.problem = str(exc)
            self.since = now
            quick = self._resumed_at is not None and now - self._resumed_at < PROBE_BACKOFF_MAX
            self._relapses = self._relapses + 1 if quick else 0
            self._next_probe = now + min(PROBE_BACKOFF_MAX, float(2**self._relapses) - 1.0)
        return True

    def due(self, now: float) -> bool:
        """Whether to probe now (at once, first; later the more often it relapsed, the less)."""
        return now >= self._next_probe

    def probe(self, now: float) -> bool:
        """Write (and remove) a probe file of `PROBE_BYTES`; clears the condition when it goes
        through.  Blocking: run it in a thread."""
        path = os.path.join(self.work_dir, f".write-probe.{os.getpid()}")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError:
            return False
        try:
            view = memoryview(b"\0" * PROBE_BYTES)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            ok = True
        except OSError:
            ok = False
        finally:
            os.close(fd)
            try:  # noqa: SIM105 - as fsutil: no contextlib for one call
                os.unlink(path)
            except OSError:
                pass
        if ok:
            self.problem = None
            self.since = None
            self._resumed_at = now
        return ok
