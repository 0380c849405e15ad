"""Stage records that cannot be read are quarantined: each blocks its own stage and nothing else.

A `.work/stages/<id>.md` that is truncated, is not valid front matter, or holds a field of the wrong
type says nothing reliable about its stage's run.  Failing every reader on it (as loom once did)
let one file stop the scheduler, `loom status` and the very commands that could repair it.  So
`Store.stages` returns, in its place, a `BrokenStage`:

- its id from the file name, and its definition (name, dependencies, place in the plan) from the
  plan when the plan still names it, so `loom status` and the TUI show it where it belongs;
- status ``blocked`` with no retry, and a reason that names the file and the field, so `decide`
  never starts it, its dependents wait for it (it is not done), and every other stage runs on.

Nothing writes over the broken file on its own: a person may still repair it by hand (the stage
then simply reads again), and `loom stage reset ID` rebuilds the record from the plan, keeping the
unreadable one beside it as ``<id>.md.broken`` (see `actions.reset`).  While a stage is quarantined
its live agent, if it has one, is left alone (`world_sessions`): loom cannot tell what the stage is
doing, so it neither ends nor adopts it.
"""

from __future__ import annotations

import os

from loom_tui.core.errors import LoomError, StoreError
from loom_tui.core.model import SessionRecord, StageRecord, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from loom_tui.core.store import Store

#: `StageRecord.failure` kind of a quarantined stage.
UNREADABLE = "unreadable-record"
#: Where a quarantined stage without a plan definition sorts: after every stage of the plan.
UNPLACED = 1_000_000
#: The suffix of the copy of an unreadable record that `loom stage reset` keeps.
KEPT_SUFFIX = ".broken"


class BrokenStage(StageRecord):
    """The stand-in for a stage whose record cannot be read (never written to disk)."""

    #: what is wrong, as ``.work/stages/<id>.md: field: message``
    problem: str


def is_broken(record: StageRecord) -> bool:
    return isinstance(record, BrokenStage)


def reason(stage_id: str, problem: str) -> str:
    """The blocked reason shown for a quarantined stage: the file, the field, what to do."""
    return (
        f"its record cannot be read: {problem} "
        f"(`loom stage reset {stage_id}` rebuilds it from the plan)"
    )


def broken_stage(stage_id: str, problem: str, definition: StageRecord | None = None) -> BrokenStage:
    """The stand-in for ``stage_id``, from the plan's ``definition`` of it when there is one."""
    values = definition.to_dict() if definition is not None else {}
    values.update(
        id=stage_id,
        name=values.get("name") or stage_id,
        plan_index=values.get("plan_index", UNPLACED),
        status=Status.BLOCKED.value,
        blocked_reason=reason(stage_id, problem),
        failure={"kind": UNREADABLE, "problem": problem},
        next_retry_at=None,
    )
    record = BrokenStage(**values)
    record.problem = problem
    return record


def from_plan(store: Store, stage_id: str) -> StageRecord:
    """The stage's record as `loom init` would write it now, from the project's plan file.

    Raises `LoomError` when the plan cannot be read or no longer names the stage."""
    found = plan_records(store).get(stage_id)
    if found is None:
        raise LoomError(
            f"cannot rebuild stage {stage_id}: the plan {store.config().plan_source} does not "
            "name it any more"
        )
    return found


def plan_records(store: Store) -> dict[str, StageRecord]:
    """Every stage of the project's plan file as `loom init` would write it now, by id."""
    from loom_tui.core.init_project import stage_record
    from loom_tui.core.plan import PlanError, load_plan

    source = store.config().plan_source
    path = source if os.path.isabs(source) else os.path.join(store.root, source)
    try:
        plan = load_plan(path)
    except PlanError as exc:
        lines = exc.lines()
        raise LoomError(f"cannot read the plan: {lines[0] if lines else exc}") from None
    return {spec.id: stage_record(plan, i) for i, spec in enumerate(plan.stages)}


def definitions(store: Store) -> Callable[[str], StageRecord | None]:
    """A lookup of the plan's stage definitions that reads the plan once, and only if asked (a
    quarantined record is rare; the plan parser is not cheap to load)."""
    loaded: list[dict[str, StageRecord]] = []

    def lookup(stage_id: str) -> StageRecord | None:
        if not loaded:
            try:
                loaded.append(plan_records(store))
            except (LoomError, OSError):
                loaded.append({})
        return loaded[0].get(stage_id)

    return lookup


def unreadable(exc: StoreError | OSError, where: str) -> str:
    """The problem of an unreadable record, as ``<file>: <what>`` (a `StoreError` already names
    the file)."""
    if isinstance(exc, StoreError):
        return exc.message
    return f"{where}: cannot read: {exc.strerror or exc}"


def world_sessions(
    stages: Mapping[str, StageRecord], sessions: Mapping[str, SessionRecord]
) -> dict[str, SessionRecord]:
    """The sessions `decide` may act on: a quarantined stage's live sessions are left out, so
    that its agent runs on untouched until the record reads again or is rebuilt."""
    quarantined = {i for i, s in stages.items() if is_broken(s)}
    return {sid: s for sid, s in sessions.items() if not (s.live and s.stage_id in quarantined)}
