"""Text from plans and agents, made safe to show on a terminal.

Stage names, reasons, event messages, memory notes and pane lines come from plan authors and from
agents, and reach `loom status`, `loom diagnose`, headless logs and the TUI.  Written raw, an
``ESC [ 31 m`` recolours the user's terminal, an OSC ``ESC ] 0 ; … BEL`` retitles it (some
terminals accept OSC 52, which writes the clipboard), a CR overwrites the start of the line, an LF
in a name breaks a table, a bidi override reorders what is shown, and a lone surrogate makes the
UTF-8 encoder raise.  So every display edge passes such text through `one_line` or `block`, which
show those characters as escapes (``\\x1b[31m``, ``\\r``, ``\\u202e``) and leave all else alone.

A backslash itself is not doubled: that would make every Windows path and regex in a message
harder to read, for the rare text that both holds a real control character and a look-alike
escape.  Only cheap built-ins are used here: the agent-facing commands print through this module.
"""

from __future__ import annotations

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

#: Bidirectional embeddings, overrides and isolates (the "Trojan Source" characters), the line and
#: paragraph separators, and the byte-order mark: not controls to Python, but they reorder, break
#: or hide what a terminal shows.
_FORMAT = frozenset("\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e")
_FORMAT |= frozenset("\u2066\u2067\u2068\u2069\ufeff")


def _unsafe(ch: str, keep: str) -> bool:
    code = ord(ch)
    if code < 0x20 or 0x7F <= code <= 0x9F:  # C0, DEL, C1
        return ch not in keep
    return 0xD800 <= code <= 0xDFFF or ch in _FORMAT  # lone surrogates, format characters


def _escape(ch: str) -> str:
    short = _SHORT.get(ch)
    if short is not None:
        return short
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _printable(text: str, keep: str) -> bool:
    """Whether ``text`` is printable but for the characters of ``keep``, decided in C: a table
    or a JSON document of many lines must not be checked one character at a time in Python."""
    for ch in keep:
        if ch in text:
            text = text.replace(ch, "")
    return text.isprintable()


def _escaped(text: str, keep: str) -> str:
    if _printable(text, keep):  # the common case; ' ' is printable, '\t' and '\n' are not
        return text
    return "".join(_escape(ch) if _unsafe(ch, keep) else ch for ch in text)


def one_line(text: str) -> str:
    """``text`` on one line: every control character escaped, line breaks and tabs too.

    For names, reasons, ids, paths and log lines, which sit in a table cell or a line of their own.
    """
    return _escaped(text, "")


def block(text: str) -> str:
    """``text`` as lines: newlines and tabs kept (a CRLF becomes a newline), the rest escaped.

    For descriptions, memory notes, handoffs and pane captures, which are meant to span lines.
    """
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    return _escaped(text, "\n\t")


def is_safe(text: str, *, multiline: bool = False) -> bool:
    """Whether ``text`` would be shown as it is (nothing to escape)."""
    keep = "\n\t" if multiline else ""
    return _printable(text, keep) or not any(_unsafe(ch, keep) for ch in text)


def encodable(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8: it holds no lone surrogate.

    Surrogates come from YAML and JSON ``\\uD800``-style escapes, and from command-line arguments
    and file names whose bytes are not UTF-8 (Python keeps such bytes as surrogates).
    """
    return text.isprintable() or not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


def json_safe(text: str) -> str:
    """JSON text (as from `json.dumps`) with what it leaves raw written as ``\\uXXXX`` escapes.

    `json.dumps` escapes C0 controls but, with ``ensure_ascii=False``, leaves DEL, C1 controls,
    format characters and lone surrogates raw.  Outside strings JSON is ASCII punctuation, so every
    such character is inside a string, where ``\\uXXXX`` means the same character: the data is
    unchanged, only its spelling is safe to print.  (A lone surrogate comes out as the escape a
    JSON reader turns back into that surrogate.)
    """
    if _printable(text, "\n\t") or not any(_unsafe(ch, "\n\t") for ch in text):
        return text
    return "".join(f"\\u{ord(ch):04x}" if _unsafe(ch, "\n\t") else ch for ch in text)
