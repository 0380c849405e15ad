"""Rules for merge conflicts: a resolver session first, a person's review when those fail.

A stage whose merge into the base conflicted is not given to a person at once.  Its branch is
handed back to an agent — a new generation of its session, started the normal way, whose signal
asks it to merge the base into `loom/<id>`, resolve the conflicting files keeping both intents,
run the acceptance, commit, and run `loom merge <id>` (see `resolver_signal.py`).  The base branch
is never touched by any of this: only a merge that succeeds moves it.

The state lives on the stage record alone (``resolving``, ``resolver_attempts``,
``conflict_files``), each change one atomic write, so a restarted scheduler decides the same:
a stage in merge-conflict gets another resolver while attempts are left, else needs review;
a resolving stage whose session ended without a merge is in conflict again.
"""

from __future__ import annotations

from loom_tui.core.engine.commands import ResolverEnded, ReviewConflict, StartResolver
from loom_tui.core.engine.decision import Decision
from loom_tui.core.engine.world import World
from loom_tui.core.model import SessionRecord, StageRecord, Status


def conflict_step(world: World, stage: StageRecord, d: Decision) -> None:
    """A stage in merge-conflict: start a resolver, or give it to a person."""
    limit = world.settings.resolver_attempts
    if stage.status is not Status.MERGE_CONFLICT or stage.held or limit <= 0:
        return  # with no resolver attempts, it waits for `loom merge ID --resolved`
    if stage.resolver_attempts < limit:
        d.add(StartResolver(stage=stage.id, attempt=stage.resolver_attempts + 1))
        return
    files = ", ".join(stage.conflict_files[:5]) or "its files"
    d.add(
        ReviewConflict(
            stage=stage.id,
            reason=f"merge conflict in {files} not resolved after {stage.resolver_attempts} "
            f"resolver session(s): resolve it in its worktree, then `loom merge {stage.id} "
            "--resolved`",
        )
    )


def resolver_ended(stage: StageRecord, session: SessionRecord, d: Decision) -> None:
    """The resolver session ended and its stage is still active: it did not get merged."""
    why = session.end_reason or session.status
    d.add(
        ResolverEnded(
            stage=stage.id,
            session=session.id,
            reason=f"resolver session {why} without merging (attempt {stage.resolver_attempts})",
        )
    )


def pending(world: World, stage: StageRecord) -> bool:
    """Whether a stage in merge-conflict will be taken further without a person."""
    return (
        stage.status is Status.MERGE_CONFLICT
        and not stage.held
        and world.settings.resolver_attempts > 0
    )
