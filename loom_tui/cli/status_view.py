"""`loom status`: a rich table on a terminal, aligned plain text otherwise.

Every cell is one line with its control characters escaped (`textsafe.one_line`): a stage's name
comes from the plan, and an escape sequence or a line break in it must not reach the terminal.
The rich table is given `Text` cells, never markup, so a ``[`` in a name is only a bracket.

`render` is the one way the command prints the status object (both CLI paths call it).
"""

from __future__ import annotations

from loom_tui.core.status import ICONS
from loom_tui.core.textsafe import one_line

#: Keyed by status value: this module is on `loom status`'s fast path, which loads no ``enum``.
STYLES = {
    "completed": "green",
    "executing": "cyan",
    "queued": "blue",
    "waiting-for-deps": "dim",
    "waiting-for-input": "yellow",
    "blocked": "red",
    "needs-handoff": "magenta",
    "merge-conflict": "red",
    "skipped": "dim",
    "needs-human-review": "yellow",
}


def _rows(data: dict[str, object]) -> list[list[str]]:
    rows = []
    stages = data["stages"]
    assert isinstance(stages, list)
    for s in stages:
        flags = [f for f in ("held", "merged") if s[f]]
        if s.get("attention") == "stalled":
            flags.insert(0, "stalled")
        if s.get("record_error"):
            flags.append("unreadable")
        pct = s["context_percent"]
        rows.append(
            [
                s["id"],
                f"{ICONS[s['status']]} {s['status']}",
                " ".join(flags) or "-",
                ", ".join(s["dependencies"]) or "-",
                str(s["retry_count"]),
                "-" if pct is None else f"{pct:.0f}%",
                s["name"],
            ]
        )
    if "".join(cell for row in rows for cell in row).isprintable():
        return rows  # nothing to escape (the common case, checked in C for the whole table)
    return [[one_line(cell) for cell in row] for row in rows]


HEADERS = ["stage", "status", "flags", "depends on", "retries", "context", "name"]


def _summary(data: dict[str, object]) -> str:
    plan = data["plan"]
    assert isinstance(plan, dict)
    counts = plan["counts"]
    return one_line(
        f"{plan.get('name', '?')} · {plan['done']}/{plan['total']} done · {plan['running']} running"
        f" · {counts['blocked']} blocked"
        + (f" · {plan['attention']} need you" if plan.get("attention") else "")
        + f" · base {plan.get('base_branch', '?')}"
    )


def render_plain(data: dict[str, object]) -> str:
    rows = [HEADERS, *_rows(data)]
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)  # each cell padded to its column's width
    lines = [_summary(data), *(line.format(*row).rstrip() for row in rows)]
    notice = _no_scheduler(data)
    if notice:
        lines.append(notice)
    return "\n".join(lines)


def _no_scheduler(data: dict[str, object]) -> str:
    scheduler = data.get("scheduler")
    notice = scheduler.get("notice") if isinstance(scheduler, dict) else None
    return f"! {one_line(notice)}" if notice else ""


def render_rich(data: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(_summary(data)), title_justify="left", expand=False)
    for header in HEADERS:
        table.add_column(header, no_wrap=header != "name")
    stages = data["stages"]
    assert isinstance(stages, list)
    for s, row in zip(stages, _rows(data), strict=True):
        style = "yellow" if s.get("attention") == "stalled" else STYLES[s["status"]]
        table.add_row(Text(row[0]), Text(row[1], style=style), *(Text(cell) for cell in row[2:]))
    console = Console()
    console.print(table)
    notice = _no_scheduler(data)
    if notice:
        console.print(Text(notice, style="bold red"))


def render(data: dict[str, object], as_json: bool) -> None:
    """Print the status: JSON, a rich table on a terminal, or plain aligned text."""
    import sys

    from loom_tui.cli.output import say, say_json

    if as_json:
        say_json(data)
    elif sys.stdout.isatty():
        render_rich(data)
    else:
        say(render_plain(data))
