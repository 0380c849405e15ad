"""The stage's memory: `.work/memory/<id>.md`, notes and decisions kept across its sessions.

Agents add to it with `loom memory note|decision`; every signal embeds it and every handoff lists
its decisions, so a fresh session knows what earlier ones learned and decided.
"""

from __future__ import annotations

import os
import time

from loom_tui.core.store import Store

KINDS = ("note", "decision")


def add(store: Store, stage_id: str, kind: str, text: str) -> str:
    if kind not in KINDS:
        raise ValueError(kind)
    store.read_stage(stage_id)  # the stage must exist
    path = store.memory_path(stage_id)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    entry = f"- **{kind}** ({stamp}): {' '.join(text.split())}\n"
    with store.lock():
        os.makedirs(store.memory_dir, exist_ok=True)
        if not os.path.exists(path):
            from loom_tui.core.fsutil import atomic_write

            atomic_write(path, f"# Memory of stage {stage_id}\n\n{entry}")
        else:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(entry)
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
