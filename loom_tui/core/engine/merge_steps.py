"""Carrying out merges and the tidying up after them."""

from __future__ import annotations

from collections.abc import Callable

from loom_tui.core.engine.commands import Merge, RemoveWorktree
from loom_tui.core.engine.ports import Repository
from loom_tui.core.engine.records import change_stage
from loom_tui.core.engine.world import Settings, World
from loom_tui.core.events import Event, MergeConflict, MergeDone, MergeWaiting, StageStatusChanged
from loom_tui.core.model import StageRecord, Status
from loom_tui.core.store import Store


class MergeSteps:
    def __init__(
        self,
        store: Store,
        repo: Repository,
        base_branch: str,
        settings: Settings,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.repo = repo
        self.base = base_branch
        self.settings = settings
        self.clock = clock
        #: merges held back by the user's checkout: stage id -> when to try again
        self.merge_waits: dict[str, float] = {}
        #: the last "merge waits" message of each stage (said once, not on every attempt)
        self._merge_notes: dict[str, str] = {}

    def merge(self, cmd: Merge, world: World) -> list[Event]:
        """Merge (git), then record it.  Killed between: the branch is already in the base, and
        the next merge finds nothing to merge and records the stage merged."""
        stage = world.stages[cmd.stage]
        if stage.status is not Status.COMPLETED or stage.merged:
            return []
        result = self.repo.merge(cmd.stage)
        if result.status == "waiting":
            self.merge_waits[cmd.stage] = self.clock() + self.settings.merge_wait
            note = result.describe(cmd.stage, self.base)
            if self._merge_notes.get(cmd.stage) == note:
                return []
            self._merge_notes[cmd.stage] = note
            return [MergeWaiting(stage=cmd.stage, message=note)]
        self._merge_notes.pop(cmd.stage, None)
        self.merge_waits.pop(cmd.stage, None)
        if result.status == "conflict":
            files = ", ".join(result.files[:5])

            def conflict(record: StageRecord) -> bool:
                if record.status is not Status.COMPLETED or record.merged:
                    return False
                record.set_status(Status.MERGE_CONFLICT)
                record.blocked_reason = (
                    f"merge into {self.base} conflicts in {files}; resolve on branch "
                    f"loom/{record.id}, then run `loom merge {record.id}`"
                )
                return True

            if change_stage(self.store, cmd.stage, conflict) is None:
                return []
            return [
                StageStatusChanged(
                    stage=cmd.stage, old="completed", new="merge-conflict", reason="merge conflict"
                ),
                MergeConflict(stage=cmd.stage, files=tuple(result.files), base=self.base),
            ]

        def merged(record: StageRecord) -> bool:
            if record.status is not Status.COMPLETED or record.merged:
                return False
            record.merged = True
            record.merge_commit = result.commit
            return True

        if change_stage(self.store, cmd.stage, merged) is None:
            return []
        return [MergeDone(stage=cmd.stage, commit=result.commit, base=self.base)]

    def remove_worktree(self, cmd: RemoveWorktree, world: World) -> list[Event]:
        """Remove the worktree and branch, then forget them (killed between: removed again)."""
        self.repo.remove_worktree(cmd.stage)

        def forget(record: StageRecord) -> bool:
            if not record.merged or record.worktree is None:
                return False
            record.worktree = None
            return True

        change_stage(self.store, cmd.stage, forget)
        return []
