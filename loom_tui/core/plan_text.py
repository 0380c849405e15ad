"""What a plan's text may hold: characters that can be stored, in sizes that make sense.

Two checks over every key and string of the metadata, run after the YAML is read and before the
schema and anything that writes a record:

- **No lone surrogates.**  YAML's ``"\\udc80"`` escape yields half of a UTF-16 pair, which is not
  a character: it cannot be encoded as UTF-8, so writing the stage record would fail half-way.
  ``json.dumps`` writes characters beyond U+FFFF as such pairs (``"\\ud83d\\ude00"`` for 😀), and
  YAML reads them as two halves; the message names the character that was meant.
- **Sane sizes.**  A description is the agent's assignment and goes into every signal; at 64 KiB
  it is already a long document, and past that it is a mistake (a pasted log, a generated file)
  that would make every record, signal and screen slow.  Other text fields are lines or commands
  and get smaller limits; the whole plan file is capped (`MAX_PLAN_BYTES`) before it is parsed.
"""

from __future__ import annotations

from typing import Any

from loom_tui.core.textsafe import encodable

KIB = 1024
#: The whole plan file, checked before it is decoded or parsed.
MAX_PLAN_BYTES = 4 * KIB * KIB
#: Per field, in UTF-8 bytes; a field not named here gets `DEFAULT_LIMIT`.
LIMITS: dict[str, int] = {
    "description": 64 * KIB,
    "name": 1 * KIB,
    "model": 1 * KIB,
    "base_branch": 1 * KIB,
    "source": 4 * KIB,
}
#: Commands, globs, sandbox entries and any other text.
DEFAULT_LIMIT = 16 * KIB
#: A key is a field name: anything longer is a mistake, and would flood the "unknown key" error.
KEY_LIMIT = 256

Loc = tuple[Any, ...]


def _size(text: str) -> int:
    """The UTF-8 size of ``text`` (a lone surrogate counted as the 3 bytes it would take)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def _kib(size: int) -> str:
    return f"{size / KIB:,.0f} KiB" if size >= 10 * KIB else f"{size:,} bytes"


def size_problem(text: str, limit: int, what: str = "") -> str | None:
    """The message for ``text`` over ``limit`` UTF-8 bytes, or None."""
    if len(text) <= limit // 4:  # at most 4 bytes a character: surely within the limit
        return None
    size = _size(text)
    if size <= limit:
        return None
    hint = (
        ": keep the assignment short and put long material in a file of the repository that it "
        "names"
        if what == "description"
        else ""
    )
    return f"is {_kib(size)} long; the limit is {_kib(limit)}{hint}"


def surrogate_problem(text: str) -> str | None:
    """The message for ``text`` holding a lone surrogate (half of a UTF-16 pair), or None."""
    if text.isascii() or text.isprintable():  # surrogates are never printable
        return None
    at = next((i for i, ch in enumerate(text) if 0xD800 <= ord(ch) <= 0xDFFF), None)
    if at is None:
        return None
    high = ord(text[at])
    low = ord(text[at + 1]) if at + 1 < len(text) else 0
    if 0xD800 <= high <= 0xDBFF and 0xDC00 <= low <= 0xDFFF:
        code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        return (
            f"holds the UTF-16 pair \\u{high:04x}\\u{low:04x} (as JSON writes {chr(code)}), which "
            f"YAML reads as two halves that cannot be stored: write the character itself or "
            f"\\U{code:08X}"
        )
    return (
        f"holds \\u{high:04x}, half of a UTF-16 surrogate pair and not a character: it cannot be "
        "stored as UTF-8; remove it (or write the whole character)"
    )


def storable(data: Any) -> Any:
    """``data`` without what `text_problems` reports as unusable, for the schema's checks.

    Keys that are no field's name (too long, or holding a surrogate) are left out, and surrogates
    in values become U+FFFD: pydantic cannot read a key with a surrogate (its error names no
    field), and each is reported here already.
    """
    if isinstance(data, str):
        if encodable(data):
            return data
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in data)
    if isinstance(data, dict):
        return {
            key: storable(value)
            for key, value in data.items()
            if len(str(key)) <= KEY_LIMIT and encodable(str(key))
        }
    if isinstance(data, list):
        return [storable(item) for item in data]
    return data


def text_problems(data: Any) -> list[tuple[Loc, bool, str]]:
    """Every key and string of ``data`` that holds a surrogate or is over its limit.

    Each problem is ``(location, is_key, message)``; the location is the path of keys and list
    indexes from the root, as for the schema's errors, and ``is_key`` says the key itself is the
    problem (its line is the key's, not its value's).
    """
    problems: list[tuple[Loc, bool, str]] = []
    # iterative, so that depth is no concern; the YAML loader has bounded the size already
    stack: list[tuple[Loc, str, Any]] = [((), "", data)]
    while stack:
        loc, field, value = stack.pop()
        if isinstance(value, str):
            message = surrogate_problem(value) or size_problem(
                value, LIMITS.get(field, DEFAULT_LIMIT), field
            )
            if message is not None:
                problems.append((loc, False, message))
        elif isinstance(value, dict):
            for key, item in value.items():
                key_text = str(key)
                message = surrogate_problem(key_text) or (
                    f"a key of {len(key_text):,} characters (keys are field names)"
                    if len(key_text) > KEY_LIMIT
                    else None
                )
                if message is not None:
                    problems.append(((*loc, key), True, message))
                    continue  # no field has such a name: its value does not matter
                stack.append(((*loc, key), key_text, item))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append(((*loc, index), field, item))
    return problems
