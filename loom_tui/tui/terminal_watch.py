"""Noticing that the terminal is gone, when no SIGHUP said so.

Textual's input thread reads the terminal in a loop; once the terminal has hung up (its tmux server
or its SSH connection gone without a signal reaching loom), every read returns at once with
nothing, and the loop spins a core for ever (seen here: TUIs left at 40–50% CPU for hours after
their tmux server was killed).  A watchdog asks the terminal, a few times a minute, whether it has
hung up, and ends the TUI the way SIGHUP does.
"""

from __future__ import annotations

import select

#: How often the terminal is asked (one poll() call).
EVERY = 2.0


def hung_up(fd: int) -> bool:
    """Whether ``fd`` (the terminal) has hung up or is no longer open."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    try:
        events = poller.poll(0)
    except OSError:
        return True
    return any(mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _fd, mask in events)
