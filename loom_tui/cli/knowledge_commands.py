"""`loom knowledge show|update`, `loom memory promote` and `loom map`, shared by both CLI paths.

Agents call these from their sessions, so their plain forms are on the fast path (cli/fast.py,
standard library only); the click commands in commands_knowledge.py run the same functions, so
both paths print the same lines and exit alike.
"""

from __future__ import annotations

import os

from loom_tui.cli.output import say
from loom_tui.core.errors import LoomError, UsageError

PROMOTE_TYPES = ("note", "decision", "all")


def show(work_dir: str | None, file: str | None) -> int:
    """Print FILE, or list the files with their sizes and first lines."""
    import sys

    from loom_tui.core import knowledge as kn
    from loom_tui.core.textsafe import block

    root = kn.find_root(work_dir)
    if file is not None:
        sys.stdout.write(block(kn.read(root, file)))  # written by agents: shown, not obeyed
        sys.stdout.flush()
        return 0
    rows = kn.listing(root)
    if not rows:
        say(f"no {kn.KNOWLEDGE_DIR}/ yet: run `loom knowledge init` (or `loom map`)")
        return 0
    width = max(len(name) for name, _size, _first in rows)
    for name, size, first in rows:
        say(f"{name.ljust(width)}  {size:>7} B  {first or '(empty)'}")
    return 0


def update(work_dir: str | None, file: str, text: str) -> int:
    from loom_tui.core import knowledge as kn

    path = kn.append(kn.find_root(work_dir), file, text)
    say(f"added to {kn.KNOWLEDGE_DIR}/{os.path.basename(path)}")
    return 0


def promote(work_dir: str | None, kind: str, target: str, stage_id: str | None) -> int:
    from loom_tui.core import knowledge as kn
    from loom_tui.core import memory as mem
    from loom_tui.core.store import Store

    if kind not in PROMOTE_TYPES:
        raise UsageError(f"no memory entry type {kind!r}: use note, decision or all")
    stage_id = stage_id or os.environ.get("LOOM_STAGE_ID")
    if not stage_id:
        raise UsageError("give --stage ID (or run inside a stage session)")
    store = Store.find(work_dir)
    name, moved = mem.promote(store, stage_id, kind, target, kn.find_root(work_dir))
    what = "entries" if kind == "all" else f"{kind}s"
    if not moved:
        say(f"stage {stage_id} has no {what} left to promote")
    else:
        say(f"promoted {len(moved)} of stage {stage_id}'s {what} to {kn.KNOWLEDGE_DIR}/{name}")
    return 0


def map_project(work_dir: str | None, deep: bool, focus: str | None) -> int:
    """`loom map`: the knowledge files' generated sections, written from the code."""
    from loom_tui.core import codemap
    from loom_tui.core.knowledge import find_root

    for line in codemap.write(find_root(work_dir), deep=deep, focus=focus).summary():
        say(line)
    return 0


def _parse(args: list[str]) -> tuple[str, list[str | None]] | None:
    """(which command, its operands) for a plain form, else None."""
    if args in (["map"], ["map", "--deep"]):
        return "map", ["deep" if len(args) == 2 else None]
    if len(args) < 2:
        return None
    command, rest = f"{args[0]} {args[1]}", list(args[2:])
    if command == "knowledge update" and len(rest) >= 2 and not rest[0].startswith("-"):
        # after FILE everything is text, a Markdown "- item" too (as click reads it)
        if "--" in rest[1:]:
            return None
        return command, [rest[0], " ".join(rest[1:])]
    if any(a.startswith("-") and a != "--stage" for a in rest):
        return None
    if command == "knowledge show" and len(rest) <= 1:
        return command, [rest[0] if rest else None]
    if command == "memory promote":
        stage_id = None
        if "--stage" in rest:
            at = rest.index("--stage")
            if at + 1 >= len(rest) or rest.count("--stage") > 1:
                return None
            stage_id = rest[at + 1]
            rest = rest[:at] + rest[at + 2 :]
        if len(rest) == 2 and rest[0] in PROMOTE_TYPES:
            return command, [rest[0], rest[1], stage_id]
    return None  # click handles it, with its own messages


def dispatch(work_dir: str | None, args: list[str]) -> int | None:
    """The plain forms agents use: `knowledge show [FILE]`, `knowledge update FILE TEXT…`,
    `memory promote TYPE TARGET [--stage ID]` and `map [--deep]`; None for anything else."""
    parsed = _parse(args)
    if parsed is None:
        return None
    command, operands = parsed
    from loom_tui.cli.output import report_crash, report_error

    try:
        if command == "map":
            return map_project(work_dir, operands[0] is not None, None)
        if command == "knowledge show":
            return show(work_dir, operands[0])
        if command == "knowledge update":
            return update(work_dir, str(operands[0]), str(operands[1]))
        return promote(work_dir, str(operands[0]), str(operands[1]), operands[2])
    except LoomError as exc:
        return report_error(exc)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return report_crash(exc)
