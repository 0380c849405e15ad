"""Status icons, component-class names and the gauge bar, shared by every widget.

Colours are never written here: each status and gauge level maps to a component class whose colour
comes from the theme's variables in TCSS (`$success`, `$warning`, `$error`…), so every theme works.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from loom_tui.core.context import level
from loom_tui.core.model import STATUS_ICONS, Status

ICONS = STATUS_ICONS
HELD = "⏸"
#: Left-aligned eighth blocks, for a bar that moves by 1/8 of a cell.
PARTS = " ▏▎▍▌▋▊▉"
RETRY = "↻"
#: A stage whose session shows no activity (see `StageRecord.attention`).
STALLED = "⌛"

#: The component class of each status (declared by the widgets, coloured in TCSS).
STATUS_CLASSES = {status: f"status--{status.value}" for status in Status}
LEVEL_CLASSES = {
    "green": "gauge--green",
    "yellow": "gauge--yellow",
    "red": "gauge--red",
    "unknown": "gauge--unknown",
}
COMPONENT_CLASSES = {*STATUS_CLASSES.values(), *LEVEL_CLASSES.values(), "gauge--empty"}

#: TCSS for the component classes above; each widget that uses them adds this to its CSS.
COMPONENT_CSS = """
    & > .status--completed { color: $success; }
    & > .status--executing { color: $accent; text-style: bold; }
    & > .status--queued { color: $primary; }
    & > .status--waiting-for-deps { color: $text-muted; }
    & > .status--waiting-for-input { color: $warning; text-style: bold; }
    & > .status--blocked { color: $error; text-style: bold; }
    & > .status--needs-handoff { color: $secondary; text-style: bold; }
    & > .status--merge-conflict { color: $error; text-style: bold; }
    & > .status--needs-human-review { color: $warning; text-style: bold reverse; }
    & > .status--skipped { color: $text-disabled; }
    & > .gauge--green { color: $success; }
    & > .gauge--yellow { color: $warning; }
    & > .gauge--red { color: $error; text-style: bold; }
    & > .gauge--unknown { color: $text-muted; }
    & > .gauge--empty { color: $text-disabled; }
"""


def gauge(
    percent: float | None,
    budget: int,
    width: int,
    styles: dict[str, Style],
    *,
    show_percent: bool = True,
) -> Text:
    """A bar of ``width`` cells filled to ``percent``, coloured by level against ``budget``."""
    text = Text()
    lvl = level(percent, budget)
    if percent is None:
        text.append("░" * width, styles.get("gauge--empty", Style()))
        if show_percent:
            text.append("    -", styles.get("gauge--unknown", Style()))
        return text
    eighths = max(0, min(width * 8, round(percent / 100 * width * 8)))
    full, part = divmod(eighths, 8)
    style = styles.get(LEVEL_CLASSES[lvl], Style())
    text.append("█" * full + (PARTS[part] if part else ""), style)
    text.append("░" * (width - full - (1 if part else 0)), styles.get("gauge--empty", Style()))
    if show_percent:
        text.append(f" {percent:>3.0f}%", style)
    return text


def status_text(status: Status, styles: dict[str, Style], *, label: bool = True) -> Text:
    style = styles.get(STATUS_CLASSES[status], Style())
    return Text(f"{ICONS[status]} {status.value}" if label else ICONS[status], style)


def short_tokens(tokens: int | None) -> str:
    if not tokens:
        return "-"
    if tokens >= 1_000_000:
        return f"{tokens / 1_000_000:.1f}M"
    if tokens >= 1000:
        return f"{tokens / 1000:.0f}k"
    return str(tokens)


def since(start: float | None, now: float) -> str:
    """How long ago, in whole minutes (a column of ticking seconds would redraw every second)."""
    if start is None:
        return "-"
    minutes = max(0, int(now - start)) // 60
    if minutes < 1:
        return "<1m"
    if minutes < 60:
        return f"{minutes}m"
    return f"{minutes // 60}h{minutes % 60:02d}m"


class StyleCache:
    """The rich styles of a widget's component classes, computed once per theme.

    `get_component_rich_style` resolves CSS each call; widgets that draw many cells per refresh
    ask for their styles once and keep them until the theme (or any style) changes.
    """

    def __init__(self) -> None:
        self._styles: dict[str, Style] | None = None

    def get(self, widget: object, names: set[str]) -> dict[str, Style]:
        if self._styles is None:
            get = widget.get_component_rich_style  # type: ignore[attr-defined]
            self._styles = {name: get(name) for name in names}
        return self._styles

    def clear(self) -> None:
        self._styles = None
