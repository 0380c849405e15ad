"""Conditional record changes: each re-reads the record under the store lock, lets a function
decide whether the state it expects still holds, and writes only if it changed something."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from loom_tui.core.model import SessionRecord, StageRecord, Status
from loom_tui.core.store import Store


def change_session(
    store: Store, session_id: str, change: Callable[[SessionRecord], bool]
) -> SessionRecord | None:
    """Change the session under the lock; write (and return it) only if ``change`` did."""
    with store.lock():
        record = store.read_session(session_id)
        if not change(record):
            return None
        store.write_session(record)
    return record


def change_stage(
    store: Store, stage_id: str, change: Callable[[StageRecord], bool]
) -> tuple[StageRecord, Status] | None:
    """Change the stage under the lock; returns it and its old status when ``change`` did."""
    with store.lock():
        record = store.read_stage(stage_id)
        old = record.status
        if not change(record):
            return None
        store.write_stage(record)
    return record, old


def ender(
    status: str,
    reason: str,
    exit_code: int | None,
    lines: list[str] | None = None,
    gauge: Mapping[str, object] | None = None,
    now: float | None = None,
) -> Callable[[SessionRecord], bool]:
    """The change that records a live session's end (and leaves an ended one alone)."""

    def end(record: SessionRecord) -> bool:
        if not record.live:
            return False
        at = now if now is not None else time.time()
        record.status = status
        record.ended_at = at
        record.exit_code = exit_code
        record.end_reason = reason
        if lines:
            record.last_lines = lines
        record.agent_state = "dead"
        record.agent_state_source = "pane"
        record.agent_state_at = at
        for key, value in (gauge or {}).items():
            setattr(record, key, value)
        return True

    return end
