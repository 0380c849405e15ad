"""SIGTERM and SIGHUP end the TUI the way `q` does: through Textual's exit path.

Python's default for both is to die on the spot, which leaves the terminal in the alternate screen
with mouse reporting on (`loom stop` sends SIGTERM; closing the terminal sends SIGHUP).  Handled on
the event loop instead, the app exits normally: Textual restores the terminal, and the scheduler
inside it stops and releases its lock.  The agents keep running in their tmux panes.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def install(on_signal: Callable[[int], None]) -> Callable[[], None]:
    """Call ``on_signal(signum)`` on the running loop for each of `SIGNALS`; returns the
    function that puts the previous handling back."""
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, on_signal, int(sig))

    def uninstall() -> None:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)

    return uninstall
