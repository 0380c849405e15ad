"""When a stage may start: the one place that decides promotion, and who depends on whom.

`loom_tui.core.engine.policy` (the scheduler) and `core.actions` (a person's `skip`, `reset`,
`merge`) both ask `readiness_changes` which waiting stages are now ready and which queued ones are
not any more, so the rule lives here once.  Standard library only: agent-facing commands load it.
"""

from __future__ import annotations

from loom_tui.core.model import Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from loom_tui.core.model import StageRecord


def dependencies_done(stage: StageRecord, by_id: Mapping[str, StageRecord]) -> bool:
    """Whether every dependency is completed and merged, or skipped."""
    return all(dep in by_id and by_id[dep].done for dep in stage.dependencies)


def readiness_changes(by_id: Mapping[str, StageRecord]) -> list[tuple[str, Status]]:
    """``(stage id, new status)`` for each waiting stage whose dependencies are now done (to
    queued) and each queued stage whose dependencies are not done any more (back to waiting)."""
    changes = []
    for stage in by_id.values():
        if stage.status is Status.WAITING_FOR_DEPS and dependencies_done(stage, by_id):
            changes.append((stage.id, Status.QUEUED))
        elif stage.status is Status.QUEUED and not dependencies_done(stage, by_id):
            changes.append((stage.id, Status.WAITING_FOR_DEPS))
    return changes


def waiting_on(stage_id: str, stages: Iterable[StageRecord]) -> list[str]:
    """The stages whose readiness hangs on ``stage_id``: its dependents, and theirs, in plan
    order — but not through a stage that is completed or skipped, which its own dependents
    count as done whatever happens before it (nor such a stage itself)."""
    listed = list(stages)
    by_id = {s.id: s for s in listed}
    children: dict[str, list[str]] = {}
    for stage in listed:
        for dep in stage.dependencies:
            children.setdefault(dep, []).append(stage.id)
    found: set[str] = set()
    todo = [stage_id]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child in found or child == stage_id:
                continue
            if by_id[child].status in (Status.COMPLETED, Status.SKIPPED):
                continue
            found.add(child)
            todo.append(child)
    return [s.id for s in listed if s.id in found]
