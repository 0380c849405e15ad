"""YAML front matter for `.work/` records: written in a small, strict subset of YAML, read fast.

A record file looks like::

    ---
    id: schema
    status: executing
    dependencies:
      - init
    failure: {"kind": "crash", "exit_code": 1}
    ---
    # human-readable body

Why not just a YAML library: the agent-facing commands read and write these files on every call,
and importing ruamel.yaml costs about twice a bare Python start.  So loom writes a subset that is
valid YAML 1.2 (mappings of scalars, block lists of scalars, anything deeper as one-line JSON, which
is YAML flow style) and reads it back with a few string operations.  Anything outside the subset
(a file edited by hand with comments, anchors or block scalars) is handed to ruamel.yaml, so every
valid YAML file still loads; only the fast path is narrow.  `tests/unit/test_frontmatter.py` checks
that both readers agree on everything the writer produces.
"""

from __future__ import annotations

import math

from loom_tui.core import jsontext
from loom_tui.core.errors import StoreError

DELIMITER = "---"

_RESERVED = frozenset(
    {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "nan", "inf"}
)
_PLAIN_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_PLAIN_REST = _PLAIN_FIRST | frozenset("0123456789-./")
_DIGITS = frozenset("0123456789")
_FLOAT_CHARS = _DIGITS | frozenset(".eE+-")


class _Unsupported(Exception):
    """The text is outside the subset; the full YAML reader takes over."""


# --------------------------------------------------------------------------------------------------
# Writing


def _is_plain(text: str) -> bool:
    """Whether ``text`` can be written unquoted and still read back as the same string."""
    return (
        bool(text)
        and text[0] in _PLAIN_FIRST
        and _PLAIN_REST.issuperset(text)
        and text.lower() not in _RESERVED
        and not text.endswith(".")
    )


