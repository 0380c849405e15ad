"""Who runs the scheduler, asked cheaply: `loom status`, `loom diagnose`, viewers and `loom stop`.

Standard library and the model only: `loom status` imports it on every call.
"""

from __future__ import annotations

import os
import time

from loom_tui.core.fsutil import FileLock
from loom_tui.core.model import ACTIVE, StageRecord, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from loom_tui.core.store import Store


def scheduler_pid(store: Store) -> int | None:
    """The pid of the running scheduler, or None when none holds the lock.

    A scheduler writes its pid right after taking the lock; one caught in between is waited
    for briefly (and reported as pid 0 if it never says)."""
    probe = FileLock(store.scheduler_lock_path, blocking=False)
    if probe.acquire():
        probe.release()
        return None
    for _ in range(50):
        try:
            with open(store.scheduler_lock_path, encoding="utf-8") as fh:
                pid = int(fh.read().strip() or "0")
        except (OSError, ValueError):
            pid = 0
        if pid:
            return pid
        time.sleep(0.01)
    return 0


def _flock_holder(path: str) -> int | None:
    """The pid that holds an exclusive `flock` on ``path`` as /proc/locks shows it (Linux), found
    without touching the lock; None when no entry names the file (or /proc cannot say)."""
    try:
        inode = os.stat(path).st_ino
        with open("/proc/locks", encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    for line in text.splitlines():
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4321 fe:00:5458440 0 EOF"; "->" marks a waiter
        if len(parts) < 6 or parts[1] == "->" or parts[1] != "FLOCK":
            continue
        if parts[5].rsplit(":", 1)[-1] == str(inode):
            return int(parts[4]) if parts[4].isdigit() else 0
    return None


def scheduler_alive(store: Store) -> int | None:
    """As `scheduler_pid`, for watchers that ask every second: while a scheduler holds the lock
    it is seen in /proc/locks, and the lock is never probed — a probe, however short, could make
    a scheduler that starts at that very moment find the lock busy."""
    holder = _flock_holder(store.scheduler_lock_path)
    if holder is None:
        return scheduler_pid(store)
    try:
        with open(store.scheduler_lock_path, encoding="utf-8") as fh:
            pid = int(fh.read().strip() or "0")
    except (OSError, ValueError):
        pid = 0
    return pid or holder


def waiting_for_scheduler(stages: list[StageRecord], *, auto_merge: bool = True) -> list[str]:
    """The stages that only a scheduler moves on: ready to start, running (a session to watch,
    swap or restart), or completed and waiting for the automatic merge."""
    waiting = []
    for stage in stages:
        if (
            stage.status in ACTIVE
            or (stage.status is Status.QUEUED and not stage.held)
            or (stage.status is Status.COMPLETED and auto_merge and not stage.merged)
        ):
            waiting.append(stage.id)
    return waiting


def no_scheduler_notice(
    stages: list[StageRecord], *, auto_merge: bool, pid: int | None
) -> str | None:
    """One plain line when no scheduler runs (``pid`` is None) and stages wait for one."""
    waiting = waiting_for_scheduler(stages, auto_merge=auto_merge)
    if not waiting or pid is not None:
        return None
    shown = ", ".join(waiting[:5]) + (f" and {len(waiting) - 5} more" if len(waiting) > 5 else "")
    return (
        f"no scheduler is running, and {len(waiting)} stage(s) wait for one ({shown}): "
        "`loom` starts it (or `loom run --headless`)"
    )
