"""Controlling a run from outside: `loom stop`, `loom sessions list|kill`."""

from __future__ import annotations

import contextlib
import os
import signal
import time

from loom_tui.core.errors import LoomError, NotFound
from loom_tui.core.events import SessionEnded, StageStatusChanged
from loom_tui.core.model import ACTIVE, SessionRecord, StageRecord, Status
from loom_tui.core.scheduler_lock import scheduler_pid
from loom_tui.core.store import Store

#: ``scheduler_pid`` lives in `scheduler_lock` (cheap for `loom status`); many callers ask here.
__all__ = [
    "find_session",
    "kill_session",
    "killed_by_hand",
    "scheduler_pid",
    "session_rows",
    "stop_scheduler",
]


def stop_scheduler(store: Store, *, kill_sessions: bool, timeout: float = 15.0) -> list[str]:
    lines = []
    pid = scheduler_pid(store)
    if pid is None:
        lines.append("no scheduler is running")
    elif pid <= 0:  # never signal pid 0: that is the whole process group
        raise LoomError(
            f"a scheduler holds {store.scheduler_lock_path} but has not written its pid"
        )
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while scheduler_pid(store) is not None:
            if time.monotonic() > deadline:
                raise LoomError(f"the scheduler (pid {pid}) did not stop within {timeout:.0f} s")
            time.sleep(0.05)
        lines.append(f"scheduler (pid {pid}) stopped")
    lines += _close_control_window(store, grace=0.0 if pid is None else 5.0)
    if kill_sessions:
        lines.append(_kill_all(store))
    elif pid is not None:
        live = sum(1 for s in store.sessions() if s.live)
        if live:
            lines.append(f"{live} agent session(s) keep running; `loom run` adopts them again")
    return lines


def _close_control_window(store: Store, grace: float) -> list[str]:
    """The control window goes when its TUI exits; one left behind (a read-only view in it, or a
    TUI that did not exit) is closed, and with it every terminal attached to it."""
    from loom_tui.core import control_window

    try:
        closed = control_window.end(store, grace)
    except LoomError:
        return []
    return ["loom's control window closed"] if closed else []


def _kill_all(store: Store) -> str:
    from loom_tui.core.tmux import Tmux

    config = store.config()
    Tmux(config.tmux_socket).kill_server()
    count = 0
    for session in store.sessions():
        if not session.live:
            continue
        count += 1
        _mark_killed(store, session, "killed by `loom stop --kill-sessions`")

        moved: list[str] = []

        def requeue(record: StageRecord, sid: str = session.id, moved: list[str] = moved) -> None:
            if record.session_id == sid and record.status in ACTIVE:
                moved.append(record.status.value)
                record.set_status(Status.QUEUED)

        store.update_stage(session.stage_id, requeue)
        if moved:
            store.append_event(
                StageStatusChanged(
                    stage=session.stage_id,
                    source="cli",
                    old=moved[0],
                    new="queued",
                    reason="its session was killed by `loom stop --kill-sessions`",
                )
            )
    return f"{count} agent session(s) ended; their stages are queued again"


def _mark_killed(store: Store, session: SessionRecord, reason: str) -> None:
    def change(record: SessionRecord) -> None:
        record.status = "killed"
        record.end_reason = reason
        record.ended_at = time.time()

    store.update_session(session.id, change)
    store.append_event(
        SessionEnded(stage=session.stage_id, session=session.id, reason=reason, source="cli")
    )


def killed_by_hand(stage_id: str) -> str:
    """Why a stage whose session was killed with `loom sessions kill` is blocked."""
    return f"its session was killed by hand; `loom stage retry {stage_id}` restarts it"


def find_session(store: Store, prefix: str) -> SessionRecord:
    matches = [s for s in store.sessions() if s.id.startswith(prefix)]
    if not matches:
        raise NotFound(f"no session {prefix!r}")
    if len(matches) > 1:
        raise LoomError(f"session prefix {prefix!r} is ambiguous ({len(matches)} sessions)")
    return matches[0]


def kill_session(store: Store, prefix: str) -> str:
    from loom_tui.core.tmux import Tmux

    session = find_session(store, prefix)
    if not session.live:
        return (
            f"session {session.id[:8]} has already ended ({session.end_reason or session.status})"
        )
    tmux = Tmux(store.config().tmux_socket)
    panes = tmux.list_panes()
    pane = panes.get(session.pane_id or "")
    if pane is not None:
        session.last_lines = tmux.capture(pane.pane_id)
        store.write_session(session)
    # Record the kill and block the stage before the pane goes: a running scheduler that saw the
    # pane vanish first would take it for a crash (a crash handoff, an automatic retry).
    _mark_killed(store, session, "killed by `loom sessions kill`")

    moved: list[str] = []

    def block(record: StageRecord) -> None:
        if record.session_id == session.id and record.status in ACTIVE:
            moved.append(record.status.value)
            record.set_status(Status.BLOCKED)
            # the very words and failure a scheduler writes if it sees the kill first
            record.blocked_reason = killed_by_hand(record.id)
            record.next_retry_at = None
            record.failure = {
                "kind": "killed",
                "exit_code": None,
                "session": session.id,
                "at": time.time(),
            }

    blocked = store.update_stage(session.stage_id, block)
    if moved:
        store.append_event(
            StageStatusChanged(
                stage=session.stage_id,
                source="cli",
                old=moved[0],
                new="blocked",
                reason=blocked.blocked_reason or "",
            )
        )
    if pane is not None:
        tmux.kill_window(pane.window_id)
    return f"session {session.id[:8]} of stage {session.stage_id} killed"


def session_rows(store: Store, show_all: bool) -> list[dict[str, object]]:
    from loom_tui.core.tmux import Tmux

    sessions = [s for s in store.sessions() if show_all or s.live]
    panes = Tmux(store.config().tmux_socket).list_panes() if sessions else {}
    rows = []
    for s in sessions:
        pane = panes.get(s.pane_id or "")
        alive = pane is not None and not pane.dead
        rows.append(
            {
                "session": s.id[:8],
                "id": s.id,
                "stage": s.stage_id,
                "gen": s.generation,
                "status": s.status,
                "pane": s.pane_id or "-",
                "alive": "yes" if alive else "no",
                "context": "-" if s.context_percent is None else f"{s.context_percent:.0f}%",
                "started": time.strftime("%H:%M:%S", time.localtime(s.started_at or 0)),
            }
        )
    return rows
