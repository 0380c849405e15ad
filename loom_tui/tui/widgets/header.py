"""The top line: plan name, progress, and what the scheduler is doing."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from loom_tui.core.textsafe import one_line
from loom_tui.tui.snapshot import Snapshot

SCHEDULER_MARKS = {
    "running": ("●", "header--ok", "scheduler"),
    "idle": ("○", "header--muted", "scheduler idle"),
    "finished": ("✓", "header--ok", "plan complete"),
    "stuck": ("!", "header--bad", "stuck"),
    "cannot-write": ("!", "header--bad", "cannot write .work/"),
    "stopped": ("■", "header--muted", "scheduler stopped"),
    "failed": ("✗", "header--bad", "scheduler failed"),
    "read-only": ("◌", "header--warn", "read-only"),
    "no-scheduler": ("!", "header--bad", "no scheduler"),
    "paused": ("◌", "header--muted", "no scheduler"),
}


class LoomHeader(Widget):
    """`loom · PLAN name   3/7 done · 2 running · 1 waiting · 0 blocked   ● scheduler`."""

    COMPONENT_CLASSES = {
        "header--title",
        "header--ok",
        "header--bad",
        "header--warn",
        "header--muted",
        "header--count",
    }
    DEFAULT_CSS = """
    LoomHeader {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
        & > .header--title { text-style: bold; color: $accent; }
        & > .header--ok { color: $success; }
        & > .header--bad { color: $error; text-style: bold; }
        & > .header--warn { color: $warning; }
        & > .header--muted { color: $text-muted; }
        & > .header--count { color: $foreground; }
    }
    """

    scheduler_state: reactive[str] = reactive("paused")
    detail: reactive[str] = reactive("")

    def __init__(self) -> None:
        super().__init__()
        self._snapshot: Snapshot | None = None

    def show(self, snapshot: Snapshot) -> None:
        old, self._snapshot = self._snapshot, snapshot
        if old is None or _counts(old) != _counts(snapshot):  # gauges alone change nothing here
            self.refresh()

    def render(self) -> Text:
        style = self.get_component_rich_style
        snap = self._snapshot
        left = Text(" loom", style("header--title"))
        if snap is not None:
            left.append(f" · {one_line(snap.plan_name)}", style("header--title"))
        middle = Text()
        if snap is not None:
            middle.append(f"{snap.done}/{snap.total} done", style("header--count"))
            middle.append(f" · {snap.running} running", style("header--count"))
            middle.append(
                f" · {snap.waiting} waiting",
                style("header--warn" if snap.waiting else "header--count"),
            )
            middle.append(
                f" · {snap.blocked} blocked",
                style("header--bad" if snap.blocked else "header--count"),
            )
            if snap.to_merge:
                middle.append(f" · {snap.to_merge} to merge (m)", style("header--warn"))
        icon, klass, label = SCHEDULER_MARKS.get(
            self.scheduler_state, ("?", "header--muted", self.scheduler_state)
        )
        if self.scheduler_state == "finished" and snap is not None and not snap.all_merged:
            # "plan complete" only once every stage is merged (or skipped)
            icon, klass, label = "◌", "header--warn", "stages complete, not merged"
        right = Text(
            f"{icon} {label}" + (f": {one_line(self.detail)}" if self.detail else "") + " ",
            style(klass),
        )
        width = self.size.width
        # the counts and the scheduler's state matter most: the plan's name gives way first
        room = width - middle.cell_len - right.cell_len - 4
        if left.cell_len > room:
            left.truncate(max(6, room - 1))
            left.append("…", style("header--title"))
        gap = max(2, width - left.cell_len - middle.cell_len - right.cell_len)
        pad_left = gap // 2 if gap > 4 else 2
        text = left + Text(" " * pad_left) + middle
        text.append(" " * max(1, width - text.cell_len - right.cell_len))
        text.append_text(right)
        text.truncate(width)
        return text


def _counts(snap: Snapshot) -> tuple[object, ...]:
    return (
        snap.plan_name,
        snap.done,
        snap.total,
        snap.running,
        snap.waiting,
        snap.blocked,
        snap.to_merge,
        snap.all_merged,
    )
