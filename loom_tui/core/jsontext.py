"""``json.dumps(value, indent=2, ensure_ascii=False)``, without importing `json`.

`loom status --json` is what agents call to see the plan, and `import json` alone costs about a
third of a bare Python start (its decoder imports `re`); with ``indent`` the standard library
also encodes in Python, through generators.  The printer here writes the same text (a unit test
compares them on generated values) for the JSON-ready values loom prints: dicts, lists, tuples,
strings, numbers, booleans and None.  Strings are escaped by the C function that `json` itself
uses; when that function is missing (another Python), `json` is used instead.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_quote: Callable[[str], str] | None
try:
    from _json import encode_basestring as _quote
except ImportError:  # pragma: no cover - CPython has it
    _quote = None

_INF = float("inf")
_SIMPLE = {None: "null", True: "true", False: "false"}
#: Quoted keys with their ": ", by key: a status prints the same twenty keys for every stage.
_KEYS: dict[str, str] = {}


def dumps_indented(value: object) -> str:
    """The text of ``json.dumps(value, indent=2, ensure_ascii=False)``."""
    if _quote is None:  # pragma: no cover
        import json

        return json.dumps(value, indent=2, ensure_ascii=False)
    out: list[str] = []
    _write(value, out, "\n", _quote)
    return "".join(out)


def _float(value: float) -> str:
    if value != value:  # noqa: PLR0124 - NaN is the one float not equal to itself
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


def _scalar(value: object, quote: Callable[[str], str]) -> str | None:
    """The text of a string, number, boolean or None; None for anything else."""
    if isinstance(value, str):
        return quote(value)
    if value is None or value is True or value is False:
        return _SIMPLE[value]
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float(value)
    return None


def _key(key: object, quote: Callable[[str], str]) -> str:
    """A key and its ": ", as json writes it (a number or a boolean key becomes a string)."""
    if isinstance(key, str):
        cached = _KEYS.get(key)
        if cached is None:
            cached = quote(key) + ": "
            if len(_KEYS) < 4096:
                _KEYS[key] = cached
        return cached
    text = _scalar(key, quote) if key is None or isinstance(key, int | float) else None
    if text is None:
        raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
    return quote(text) + ": "


def _write(value: object, out: list[str], newline: str, quote: Callable[[str], str]) -> None:
    text = _scalar(value, quote)
    if text is not None:
        out.append(text)
        return
    inner = newline + "  "
    if isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        sep = "{" + inner
        for key, item in value.items():
            out.append(sep)
            out.append(_key(key, quote))
            sep = "," + inner
            if type(item) is str:  # the common cases first, without a call
                out.append(quote(item))
            elif type(item) is int:
                out.append(int.__repr__(item))
            elif item is None or item is True or item is False:
                out.append(_SIMPLE[item])
            else:
                _write(item, out, inner, quote)
        out.append(newline + "}")
        return
    if isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        sep = "[" + inner
        for item in value:
            out.append(sep)
            sep = "," + inner
            _write(item, out, inner, quote)
        out.append(newline + "]")
        return
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
