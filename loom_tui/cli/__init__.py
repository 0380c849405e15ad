"""The `loom` command.

Agent-facing commands (`loom stage complete`, and later the hooks) run on every step of every
agent, so `main` first offers the arguments to `fast.dispatch`, which handles their plain forms with
the standard library only; everything else (help, completion, the user-facing commands) goes to
the click application in `app`, imported only then.
"""

from __future__ import annotations

import os
import sys


def _undecodable(args: list[str]) -> str | None:
    """The first argument whose bytes are not UTF-8 (Python holds them as surrogates, which no
    record, event or terminal can take), shown as those bytes; None when all are text."""
    from loom_tui.core.textsafe import encodable

    for arg in args:
        if not encodable(arg):
            return repr(os.fsencode(arg))
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    bad = _undecodable(args)
    if bad is not None:
        from loom_tui.cli.output import warn

        warn(f"the argument {bad} is not UTF-8 text; nothing was done")
        return 2
    code = _run(args)
    _warn_unlogged()
    return code


def _run(args: list[str]) -> int:
    if "_LOOM_COMPLETE" not in os.environ:
        from loom_tui.cli.fast import dispatch

        code = dispatch(args)
        if code is not None:
            return code
    from loom_tui.cli.app import run

    return int(run(args))


def _warn_unlogged() -> None:
    """Say once which event lines a full disk kept out of the log (the changes were made)."""
    store = sys.modules.get("loom_tui.core.store")
    for message in getattr(store, "UNLOGGED", ()):
        sys.stderr.write(f"loom: warning: {message} (the change itself was made)\n")
