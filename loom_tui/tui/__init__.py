"""The Textual face of loom (see `app.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loom_tui.core.scheduler import SchedulerOptions
    from loom_tui.core.store import Store


def run_tui(store: Store, options: SchedulerOptions, theme: str | None) -> int:
    """Open the TUI on ``store`` with the scheduler inside it; returns the exit code."""
    import asyncio

    from loom_tui.core.headless import run_headless

    # Until the TUI lands, `loom run` without --headless runs headless.
    del theme
    return asyncio.run(run_headless(store, options))
