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
#: The states' short labels, for narrow terminals (their detail left out).
SHORT_LABELS = {"no-scheduler": "no scheduler (o)"}


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
        title = Text(" loom", style("header--title"))
        named = title.copy()
        if snap is not None:
            named.append(f" · {one_line(snap.plan_name)}", style("header--title"))
        counts = Text()
        short_counts = Text()
        if snap is not None:
            counts.append(f"{snap.done}/{snap.total} done", style("header--count"))
            short_counts = counts.copy()
            counts.append(f" · {snap.running} running", style("header--count"))
            counts.append(
                f" · {snap.waiting} waiting",
                style("header--warn" if snap.waiting else "header--count"),
            )
            counts.append(
                f" · {snap.blocked} blocked",
                style("header--bad" if snap.blocked else "header--count"),
            )
            if snap.to_merge:
                counts.append(f" · {snap.to_merge} to merge (m)", style("header--warn"))
        icon, klass, label = SCHEDULER_MARKS.get(
            self.scheduler_state, ("?", "header--muted", self.scheduler_state)
        )
        if self.scheduler_state == "finished" and snap is not None and not snap.all_merged:
            # "plan complete" only once every stage is merged (or skipped)
            icon, klass, label = "◌", "header--warn", "stages complete, not merged"
        state = Text(
            f"{icon} {label}" + (f": {one_line(self.detail)}" if self.detail else "") + " ",
            style(klass),
        )
        short = SHORT_LABELS.get(self.scheduler_state, label)
        short_state = Text(f"{icon} {short} ", style(klass))
        return fit_header(
            self.size.width,
            named=named,
            title=title,
            counts=counts,
            short_counts=short_counts,
            state=state,
            short_state=short_state,
        )


def fit_header(
    width: int,
    *,
    named: Text,
    title: Text,
    counts: Text,
    short_counts: Text,
    state: Text,
    short_state: Text,
) -> Text:
    """The header line at ``width``: the scheduler's state always whole, the rest giving way.

    The plan's name is cut first (then dropped, leaving "loom"), then the counts shrink to
    "3/7 done", then the state's detail goes ("no scheduler: 2 stage(s) wait for one · o takes
    over" becomes "no scheduler (o)"), then the counts and "loom" go.  At 40 columns the state
    was the part cut off, and it is the one a person needs most.
    """
    cut = _cut_name(width, named, counts, state)
    empty = Text()
    layouts = (
        (named, counts, state),
        (cut, counts, state),
        (title, counts, state),
        (title, short_counts, state),
        (title, short_counts, short_state),
        (empty, short_counts, short_state),
        (title, empty, short_state),
        (empty, empty, short_state),
    )
    for left, middle, right in layouts:
        if left is not None and _least(left, middle, right) <= width:
            return _line(width, left, middle, right)
    text = Text(" ") + short_state  # narrower than the state alone: what fits of it
    text.truncate(width)
    return text


def _cut_name(width: int, named: Text, counts: Text, state: Text) -> Text | None:
    """The plan's name cut with "…" to what the counts and the state leave (None: too little
    is left for the name to say anything)."""
    room = width - counts.cell_len - state.cell_len - 4
    if named.cell_len <= room or room - 1 < len(" loom · ") + 4:
        return None
    cut = named.copy()
    cut.truncate(room - 1)
    cut.append("…", named.spans[-1].style if named.spans else "")
    return cut


def _least(left: Text, middle: Text, right: Text) -> int:
    before = (2 if left.cell_len else 1) if middle.cell_len else 0
    return left.cell_len + before + middle.cell_len + 1 + right.cell_len


def _line(width: int, left: Text, middle: Text, right: Text) -> Text:
    gap = max(2, width - left.cell_len - middle.cell_len - right.cell_len)
    pad_left = (gap // 2 if gap > 4 else 2) if left.cell_len else 1
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
