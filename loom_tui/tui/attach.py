"""Attaching to a stage's tmux pane from the TUI, without stopping the scheduler.

- Outside tmux: suspend the app and run `tmux -L <socket> attach` as an asyncio subprocess (a
  blocking `subprocess.run` would freeze the event loop, and the scheduler with it); the app comes
  back when the person detaches.
- Inside loom's own tmux server: `switch-client` to the pane.
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


def _env_without_tmux() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}


def inside_tmux_socket() -> str | None:
    """The socket path of the tmux server this process runs in, if any."""
    value = os.environ.get("TMUX")
    return value.split(",", 1)[0] if value else None


async def _run(*argv: str, env: dict[str, str] | None = None) -> int:
    proc = await asyncio.create_subprocess_exec(*argv, env=env)
    return await proc.wait()


async def attach(app: App[object], socket: str, target: str) -> str:
    """Hand the terminal to the pane ``target`` of loom's server ``socket``; returns a note."""
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
