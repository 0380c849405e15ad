"""Carrying out merges and the tidying up after them."""

from __future__ import annotations

from collections.abc import Callable

from loom_tui.core import merge_check
from loom_tui.core.engine.commands import (
    Merge,
    RemoveWorktree,
    ResolverEnded,
    ReviewConflict,
    StartResolver,
)
from loom_tui.core.engine.ports import Repository
from loom_tui.core.engine.records import change_stage
from loom_tui.core.engine.world import Settings, World
from loom_tui.core.events import (
    Event,
    MergeChecked,
    MergeConflict,
    MergeDone,
    MergeWaiting,
    StageStatusChanged,
)
from loom_tui.core.model import ACTIVE, StageRecord, Status
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
        #: stages whose merged result must be checked first (the executor runs those checks
        #: beside the passes, as they may take minutes; see `merge_check.py`)
        self.checks_wanted: set[str] = set()

    def merge(self, cmd: Merge, world: World) -> list[Event]:
        """Merge (git), then record it.  Killed between: the branch is already in the base, and
        the next merge finds nothing to merge and records the stage merged."""
        stage = world.stages[cmd.stage]
        if stage.status is not Status.COMPLETED or stage.merged:
            return []
        # The world may be older than a merge check that ran beside this pass: one that began
        # has its stage marked pending, one that failed moved it to merge-conflict, and its
        # branch now holds the base either way, which alone would read as "nothing to check"
        # and let an unchecked (or failed) result into the base.
        stage = self.store.stage_or_broken(cmd.stage)
        if stage.status is not Status.COMPLETED or stage.merged:
            return []
        if self.repo.merge_check_needed(stage):
            self.checks_wanted.add(cmd.stage)
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
                record.conflict_files = list(result.files)
                record.blocked_reason = (
                    f"merge into {self.base} conflicts in {files}; resolve on branch "
                    f"loom/{record.id}, then run `loom merge {record.id} --resolved`"
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
            record.resolving = False
            record.conflict_files = []
            return True

        if change_stage(self.store, cmd.stage, merged) is None:
            return []
        return [MergeDone(stage=cmd.stage, commit=result.commit, base=self.base)]

    def check(self, stage_id: str) -> list[Event]:
        """Run the merge check of a stage (in a thread, beside the passes); a result that fails
        sends the stage to merge-conflict, for a resolver session or a person."""
        result = self.repo.check_merge(self.store, stage_id)
        message = result.describe(stage_id, self.base)
        if result.passed:
            return [MergeChecked(stage=stage_id, passed=True, message=message)]
        if not merge_check.record_failure(self.store, stage_id, result, self.base):
            return []
        events: list[Event] = [
            MergeChecked(stage=stage_id, passed=False, message=message),
            StageStatusChanged(
                stage=stage_id, old="completed", new="merge-conflict", reason=message
            ),
        ]
        if result.conflicts:
            events.append(
                MergeConflict(stage=stage_id, files=tuple(result.conflicts), base=self.base)
            )
        return events

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

    # merge conflicts (see rules_conflicts.py) -------------------------------------------------
    def start_resolver(self, cmd: StartResolver, world: World) -> list[Event]:
        """Queue the conflicted stage as a resolver, counting the attempt, in one write."""

        def queue(record: StageRecord) -> bool:
            if record.status is not Status.MERGE_CONFLICT or record.held:
                return False
            if record.resolver_attempts + 1 != cmd.attempt:
                return False
            record.set_status(Status.QUEUED)
            record.resolving = True
            record.resolver_attempts = cmd.attempt
            record.next_retry_at = None
            return True

        if change_stage(self.store, cmd.stage, queue) is None:
            return []
        limit = self.settings.resolver_attempts
        return [
            StageStatusChanged(
                stage=cmd.stage,
                old="merge-conflict",
                new="queued",
                reason=f"a resolver session merges {self.base} into loom/{cmd.stage} "
                f"(attempt {cmd.attempt} of {limit})",
            )
        ]

    def resolver_ended(self, cmd: ResolverEnded, world: World) -> list[Event]:
        def again(record: StageRecord) -> bool:
            if record.status not in ACTIVE or record.session_id != cmd.session:
                return False
            record.set_status(Status.MERGE_CONFLICT)
            record.blocked_reason = cmd.reason
            record.stalled_at = None
            return True

        done = change_stage(self.store, cmd.stage, again)
        if done is None:
            return []
        return [
            StageStatusChanged(
                stage=cmd.stage, old=done[1].value, new="merge-conflict", reason=cmd.reason
            )
        ]

    def review_conflict(self, cmd: ReviewConflict, world: World) -> list[Event]:
        now = self.clock()

        def review(record: StageRecord) -> bool:
            if record.status is not Status.MERGE_CONFLICT:
                return False
            record.set_status(Status.NEEDS_HUMAN_REVIEW)
            record.blocked_reason = cmd.reason
            record.failure = {"kind": "merge-conflict", "session": record.session_id, "at": now}
            counts = dict(record.failure_counts or {})
            counts["merge-conflict"] = int(str(counts.get("merge-conflict", 0))) + 1
            record.failure_counts = counts
            return True

        if change_stage(self.store, cmd.stage, review) is None:
            return []
        return [
            StageStatusChanged(
                stage=cmd.stage, old="merge-conflict", new="needs-human-review", reason=cmd.reason
            )
        ]
