"""Read-only viewers stay true: they name the scheduler that runs now, notice within a second or
two when it dies, offer to take over (``o``), and show every event of the log as prose.

The scheduler a viewer watches is a real process that holds the real lock (a Python child that
takes the flock and writes its pid, as a scheduler does); it dies by SIGKILL, as a crash would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loom_tui.core.control import scheduler_pid
from loom_tui.tui.widgets.event_log import EventLog
from tests.tui.conftest import AppFactory, TuiProject
from tests.tui.test_keys import SIZE, notices, screen_text, settle, started, wait_for

HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.pwrite(fd, f"{os.getpid()}\\n".encode(), 0)
print("held", flush=True)
time.sleep(600)
"""


class LockHolder:
    """A process that holds the scheduler's lock, as a running scheduler does."""

    def __init__(self, lock_path: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, lock_path], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "held"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def crash(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def holder(tui_project: TuiProject) -> Iterator[LockHolder]:
    held = LockHolder(tui_project.store.scheduler_lock_path)
    yield held
    if held.proc.poll() is None:
        held.crash()


async def test_a_viewer_notices_the_scheduler_died_and_takes_over(
    make_app: AppFactory, tui_project: TuiProject, holder: LockHolder, project_tmux: object
) -> None:
    app = make_app(run_scheduler=True)
    app.take_over_in_window = False  # as in the control window: the scheduler starts here
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        assert app.read_only
        assert app.scheduler_detail == f"scheduler runs in pid {holder.pid}"

        # o while the scheduler lives: nothing to take over
        await pilot.press("o")
        await settle(app, pilot)
        assert f"the scheduler runs in pid {holder.pid}: nothing to take over" in notices(app)
        assert app.scheduler is None

        holder.crash()
        await wait_for(pilot, lambda: app.scheduler_state == "no-scheduler", "the death noticed")
        header = screen_text(app).splitlines()[0]
        assert "! no scheduler" in header
        assert f"pid {holder.pid}" not in app.scheduler_detail  # never the stale pid
        assert "o takes over" in app.scheduler_detail
        assert "stage(s) wait for one" in app.scheduler_detail  # executing stages, no scheduler
        stopped = f"the scheduler (pid {holder.pid}) has stopped: press o to take over"
        await wait_for(pilot, lambda: stopped in notices(app), "the offer to take over")

        await pilot.press("o")  # (not `settle`: the scheduler's worker runs until the app quits)
        await wait_for(pilot, lambda: app.scheduler_state == "running", "the scheduler here")
        assert not app.read_only
        assert app.scheduler is not None
        assert app.scheduler_state == "running"
        assert scheduler_pid(tui_project.fresh()) == os.getpid()
        took = "this loom took over: the scheduler runs here"
        await wait_for(pilot, lambda: took in notices(app), "the notice")
        app._quit()
    assert scheduler_pid(tui_project.fresh()) is None


async def test_a_viewer_follows_a_new_scheduler(
    make_app: AppFactory, tui_project: TuiProject, holder: LockHolder
) -> None:
    """The pid shown is the one that runs now: after a restart by someone else, the new one."""
    app = make_app(run_scheduler=True)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        first = holder.pid
        holder.crash()
        await wait_for(pilot, lambda: app.scheduler_state == "no-scheduler", "the death noticed")
        second = LockHolder(tui_project.store.scheduler_lock_path)
        try:
            want = f"scheduler runs in pid {second.pid}"
            await wait_for(pilot, lambda: app.scheduler_detail == want, "the new pid")
            assert app.scheduler_state == "read-only"
            assert first != second.pid
        finally:
            second.crash()


async def test_status_live_is_read_only_and_tails_the_log_as_prose(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    """`loom status --live` with no scheduler at all: it says so, and every line of the event log
    written after it opened shows as prose — a line without a message gets its kind's message."""
    app = make_app(run_scheduler=False)
    app.live_view = True
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await wait_for(pilot, lambda: app.scheduler_state == "no-scheduler", "no scheduler")
        assert app.read_only
        events = Path(tui_project.store.events_path)
        lines = [
            {"ts": 1.0, "kind": "handoff-written", "stage": "cli", "source": "agent",
             "session": "s1", "path": "handoffs/cli-1.md", "written_by": "agent",
             "trigger": "context"},
            {"ts": 2.0, "kind": "stage-status", "stage": "docs", "source": "cli",
             "old": "executing", "new": "completed", "reason": ""},
        ]  # fmt: skip
        with events.open("a", encoding="utf-8") as fh:
            for line in lines:
                fh.write(json.dumps(line) + "\n")
        log = app.screen.query_one(EventLog)

        def shown() -> str:
            return "\n".join(strip.text for strip in log.lines)

        await wait_for(pilot, lambda: "docs" in shown() and "completed" in shown(), "the lines")
        text = shown()
        assert "handoff-written" not in text
        assert "stage-status" not in text
        assert "executing → completed" in text
        assert "handoff handoffs/cli-1.md written by the agent (context)" in text


async def test_take_over_outside_the_control_window_opens_one(
    make_app: AppFactory, tui_project: TuiProject, holder: LockHolder, project_tmux: object
) -> None:
    """`loom status --live` in a person's terminal: ``o`` does not tie the run to this terminal
    again; it opens loom's control window (a real `loom` in a real tmux session), and this view
    goes on, naming the new scheduler."""
    from loom_tui.core import control_window
    from loom_tui.core.control import stop_scheduler

    store = tui_project.fresh()
    app = make_app(run_scheduler=False)
    app.live_view = True
    try:
        async with app.run_test(size=SIZE) as pilot:
            await started(app, pilot)
            holder.crash()
            await wait_for(pilot, lambda: app.scheduler_state == "no-scheduler", "the death")
            await pilot.press("o")
            await wait_for(
                pilot, lambda: app.scheduler_state == "read-only", "the control window's scheduler"
            )
            assert control_window.is_running(store)
            pid = scheduler_pid(store)
            assert pid and pid != os.getpid()
            assert app.scheduler_detail == f"scheduler runs in pid {pid}"
            assert app.scheduler is None  # still a view
            notice = "the run goes on in loom's control window: `loom` attaches to it"
            await wait_for(pilot, lambda: notice in notices(app), "the notice")
    finally:
        stop_scheduler(store, kill_sessions=False)
    assert not control_window.is_running(store)


async def test_the_schedulers_own_tui_shows_what_the_cli_wrote(
    make_app: AppFactory, tui_project: TuiProject, project_tmux: object, loom: object
) -> None:
    """The scheduler's events reach its TUI directly; a change made with the CLI (or by an agent)
    is read from events.jsonl and shown too, once."""
    app = make_app(run_scheduler=True)
    async with app.run_test(size=SIZE) as pilot:
        # (not `started`: it waits for every worker, and the scheduler's runs until the app quits)
        await wait_for(pilot, lambda: app.snapshot is not None, "the first snapshot")
        assert app.scheduler is not None
        done = loom("stage", "hold", "release", cwd=tui_project.root)  # type: ignore[operator]
        assert done.returncode == 0, done.stderr
        held = [
            e
            for e in tui_project.fresh().read_events()
            if e.get("kind") == "stage-held" and e.get("source") == "cli"
        ]
        assert len(held) == 1
        message = str(held[0]["message"])
        log = app.screen.query_one(EventLog)

        def shown() -> list[str]:
            return [strip.text for strip in log.lines if message in strip.text]

        await wait_for(pilot, lambda: bool(shown()), "the CLI's event in the log")
        assert len(shown()) == 1
        app._quit()
