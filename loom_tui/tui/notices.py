"""Where a notice goes: the attention bar of the screen on show, not a toast over the panels.

Toasts floated over the Sessions and Events panels (three stacked at a time at 80×24), so a
notice is drawn on the attention bar of the screen in front when it has one (the main, stage,
handoff and help screens).  What the scheduler reports (an agent asking for input, a stalled
session, the scheduler stopping: ``attention``) never becomes a toast: on a screen without a bar
(the diff, a dialog) it goes to the nearest bar below, seen on the way back, and the bell rings.
Only the direct answer to a key pressed on a screen without a bar is a toast, and a short one
that replaces the one before it, so that repeats never pile up.
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.notifications import Notification, SeverityLevel

#: The longest a toast stays (the answer to a key; read at a glance).
TOAST_SECONDS = 4.0


def _with_bar(screens: list[Any]) -> Any:
    return next((s for s in reversed(screens) if hasattr(s, "say")), None)


def route(
    app: App[Any],
    message: str,
    *,
    title: str,
    severity: SeverityLevel,
    timeout: float,
    attention: bool,
) -> str:
    """Show ``message`` (plain text, one line); returns where: "bar", "bar-below", "toast"."""
    stack: list[Any] = list(app.screen_stack) if app._screen_stack else []
    if stack and hasattr(stack[-1], "say"):
        stack[-1].say(message, severity, timeout)
        return "bar"
    if attention:
        below = _with_bar(stack)
        if below is not None:
            below.say(message, severity, timeout)
        return "bar-below"
    # (in place of the one before, at once: `App.notify` posts a message, so three calls in a
    # row would still stack three toasts after a `clear_notifications`)
    toast = Notification(message, title, severity, min(timeout, TOAST_SECONDS), markup=False)
    app._notifications.clear()
    app._notifications.add(toast)
    app._refresh_notifications()
    return "toast"
