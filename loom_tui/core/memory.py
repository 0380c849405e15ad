"""The stage's memory: `.work/memory/<id>.md`, notes and decisions kept across its sessions.

Agents add to it with `loom memory note|decision`; every signal embeds it and every handoff lists
its decisions, so a fresh session knows what earlier ones learned and decided.
"""

from __future__ import annotations

import os
import time

from loom_tui.core.fsutil import atomic_write
from loom_tui.core.store import Store

KINDS = ("note", "decision")


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


def entries(store: Store, stage_id: str) -> list[tuple[str, str]]:
    """(kind, text) pairs, oldest first."""
    try:
        with open(store.memory_path(stage_id), encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        for kind in KINDS:
            prefix = f"- **{kind}** ("
            if line.startswith(prefix) and "): " in line:
                out.append((kind, line.split("): ", 1)[1]))
    return out


def decisions(store: Store, stage_id: str) -> list[str]:
    return [text for kind, text in entries(store, stage_id) if kind == "decision"]
