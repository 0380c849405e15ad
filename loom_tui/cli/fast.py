"""The agent-facing commands' fast path: plain argument forms, standard library only.

It takes `loom stage VERB ID...`, `loom memory note|decision [--stage ID] TEXT...`, `loom status
[--json]` (from `core.status_cache`) and `loom hook EVENT`, with a leading ``--work-dir``; their
error paths stay here too (an unknown stage is one `loom:` line, without loading click).

`dispatch` returns None for anything it does not recognise exactly (help flags, unknown options,
other commands), and the click application handles it instead, with its full parsing and messages.
Both paths run the same functions (`stage_commands`, `core.actions`); only the argument parsing is
repeated here, for the few forms agents use on every step.
"""

from __future__ import annotations

from loom_tui.cli.stage_commands import VERBS


def _take_work_dir(args: list[str]) -> tuple[str | None, list[str]] | None:
    """Pull the leading ``--work-dir X`` / ``--work-dir=X`` (the group's option, which click accepts
    only before the command) off ``args``; None when the form is unusual."""
    work_dir = None
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
        break
    return work_dir, args[i:]


def run_hook(command: str) -> int:
    """`loom hook <event>`: never fails the agent (errors are logged, exit 0)."""
    import os
    import sys

    from loom_tui.core import hooks

    env = dict(os.environ)
    try:
        answer = hooks.handle(command, sys.stdin.read(), env)
    except Exception as exc:
        hooks.log_failure(env, command, exc)
        return 0
    if answer.stdout:
        sys.stdout.write(answer.stdout + ("" if answer.stdout.endswith("\n") else "\n"))
    if answer.stderr:
        sys.stderr.write(answer.stderr + "\n")
    return answer.exit_code


def run_status(work_dir: str | None, options: list[str]) -> int | None:
    """`loom status [--json]`: from `status_cache`, with no click, no enum and no json for the
    plain table (agents call `loom status --json`; people watch it in a loop)."""
    if options not in ([], ["--json"]):
        return None
    from loom_tui.cli.output import report_crash, report_error
    from loom_tui.core.errors import LoomError

    try:
        from loom_tui.cli.status_view import render
        from loom_tui.core.project import find_work_dir
        from loom_tui.core.status_cache import cached_status

        render(cached_status(find_work_dir(work_dir)), as_json=bool(options))
    except LoomError as exc:
        return report_error(exc)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return report_crash(exc)
    return 0


def _memory_args(rest: list[str]) -> tuple[str | None, list[str]] | None:
    """``[--stage ID] TEXT...`` as click parses it (options anywhere before ``--``): the stage
    and the words; None for any other form (help, an unknown option, ``--stage`` twice)."""
    stage_id = None
    words: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--":
            words += rest[i + 1 :]
            break
        if arg == "--stage" or arg.startswith("--stage="):
            if stage_id is not None:
                return None
            if arg == "--stage":
                if i + 1 >= len(rest):
                    return None
                stage_id = rest[i + 1]
                i += 2
                continue
            stage_id = arg[len("--stage=") :]
        elif arg.startswith("-") and arg != "-":
            return None
        else:
            words.append(arg)
        i += 1
    return stage_id, words


def run_memory(work_dir: str | None, kind: str, rest: list[str]) -> int | None:
    """`loom memory note|decision [--stage ID] TEXT...`: agents note what they learn as they
    go, so it runs on the fast path too (the same `core.memory.add` as the click command)."""
    import os

    parsed = _memory_args(rest)
    if parsed is None or not parsed[1]:
        return None  # click shows the usage
    stage_id = parsed[0] or os.environ.get("LOOM_STAGE_ID")
    if not stage_id:
        return None  # click says to give --stage
    from loom_tui.cli.output import report_crash, report_error, say
    from loom_tui.core.errors import LoomError

    try:
        from loom_tui.core import memory
        from loom_tui.core.store import Store

        memory.add(Store.find(work_dir), stage_id, kind, " ".join(parsed[1]))
        say(f"{kind} recorded for stage {stage_id}")
    except LoomError as exc:
        return report_error(exc)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return report_crash(exc)
    return 0


def dispatch(argv: list[str]) -> int | None:
    if len(argv) == 2 and argv[0] == "hook":
        from loom_tui.core.hooks import EVENTS

        if argv[1] in EVENTS:
            return run_hook(argv[1])
        return None
    parsed = _take_work_dir(argv)
    if parsed is None:
        return None
    work_dir, args = parsed
    if args and args[0] == "status":
        return run_status(work_dir, args[1:])
    if len(args) >= 2 and args[0] == "memory" and args[1] in ("note", "decision"):
        return run_memory(work_dir, args[1], args[2:])
    if args[:1] in (["knowledge"], ["map"]) or args[:2] == ["memory", "promote"]:
        from loom_tui.cli.knowledge_commands import dispatch as knowledge_dispatch

        return knowledge_dispatch(work_dir, args)
    if len(args) < 3 or args[0] != "stage" or args[1] not in VERBS:
        return None
    rest = args[2:]
    cut = rest.index("--") if "--" in rest else len(rest)
    if any(a.startswith("-") for a in rest[:cut]):
        return None  # an option before `--`: click parses it (or reports it)
    verb = args[1]
    operands = rest[:cut] + rest[cut + 1 :]  # as click: only the first `--` ends the options
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
