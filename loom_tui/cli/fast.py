"""The agent-facing commands' fast path: plain argument forms, standard library only.

`dispatch` returns None for anything it does not recognise exactly (help flags, unknown options,
other commands), and the click application handles it instead, with its full parsing and messages.
Both paths run the same functions (`stage_commands`, `core.actions`); only the argument parsing is
repeated here, for the few forms agents use on every step.
"""

from __future__ import annotations

from loom_tui.cli.stage_commands import VERBS


def _take_work_dir(args: list[str]) -> tuple[str | None, list[str]] | None:
    """Pull ``--work-dir X`` / ``--work-dir=X`` out of ``args``; None when the form is unusual."""
    work_dir = None
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--work-dir":
            if i + 1 >= len(args) or work_dir is not None:
                return None
            work_dir = args[i + 1]
            i += 2
            continue
        if arg.startswith("--work-dir="):
            if work_dir is not None:
                return None
            work_dir = arg[len("--work-dir=") :]
            i += 1
            continue
        rest.append(arg)
        i += 1
    return work_dir, rest


def dispatch(argv: list[str]) -> int | None:
    parsed = _take_work_dir(argv)
    if parsed is None:
        return None
    work_dir, args = parsed
    if len(args) < 3 or args[0] != "stage" or args[1] not in VERBS:
        return None
    if any(a.startswith("-") for a in args[2:]) and "--" not in args:
        return None
    verb = args[1]
    operands = [a for a in args[2:] if a != "--"]
    reason = ""
    if verb == "block":
        operands, reason = operands[:1], " ".join(operands[1:])
    from loom_tui.cli.output import report_crash, report_error
    from loom_tui.cli.stage_commands import run_stage_verb
    from loom_tui.core.errors import LoomError

    try:
        return run_stage_verb(verb, operands, work_dir, reason)
    except LoomError as exc:
        return report_error(exc)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return report_crash(exc)
