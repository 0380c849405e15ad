"""Wiring patterns: checked at plan load by both regex engines, searched under a time limit.

A `wiring` entry's ``pattern`` is a regular expression that must be found in a source file.
Python's `re` cannot be interrupted: a catastrophic pattern such as ``(a+)+$`` against a line of
thirty ``a``s backtracks for minutes, and `loom verify` (run by agents, unattended) spins with it.
The `regex` package runs the same syntax and takes a ``timeout``.  So a pattern must compile with
`re` (the dialect the plan format documents) and with `regex` (the engine that runs it), and a
search that runs out of time is a failed check that says so, not a hung command.

`regex` is imported only here and only when a pattern is compiled: it costs ~30 ms, which the
agent-facing commands do not pay.
"""

from __future__ import annotations

import re
import time
from typing import Any

#: The time one wiring entry may spend searching all its files.
SEARCH_SECONDS = 2.0


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used (as "is not a valid regular expression: …"), or None."""
    try:
        compile_pattern(pattern)
    except ValueError as exc:
        return str(exc)
    return None


def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled by `regex` (multi-line), or ValueError saying why it is invalid."""
    import regex

    try:
        re.compile(pattern, re.MULTILINE)
        return regex.compile(pattern, regex.MULTILINE)
    except (re.error, regex.error, RecursionError, OverflowError, ValueError) as exc:
        raise ValueError(f"is not a valid regular expression: {exc}") from None


class Deadline:
    """The time left to one wiring entry's searches (``SEARCH_SECONDS`` in all)."""

    def __init__(self, seconds: float = SEARCH_SECONDS) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def search(self, compiled: Any, text: str) -> Any:
        """``compiled.search(text)``; raises `TimeoutError` once the time is spent."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return compiled.search(text, timeout=left)
