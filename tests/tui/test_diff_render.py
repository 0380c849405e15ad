"""The diff view's lines, from a `FileChange`: marks, highlighting, notes and escapes."""

from __future__ import annotations

from rich.style import Style

from loom_tui.core.stage_diff import FileChange
from loom_tui.tui.diff_render import DiffStyles, age, render_file

STYLES = DiffStyles(
    added=Style(bgcolor="#002200"),
    removed=Style(bgcolor="#220000"),
    hunk=Style(color="cyan"),
    note=Style(italic=True),
    header=Style(bold=True),
)

PYTHON = FileChange(
    "pkg/mod.py",
    "modified",
    additions=2,
    deletions=1,
    lines=(
        ("@", "@@ -1,3 +1,4 @@ def f():"),
        (" ", "def f():"),
        ("-", '    return "old"'),
        ("+", '    return "new"'),
        ("+", "    # done"),
        (" ", "x = 1"),
        ("\\", "No newline at end of file"),
    ),
)


def test_each_line_keeps_its_mark_and_text_in_order() -> None:
    lines = [line.plain for line in render_file(PYTHON, STYLES)]
    assert lines == [
        "modified pkg/mod.py  +2 −1",
        "@@ -1,3 +1,4 @@ def f():",
        " def f():",
        '-    return "old"',
        '+    return "new"',
        "+    # done",
        " x = 1",
        "\\ No newline at end of file",
    ]


def test_added_and_removed_lines_have_their_background_and_code_its_colours() -> None:
    lines = render_file(PYTHON, STYLES)
    added, removed = lines[4], lines[3]
    assert added.style == STYLES.added and removed.style == STYLES.removed
    assert lines[2].style in ("", Style())  # context: the view's own background
    # the Python is highlighted: some span colours a keyword, none sets another background
    assert any(
        isinstance(span.style, Style) and span.style.color is not None for span in added.spans
    )
    assert all(
        not isinstance(span.style, Style) or span.style.bgcolor in (None, line.style.bgcolor)
        for line in lines[1:]
        for span in line.spans
    )


def test_a_file_without_a_known_language_is_shown_plain() -> None:
    change = FileChange(
        "notes.unknownext", "added", 1, 0, lines=(("@", "@@ -0,0 +1 @@"), ("+", "hi"))
    )
    lines = render_file(change, STYLES)
    assert [line.plain for line in lines][1:] == ["@@ -0,0 +1 @@", "+hi"]


def test_binary_renamed_and_cut_files_say_so() -> None:
    binary = render_file(FileChange("a.png", "added", binary=True), STYLES)
    assert [line.plain for line in binary] == [
        "added a.png",
        "binary file: its content is not shown",
    ]
    renamed = render_file(FileChange("b.txt", "renamed", old_path="a.txt"), STYLES)
    assert [line.plain for line in renamed] == [
        "renamed a.txt → b.txt  +0 −0",
        "renamed without changes to its text",
    ]
    cut = FileChange("big.txt", "added", 5000, lines=(("@", "@@ -0,0 +1,5000 @@"),), omitted=4999)
    assert render_file(cut, STYLES)[-1].plain == (
        "… 4,999 more line(s) not shown: a file's diff is cut after 2,000 lines"
    )


def test_control_characters_are_escaped_and_tabs_expanded() -> None:
    change = FileChange(
        "evil\x1b[31m.txt",
        "added",
        1,
        lines=(("@", "@@ -0,0 +1 @@"), ("+", "\tred\x1b[31m here\x07")),
    )
    lines = [line.plain for line in render_file(change, STYLES)]
    assert lines[0] == "added evil\\x1b[31m.txt  +1 −0"
    assert lines[2] == "+    red\\x1b[31m here\\x07"


def test_age_is_in_the_largest_whole_unit() -> None:
    now = 1_000_000.0
    assert [age(now - s, now) for s in (5, 60, 3599, 3600, 86400 * 2, 86400 * 15)] == [
        "<1m",
        "1m",
        "59m",
        "1h",
        "2d",
        "2w",
    ]
    assert age(now + 100, now) == "<1m"  # a clock that is behind the commit's
