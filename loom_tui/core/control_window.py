"""The control window: loom's TUI, with its scheduler, in a session of the project's private tmux
server, so that the run outlives the terminal that started it.

- `loom` starts ``loom run --in-control-window …`` in the session ``control`` of the project's
  server (the one whose ``loom`` session holds the stage windows) and attaches the terminal to it
  with a plain ``tmux attach`` (``TMUX`` removed: inside the person's own tmux this nests a client
  in the very pane where `loom` was typed).  Closing the terminal, a dropped SSH connection or
  ``prefix d`` ends only that client; the next `loom` attaches again.
- The control window's pane has ``remain-on-exit off`` and its session ``detach-on-destroy on``:
  when the TUI exits (``q``, `loom stop`), the window, the session and every client attached to
  it go, and the terminal that attached gets its shell back.
- The TUI's exit status and its last error travel back through ``.work/control.exit``: the
  attaching `loom` exits with that status, and prints the error the window took with it.
- The environment travels through ``.work/control.env`` (mode 0600, removed as soon as read): a
  server started earlier by another shell would otherwise give the TUI, and every agent it
  starts, that shell's environment; and tmux limits a command's arguments to 16 KiB.
- ``F12`` (tmux's root table, no prefix) switches back to the control window from a stage's
  window, and the stage session's status line says so.  F12 is unbound in a default tmux, so a
  person's own tmux, around a nested client, passes it through.

Every function blocks (it runs tmux); the CLI calls them, never the TUI's event loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import sys

from loom_tui.core.fsutil import atomic_write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from loom_tui.core.store import Store
    from loom_tui.core.tmux import Tmux

CONTROL_SESSION = "control"
#: tmux's exact-name target for the control session (``control`` alone would also match a
#: session whose name merely starts with it).  Options take it as ``=control:`` (tmux 3.3a's
#: set-option looks for a pane, and ``=control`` alone is "no such session").
CONTROL_TARGET = f"={CONTROL_SESSION}"
#: The key, in the root table of loom's server, that comes back to the control window.
BACK_KEY = "F12"
#: What the stage session's status line says on the right.
STATUS_RIGHT = f" {BACK_KEY}: back to loom's control window "
ENV_NAME = "control.env"
EXIT_NAME = "control.exit"
#: Variables that describe the terminal or tmux client the person typed `loom` in: the control
#: window's pane has its own.
_TERMINAL_VARS = ("TMUX", "TMUX_PANE", "TERM", "TERMCAP", "COLUMNS", "LINES")


def env_path(store: Store) -> str:
    return os.path.join(store.work_dir, ENV_NAME)


def exit_path(store: Store) -> str:
    return os.path.join(store.work_dir, EXIT_NAME)


def _tmux(store: Store) -> Tmux:
    from loom_tui.core.tmux import Tmux

    return Tmux(store.config().tmux_socket)


def is_running(store: Store) -> bool:
    """Whether the project's server has a control session."""
    tmux = _tmux(store)
    if not tmux.alive():
        return False
    return tmux._run("has-session", "-t", CONTROL_TARGET).returncode == 0


def run_args(
    agent: str | None, max_parallel: int | None, only_stage: str | None, *, no_trust: bool = False
) -> list[str]:
    """`run`'s options, as the control window's command line gives them again."""
    args: list[str] = ["--no-trust"] if no_trust else []
    if agent:
        args += ["--agent", agent]
    if max_parallel:
        args += ["--max-parallel", str(max_parallel)]
    if only_stage:
        args += ["--stage", only_stage]
    return args


def control_command(store: Store, run_args: list[str], theme: str | None) -> str:
    """The shell command of the control window: this Python, this project, `run`'s options."""
    argv = [sys.executable, "-m", "loom_tui", "--work-dir", store.work_dir]
    if theme:
        argv += ["--theme", theme]
    argv += ["run", "--in-control-window", *run_args]
    return shlex.join(argv)


