"""`ErrorGate`: each error is told once, not once a pass.

The scheduler passes again and again over a world that may hold the same trouble for minutes (a
branch gone, a command that keeps failing).  Its faces — the headless log, the TUI's toasts,
`events.jsonl` — should hear of it once, again when the error changes, and again if it comes back
after it had cleared.  The gate sits where the scheduler emits, so every face gets the same
deduplicated stream and none has to guess which lines repeat.

Errors are keyed by their stage (None for a pass that failed as a whole): a stage whose commands
succeed again is cleared, and so is the pass key after a pass that went through.
"""

from __future__ import annotations

from collections.abc import Container


class ErrorGate:
    def __init__(self) -> None:
        #: the error last told, by stage (None: the scheduler's pass as a whole)
        self._told: dict[str | None, str] = {}

    def admit(self, key: str | None, message: str) -> bool:
        """Whether to tell ``message`` now: not if it is what ``key`` said last."""
        if self._told.get(key) == message:
            return False
        self._told[key] = message
        return True

    def clear(self, key: str | None) -> None:
        """``key``'s trouble is over: its next error is told, even the same one."""
        self._told.pop(key, None)

    def clear_stages_except(self, failing: Container[str]) -> None:
        """Clear every stage that is no longer ``failing``."""
        for key in [k for k in self._told if k is not None and k not in failing]:
            del self._told[key]
