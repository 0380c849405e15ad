"""`core.textsafe`: text from plans and agents shown with its control characters escaped."""

from __future__ import annotations

import json

import pytest

from loom_tui.core.textsafe import block, is_safe, json_safe, one_line


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("over\rwrite", "over\\rwrite"),
        ("two\nlines", "two\\nlines"),
        ("tab\there", "tab\\there"),
        ("csi\x9b31m", "csi\\x9b31m"),
        ("del\x7f", "del\\x7f"),
        ("nul\x00", "nul\\x00"),
        ("rtl\u202eevil", "rtl\\u202eevil"),
        ("lone \udc80 surrogate", "lone \\udc80 surrogate"),
    ],
)
def test_one_line_escapes_every_control_character(raw: str, shown: str) -> None:
    assert one_line(raw) == shown
    assert one_line(raw).isprintable()
    assert not is_safe(raw)


@pytest.mark.parametrize(
    "text",
    ["plain", "naïve café — 日本語 ✓ ● ▶", "a [bold]markup[/] look-alike", "C:\\path\\x1b", ""],
)
def test_printable_text_is_left_as_it_is(text: str) -> None:
    assert one_line(text) is text
    assert block(text) is text
    assert is_safe(text)


def test_non_breaking_and_other_unicode_spaces_are_kept() -> None:
    assert one_line("a\u00a0b\u3000c") == "a\u00a0b\u3000c"


def test_block_keeps_newlines_and_tabs_and_folds_crlf() -> None:
    assert block("one\r\ntwo\n\tthree\x1b[2J") == "one\ntwo\n\tthree\\x1b[2J"
    assert block("bare\rreturn") == "bare\\rreturn"
    assert is_safe("one\n\ttwo", multiline=True)


def test_the_result_encodes_as_utf8() -> None:
    one_line("\ud800\udfff").encode("utf-8")
    block("x\udc80y").encode("utf-8")


@pytest.mark.parametrize(
    "value",
    ["\x1b[31m", "\x9b", "\x7f", "\u202e", "\u2028", "\udc80", "naïve ✓", "a\nb\tc"],
)
def test_json_safe_spells_the_same_data_in_printable_json(value: str) -> None:
    data = {"name": value, "list": [value, 1, None]}
    text = json_safe(json.dumps(data, indent=2, ensure_ascii=False))
    assert json.loads(text) == data
    assert all(line.isprintable() for line in text.splitlines())
    assert "naïve" in json_safe(json.dumps("naïve", ensure_ascii=False))
