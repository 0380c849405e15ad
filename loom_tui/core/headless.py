"""`loom run --headless`: the scheduler in the foreground, one printed line per event.

The same scheduler runs inside the TUI; here its events become log lines.  SIGINT and SIGTERM stop
the scheduler cleanly (the agents' tmux panes keep running, and the next `loom run` adopts them).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable

from loom_tui.core.engine import Scheduler, SchedulerOptions
from loom_tui.core.events import Event, format_line
from loom_tui.core.store import Store


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def run_headless(
    store: Store, options: SchedulerOptions, write: Callable[[str], None] = _print
) -> int:
    """Run until every stage is completed or skipped (0), or nothing can run any more (1)."""
    options.exit_when_done = True
    scheduler = Scheduler(store, options)
    scheduler.acquire()

    def show(event: Event) -> None:
        write(format_line(event))

    scheduler.subscribe(show)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, scheduler.request_stop)
    try:
        return await scheduler.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
