"""The front matter writer and its two readers (the fast subset reader and ruamel.yaml) agree.

Everything `dump` writes must read back exactly, through `frontmatter.parse` and through a full
YAML 1.2 reader; anything a person writes by hand outside the subset must read as ruamel.yaml
reads it; broken files are reported as `StoreError` naming the file.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from loom_tui.core import frontmatter
from loom_tui.core.errors import StoreError

WHERE = ".work/stages/alpha.md"
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ruamel_load(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def _as_plain(value: Any) -> Any:
    """What `frontmatter` promises for values YAML reads as dates: their ISO text."""
    if isinstance(value, dict):
        return {str(k): _as_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_plain(v) for v in value]
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    return value


def assert_same(got: Any, want: Any, path: str = "$") -> None:
    """Equal in value, type and order (True is not 1; 1.0 is not 1; -0.0 is not 0.0)."""
    assert type(got) is type(want), f"{path}: {got!r} ({type(got).__name__}) != {want!r}"
    if isinstance(want, dict):
        assert list(got) == list(want), f"{path}: keys {list(got)} != {list(want)}"
        for key in want:
            assert_same(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, list):
        assert len(got) == len(want), f"{path}: {got!r} != {want!r}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{path}[{i}]")
    elif isinstance(want, float):
        assert repr(got) == repr(want) or (math.isnan(got) and math.isnan(want)), (
            f"{path}: {got!r} != {want!r}"
        )
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


# --------------------------------------------------------------------------------------------------
# The value space loom writes

TRICKY_STRINGS = [
    "",
    " ",
    "  leading and trailing  ",
    "true",
    "True",
    "FALSE",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "null",
    "Null",
    "~",
    "nan",
    ".nan",
    "NaN",
    "inf",
    "-inf",
    ".inf",
    "-.inf",
    "Infinity",
    "0",
    "-0",
    "007",
    "0o17",
    "0x1F",
    "0b101",
    "1_000",
    "1e3",
    "1.0e-05",
    ".5",
    "1.",
    "+1",
    "12:30:00",
    "2024-01-31",
    "2001-12-14t21:59:43.10-05:00",
    "a: b",
    "key:",
    "a #comment",
    "#comment",
    "- item",
    "-",
    "---",
    "...",
    "? q",
    "[1, 2]",
    "{a: 1}",
    "&anchor",
    "*alias",
    "!tag",
    "|",
    ">",
    "%directive",
    "@at",
    "`tick`",
    "'single'",
    '"double"',
    'say "hi"',
    "back\\slash",
    "C:\\path\\to",
    "line\nbreak",
    "trailing newline\n",
    "\r\n",
    "tab\there",
    "\x00nul",
    "\x07bell\x1b[31mred",
    "\x7fdel",
    "\x85nel",
    "\x9f",
    "\u2028line sep\u2029para sep",
    "\ufeffbom",
    "\ufffe\uffff",
    "\ud800",
    "é ü ß 中文 🎉 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "emoji 😀 in a string",
    "a.",
    "a./b",
    "snake_case-and.dots/slash",
    "_private",
    "<<",
    "=",
]

_SCALAR_STRINGS = st.text() | st.sampled_from(TRICKY_STRINGS)
_FLOATS = st.floats(allow_nan=False) | st.sampled_from(
    [0.0, -0.0, 1e-05, 5e-324, 2.2250738585072014e-308, 1e16, 1.7976931348623157e308, 1e300]
)
_INTS = st.integers() | st.integers(min_value=-(2**200), max_value=2**200)
SCALARS = st.none() | st.booleans() | _INTS | _FLOATS | _SCALAR_STRINGS

# Nested values are written as JSON flow style, where infinities cannot go.
_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | _INTS
    | st.floats(allow_nan=False, allow_infinity=False)
    | _SCALAR_STRINGS
)
NESTED = st.recursive(
    _JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_SCALAR_STRINGS, children, max_size=4)
    ),
    max_leaves=12,
)
VALUES = (
    SCALARS
    | st.lists(SCALARS, max_size=6)
    | st.lists(NESTED, max_size=4)
    | st.dictionaries(_SCALAR_STRINGS, NESTED, max_size=4)
)
KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_./-]{0,15}", fullmatch=True).filter(
    frontmatter._is_plain
) | st.sampled_from(["id", "status", "held", "retry_count", "failure", "x-custom.key/2"])
RECORDS = st.dictionaries(KEYS, VALUES, max_size=8)
BODIES = st.text().map(lambda t: t.replace("\r", "")) | st.sampled_from(
    ["", "# Title\n", "---\nnot front matter\n---\n", "no newline at the end"]
)


def _expected_body(body: str) -> str:
    return body if not body or body.endswith("\n") else body + "\n"


@pytest.mark.slow  # seconds of CPU: started early under xdist
@SETTINGS
@given(data=RECORDS, body=BODIES)
@example(data={}, body="")
@example(data={"a": float("inf"), "b": float("-inf"), "c": [float("inf")]}, body="")
@example(data={"failure": {"output": ["😀 done", "\x7f", "\u2028"]}}, body="")
@example(data={"wiring": [{"source": "a.py", "pattern": "def \\w+\\(", "e": "🎉"}]}, body="x")
@example(data={"sim": {"steps": 4, "ratio": 1e-05, "big": 1e16}}, body="")
@example(data={"k": [["nested", ["deeper", {"x": None}]]]}, body="")
def test_whatever_loom_writes_reads_back_exactly_through_both_readers(
    data: dict[str, Any], body: str
) -> None:
    text = frontmatter.render(data, body)
    parsed, parsed_body = frontmatter.parse(text, WHERE)
    assert_same(parsed, data)
    assert parsed_body == _expected_body(body)

    full = ruamel_load(frontmatter.dump(data))
    assert_same(full if full is not None else {}, data)

    # The file itself is valid UTF-8 and YAML all the way through its front matter.
    text.encode("utf-8")
    front, _ = frontmatter.split(text, WHERE)
    assert front == frontmatter.dump(data)


@SETTINGS
@given(value=_SCALAR_STRINGS)
@example(value="\ud800")
def test_quote_is_json_and_yaml(value: str) -> None:
    import json

    quoted = frontmatter.quote(value)
    assert json.loads(quoted) == value
    assert ruamel_load(f"k: {quoted}\n") == {"k": value}
    assert "\n" not in quoted


@pytest.mark.parametrize("value", TRICKY_STRINGS)
def test_tricky_string_stays_a_string(value: str) -> None:
    data = {"v": value, "l": [value, value]}
    parsed, _ = frontmatter.parse(frontmatter.render(data, ""), WHERE)
    assert_same(parsed, data)
    assert_same(ruamel_load(frontmatter.dump(data)), data)


def test_nan_is_written_as_yaml_nan_and_reads_back_as_nan() -> None:
    data = {"a": float("nan"), "b": [float("nan"), 1.0]}
    text = frontmatter.dump(data)
    assert "a: .nan" in text
    parsed, _ = frontmatter.parse(frontmatter.render(data, ""))
    full = ruamel_load(text)
    for got in (parsed, full):
        assert isinstance(got["a"], float)
        assert math.isnan(got["a"])
        assert math.isnan(got["b"][0])
        assert got["b"][1] == 1.0


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_inside_nested_values_are_refused(value: float) -> None:
    with pytest.raises(ValueError):
        frontmatter.dump({"failure": {"ratio": value}})


def test_floats_always_carry_a_dot_so_yaml_reads_them_as_floats() -> None:
    text = frontmatter.dump({"a": 1e-05, "b": 1e16, "c": 5e-324, "d": 2.0, "e": [1e-7]})
    assert "a: 1.0e-05\n" in text
    assert "b: 1.0e+16\n" in text
    assert "c: 5.0e-324\n" in text
    assert "d: 2.0\n" in text
    assert "  - 1.0e-07\n" in text


def test_writer_layout() -> None:
    data = {
        "id": "alpha",
        "name": "Alpha stage",
        "dependencies": ["a", "b"],
        "acceptance": [],
        "sandbox": None,
        "held": False,
        "sim": {},
        "failure": {"kind": "crash", "exit_code": 1},
        "wiring": [{"source": "x.py", "pattern": "y"}],
    }
    assert frontmatter.dump(data) == (
        "id: alpha\n"
        'name: "Alpha stage"\n'
        "dependencies:\n"
        "  - a\n"
        "  - b\n"
        "acceptance: []\n"
        "sandbox: null\n"
        "held: false\n"
        "sim: {}\n"
        'failure: {"kind": "crash", "exit_code": 1}\n'
        'wiring: [{"source": "x.py", "pattern": "y"}]\n'
    )
    assert frontmatter.render({"a": 1}, "body") == "---\na: 1\n---\nbody\n"


@pytest.mark.parametrize("key", ["", "1abc", "has space", "true", "no", "ends.", "a:b", "é"])
def test_keys_that_are_not_plain_names_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="plain name"):
        frontmatter.dump({key: 1})


def test_values_of_other_types_are_refused() -> None:
    with pytest.raises(TypeError):
        frontmatter.dump({"a": object()})
    with pytest.raises(TypeError):
        frontmatter.dump({"a": [b"bytes"]})


# --------------------------------------------------------------------------------------------------
# Hand-edited files: outside the subset, the full reader decides

HAND_EDITED = {
    "comments": "# a comment\nid: alpha # trailing comment\nstatus: queued\n",
    "single quotes": "id: 'alpha'\nname: 'it''s here'\nlist:\n  - 'one'\n",
    "block scalar literal": "description: |\n  line one\n  line two\nid: a\n",
    "block scalar folded": "description: >-\n  folded\n  text\nid: a\n",
    "anchors and aliases": "base: &b [1, 2]\ncopy: *b\nm: &m {x: 1}\nn: *m\n",
    "yes and no": "held: yes\nmerged: no\nflag: On\nother: off\n",
    "octal 0o17": "mode: 0o17\n",
    "octal 017": "mode: 017\n",
    "hex": "value: 0x1F\n",
    "underscored int": "value: 1_000\n",
    "date": "when: 2024-01-31\n",
    "timestamp": "when: 2001-12-14t21:59:43.10-05:00\n",
    "flow sequence in yaml style": "dependencies: [a, b, 'c']\n",
    "flow mapping in yaml style": "sim: {steps: 4, edit: x.py}\n",
    "indented list": "dependencies:\n    - a\n    - b\n",
    "list without indent": "dependencies:\n- a\n- b\n",
    "nested block mapping": "failure:\n  kind: crash\n  exit_code: 1\n",
    "tilde and empty": "a: ~\nb:\nc: Null\n",
    "explicit tags": "a: !!str 123\nb: !!float 1\n",
    "doc end": "a: 1\n...\n",
    "quoted key": '"id": alpha\n',
    "multi-line plain": "name: one\n  two\n",
    "infinity words": "a: -inf\nb: +inf\nc: -nan\nd: +Infinity\n",
    "leading-dot exponent": "a: .5e3\nb: -.1E2\n",
    "json constants in flow": "a: [NaN, Infinity, -Infinity]\n",
    "escapes": 'a: "\\x41\\u00e9\\U0001F600\\/\\0"\n',
    "surrogate-free unicode": 'a: 😀\nb: ["😀"]\n',
}


@pytest.mark.parametrize("front", list(HAND_EDITED.values()), ids=list(HAND_EDITED))
def test_hand_edited_front_matter_reads_as_ruamel_reads_it(front: str) -> None:
    parsed, body = frontmatter.parse(f"---\n{front}---\nbody\n", WHERE)
    assert body == "body\n"
    want = _as_plain(ruamel_load(front))
    assert isinstance(want, dict)
    assert_same(parsed, want)


def test_hand_edited_values_are_those_a_person_would_expect() -> None:
    def read(name: str) -> dict[str, object]:
        return frontmatter.parse(f"---\n{HAND_EDITED[name]}---\n", WHERE)[0]

    assert read("comments") == {"id": "alpha", "status": "queued"}
    assert read("single quotes") == {"id": "alpha", "name": "it's here", "list": ["one"]}
    assert read("block scalar literal")["description"] == "line one\nline two\n"
    assert read("block scalar folded")["description"] == "folded text"
    assert read("anchors and aliases") == {
        "base": [1, 2],
        "copy": [1, 2],
        "m": {"x": 1},
        "n": {"x": 1},
    }
    # YAML 1.2: only true/false are booleans.
    assert read("yes and no") == {"held": "yes", "merged": "no", "flag": "On", "other": "off"}
    assert read("octal 0o17") == {"mode": 15}
    assert read("date") == {"when": "2024-01-31"}
    assert read("flow sequence in yaml style") == {"dependencies": ["a", "b", "c"]}
    assert read("list without indent") == {"dependencies": ["a", "b"]}
    assert read("tilde and empty") == {"a": None, "b": None, "c": None}
    assert read("infinity words") == {"a": "-inf", "b": "+inf", "c": "-nan", "d": "+Infinity"}
    assert read("json constants in flow") == {"a": ["NaN", "Infinity", "-Infinity"]}
    assert read("escapes") == {"a": "Aé😀/\x00"}


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("a: 1", 1),
        ("a: -12", -12),
        ("a: +3", 3),
        ("a: 1.5", 1.5),
        ("a: 1e3", 1000.0),
        ("a: 1.0e-05", 1e-05),
        ("a: .5", 0.5),
        ("a: .inf", float("inf")),
        ("a: -.inf", float("-inf")),
        ("a: true", True),
        ("a: False", False),
        ("a: null", None),
        ("a:", None),
        ("a: plain words here", "plain words here"),
        ("a: x#y", "x#y"),
        ('a: "q"', "q"),
        ("a: []", []),
        ("a: {}", {}),
        ('a: {"k": [1, "two", null]}', {"k": [1, "two", None]}),
        ("a: -inf", "-inf"),
        ("a: +nan", "+nan"),
        ("a: -Infinity", "-Infinity"),
        ("a: .5e3", ".5e3"),
    ],
)
def test_single_values_read_as_ruamel_reads_them(line: str, want: object) -> None:
    parsed, _ = frontmatter.parse(f"---\n{line}\n---\n", WHERE)
    assert_same(parsed, {"a": want})
    assert_same(ruamel_load(line + "\n"), {"a": want})


_PLAIN_ALPHABET = st.sampled_from(list("0123456789+-._eEinfaINFAoxbTtrueyYs:# \"'[]{},"))


@settings(max_examples=600, deadline=None)
@given(value=st.text(_PLAIN_ALPHABET, min_size=1, max_size=8))
@example(value="-inf")
@example(value=".5e3")
@example(value="[NaN]")
@example(value='{"a": 1, "a": 2}')
def test_any_hand_written_value_reads_as_ruamel_reads_it_or_fails_as_it_does(value: str) -> None:
    text = f"k: {value}\n"
    try:
        want = _as_plain(ruamel_load(text))
    except Exception:
        want = None
    if not isinstance(want, dict):
        with pytest.raises(StoreError, match=WHERE):
            frontmatter.parse(f"---\n{text}---\n", WHERE)
        return
    parsed, _ = frontmatter.parse(f"---\n{text}---\n", WHERE)
    assert_same(parsed, want)


# --------------------------------------------------------------------------------------------------
# Split and the file's frame


def test_split_returns_front_matter_and_body() -> None:
    assert frontmatter.split("---\na: 1\n---\nbody\n", WHERE) == ("a: 1\n", "body\n")
    assert frontmatter.split("---\n---\n", WHERE) == ("", "")
    assert frontmatter.split("---\na: 1\n---", WHERE) == ("a: 1\n", "")
    assert frontmatter.split("---\na: 1\n---\n---\nmore\n", WHERE) == ("a: 1\n", "---\nmore\n")


def test_crlf_and_bom_are_accepted() -> None:
    parsed, body = frontmatter.parse("\ufeff---\r\nid: a\r\nn: 2\r\n---\r\nbody\r\n", WHERE)
    assert parsed == {"id": "a", "n": 2}
    assert body == "body\n"


def test_empty_front_matter_is_an_empty_mapping() -> None:
    assert frontmatter.parse("---\n---\nbody\n", WHERE) == ({}, "body\n")
    assert frontmatter.parse("---\n\n\n---\n", WHERE) == ({}, "")
    assert frontmatter.parse("---\n# only a comment\n---\n", WHERE) == ({}, "")


# --------------------------------------------------------------------------------------------------
# Broken files


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("", rf"^{WHERE}:1: expected '---'"),
        ("id: a\n", rf"^{WHERE}:1: expected '---'"),
        ("# title\n---\nid: a\n---\n", rf"^{WHERE}:1: expected '---'"),
        (" ---\nid: a\n---\n", rf"^{WHERE}:1: expected '---'"),
        ("----\nid: a\n---\n", rf"^{WHERE}:1: expected '---'"),
        ("---\nid: a\n", rf"^{WHERE}: the YAML front matter is never closed"),
        ("---\nid: a\n--- \nbody", rf"^{WHERE}: the YAML front matter is never closed"),
        ("---", rf"^{WHERE}:1: expected '---'"),
    ],
)
def test_a_file_without_its_frame_names_the_file(text: str, pattern: str) -> None:
    with pytest.raises(StoreError, match=pattern):
        frontmatter.parse(text, WHERE)


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("---\nid: a\nname: b: c\n---\n", 3, "mapping values are not allowed"),
        ("---\nid: a\nname: b\nx: 'open\n---\n", 5, "end of stream"),
        ("---\nid: a\nid: b\n---\n", 3, "duplicate key"),
        ("---\nid: a\nb: *undefined\n---\n", 3, "undefined alias"),
        ("---\nid: a\n- stray\n---\n", 3, "expected <block end>"),
        ("---\nid: a\n\tname: tab\n---\n", 3, "cannot start any token"),
        ("---\nid: a\nb:\tvalue\n---\n", 3, "cannot start any token"),
    ],
)
def test_invalid_yaml_names_the_file_and_the_line(text: str, line: int, problem: str) -> None:
    with pytest.raises(StoreError) as info:
        frontmatter.parse(text, WHERE)
    message = str(info.value)
    assert message.startswith(f"{WHERE}:{line}: invalid YAML front matter: "), message
    assert problem in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "front",
    ["- a\n- b\n", "just text\n", "42\n", "1: a\n", "[1, 2]\n", "? [a]\n: b\n", "'quoted'\n"],
)
def test_front_matter_that_is_not_a_mapping_of_names_is_refused(front: str) -> None:
    with pytest.raises(StoreError, match=f"^{WHERE}: front matter must be a mapping"):
        frontmatter.parse(f"---\n{front}---\n", WHERE)


def test_a_deeply_nested_hand_edit_is_reported_not_crashing() -> None:
    deep = "a: " + "[" * 1100 + "]" * 1100 + "\n"  # deeper than the json module allows
    try:
        parsed, _ = frontmatter.parse(f"---\n{deep}---\n", WHERE)
    except StoreError as exc:
        assert WHERE in str(exc)
    else:
        assert isinstance(parsed["a"], list)


def test_default_where_is_used_when_no_file_is_named() -> None:
    with pytest.raises(StoreError, match="<front matter>"):
        frontmatter.parse("no frame")
