"""The real `loom` in a real terminal: a tmux pane on a private server, keys typed with
`send-keys`, the screen read with `capture-pane`, as a person at 120×40 would use it.

The project is the sample plan with the simulated agent slowed down (so that the first stage is
still running when the keys are pressed); `loom run --agent sim` runs the scheduler inside the TUI.
Both tmux servers — the test's terminal and the project's own `loom-…` server where the agents
run — are killed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loom_tui.core.config import read_config, write_config
from loom_tui.core.store import Store
from loom_tui.core.tmux import Tmux
from tests.conftest import LOOM, RunLoom
from tests.integration.engine import FAST_SETTINGS
from tests.tui.conftest import STAGE_IDS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

#: A generous limit for each wait: correctness, not speed.
WAIT = 60.0
#: Each simulated step takes this long: the first stage is still executing when keys arrive.
STEP_SECONDS = 30


class Terminal:
    """A 120×40 tmux pane on a private server, running one command."""

    def __init__(self, cwd: Path, command: str, env: dict[str, str]) -> None:
        self.socket = f"loom-tui-test-{uuid.uuid4().hex[:12]}"
        self.env = env
        self._tmux(
            "new-session",
            "-d",
            "-s",
            "term",
            "-x",
            "120",
            "-y",
            "40",
            "-c",
            str(cwd),
            command,
        )
        self.target = "term:0.0"

    def _tmux(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"tmux {args[0]}: {proc.stderr}")
        return proc.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.target)

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.target, *keys)

    def wait_for(self, condition: Callable[[str], bool], what: str) -> str:
        """Poll the screen until ``condition(screen)``; returns that screen."""
        deadline = time.monotonic() + WAIT
        while True:
            text = self.screen()
            if condition(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{text}")
            time.sleep(0.1)

    def wait_for_text(self, needle: str) -> str:
        return self.wait_for(lambda text: needle in text, repr(needle))

    def kill(self) -> None:
        self._tmux("kill-server", check=False)
        base = os.environ.get("TMUX_TMPDIR") or "/tmp"
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(base, f"tmux-{os.getuid()}", self.socket))


@pytest.fixture
def slow_project(git_repo: Path, sample_plan: Path, loom: RunLoom) -> Iterator[Path]:
    """The sample plan with slow simulated steps, initialised, with the fast test settings."""
    text = sample_plan.read_text(encoding="utf-8")
    sample_plan.write_text(
        text.replace("      sim:\n", f"      sim:\n        step_seconds: {STEP_SECONDS}\n"),
        encoding="utf-8",
    )
    loom("init", str(sample_plan.relative_to(git_repo)), check=True)
    work = str(git_repo / ".work")
    config = read_config(work)
    config.settings.update(FAST_SETTINGS)
    write_config(work, config)
    yield git_repo
    with contextlib.suppress(Exception):
        Tmux(config.tmux_socket).kill_server()


@pytest.fixture
def terminal(slow_project: Path) -> Iterator[Terminal]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TMUX", "LOOM_"))}
    env["TERM"] = "xterm-256color"
    # after loom exits the shell prints its exit status and keeps the pane for the test to read
    command = f"{LOOM} run --agent sim; echo loom-exited-$?; sleep 600"
    term = Terminal(slow_project, command, env)
    yield term
    term.kill()


def dag_line(screen: str, stage_id: str) -> str:
    """The row of the DAG that holds the node of ``stage_id``."""
    return next(
        line for line in screen.splitlines() if line.startswith("│") and f" {stage_id} " in line
    )


def test_a_person_holds_a_stage_reads_the_help_and_quits(
    terminal: Terminal, slow_project: Path
) -> None:
    store = Store(str(slow_project / ".work"))

    # the header, the DAG with every stage, and the scheduler running inside the app
    screen = terminal.wait_for_text("loom · PLAN-0001: Word-count tool")
    screen = terminal.wait_for(
        lambda text: "● scaffold" in text and "● scheduler" in text, "scaffold executing"
    )
    header = screen.splitlines()[0]
    assert "0/6 done · 1 running · 0 waiting · 0 blocked" in header
    for stage_id in STAGE_IDS:
        assert f" {stage_id}" in screen, f"{stage_id} not in the DAG:\n{screen}"
    assert "h hold" in screen.splitlines()[-1]  # the footer

    # h on the first stage (the cursor starts there): held in .work/, marked on screen
    assert not store.read_stage("scaffold").held
    terminal.keys("h")
    terminal.wait_for(lambda text: "⏸" in dag_line(text, "scaffold"), "the held mark")
    assert Store(str(slow_project / ".work")).read_stage("scaffold").held
    terminal.wait_for_text("⏸ held")  # the detail panel says so too

    # ? shows the keys; escape closes it
    terminal.keys("?")
    screen = terminal.wait_for_text("loom — keys")
    assert "hold the selected stage: the scheduler will not start it" in screen
    assert "jump to the next stage that needs you" in screen
    terminal.keys("Escape")
    terminal.wait_for(lambda text: "loom — keys" not in text, "the help to close")

    # q asks first, because the agent of scaffold is running; y quits
    terminal.keys("q")
    screen = terminal.wait_for_text("1 agent session(s) are running")
    terminal.keys("y")
    terminal.wait_for_text("loom-exited-0")

    # the agent keeps running in the project's own tmux server, as the question said
    sessions = Store(str(slow_project / ".work")).sessions()
    assert [(s.stage_id, s.live) for s in sessions] == [("scaffold", True)]
    panes = Tmux(store.config().tmux_socket).list_panes()
    assert sessions[0].pane_id in panes


#: What the pane's terminal is in: the alternate screen, and the mouse modes Textual turns on.
TERMINAL_MODES = "#{alternate_on} #{mouse_any_flag} #{mouse_all_flag} #{mouse_sgr_flag}"


def terminal_modes(terminal: Terminal) -> list[str]:
    return terminal._tmux("display-message", "-p", "-t", terminal.target, TERMINAL_MODES).split()


@pytest.mark.parametrize("how", ["loom stop", "SIGHUP"])
def test_loom_stop_or_a_hangup_gives_the_terminal_back(
    terminal: Terminal, slow_project: Path, loom: RunLoom, how: str
) -> None:
    """SIGTERM (what `loom stop` sends) and SIGHUP used to kill the TUI on the spot, leaving the
    person's terminal in the alternate screen with mouse reporting on.  Now they take Textual's
    own exit path: the terminal is restored and the scheduler's lock released."""
    from loom_tui.core.control import scheduler_pid

    store = Store(str(slow_project / ".work"))
    terminal.wait_for(lambda text: "● scaffold" in text, "scaffold executing")
    assert terminal_modes(terminal) == ["1", "1", "1", "1"]  # the TUI's screen, the mouse reported
    pid = scheduler_pid(store)
    assert pid
    if how == "loom stop":
        stopped = loom("stop", check=True)
        assert f"scheduler (pid {pid}) stopped" in stopped.stdout
        code = 128 + signal.SIGTERM
    else:
        os.kill(pid, signal.SIGHUP)
        code = 128 + signal.SIGHUP
    terminal.wait_for_text(f"loom-exited-{code}")
    assert terminal_modes(terminal) == ["0", "0", "0", "0"]
    assert scheduler_pid(store) is None
