"""`loom merge ID` (and the TUI's `m` key): merge a completed stage by hand.

Used when auto-merge is off, and after a merge conflict was resolved on the stage's branch.  The
scheduler's automatic merges and this one share `git.merge_stage` and the merge lock.
"""

from __future__ import annotations

from loom_tui.core import git
from loom_tui.core.engine.ports import GitRepository, Repository
from loom_tui.core.errors import LoomError, TransitionError
from loom_tui.core.events import MergeDone, MergeFailed, StageStatusChanged
from loom_tui.core.fsutil import FileLock
from loom_tui.core.model import StageRecord, Status
from loom_tui.core.store import Store


def scheduler_running(store: Store) -> bool:
    probe = FileLock(store.scheduler_lock_path, blocking=False)
    if probe.acquire():
        probe.release()
        return False
    return True


def merge_now(
    store: Store, stage_id: str, source: str = "cli", repo: Repository | None = None
) -> str:
    """Merge the stage's branch into the base; returns the message, raises on failure."""
    stage = store.read_stage(stage_id)
    if stage.merged:
        return f"stage {stage_id} is already merged"
    if stage.status not in (Status.COMPLETED, Status.MERGE_CONFLICT):
        raise TransitionError(
            f"stage {stage_id} is {stage.status}: only a completed stage (or one with a merge "
            "conflict) can be merged"
        )
    config = store.config()
    repo = repo or GitRepository(store.root, config.base_branch, store.work_dir)
    result = repo.merge(stage_id)
    message = result.describe(stage_id, config.base_branch)
    if not result.ok:
        store.append_event(MergeFailed(stage=stage_id, source=source, message=message))
        raise LoomError(message)

    resolved: list[bool] = []

    def merged(record: StageRecord) -> None:
        if record.status is Status.MERGE_CONFLICT:
            resolved.append(True)
            record.set_status(Status.COMPLETED)
        record.merged = True
        record.merge_commit = result.commit
        record.blocked_reason = None

    store.update_stage(stage_id, merged)
    if resolved:
        store.append_event(
            StageStatusChanged(
                stage=stage_id,
                source=source,
                old="merge-conflict",
                new="completed",
                reason="the conflict was resolved",
            )
        )
    store.append_event(
        MergeDone(stage=stage_id, source=source, commit=result.commit, base=config.base_branch)
    )
    from loom_tui.core.actions import promote_ready

    promote_ready(store, source)
    if not scheduler_running(store):
        # Nobody else will tidy up: end a leftover session and remove the worktree now.
        _cleanup(store, stage_id, config.tmux_socket)
    return message


def _cleanup(store: Store, stage_id: str, socket: str) -> None:
    from loom_tui.core.tmux import Tmux

    tmux = Tmux(socket)
    panes = tmux.list_panes()
    for session in store.sessions():
        if session.stage_id == stage_id and session.live:
            pane = panes.get(session.pane_id or "")
            if pane is not None:
                session.last_lines = tmux.capture(pane.pane_id) or session.last_lines
                tmux.kill_window(pane.window_id)
            session.status = "ended"
            session.end_reason = "completed"
            store.write_session(session)
    git.remove_worktree(store.root, stage_id, delete_branch=True)
    store.update_stage(stage_id, lambda r: setattr(r, "worktree", None))
