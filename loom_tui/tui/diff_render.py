"""A file's diff as highlighted lines for the diff view: pure functions, so the diff screen can run
them in a worker thread and the tests can read what they produce.

Each line keeps git's ``+``/``-``/`` `` mark and gets the background of its kind (from the
theme, through the diff view's component classes), and its code is highlighted in the file's own
language with Pygments.  The two sides of the diff are highlighted apart (the old side is the
context and removed lines, the new side the context and added lines), so a string or comment
opened on one side does not colour the other.  Text from the repository may hold control
characters: they are shown as escapes (`textsafe`), and tabs as four spaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rich.style import Style
from rich.syntax import Syntax
from rich.text import Span, Text

from loom_tui.core.stage_diff import MAX_LINES_PER_FILE, FileChange
from loom_tui.core.textsafe import one_line

TAB = "    "
#: Pygments styles for the code's colours, one for dark themes and one for light ones.
SYNTAX_THEMES = {True: "monokai", False: "friendly"}
_PLAIN = Style()


@dataclass(frozen=True)
class DiffStyles:
    """The styles of each kind of line, from the theme (see `DiffView.COMPONENT_CLASSES`)."""

    added: Style = _PLAIN
    removed: Style = _PLAIN
    hunk: Style = _PLAIN
    note: Style = _PLAIN
    header: Style = _PLAIN
    #: the colours of the +/− counts and of the files' status letters
    plus: Style = _PLAIN
    minus: Style = _PLAIN
    modified: Style = _PLAIN
    moved: Style = _PLAIN
    dark: bool = True


def age(when: float, now: float) -> str:
    """How long ago, in the largest whole unit: ``<1m``, ``42m``, ``5h``, ``3d``, ``6w``."""
    seconds = max(0, int(now - when))
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "<1m"


def counts(additions: int, deletions: int, styles: DiffStyles) -> Text:
    return Text.assemble((f"+{additions}", styles.plus), " ", (f"−{deletions}", styles.minus))


def render_file(change: FileChange, styles: DiffStyles) -> list[Text]:
    """The lines the diff view shows for ``change``: a heading, then the diff (or a note)."""
    out = [_heading(change, styles)]
    if change.binary:
        out.append(Text("binary file: its content is not shown", style=styles.note))
        return out
    if not change.lines:
        what = "renamed" if change.old_path else "changed"
        out.append(Text(f"{what} without changes to its text", style=styles.note))
        return out
    old_side, new_side = _highlighted_sides(change, styles.dark)
    old_side.reverse()  # popped from the end, in order
    new_side.reverse()
    for kind, text in change.lines:
        if kind == "@":
            out.append(Text(_clean(text), style=styles.hunk))
        elif kind == "\\":
            out.append(Text(f"\\ {_clean(text)}", style=styles.note))
        else:
            # a context line is on both sides: take it from the new one, drop it from the old
            code = new_side.pop() if kind in " +" else old_side.pop()
            if kind == " ":
                old_side.pop()
            line_style = {"+": styles.added, "-": styles.removed}.get(kind, Style())
            line = Text(kind if kind != " " else " ", style=line_style, end="")
            line.append_text(code)
            line.stylize_before(line_style)
            out.append(line)
    if change.omitted:
        out.append(
            Text(
                f"… {change.omitted:,} more line(s) not shown: a file's diff is cut after "
                f"{MAX_LINES_PER_FILE:,} lines",
                style=styles.note,
            )
        )
    return out


def _heading(change: FileChange, styles: DiffStyles) -> Text:
    path = _clean(change.path)
    if change.old_path:
        path = f"{_clean(change.old_path)} → {path}"
    heading = Text(f"{change.status} {path}", style=styles.header, end="")
    if not change.binary:
        heading.append("  ")
        heading.append_text(counts(change.additions, change.deletions, styles))
    return heading


def _clean(text: str) -> str:
    return one_line(text.replace("\t", TAB))


def _highlighted_sides(change: FileChange, dark: bool) -> tuple[list[Text], list[Text]]:
    """The old side's and the new side's code lines, each highlighted as one piece of code."""
    old = [_clean(t) for k, t in change.lines if k in " -"]
    new = [_clean(t) for k, t in change.lines if k in " +"]
    lexer = _lexer(change.path)
    return _highlight(old, lexer, dark), _highlight(new, lexer, dark)


def _highlight(lines: list[str], lexer: Any, dark: bool) -> list[Text]:
    if lexer is None or not lines:
        return [Text(line, end="") for line in lines]
    code = "\n".join(lines)
    text = Syntax(code, lexer, theme=SYNTAX_THEMES[dark]).highlight(code)
    # the Pygments theme's background (on the whole text and on each token) is dropped: each
    # line has the background of its kind (added, removed, context) instead
    text.style = ""
    text.spans = [Span(span.start, span.end, _foreground(span.style)) for span in text.spans]
    parts = text.split("\n", allow_blank=True)
    result = list(parts)[: len(lines)]
    while len(result) < len(lines):  # (never expected: the lexer keeps every line)
        result.append(Text(lines[len(result)], end=""))
    for part, line in zip(result, lines, strict=True):
        part.end = ""
        if part.plain != line:  # a lexer that changed the text: show it as it is
            part.plain = line
    return result


@lru_cache(maxsize=1024)
def _foreground(style: str | Style) -> Style:
    """``style`` without its background (a theme has a few dozen token styles: kept here)."""
    if isinstance(style, str):
        style = Style.parse(style)
    return Style(color=style.color, bold=style.bold, italic=style.italic, underline=style.underline)


@lru_cache(maxsize=256)
def _lexer(path: str) -> Any:
    """The Pygments lexer for the file's name, or None (no colours) when there is none."""
    from pygments.lexers import get_lexer_for_filename  # type: ignore[import-untyped]
    from pygments.util import ClassNotFound  # type: ignore[import-untyped]

    try:
        return get_lexer_for_filename(path, stripnl=False, ensurenl=False, stripall=False)
    except ClassNotFound:
        return None
