"""`loom` / `loom run` with a screen: open (or find) loom's control window and attach to it;
`loom status --live`: a read-only TUI in this terminal; and the control window's own side.

See `core/control_window.py` for why the run lives in a tmux session of its own.
"""

from __future__ import annotations

import os
import shutil
import sys

from loom_tui.cli.output import say, warn

TYPE_CHECKING = False
if TYPE_CHECKING:
    from loom_tui.core.store import Store


def _has_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _check_theme(theme: str | None) -> None:
    if theme is None:
        return
    from loom_tui.core.errors import UsageError
    from loom_tui.tui.themes import load_themes

    known = load_themes()
    if theme not in known:
        raise UsageError(f"unknown theme {theme!r} (themes: {', '.join(sorted(known))})")


def open_control_window(
    store: Store,
    agent: str | None,
    max_parallel: int | None,
    only_stage: str | None,
    theme: str | None,
    *,
    detach: bool,
    no_trust: bool = False,
) -> int:
    """Start the run in the control window unless one runs, then attach this terminal to it (not
    with ``detach``, nor without a terminal).  A scheduler running outside any control window
    (`loom run --headless`) is watched read-only here instead."""
    from loom_tui.core import control_window
    from loom_tui.core.control import scheduler_pid

    _check_theme(theme)
    attach = not detach and _has_terminal()
    socket = store.config().tmux_socket
    if control_window.is_running(store):
        if not attach:
            say(f"loom already runs in its control window (tmux -L {socket}); `loom` attaches")
            return 0
        return _attach(store)
    pid = scheduler_pid(store)
    if pid is not None:
        if not attach:
            say(f"a scheduler already runs on this project (pid {pid}); nothing was started")
            return 0
        return live_view(store, theme)
    size = shutil.get_terminal_size((200, 50)) if attach else os.terminal_size((200, 50))
    control_window.start(
        store,
        control_window.run_args(agent, max_parallel, only_stage, no_trust=no_trust),
        theme=theme,
        size=(size.columns, size.lines),
    )
    if not attach:
        say(
            f"loom runs in its control window (tmux -L {socket}): `loom` attaches, "
            "`loom status --live` watches, `loom stop` ends it"
        )
        return 0
    return _attach(store)


def _attach(store: Store) -> int:
    from loom_tui.core import control_window

    code = control_window.attach(store)
    if control_window.inside_loom_server(store.config().tmux_socket):
        return code  # switched to the control window: this shell goes on in its own window
    if control_window.is_running(store):
        say("detached: the run goes on in loom's control window; `loom` attaches again")
        return 0
    result = control_window.read_exit(store)
    if result is None:
        return code
    code, message = result
    if message:
        warn(message)
    return code


def live_view(store: Store, theme: str | None) -> int:
    """`loom status --live`: the TUI, read-only, in this terminal."""
    from loom_tui.core.engine import SchedulerOptions
    from loom_tui.tui import run_tui

    return run_tui(store, SchedulerOptions(), theme=theme, read_only=True)


def serve(
    store: Store,
    agent: str | None,
    max_parallel: int | None,
    only_stage: str | None,
    theme: str | None,
    *,
    no_trust: bool = False,
) -> int:
    """Inside the control window: the TUI with its scheduler; its exit status and error are left
    in ``.work/control.exit`` for the `loom` that attached."""
    from loom_tui.core import control_window
    from loom_tui.core.engine import SchedulerOptions
    from loom_tui.core.errors import LoomError
    from loom_tui.tui import attach as attach_module
    from loom_tui.tui import run_tui

    control_window.take_environment(store)
    # saved now: the tmux module drops TMUX from the environment at its first command
    tmux_env = {k: os.environ[k] for k in ("TMUX", "TMUX_PANE") if k in os.environ}
    attach_module.enter_control_window(store.config().tmux_socket, tmux_env)
    code, message = 1, ""
    try:
        options = SchedulerOptions(
            agent=agent,
            max_parallel=max_parallel,
            only_stage=only_stage,
            trust=False if no_trust else None,
        )
        code = run_tui(store, options, theme=theme)
    except LoomError as exc:
        code, message = exc.exit_code, " ".join(exc.lines())
        raise
    except KeyboardInterrupt:
        code = 130
        raise
    except Exception as exc:
        message = f"loom's control window crashed: {type(exc).__name__}: {exc}"
        raise
    finally:
        control_window.write_exit(store, code, message)
    return code
