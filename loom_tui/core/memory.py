"""The stage's memory: `.work/memory/<id>.md`, notes and decisions kept across its sessions.

Agents add to it with `loom memory note|decision`; every signal embeds it and every handoff lists
its decisions, so a fresh session knows what earlier ones learned and decided.  What deserves to
outlive the run, `loom memory promote` moves into a knowledge file (core/knowledge.py), which every
stage's signal embeds; the entry stays in the journal, marked, and leaves the stage's own section.
"""

from __future__ import annotations

import os
import time

from loom_tui.core.errors import LoomError, UsageError
from loom_tui.core.fsutil import atomic_write
from loom_tui.core.store import Store

KINDS = ("note", "decision")
#: written after an entry's time stamp once `loom memory promote` has moved it to a knowledge file
PROMOTED = "; promoted to"


def add(store: Store, stage_id: str, kind: str, text: str) -> str:
    """Add one entry to the stage's journal, all or nothing: the whole file is written anew
    (atomically), so a full disk leaves the journal as it was and the command fails naming the
    file, rather than a half entry that `memory list` would show."""
    if kind not in KINDS:
        raise ValueError(kind)
    store.stage_or_broken(stage_id)  # the stage must exist (its record need not read)
    path = store.memory_path(stage_id)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    entry = f"- **{kind}** ({stamp}): {' '.join(text.split())}\n"
    with store.lock():
        os.makedirs(store.memory_dir, exist_ok=True)
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                current = fh.read()
        except FileNotFoundError:
            current = f"# Memory of stage {stage_id}\n\n"
        if current and not current.endswith("\n"):
            current += "\n"
        atomic_write(path, (current + entry).encode("utf-8", errors="surrogateescape"))
    from loom_tui.core.events import MemoryRecorded

    store.append_event(MemoryRecorded(stage=stage_id, entry=kind, text=text[:200]))
    return path


def _parse(line: str) -> tuple[str, str, str, str] | None:
    """(kind, stamp, text, promoted-to) of one journal line, or None for other lines."""
    for kind in KINDS:
        prefix = f"- **{kind}** ("
        if line.startswith(prefix) and "): " in line:
            meta, text = line[len(prefix) :].split("): ", 1)
            stamp, _, promoted = meta.partition(PROMOTED)
            return kind, stamp.strip(), text, promoted.strip()
    return None


def _lines(store: Store, stage_id: str) -> list[str]:
    try:
        with open(store.memory_path(stage_id), encoding="utf-8") as fh:
            return fh.read().splitlines()
    except FileNotFoundError:
        return []


def records(store: Store, stage_id: str) -> list[tuple[str, str, str, str]]:
    """(kind, stamp, text, promoted-to) of each entry, oldest first; promoted-to is the knowledge
    file a `loom memory promote` moved it to, or ""."""
    return [r for r in map(_parse, _lines(store, stage_id)) if r is not None]


def entries(store: Store, stage_id: str) -> list[tuple[str, str]]:
    """(kind, text) pairs, oldest first."""
    return [(kind, text) for kind, _stamp, text, _to in records(store, stage_id)]


def decisions(store: Store, stage_id: str) -> list[str]:
    return [text for kind, text in entries(store, stage_id) if kind == "decision"]


def unpromoted_text(text: str) -> str:
    """The journal ``text`` without its promoted entries: they are in a knowledge file now, which
    every signal embeds, so the stage's own memory section does not repeat them."""
    kept = []
    for line in text.split("\n"):
        parsed = _parse(line) if PROMOTED in line else None
        if parsed is None or not parsed[3]:
            kept.append(line)
    if not any(line.strip() and not line.startswith("# Memory of stage") for line in kept):
        return ""  # every entry was promoted: no section with a title alone
    return "\n".join(kept)


def promote(
    store: Store, stage_id: str, kind: str, target: str, root: str
) -> tuple[str, list[str]]:
    """Move the stage's not yet promoted entries of ``kind`` (note, decision or all) into the
    knowledge file ``target`` under ``root``: one dated entry listing them there, and each marked
    "promoted to FILE" in the journal (kept, so `memory list` still shows the stage's history).

    The knowledge file is written first: a crash between the two writes can at worst promote an
    entry twice, never lose one.  Returns (the knowledge file's name, the texts promoted)."""
    from loom_tui.core import knowledge

    if kind not in (*KINDS, "all"):
        raise UsageError(f"no memory entry type {kind!r}: use note, decision or all")
    name = knowledge.resolve(target)
    store.stage_or_broken(stage_id)
    path = store.memory_path(stage_id)
    with store.lock():
        lines = _lines(store, stage_id)
        chosen = []
        for i, line in enumerate(lines):
            parsed = _parse(line)
            if parsed and not parsed[3] and kind in ("all", parsed[0]):
                chosen.append((i, parsed))
        if not chosen:
            return name, []
        body = "\n".join(f"- {text}" for _i, (_k, _s, text, _p) in chosen)
        knowledge.append(root, name, body, source=f"promoted from stage {stage_id}'s memory")
        for i, (k, stamp, text, _p) in chosen:
            lines[i] = f"- **{k}** ({stamp}{PROMOTED} {name}): {text}"
        atomic_write(path, ("\n".join(lines) + "\n").encode("utf-8", errors="surrogateescape"))
    from loom_tui.core.events import MemoryRecorded

    store.append_event(
        MemoryRecorded(stage=stage_id, entry="promoted", text=f"{len(chosen)} to {name}")
    )
    return name, [text for _i, (_k, _s, text, _p) in chosen]


def promoted_everywhere(store: Store) -> list[tuple[str, str, str]]:
    """(stage, kind, text) of every promoted entry of every stage, for the signals of all stages."""
    try:
        names = sorted(os.listdir(store.memory_dir))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        if not name.endswith(".md"):
            continue
        stage_id = name[:-3]
        try:
            found = records(store, stage_id)
        except (LoomError, OSError, UnicodeDecodeError):
            continue  # not a stage's journal, or unreadable: the signal goes on without it
        for kind, _stamp, text, to in found:
            if to:
                out.append((stage_id, kind, text))
    return out
