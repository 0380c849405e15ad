"""The detail panel's preview of a stage's pane: a rule with its heading, then the newest lines.

It changes every couple of seconds while an agent works, so the panel lays it out itself, a strip
per line, instead of through Rich's layout: the lines are plain text (tmux's capture, made safe by
`textsafe.one_line`), one terminal line each, cut with an ellipsis at the panel's width.  It is a
Rich renderable too, for the full stage screen, and both ways draw the same.
"""

from __future__ import annotations

from collections.abc import Iterator

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderableType
from rich.rule import Rule
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

ELLIPSIS = "…"


class PanePreview:
    """``lines`` under a rule headed ``heading``; nothing at all without lines."""

    def __init__(
        self, heading: str, lines: list[str], rule_style: Style, line_style: Style
    ) -> None:
        self.heading = heading
        self.lines = lines
        self.rule_style = rule_style
        self.line_style = line_style

    def _rule(self) -> Rule:
        return Rule(self.heading, align="left", style=self.rule_style, characters="─")

    def __rich_console__(
        self, console: Console, options: ConsoleOptions
    ) -> Iterator[RenderableType]:
        if not self.lines:
            return
        yield self._rule()
        yield Text("\n".join(self.lines), self.line_style, no_wrap=True, overflow="ellipsis")

    def strips(self, console: Console, width: int, base: Style) -> list[Strip]:
        """The lines laid out for ``width`` cells, under the widget's ``base`` style."""
        if not self.lines:
            return []
        options = console.options.update(width=width, height=None, highlight=False)
        out = [
            Strip(line).apply_style(base).simplify()
            for line in console.render_lines(self._rule(), options, pad=False, new_lines=False)
        ]
        style = base + self.line_style
        for line in self.lines:
            shown = line
            if cell_len(line) > width:
                shown = set_cell_size(line, max(0, width - 1)) + ELLIPSIS
            out.append(Strip([Segment(shown, style)] if shown else [], cell_len(shown)))
        return out
