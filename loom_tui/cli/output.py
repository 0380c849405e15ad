"""How the CLI prints messages and errors: one line each, errors on stderr prefixed with `loom:`.

Everything printed passes through `core.textsafe`: messages carry stage names, reasons, notes and
command output written by plan authors and agents, and a control character in them must reach the
terminal as an escape, not as a command to the terminal.
"""

from __future__ import annotations

import sys

from loom_tui.core.errors import LoomError
from loom_tui.core.textsafe import block, json_safe, one_line


def say(message: str) -> None:
    """Print ``message`` (it may span lines; JSON should already be `textsafe.json_safe`)."""
    if message:
        sys.stdout.write(block(message) + "\n")
        sys.stdout.flush()


def say_json(data: object) -> None:
    """Print ``data`` as indented JSON, non-ASCII text as it is, control characters escaped
    (`jsontext` writes what ``json.dumps(data, indent=2, ensure_ascii=False)`` would)."""
    from loom_tui.core.jsontext import dumps_indented

    say(json_safe(dumps_indented(data)))


def warn(message: str) -> None:
    """Print one error line, ``loom: message``, on stderr."""
    sys.stderr.write(f"loom: {one_line(message)}\n")
    sys.stderr.flush()


def report_error(exc: LoomError) -> int:
    # A PlanError can only exist once the plan module is loaded: do not load it (pydantic and
    # ruamel, a fifth of a second) for every other error of an agent-facing command.
    plan = sys.modules.get("loom_tui.core.plan")
    lines = exc.lines()
    if plan is not None and isinstance(exc, plan.PlanError):
        for line in lines:
            sys.stderr.write(one_line(line) + "\n")
        count = len(lines)
        warn(f"{count} problem{'s' if count != 1 else ''} in the plan; nothing was changed")
    else:
        for line in lines:
            warn(line)
    return exc.exit_code


def report_crash(exc: BaseException) -> int:
    """An unexpected exception: one line on screen; the traceback only with LOOM_DEBUG=1."""
    import os

    if os.environ.get("LOOM_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    warn(f"internal error: {type(exc).__name__}: {exc} (set LOOM_DEBUG=1 for details)")
    return 1