def quote(text: str) -> str:
    """A YAML double-quoted scalar for ``text``, valid in YAML 1.2 and in JSON.

    JSON's escapes are a subset of YAML's; on top of them, every character that YAML does not
    allow raw in a double-quoted scalar (DEL, C1 controls, the Unicode line separators, BOM,
    surrogates, non-characters) is escaped as ``\\uXXXX``.
    """
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # nothing to escape (the common case, checked in C)
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif (
            code < 0x20
            or 0x7F <= code <= 0x9F
            or code in (0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF)
            or 0xD800 <= code <= 0xDFFF
        ):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        # YAML 1.2 readers want a dot in a float ("1e-05" would read back as a string).
        if "e" in text and "." not in text:
            mantissa, _, exponent = text.partition("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(value, str):
        return value if _is_plain(value) else quote(value)
    raise TypeError(f"cannot write {type(value).__name__} in front matter")


#: Characters YAML does not allow raw in a stream, escaped in nested values (JSON leaves them raw).
_FLOW_ESCAPES = {
    code: f"\\u{code:04x}"
    for code in (*range(0x7F, 0xA0), 0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF, *range(0xD800, 0xE000))
}


def _flow(value: object) -> str:
    """Nested values as one line of JSON, which YAML 1.2 reads as flow style.

    Not ``ensure_ascii``: JSON writes a character beyond U+FFFF as a surrogate pair of ``\\u``
    escapes, which YAML reads as two lone surrogates.  Non-ASCII is written raw instead, except
    what YAML forbids raw (see `quote`), which can only occur inside strings and is escaped.
    """
    return jsontext.dumps(value, ensure_ascii=False, allow_nan=False).translate(_FLOW_ESCAPES)


def dump(data: dict[str, object]) -> str:
    """The YAML lines for ``data`` (without the ``---`` delimiters)."""
    lines: list[str] = []
    for key, value in data.items():
        if not _is_plain(key):
            raise ValueError(f"front matter key {key!r} is not a plain name")
        if isinstance(value, list):
            if not value:
                lines.append(f"{key}: []")
            elif all(not isinstance(v, list | dict) for v in value):
                lines.append(f"{key}:")
                lines.extend(f"  - {_scalar(v)}" for v in value)
            else:
                lines.append(f"{key}: {_flow(value)}")
        elif isinstance(value, dict):
            lines.append(f"{key}: {_flow(value) if value else '{}'}")
        else:
            lines.append(f"{key}: {_scalar(value)}")
    return "\n".join(lines) + "\n"


def render(data: dict[str, object], body: str) -> str:
    """A whole record file: front matter, then the body."""
    if body and not body.endswith("\n"):
        body += "\n"
    return f"{DELIMITER}\n{dump(data)}{DELIMITER}\n{body}"


# --------------------------------------------------------------------------------------------------
# Reading


def _parse_plain(text: str) -> object:
    if text in ("null", "Null", "NULL", "~"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    first = text[0]
    if first in _DIGITS or first in "+-.":
        body = text[1:] if first in "+-" else text
        if body and body.isascii() and body.isdigit():
            if len(body) > 1 and body[0] == "0":
                raise _Unsupported  # octal in YAML 1.1, decimal in 1.2: let the full reader decide
            return int(text)
        if text in (".nan", ".NaN", ".NAN"):
            return float("nan")
        if text in (".inf", "+.inf", ".Inf", "+.Inf", ".INF", "+.INF"):
            return float("inf")
        if text in ("-.inf", "-.Inf", "-.INF"):
            return float("-inf")
        try:
            number = float(text)
        except ValueError:
            raise _Unsupported from None
        if "_" in text or text.lower().startswith(("0x", "0o")):
            raise _Unsupported
        if not set(body) <= _FLOAT_CHARS or (body[0] == "." and "e" in body.lower()):
            # float() also takes "-inf", "+nan", "-Infinity"; YAML reads them as strings, and
            # ruamel.yaml reads ".5e3" as one too: let the full reader decide.
            raise _Unsupported
        return number
    if first in "-?:,[]{}#&*!|>'\"%@`" or ": " in text or " #" in text or text.endswith(":"):
        raise _Unsupported
    if "\t" in text:
        raise _Unsupported
    return text


def _parse_value(text: str) -> object:
    text = text.strip(" ")
    if not text:
        return None
    first = text[0]
    if first == '"':
        if not text.endswith('"') or len(text) < 2:
            raise _Unsupported
        try:
            value = jsontext.loads(text)
        except ValueError:
            raise _Unsupported from None
        if not isinstance(value, str):
            raise _Unsupported
        return value
    if first in "[{":
        try:
            return jsontext.loads(
                text, parse_constant=_json_constant, object_pairs_hook=_json_object
            )
        except (ValueError, RecursionError):
            raise _Unsupported from None
    return _parse_plain(text)


def _json_constant(name: str) -> object:
    raise _Unsupported  # NaN, Infinity: JSON's extensions, plain strings to YAML


def _json_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise _Unsupported  # duplicate keys: let the full reader report them
    return data


def _parse_subset(text: str) -> dict[str, object]:
    data: dict[str, object] = {}
    current_list: list[object] | None = None
    current_key = ""
    for line in text.split("\n"):
        if not line.strip(" "):
            continue
        if line.startswith("  - "):
            if current_list is None:
                raise _Unsupported
            current_list.append(_parse_value(line[4:]))
            continue
        if line[0] in " \t#-" or "\t" in line:
            raise _Unsupported
        key, sep, rest = line.partition(":")
        if not sep or not _is_plain(key) or (rest and rest[0] != " "):
            raise _Unsupported
        if key in data:
            raise _Unsupported  # duplicate keys: let the full reader report them
        if current_list is not None and not current_list:
            data[current_key] = None  # `key:` followed by nothing is null
        current_list = None
        if rest.strip(" "):
            data[key] = _parse_value(rest)
        else:
            current_key = key
            current_list = []
            data[key] = current_list
    if current_list is not None and not current_list:
        data[current_key] = None
    return data


def _parse_full(text: str, where: str, first_line: int) -> dict[str, object]:
    """Any YAML, through ruamel.yaml (slower to import; used for hand-edited files only)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        value = YAML(typ="safe", pure=True).load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = first_line + (mark.line if mark is not None else 0)
        problem = exc.problem or exc.context or "invalid YAML"
        raise StoreError(f"{where}:{line}: invalid YAML front matter: {problem}") from None
    except (YAMLError, RecursionError, ValueError, TypeError) as exc:
        raise StoreError(f"{where}: invalid YAML front matter: {exc}") from None
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise StoreError(f"{where}: front matter must be a mapping of names to values")
    return _plain_values(value)


def _plain_values(value: dict[str, object]) -> dict[str, object]:
    """Turn what a YAML library may return (dates, ordered maps) into plain JSON-like values."""

    def conv(v: object) -> object:
        if isinstance(v, dict):
            return {str(k): conv(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [conv(x) for x in v]
        if v is None or isinstance(v, str | int | float | bool):
            return v
        if hasattr(v, "isoformat"):
            return str(v.isoformat())
        return str(v)

    return {k: conv(v) for k, v in value.items()}


def split(text: str, where: str) -> tuple[str, str]:
    """Split a record file into its front matter text and its body."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.startswith(("---\n", "---\r\n")):
        raise StoreError(f"{where}:1: expected '---' to open the YAML front matter")
    text = text.replace("\r\n", "\n")
    end = text.find("\n---\n", 3)
    if end < 0:
        if text.endswith("\n---"):
            end = len(text) - 4
        else:
            raise StoreError(f"{where}: the YAML front matter is never closed by a '---' line")
    return text[4 : end + 1], text[end + 5 :]


def parse(text: str, where: str = "<front matter>") -> tuple[dict[str, object], str]:
    """Read a record file: its front matter as a dict, and its body.

    Raises `StoreError` naming ``where`` (and the line, when YAML says which) for a broken file.
    """
    front, body = split(text, where)
    try:
        return _parse_subset(front), body
    except _Unsupported:
        return _parse_full(front, where, first_line=2), body
