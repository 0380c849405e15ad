"""The Textual face of loom: `LoomApp` (app.py), its screens and its widgets.

Only this package imports textual; the core it renders never does.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loom_tui.core.engine import SchedulerOptions
    from loom_tui.core.store import Store


def run_tui(
    store: Store, options: SchedulerOptions, theme: str | None = None, *, read_only: bool = False
) -> int:
    """Open the TUI on ``store`` with the scheduler inside it (``read_only``: a live view that
    never starts one unless asked to take over); returns the exit code."""
    from loom_tui.core.errors import UsageError
    from loom_tui.tui.app import LoomApp
    from loom_tui.tui.themes import load_themes

    if theme is not None:
        known = load_themes()
        if theme not in known:
            raise UsageError(f"unknown theme {theme!r} (themes: {', '.join(sorted(known))})")
    if not sys.stdout.isatty() or not sys.stdin.isatty():
        raise UsageError(
            "the TUI needs a terminal; use `loom run --headless` (or `loom status`) without one"
        )
    app = LoomApp(store, options, theme=theme, handle_signals=True, run_scheduler=not read_only)
    app.live_view = read_only
    profile = os.environ.get("LOOM_PROFILE")
    if profile:  # for developers: `LOOM_PROFILE=out.prof loom` writes cProfile stats on exit
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(app.run)
        profiler.dump_stats(profile)
    else:
        result = app.run()
    return int(result or 0)
