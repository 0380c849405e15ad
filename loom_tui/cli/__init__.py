"""The `loom` command.

Agent-facing commands (`loom stage complete`, and later the hooks) run on every step of every
agent, so `main` first offers the arguments to `fast.dispatch`, which handles their plain forms with
the standard library only; everything else (help, completion, the user-facing commands) goes to
the click application in `app`, imported only then.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if "_LOOM_COMPLETE" not in os.environ:
        from loom_tui.cli.fast import dispatch

        code = dispatch(args)
        if code is not None:
            return code
    from loom_tui.cli.app import run

    return int(run(args))
