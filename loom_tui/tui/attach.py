"""Attaching to a stage's tmux pane from the TUI, without stopping the scheduler.

- Outside tmux: suspend the app and run `tmux -L <socket> attach` as an asyncio subprocess (a
  blocking `subprocess.run` would freeze the event loop, and the scheduler with it); the app comes
  back when the person detaches.
- In loom's control window (`core/control_window.py`): `switch-client` to the stage's window, in
  the same server; F12, named in the stage session's status line, switches back.
- Inside loom's own tmux server otherwise: `switch-client` to the pane.
- Inside another tmux: a `display-popup` that attaches to loom's server.
- Where the terminal cannot be handed over (tests), the caller shows a read-only live view.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.app import App

#: Replaced by tests; takes (app, socket, target) and returns how the attach went.
Attacher = Callable[["App[object]", str, str], Awaitable[str]]


#: Set by `enter_control_window`: loom's socket and the pane's TMUX / TMUX_PANE, saved before the
#: tmux module removes them from the environment (tmux needs them to know which client to switch).
_control: dict[str, tuple[str, dict[str, str]]] = {}


def enter_control_window(socket: str, tmux_env: dict[str, str]) -> None:
    _control["here"] = (socket, dict(tmux_env))


def in_control_window() -> bool:
    return "here" in _control


def _env_without_tmux() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}


def inside_tmux_socket() -> str | None:
    """The socket path of the tmux server this process runs in, if any."""
    value = os.environ.get("TMUX")
    return value.split(",", 1)[0] if value else None


async def _run(*argv: str, env: dict[str, str] | None = None, quiet: bool = False) -> int:
    """``quiet``: for commands that must not write over the TUI's screen."""
    out = asyncio.subprocess.DEVNULL if quiet else None
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=out, stderr=out)
    return await proc.wait()


async def _pane_exists(socket: str, target: str, env: dict[str, str]) -> bool:
    proc = await asyncio.create_subprocess_exec(
        "tmux",
        "-L",
        socket,
        "display-message",
        "-p",
        "-t",
        target,
        "#{pane_id}",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate()
    return proc.returncode == 0 and out.decode(errors="replace").strip() == target


async def attach(app: App[object], socket: str, target: str) -> str:
    """Hand the terminal to the pane ``target`` of loom's server ``socket``; returns a note."""
    control = _control.get("here")
    if control is not None and control[0] == socket:
        from loom_tui.core.control_window import BACK_KEY

        env = {**_env_without_tmux(), **control[1]}
        if not await _pane_exists(socket, target, env):
            # (tmux would switch to another window of the server rather than fail)
            return "its session has just ended: no pane to switch to"
        code = await _run("tmux", "-L", socket, "switch-client", "-t", target, env=env, quiet=True)
        if code != 0:
            return f"tmux switch-client exited {code}"
        return f"switched to its window ({BACK_KEY} comes back)"
    current = inside_tmux_socket()
    if current is not None and os.path.basename(current) == socket:
        await _run("tmux", "-L", socket, "switch-client", "-t", target)
        return "switched to the pane (your tmux's last-window key comes back)"
    if current is not None:
        command = f"env -u TMUX tmux -L {socket} attach-session -t {target}"
        await _run("tmux", "display-popup", "-E", "-w", "90%", "-h", "90%", command)
        return "popup closed"
    with app.suspend():
        code = await _run(
            "tmux", "-L", socket, "attach-session", "-t", target, env=_env_without_tmux()
        )
    return "detached" if code == 0 else f"tmux attach exited {code}"
