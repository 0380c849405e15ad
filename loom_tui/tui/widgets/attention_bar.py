"""One reserved line above the footer: what needs you, and the latest notice.

Toasts floated over the Sessions and Events panels and hid them (most of the screen at 80×24).  On
the main, stage, handoff and help screens they are not drawn (`notices.py`); the newest notice is
shown on this line instead for its timeout (or until a stage stops needing you, when the notice may
be old news), and otherwise the line lists the stages that need a person, with `n` to go there.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.widget import Widget

from loom_tui.core.textsafe import one_line
from loom_tui.tui.snapshot import Snapshot

MARKS = {"error": "✗", "warning": "!", "information": "·"}


class AttentionBar(Widget):
    COMPONENT_CLASSES = {"bar--error", "bar--warning", "bar--information", "bar--muted"}
    DEFAULT_CSS = """
    AttentionBar {
        height: 1;
        background: $panel;
        & > .bar--error { color: $error; text-style: bold; }
        & > .bar--warning { color: $warning; text-style: bold; }
        & > .bar--information { color: $foreground; }
        & > .bar--muted { color: $text-muted; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._snapshot: Snapshot | None = None
        self._notice: tuple[str, str, float] | None = None  # message, severity, until
        self._shown = ""
        self._needing: set[str] = set()

    def show(self, snapshot: Snapshot) -> None:
        needing = {s.id for s in snapshot.needing_attention()}
        if self._needing - needing and self._notice is not None:
            # a stage stopped needing you (resolved, merged, answered): the notice that may be
            # about it gives way to the summary, which is always current
            self._notice = None
            self._shown = ""
        self._needing = needing
        self._snapshot = snapshot
        shown = self.summary().plain
        if shown != self._shown:  # a gauge that moved changes nothing here
            self._shown = shown
            self.refresh()

    def say(self, message: str, severity: str, timeout: float) -> None:
        self._notice = (one_line(message), severity, time.monotonic() + timeout)
        self.refresh()
        self.set_timer(timeout + 0.05, self.refresh)

    def summary(self) -> Text:
        snap = self._snapshot
        needing = [(s.id, snap.needs_you(s)) for s in snap.needing_attention()] if snap else []
        if not needing:
            return Text(" nothing needs you", self.get_component_rich_style("bar--muted"))
        text = Text(
            f" ◀ {len(needing)} need you (n): ", self.get_component_rich_style("bar--warning")
        )
        text.append(
            " · ".join(f"{one_line(i)} {why}" for i, why in needing),
            self.get_component_rich_style("bar--information"),
        )
        return text

    def render(self) -> Text:
        notice = self._notice
        if notice is not None and time.monotonic() < notice[2]:
            message, severity, _until = notice
            text = Text(f" {MARKS.get(severity, '·')} {message}")
            text.stylize(self.get_component_rich_style(f"bar--{severity}"))
        else:
            self._notice = None
            text = self.summary()
        text.truncate(self.size.width, overflow="ellipsis")
        return text
