"""Merging completed stages into the base branch, and tidying up after them."""

from __future__ import annotations

import os
import time

from loom_tui.core import git
from loom_tui.core.events import (
    MergeConflict,
    MergeDone,
    MergeWaiting,
    StageStatusChanged,
)
from loom_tui.core.fsutil import FileLock
from loom_tui.core.model import StageRecord, Status
from loom_tui.core.scheduler_base import (
    SchedulerBase,
)


class MergesMixin(SchedulerBase):
    async def _merge(self, stage: StageRecord) -> None:
        lock = FileLock(os.path.join(self.store.work_dir, "merge.lock"))
        await self._io(lock.acquire)
        try:
            result = await self._io(git.merge_stage, self.store.root, stage.id, self.base)
        finally:
            lock.release()
        if result.status == "waiting":
            note = result.describe(stage.id, self.base)
            if self._merge_notes.get(stage.id) != note:
                self._merge_notes[stage.id] = note
                self.emit(MergeWaiting(stage=stage.id, message=note))
            self._deadline(time.time() + 2.0)
            return
        self._merge_notes.pop(stage.id, None)
        if result.status == "conflict":

            def conflict(record: StageRecord) -> None:
                if record.status is Status.COMPLETED and not record.merged:
                    record.set_status(Status.MERGE_CONFLICT)
                    record.blocked_reason = (
                        f"merge into {self.base} conflicts in {', '.join(result.files[:5])}; "
                        f"resolve on branch loom/{record.id}, then run `loom merge {record.id}`"
                    )

            await self._io(self.store.update_stage, stage.id, conflict)
            self.emit(
                StageStatusChanged(
                    stage=stage.id, old="completed", new="merge-conflict", reason="merge conflict"
                )
            )
            self.emit(MergeConflict(stage=stage.id, files=tuple(result.files), base=self.base))
            return

        def merged(record: StageRecord) -> None:
            record.merged = True
            record.merge_commit = result.commit

        await self._io(self.store.update_stage, stage.id, merged)
        self.emit(MergeDone(stage=stage.id, commit=result.commit, base=self.base))

    async def _end_merged_sessions(self, stages: dict[str, StageRecord]) -> None:
        """End the agents of merged stages (before new stages start: they count as running)."""
        merged = {s.id for s in stages.values() if s.merged}
        sessions = await self._io(self.store.sessions, self._session_cache)
        live = [s for s in sessions if s.live and s.stage_id in merged]
        if not live:
            return
        panes = await self._list_panes(force=True)
        for session in live:
            pane = panes.get(session.pane_id) if session.pane_id else None
            await self._session_ended(
                session, stages[session.stage_id], pane, self._read_exit(session.id), "completed"
            )

    async def _remove_merged_worktrees(self, stages: dict[str, StageRecord]) -> None:
        """Remove the worktrees and branches of merged stages (their work is in the base)."""
        for stage in stages.values():
            if not (stage.merged and stage.worktree):
                continue
            await self._io(git.remove_worktree, self.store.root, stage.id, delete_branch=True)

            def forget(record: StageRecord) -> None:
                record.worktree = None

            await self._io(self.store.update_stage, stage.id, forget)
