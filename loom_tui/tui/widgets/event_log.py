"""The event log: one line per scheduler event, newest at the bottom."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import RichLog

from loom_tui.core.textsafe import one_line

KIND_CLASSES = {
    "error": "log--bad",
    "merge-conflict": "log--bad",
    "stalled": "log--warn",
    "plan-finished": "log--good",
    "merge-done": "log--good",
    "handoff": "log--accent",
    "retry-scheduled": "log--warn",
    "merge-waiting": "log--warn",
    "agent-state": "log--muted",
    "context": "log--muted",
}


class EventLog(RichLog):
    """Formats event dicts (`Event.to_json()` or lines of events.jsonl)."""

    COMPONENT_CLASSES = {
        "log--time",
        "log--stage",
        "log--bad",
        "log--good",
        "log--warn",
        "log--accent",
        "log--muted",
    }
    DEFAULT_CSS = """
    EventLog {
        background: $surface;
        padding: 0 1;
        scrollbar-size-vertical: 1;
        & > .log--time { color: $text-muted; }
        & > .log--stage { color: $accent; }
        & > .log--bad { color: $error; }
        & > .log--good { color: $success; }
        & > .log--warn { color: $warning; }
        & > .log--accent { color: $secondary; }
        & > .log--muted { color: $text-muted; }
    }
    """

    def __init__(self, *, id: str | None = None, max_lines: int = 2000) -> None:
        super().__init__(id=id, max_lines=max_lines, wrap=False, markup=False, auto_scroll=True)

    def add(self, event: dict[str, object]) -> None:
        if is_noise(event):
            return
        style = self.get_component_rich_style
        ts = event.get("ts")
        clock = (
            time.strftime("%H:%M:%S", time.localtime(float(ts)))
            if isinstance(ts, int | float)
            else "--:--:--"
        )
        line = Text(f"{clock}  ", style("log--time"))
        stage = one_line(str(event.get("stage") or "-"))
        line.append(f"{stage:<14} ", style("log--stage"))
        message = one_line(str(event.get("message") or event.get("kind") or ""))
        klass = KIND_CLASSES.get(str(event.get("kind")))
        if event.get("kind") == "stage-status" and event.get("new") in (
            "blocked",
            "merge-conflict",
            "needs-human-review",
        ):
            klass = "log--bad"
        line.append(message, style(klass) if klass else "")
        self.write(line)


#: Agent states too frequent to log (the sessions table shows them).
QUIET_STATES = frozenset({"working", "finished-turn", "starting"})


def is_noise(event: dict[str, object]) -> bool:
    """Context readings and routine agent-state changes: the gauges show those, not the log."""
    kind = event.get("kind")
    return kind == "context" or (kind == "agent-state" and event.get("state") in QUIET_STATES)
