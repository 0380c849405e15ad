"""Who runs the scheduler, asked cheaply: `loom status`, `loom diagnose`, viewers and `loom stop`.

Standard library only: `loom status` imports it on every call.
"""

from __future__ import annotations

import os
import time

from loom_tui.core.fsutil import FileLock
from loom_tui.core.status import ACTIVE_VALUES  # (on `loom status`'s path: not the model)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from loom_tui.core.model import StageRecord
    from loom_tui.core.store import Store


def scheduler_pid(store: Store) -> int | None:
    """The pid of the running scheduler, or None when none holds the lock.

    A scheduler writes its pid right after taking the lock; one caught in between is waited
    for briefly (and reported as pid 0 if it never says)."""
    return lock_holder(store.work_dir)


def lock_holder(work_dir: str) -> int | None:
    """`scheduler_pid` from the `.work` folder alone (`loom status`'s fast path has no store)."""
    path = os.path.join(work_dir, "loom.lock")
    probe = FileLock(path, blocking=False)
    if probe.acquire():
        probe.release()
        return None
    for _ in range(50):
        try:
            with open(path, encoding="utf-8") as fh:
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


def waiting_for_scheduler(
    stages: list[StageRecord] | list[dict[str, object]], *, auto_merge: bool = True
) -> list[str]:
    """The stages that only a scheduler moves on: ready to start, running (a session to watch,
    swap or restart), or completed and waiting for the automatic merge.  ``stages`` are records,
    or the stage objects of `loom status` (which never imports the records' module)."""
    waiting = []
    for stage in stages:
        if isinstance(stage, dict):
            sid, status = str(stage["id"]), str(stage["status"])
            held, merged = bool(stage.get("held")), bool(stage.get("merged"))
        else:
            sid, status, held, merged = stage.id, stage.status.value, stage.held, stage.merged
        if (
            status in ACTIVE_VALUES
            or (status == "queued" and not held)
            or (status == "completed" and auto_merge and not merged)
        ):
            waiting.append(sid)
    return waiting


def no_scheduler_notice(
    stages: list[StageRecord] | list[dict[str, object]], *, auto_merge: bool, pid: int | None
) -> str | None:
    """One plain line when no scheduler runs (``pid`` is None) and stages wait for one."""
    if pid is not None:
        return None
    waiting = waiting_for_scheduler(stages, auto_merge=auto_merge)
    if not waiting:
        return None
    shown = ", ".join(waiting[:5]) + (f" and {len(waiting) - 5} more" if len(waiting) > 5 else "")
    return (
        f"no scheduler is running, and {len(waiting)} stage(s) wait for one ({shown}): "
        "`loom` starts it (or `loom run --headless`)"
    )
