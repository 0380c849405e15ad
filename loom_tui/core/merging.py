"""`loom merge ID` (and the TUI's `m` key): merge a completed stage by hand.

Used when auto-merge is off, after a merge conflict was resolved on the stage's branch (by hand:
`--resolved`), and by a resolver session to hand its stage back (see `rules_conflicts.py`).  The
scheduler's automatic merges and this one share `git.merge_stage` and the merge lock.
"""

from __future__ import annotations

from loom_tui.core import git
from loom_tui.core.engine.ports import GitRepository, Repository
from loom_tui.core.errors import LoomError, TransitionError
from loom_tui.core.events import MergeConflict, MergeDone, MergeFailed, StageStatusChanged
from loom_tui.core.fsutil import FileLock
from loom_tui.core.model import ACTIVE, StageRecord, Status
from loom_tui.core.store import Store


def scheduler_running(store: Store) -> bool:
    probe = FileLock(store.scheduler_lock_path, blocking=False)
    if probe.acquire():
        probe.release()
        return False
    return True


def merge_now(
    store: Store,
    stage_id: str,
    source: str = "cli",
    repo: Repository | None = None,
    *,
    resolved: bool = False,
) -> str:
    """Merge the stage's branch into the base; returns the message, raises on failure.

    Run by a resolver session (its stage is active and ``resolving``), it first checks that no
    conflict is left in the worktree and completes the stage (its acceptance, as `loom stage
    complete`).  ``resolved``: a person resolved the conflict by hand; checked the same way, and
    the branch must contain the base's tip.  A conflict found while resolving is recorded on the
    stage (merge-conflict again), so the scheduler starts another resolver or asks for review.
    """
    from loom_tui.core.resolved_check import require_resolved

    stage = store.read_stage(stage_id)
    if stage.merged:
        return f"stage {stage_id} is already merged"
    config = store.config()
    if resolved:
        if stage.status not in (Status.MERGE_CONFLICT, Status.NEEDS_HUMAN_REVIEW, *ACTIVE) and (
            stage.status is not Status.COMPLETED
        ):
            raise TransitionError(
                f"stage {stage_id} is {stage.status}: `--resolved` is for a stage whose merge "
                "conflicted"
            )
        require_resolved(store.root, stage, config.base_branch)
    if stage.resolving and stage.status in ACTIVE:
        if not resolved:
            require_resolved(store.root, stage, config.base_branch, need_base=False)
        _complete_resolver(store, stage_id, source)
        stage = store.read_stage(stage_id)
    mergeable = (Status.COMPLETED, Status.MERGE_CONFLICT)
    if stage.status not in mergeable and not (
        resolved and stage.status is Status.NEEDS_HUMAN_REVIEW
    ):
        raise TransitionError(
            f"stage {stage_id} is {stage.status}: only a completed stage (or one with a merge "
            "conflict) can be merged"
        )
    repo = repo or GitRepository(store.root, config.base_branch, store.work_dir)
    if repo.merge_check_needed(stage):
        _check_merged_result(store, repo, stage_id, source, config.base_branch)
    result = repo.merge(stage_id)
    message = result.describe(stage_id, config.base_branch)
    if not result.ok:
        if result.status == "conflict" and (stage.resolving or resolved):
            _conflict_again(store, stage_id, result.files, source, config.base_branch)
        store.append_event(MergeFailed(stage=stage_id, source=source, message=message))
        raise LoomError(message)

    was_conflict: list[bool] = []

    def merged(record: StageRecord) -> None:
        if record.status in (Status.MERGE_CONFLICT, Status.NEEDS_HUMAN_REVIEW):
            was_conflict.append(True)
            record.set_status(Status.COMPLETED)
        record.merged = True
        record.merge_commit = result.commit
        record.blocked_reason = None
        record.resolving = False
        record.conflict_files = []

    store.update_stage(stage_id, merged)
    if was_conflict:
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


def _check_merged_result(
    store: Store, repo: Repository, stage_id: str, source: str, base: str
) -> None:
    """The base moved since the stage's checks passed: run them on the merged result first (see
    `merge_check.py`); a failure sends the stage to merge-conflict and is raised."""
    from loom_tui.core import merge_check
    from loom_tui.core.events import MergeChecked

    check = repo.check_merge(store, stage_id)
    message = check.describe(stage_id, base)
    store.append_event(
        MergeChecked(stage=stage_id, source=source, passed=check.passed, message=message)
    )
    if check.passed:
        return
    if merge_check.record_failure(store, stage_id, check, base):
        store.append_event(
            StageStatusChanged(
                stage=stage_id, source=source, old="completed", new="merge-conflict", reason=message
            )
        )
    raise LoomError(f"{message}; {base} is unchanged")


def _complete_resolver(store: Store, stage_id: str, source: str) -> None:
    """A resolver's `loom merge`: complete the stage first, through the gates of `loom stage
    complete` (acceptance, then the goal checks)."""
    from loom_tui.core import actions

    result, results = actions.complete(store, stage_id, source=source)
    if store.read_stage(stage_id).status is not Status.COMPLETED:  # acceptance or goal checks
        failed = [f"`{r.command}`" for r in results if not r.passed]
        which = f": {', '.join(failed)}" if failed else ""
        raise LoomError(f"{result.message}{which}; fix it, commit, and run `loom merge` again")


def _conflict_again(store: Store, stage_id: str, files: list[str], source: str, base: str) -> None:
    """Record a conflict found by a resolver's (or a person's) merge: merge-conflict again."""

    def conflict(record: StageRecord) -> None:
        if record.merged or record.status not in (Status.COMPLETED, Status.MERGE_CONFLICT):
            return
        record.set_status(Status.MERGE_CONFLICT)
        record.conflict_files = list(files)
        record.blocked_reason = f"merge into {base} conflicts in {', '.join(files[:5])} again"

    store.update_stage(stage_id, conflict)
    store.append_event(MergeConflict(stage=stage_id, source=source, files=tuple(files), base=base))


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
