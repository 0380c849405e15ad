"""Errors the core raises on purpose; every face turns them into a message and an exit code.

Exit codes follow the CLI contract: 1 for an operation that failed, 2 for bad usage or bad input.
"""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_USAGE = 2


class LoomError(Exception):
    """An expected failure, shown to the user as one message, never as a traceback."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def lines(self) -> list[str]:
        """The lines to print; most errors have one."""
        return [self.message]


class UsageError(LoomError):
    """The user asked for something that cannot be done as asked (exit 2)."""

    exit_code = EXIT_USAGE


class ProjectNotFound(LoomError):
    """No `.work/` directory could be found from the current location."""


class StoreError(LoomError):
    """A `.work/` file is missing, corrupted or hand-broken; the message names the file."""


class WriteError(StoreError, OSError):
    """A file could not be written (a full disk, a read-only folder): the message names the file,
    as ``cannot write .work/events.jsonl: No space left on device``.

    It is an `OSError` too, with the original ``errno``, so that code which already treats a
    failed write as an `OSError` (best-effort logs, the scheduler's event log) keeps doing so,
    while every face shows it as one `loom: …` line rather than an internal error."""

    def __init__(self, message: str, errno: int | None = None, path: str = "") -> None:
        super().__init__(message)
        self.errno = errno
        self.path = path


class NotFound(LoomError):
    """A stage, session or handoff that does not exist."""


class TransitionError(LoomError):
    """A status change that the transition table refuses; the message names both statuses."""


class LockBusy(LoomError):
    """A lock that another process holds (for example the scheduler's `.work/loom.lock`)."""
