"""`loom status` and `loom diagnose` say plainly when no scheduler runs and stages wait for one
(the run died with its screen, or was never started), and name the scheduler's pid when one runs.

The real `loom` CLI on the sample plan's project; the running scheduler is a real process that
holds the real lock, as `tests/tui/test_viewer.py` does.
"""

from __future__ import annotations

import json
from pathlib import Path

from loom_tui.core.scheduler_lock import scheduler_alive, scheduler_pid
from loom_tui.core.store import Store
from tests.conftest import RunLoom
from tests.tui.test_viewer import LockHolder


def test_status_and_diagnose_say_that_no_scheduler_runs(project: Path, loom: RunLoom) -> None:
    data = json.loads(loom("status", "--json", check=True).stdout)
    assert data["scheduler"]["pid"] is None
    notice = data["scheduler"]["notice"]
    assert notice.startswith("no scheduler is running, and 1 stage(s) wait for one (scaffold)")
    assert f"! {notice}" in loom("status", check=True).stdout.splitlines()
    report = loom("diagnose", "scaffold", check=True).stdout
    assert "scheduler   none is running, and this stage waits for one: `loom` starts it" in report
    # a stage that waits for its dependencies does not wait for a scheduler
    assert "scheduler   none is running\n" in loom("diagnose", "release", check=True).stdout


def test_status_and_diagnose_name_the_running_scheduler(project: Path, loom: RunLoom) -> None:
    store = Store(str(project / ".work"))
    holder = LockHolder(store.scheduler_lock_path)
    try:
        assert scheduler_alive(store) == holder.pid  # seen in /proc/locks, the lock not probed
        data = json.loads(loom("status", "--json", check=True).stdout)
        assert data["scheduler"] == {"pid": holder.pid, "notice": None}
        assert "no scheduler" not in loom("status", check=True).stdout
        report = loom("diagnose", "scaffold", check=True).stdout
        assert f"scheduler   runs (pid {holder.pid})" in report
    finally:
        holder.crash()
    assert scheduler_alive(store) is None
    assert scheduler_pid(store) is None
