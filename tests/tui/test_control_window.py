"""The run outlives the terminal: `loom` runs the TUI and its scheduler in loom's control window (a
session of the project's private tmux server) and attaches the terminal to it.

Real tmux throughout: the person's terminal is a pane of a private test server (TMUX unset,
``-f /dev/null``), `loom` is the real console script, the agents are the simulated agent.  Both
servers are killed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loom_tui.core import control_window
from loom_tui.core.config import read_config, write_config
from loom_tui.core.control import scheduler_pid
from loom_tui.core.model import Status
from loom_tui.core.store import Store
from loom_tui.core.tmux import Tmux
from tests.conftest import LOOM, RunLoom
from tests.integration.engine import FAST_SETTINGS
from tests.tui.test_in_tmux import Terminal, slow_project, terminal_modes  # noqa: F401

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

#: A generous limit for the whole plan to run (correctness, not speed).
PLAN_WAIT = 240.0


def terminal_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TMUX", "LOOM_"))}
    env["TERM"] = "xterm-256color"
    return env


def open_terminal(cwd: Path, command: str) -> Terminal:
    """A terminal running ``command``; the shell then prints its exit status and waits."""
    return Terminal(cwd, f"{command}; echo loom-exited-$?; sleep 600", terminal_env())


@pytest.fixture
def fast_project(git_repo: Path, sample_plan: Path, loom: RunLoom) -> Iterator[Path]:
    """The sample plan, initialised, with the fast test settings; its tmux server killed after."""
    loom("init", str(sample_plan.relative_to(git_repo)), check=True)
    work = str(git_repo / ".work")
    config = read_config(work)
    config.settings.update(FAST_SETTINGS)
    write_config(work, config)
    yield git_repo
    with contextlib.suppress(Exception):
        Tmux(config.tmux_socket).kill_server()


def wait_until(condition: object, what: str, limit: float) -> None:
    deadline = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def plan_done(store: Store) -> bool:
    stages = store.stages()
    return all(
        s.status is Status.SKIPPED or (s.status is Status.COMPLETED and s.merged) for s in stages
    )


def test_the_run_outlives_its_terminal_and_loom_attaches_again(
    fast_project: Path, loom: RunLoom
) -> None:
    store = Store(str(fast_project / ".work"))
    first = open_terminal(fast_project, f"{LOOM} --agent sim")
    try:
        first.wait_for_text("loom · PLAN-0001: Word-count tool")
        assert control_window.is_running(store)
        pid = scheduler_pid(store)
        assert pid
    finally:
        first.kill()  # the terminal closed (its tmux client and the `loom` in it are gone)

    # nobody watches, and the plan still runs to the end, by the same scheduler
    wait_until(lambda: plan_done(Store(str(fast_project / ".work"))), "the plan to end", PLAN_WAIT)
    assert scheduler_pid(store) == pid
    assert control_window.is_running(store)

    # `loom` again attaches to it and shows it (no new scheduler)
    second = open_terminal(fast_project, LOOM)
    try:
        screen = second.wait_for(
            lambda text: "6/6 done" in text and "plan complete" in text, "the finished plan"
        )
        assert "loom · PLAN-0001: Word-count tool" in screen
        assert scheduler_pid(store) == pid

        # `loom stop` ends it: the control window goes, the terminal is given back as it was
        stopped = loom("stop", check=True)
        assert f"scheduler (pid {pid}) stopped" in stopped.stdout
        second.wait_for_text("loom-exited-143")  # the TUI's status: 128 + SIGTERM
        assert terminal_modes(second) == ["0", "0", "0", "0"]
        assert not control_window.is_running(store)
        assert scheduler_pid(store) is None
    finally:
        second.kill()


def test_attach_switches_to_the_stage_and_f12_comes_back(
    slow_project: Path,  # noqa: F811
    loom: RunLoom,
) -> None:
    """``a`` in the control window is a switch-client to the stage's window in the same server;
    its status line names F12, which comes back.  ``prefix d`` detaches: the run goes on."""
    store = Store(str(slow_project / ".work"))
    term = open_terminal(slow_project, f"{LOOM} run --agent sim")
    try:
        # the session is live in the TUI's snapshot (its pane known): `a` has a pane to go to
        term.wait_for(
            lambda text: "● scaffold" in text and "session  1/1 · working" in text,
            "scaffold's session working",
        )
        term.keys("a")
        screen = term.wait_for(
            lambda text: "loom · PLAN" not in text and "F12" in text, "the stage's window"
        )
        status_line = screen.rstrip("\n").splitlines()[-1]
        assert "[loom]" in status_line
        assert "scaffold" in status_line
        assert "F12: back to loom's control window" in status_line
        print("status line:", status_line)

        term.keys("F12")
        term.wait_for_text("loom · PLAN-0001: Word-count tool")

        term.keys("C-b", "d")  # tmux's detach: the terminal is given back, the run goes on
        screen = term.wait_for_text("loom-exited-0")
        assert "the run goes on in loom's control window" in screen
        assert terminal_modes(term) == ["0", "0", "0", "0"]
        assert control_window.is_running(store)
        assert scheduler_pid(store)

        loom("stop", check=True)
        assert not control_window.is_running(store)
        assert scheduler_pid(store) is None
    finally:
        term.kill()


def test_detach_starts_the_run_without_a_terminal(slow_project: Path, loom: RunLoom) -> None:  # noqa: F811
    """`loom run --detach` (and any `loom` without a terminal) starts the control window and
    returns; a second one finds it running."""
    store = Store(str(slow_project / ".work"))
    started = loom("run", "--agent", "sim", "--detach", check=True)
    assert "loom runs in its control window" in started.stdout
    wait_until(lambda: scheduler_pid(store) is not None, "the scheduler", 60)
    assert control_window.is_running(store)
    again = loom("--agent", "sim", check=True)  # no terminal: nothing to attach
    assert "loom already runs in its control window" in again.stdout
    assert not os.path.exists(control_window.env_path(store))  # read once, then removed
    loom("stop", check=True)
    assert not control_window.is_running(store)
