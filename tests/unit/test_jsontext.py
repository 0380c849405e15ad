"""`jsontext` writes and reads exactly what the standard library's `json` does."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loom_tui.core import jsontext

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from(["\x7f", "\u2028", "\ufeff", "\ud800", "é", "\U0001f600", '"\\', "\n\t"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_dumps_indented_is_json_dumps_with_indent_2(value: object) -> None:
    assert jsontext.dumps_indented(value) == json.dumps(value, indent=2, ensure_ascii=False)


@settings(max_examples=300, deadline=None)
@given(VALUES, st.booleans())
def test_dumps_is_json_dumps(value: object, ascii_only: bool) -> None:
    assert jsontext.dumps(value, ensure_ascii=ascii_only, default=str) == json.dumps(
        value, ensure_ascii=ascii_only, default=str
    )


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_loads_reads_what_json_writes(value: object) -> None:
    text = json.dumps(value)
    assert repr(jsontext.loads(text)) == repr(json.loads(text))


def test_keys_that_are_not_strings_are_written_as_json_writes_them() -> None:
    value = {7: "a", 2.5: "b", True: "c", None: "d", "e": ()}
    assert jsontext.dumps_indented(value) == json.dumps(value, indent=2, ensure_ascii=False)
    assert jsontext.dumps(value) == json.dumps(value)


def test_what_cannot_be_written_raises_as_json_does() -> None:
    with pytest.raises(TypeError):
        jsontext.dumps({"a": object()})
    with pytest.raises(TypeError):
        jsontext.dumps_indented({"a": object()})
    with pytest.raises(ValueError):
        jsontext.dumps([math.nan], allow_nan=False)
    assert jsontext.dumps({"a": object()}, default=lambda o: "x") == '{"a": "x"}'


@pytest.mark.parametrize(
    "text", ["", " ", "[1] 2", '{"a": 1', "[1,]", "\ufeff1", "nul", '"abc', "'a'", "{1: 2}"]
)
def test_loads_refuses_what_json_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        jsontext.loads(text)


def test_loads_hooks_and_whitespace() -> None:
    assert jsontext.loads(" \t\n[1, 2.5, null]\r\n ") == [1, 2.5, None]
    pairs = jsontext.loads('{"a": 1, "a": 2}', object_pairs_hook=lambda p: p)
    assert pairs == [("a", 1), ("a", 2)]

    def refuse(name: str) -> object:
        raise LookupError(name)

    with pytest.raises(LookupError):
        jsontext.loads("[NaN]", parse_constant=refuse)
    assert math.isinf(jsontext.loads("Infinity"))  # type: ignore[arg-type]
