"""JSON as the standard library's `json` reads and writes it, without importing `json`.

The agent-facing commands (`loom stage hold`, `loom status --json`) read and write JSON on every
call, and `import json` alone costs about a third of a bare Python start: its decoder imports
`re`.  The C functions behind `json` are in the built-in `_json` module, which imports nothing:

- `dumps` is ``json.dumps(value, ensure_ascii=…, allow_nan=…, default=…)``, through the same C
  encoder that `json.dumps` uses;
- `loads` is ``json.loads(text, parse_constant=…, object_pairs_hook=…)``, through the same C
  scanner (only an error message makes `_json` import `json.decoder`);
- `dumps_indented` is ``json.dumps(value, indent=2, ensure_ascii=False)``, for which `json`
  itself encodes in Python, through generators: a tighter printer of the same text.

Unit tests compare each with `json` on generated values.  Where `_json` is missing (another
Python than CPython), `json` itself is used.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_quote: Callable[[str], str] | None
try:
    from _json import encode_basestring as _quote
    from _json import encode_basestring_ascii as _quote_ascii
    from _json import make_encoder as _make_encoder
    from _json import make_scanner as _make_scanner
except ImportError:  # pragma: no cover - CPython has them
    _quote = None

_INF = float("inf")
_SIMPLE = {None: "null", True: "true", False: "false"}
#: Quoted keys with their ": ", by key: a status prints the same twenty keys for every stage.
_KEYS: dict[str, str] = {}


_SPACE = " \t\n\r"  # JSON's whitespace


def _unserializable(value: object) -> object:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def dumps(
    value: object,
    *,
    ensure_ascii: bool = True,
    allow_nan: bool = True,
    default: Callable[[object], object] | None = None,
) -> str:
    """``json.dumps(value, ensure_ascii=…, allow_nan=…, default=…)``, one line."""
    if _quote is None:  # pragma: no cover
        import json

        return json.dumps(value, ensure_ascii=ensure_ascii, allow_nan=allow_nan, default=default)
    quote = _quote_ascii if ensure_ascii else _quote
    if isinstance(value, str):
        return quote(value)
    encode = _make_encoder(
        {}, default or _unserializable, quote, None, ": ", ", ", False, False, allow_nan
    )
    return "".join(encode(value, 0))


class _Context:
    """What the C scanner reads from a `json.JSONDecoder`."""

    strict = True
    object_hook = None
    parse_float = float
    parse_int = int

    def __init__(
        self,
        parse_constant: Callable[[str], object],
        object_pairs_hook: Callable[[list[tuple[str, object]]], object] | None,
    ) -> None:
        self.parse_constant = parse_constant
        self.object_pairs_hook = object_pairs_hook


_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def loads(
    text: str,
    *,
    parse_constant: Callable[[str], object] | None = None,
    object_pairs_hook: Callable[[list[tuple[str, object]]], object] | None = None,
) -> object:
    """``json.loads(text, parse_constant=…, object_pairs_hook=…)``: a `ValueError` for text
    that is not one JSON value."""
    if _quote is None:  # pragma: no cover
        import json

        return json.loads(text, parse_constant=parse_constant, object_pairs_hook=object_pairs_hook)
    if text.startswith("\ufeff"):
        raise ValueError("Unexpected UTF-8 BOM")
    context = _Context(parse_constant or _CONSTANTS.__getitem__, object_pairs_hook)
    scan = _make_scanner(context)  # type: ignore[arg-type]  # it reads a decoder's attributes
    start = len(text) - len(text.lstrip(_SPACE))
    try:
        value, end = scan(text, start)
    except StopIteration:
        raise ValueError("Expecting value") from None
    if text[end:].strip(_SPACE):
        raise ValueError("Extra data")
    return value


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
        keys = _KEYS
        for key, item in value.items():
            out.append(sep)
            quoted = keys.get(key) if type(key) is str else None
            out.append(quoted if quoted is not None else _key(key, quote))
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
