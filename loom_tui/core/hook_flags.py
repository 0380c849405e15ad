"""The files the scheduler keeps for a session's `sh` hook (core/hook.sh): `.work/flags/<sid>.*`.

The sh fast path answers from these without starting Python:

- ``<sid>.handoff`` (the request's text): loom asked the session to hand off; the PostToolUse and
  Stop hooks go to Python, which sends the request.  Written before the session record says
  so (a crash between leaves a flag whose Python hook finds nothing to send, which is harmless)
  and removed when the handoff is written or the session ends;
- ``<sid>.status``: the statusLine text, rewritten when the gauge changes;
- ``<sid>.near``: the gauge is within the yellow band of the stage's budget, so every statusLine
  call wakes the scheduler at once (a crossing must be acted on without waiting for a tick).

Every write is atomic (a temporary file renamed), so the hook never reads half a flag.
"""

from __future__ import annotations

import contextlib
import os

from loom_tui.core.fsutil import atomic_write

FLAGS_DIR = "flags"
KINDS = ("handoff", "status", "near")


def flag_path(work_dir: str, session_id: str, kind: str) -> str:
    return os.path.join(work_dir, FLAGS_DIR, f"{session_id}.{kind}")


def set_flag(work_dir: str, session_id: str, kind: str, text: str) -> None:
    path = flag_path(work_dir, session_id, kind)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, text if text.endswith("\n") else text + "\n", durable=False)


def clear_flag(work_dir: str, session_id: str, kind: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(flag_path(work_dir, session_id, kind))


def clear_all(work_dir: str, session_id: str) -> None:
    """The session ended: none of its flags may outlive it."""
    for kind in KINDS:
        clear_flag(work_dir, session_id, kind)


def has_flag(work_dir: str, session_id: str, kind: str) -> bool:
    return os.path.exists(flag_path(work_dir, session_id, kind))
