"""`make demo` starts the way bare `loom` does: the demo's run lives in loom's control window (a
session of the project's private tmux server) and the terminal attaches to it; `loom stop` ends
it and gives the terminal back.

Real tmux throughout, as in `test_control_window.py`: the person's terminal is a pane of a
private test server (TMUX unset, ``-f /dev/null``) running ``python -m loom_tui.demo`` (what
`make demo` runs); the demo's project is made under ``$TMPDIR``, here the test's folder.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path

import pytest

from loom_tui.core import control_window
from loom_tui.core.control import scheduler_pid
from loom_tui.core.store import Store
from loom_tui.core.tmux import Tmux
from tests.conftest import LOOM, RunLoom
from tests.tui.test_control_window import terminal_env, wait_until
from tests.tui.test_in_tmux import Terminal, terminal_modes

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


def test_the_demo_runs_in_a_control_window_that_loom_stop_ends(
    tmp_path: Path, loom: RunLoom
) -> None:
    demos = tmp_path / "demos"
    demos.mkdir()
    env = terminal_env()
    env["TMPDIR"] = str(demos)
    command = f"{sys.executable} -m loom_tui.demo; echo loom-exited-$?; sleep 600"
    term = Terminal(tmp_path, command, env)
    store: Store | None = None
    try:
        term.wait_for_text("loom · PLAN-0001: Word-count tool")
        (root,) = demos.glob("loom-demo-*")
        store = Store(str(root / ".work"))
        # the TUI on screen is the control window's, seen through a tmux client: the scheduler
        # runs in `loom run --in-control-window`, not in the demo's own process
        assert control_window.is_running(store)
        wait_until(lambda: scheduler_pid(store) is not None, "the scheduler", 60)
        pid = scheduler_pid(store)
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"--in-control-window" in argv and b"sim" in argv, argv

        stopped = loom("--work-dir", str(root), "stop", check=True)
        assert f"scheduler (pid {pid}) stopped" in stopped.stdout
        screen = term.wait_for_text("loom-exited-143")  # the TUI's status: 128 + SIGTERM
        unwrapped = "".join(screen.splitlines())  # (a long path wraps at 120 columns)
        assert f"The demo project is in {root}." in unwrapped
        assert terminal_modes(term) == ["0", "0", "0", "0"]
        assert not control_window.is_running(store)
        assert scheduler_pid(store) is None
    finally:
        term.kill()
        if store is not None:
            with contextlib.suppress(Exception):
                Tmux(store.config().tmux_socket).kill_server()


def test_the_demo_without_a_terminal_starts_the_control_window_detached(
    tmp_path: Path, loom: RunLoom
) -> None:
    """No terminal to attach (a script, CI): the run starts in the control window, and the demo
    says how to attach to it."""
    import os
    import subprocess

    env = {**terminal_env(), "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "loom_tui.demo"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (root,) = tmp_path.glob("loom-demo-*")
    store = Store(str(root / ".work"))
    try:
        assert "loom runs in its control window" in done.stdout
        assert f"{LOOM} --work-dir {root}            # attach to the run again" in done.stdout
        assert control_window.is_running(store)
        wait_until(lambda: scheduler_pid(store) is not None, "the scheduler", 60)
        loom("--work-dir", str(root), "stop", check=True)
        assert not control_window.is_running(store)
        assert not os.path.exists(control_window.env_path(store))
    finally:
        with contextlib.suppress(Exception):
            Tmux(store.config().tmux_socket).kill_server()