def start(
    store: Store,
    run_args: list[str],
    *,
    theme: str | None = None,
    cwd: str | None = None,
    size: tuple[int, int] | None = None,
) -> None:
    """Open the control session running the TUI and its scheduler (detached)."""
    from loom_tui.core.tmux import TmuxError

    cwd = cwd or os.getcwd()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(exit_path(store))
    env = {k: v for k, v in os.environ.items() if k not in _TERMINAL_VARS}
    atomic_write(env_path(store), json.dumps(env), mode=0o600)
    tmux = _tmux(store)
    tmux.ensure_server(cwd)
    width, height = size or (200, 50)
    result = tmux._run(
        "new-session",
        "-d",
        "-s",
        CONTROL_SESSION,
        "-n",
        "loom",
        "-c",
        cwd,
        "-x",
        str(width),
        "-y",
        str(height),
        control_command(store, run_args, theme),
        ";",
        "set-option",
        "-w",
        "-t",
        CONTROL_TARGET + ":",
        "remain-on-exit",
        "off",
        ";",
        "set-option",
        "-t",
        CONTROL_TARGET + ":",
        "status",
        "off",
        ";",
        "set-option",
        "-t",
        CONTROL_TARGET + ":",
        "detach-on-destroy",
        "on",
        ";",
        "bind-key",
        "-n",
        BACK_KEY,
        "switch-client",
        "-t",
        CONTROL_TARGET,
        ";",
        "set-option",
        "-g",
        "status-right",
        STATUS_RIGHT,
        ";",
        "set-option",
        "-g",
        "status-right-length",
        str(len(STATUS_RIGHT) + 2),
    )
    if result.returncode != 0 and not is_running(store):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(env_path(store))
        raise TmuxError(f"cannot open loom's control window: {' '.join(result.stderr)}")


def take_environment(store: Store) -> None:
    """In the control window: take the environment `loom` was typed in, and remove its file."""
    path = env_path(store)
    try:
        with open(path, encoding="utf-8") as fh:
            env = json.load(fh)
    except (OSError, ValueError):
        return
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    if isinstance(env, dict):
        for key, value in env.items():
            if isinstance(key, str) and isinstance(value, str) and key not in _TERMINAL_VARS:
                os.environ[key] = value


def inside_loom_server(socket: str) -> bool:
    """Whether this process runs in a window of loom's own server (``TMUX`` names its socket)."""
    inside = os.environ.get("TMUX", "").split(",", 1)[0]
    return bool(inside) and os.path.basename(inside) == socket


def attach(store: Store) -> int:
    """Attach this terminal to the control window; returns tmux's exit status when the client
    ends (a detach, the terminal closing, or the control window going away)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    socket = store.config().tmux_socket
    if inside_loom_server(socket):
        # typed in a window of loom's own server (a stage's): a client inside itself would show
        # itself; switch this client to the control window instead
        argv = ["tmux", "-L", socket, "switch-client", "-t", CONTROL_TARGET]
        return subprocess.run(argv, check=False).returncode
    argv = ["tmux", "-L", socket, "-f", "/dev/null", "attach-session", "-t", CONTROL_TARGET]
    return subprocess.run(argv, env=env, check=False).returncode


def write_exit(store: Store, code: int, message: str = "") -> None:
    """In the control window, as the TUI ends: its exit status and its error, for the `loom`
    that attached."""
    with contextlib.suppress(OSError):
        atomic_write(exit_path(store), json.dumps({"code": code, "message": message}))


def read_exit(store: Store) -> tuple[int, str] | None:
    """The control window's exit status and error (the file is removed), None if it left none."""
    path = exit_path(store)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    with contextlib.suppress(OSError):
        os.unlink(path)
    if not isinstance(data, dict):
        return None
    code = data.get("code")
    return (code if isinstance(code, int) else 1), str(data.get("message") or "")


def end(store: Store, grace: float = 5.0) -> bool:
    """Close the control session if it is still there (`loom stop`, after the scheduler went);
    True if it had to be closed.  Its TUI is given ``grace`` seconds to exit by itself first: it
    leaves its exit status as it goes, and restores the terminals attached to it."""
    import time

    deadline = time.monotonic() + grace
    while is_running(store):
        if time.monotonic() > deadline:
            _tmux(store)._run("kill-session", "-t", CONTROL_TARGET)
            return True
        time.sleep(0.05)
    return False
