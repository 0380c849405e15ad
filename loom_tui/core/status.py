"""The project's status as one JSON-ready object: the shape `loom status --json` prints.

Scripts and tests rely on this shape (FORMATS.md); add keys, never rename or remove them.  A
stage whose record cannot be read is listed too, blocked, with ``record_error`` naming the file and
the field (see `quarantine`).

The object is built in one place, `build_status`, from three kinds of plain parts: the plan's
head (`plan_head`), one entry per stage (`stage_entry`) and one per session (`session_entry`).
`status_dict` makes the parts from the records; `status_cache` makes them from its cache file
when the records did not change, so both paths print the same object by construction.

This module imports no record classes (and so no ``enum``) at load time: the fast `loom status`
path (`cli.fast`) uses it without reading any record when the cache is fresh.  The status names
below repeat `model.Status` as plain strings for that reason (a unit test keeps them equal).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from loom_tui.core.config import ProjectConfig
    from loom_tui.core.model import SessionRecord, StageRecord
    from loom_tui.core.store import Store

#: The stage statuses, in order (the order of ``plan.counts``): `model.Status` is made from these.
STATUS_VALUES = (
    "waiting-for-deps",
    "queued",
    "executing",
    "completed",
    "blocked",
    "needs-handoff",
    "waiting-for-input",
    "merge-conflict",
    "skipped",
    "needs-human-review",
)
#: The statuses of a stage whose session runs (`model.ACTIVE`).
ACTIVE_VALUES = frozenset({"executing", "needs-handoff", "waiting-for-input"})
#: Each status's icon (`model.STATUS_ICONS`).
ICONS = {
    "completed": "✓",
    "executing": "●",
    "queued": "▶",
    "waiting-for-deps": "○",
    "waiting-for-input": "?",
    "blocked": "✗",
    "needs-handoff": "⟳",
    "merge-conflict": "⚡",
    "needs-human-review": "⚑",
    "skipped": "⊘",
}

#: A stage's sort key (plan index, id) and its JSON object without the session totals.
StageEntry = tuple[int, str, dict[str, object]]
#: A session's sort key (start time, id), its stage, its tokens and its cost.
SessionEntry = tuple[float, str, str, int, float]


def plan_head(config: ProjectConfig) -> dict[str, object]:
    """The plan's keys that come from `.work/config.toml`."""
    return {
        "id": config.plan_id,
        "name": config.plan_name,
        "source": config.plan_source,
        "base_branch": config.base_branch,
        "max_parallel": config.max_parallel,
        "auto_merge": config.auto_merge,
    }


def stage_entry(s: StageRecord) -> StageEntry:
    from loom_tui.core.quarantine import BrokenStage

    return (
        s.plan_index,
        s.id,
        {
            "id": s.id,
            "name": s.name,
            "status": s.status.value,
            "held": s.held,
            "merged": s.merged,
            "dependencies": list(s.dependencies),
            "retry_count": s.retry_count,
            "context_percent": s.context_percent,
            "session_id": s.session_id,
            "handoffs": [os.path.basename(h) for h in s.handoffs],
            "generation": s.generation,
            "blocked_reason": s.blocked_reason,
            "attention": s.attention,
            "failure_kind": (s.failure or {}).get("kind"),
            "failure_counts": dict(s.failure_counts or {}),
            "stalled_at": s.stalled_at,
            # the file and field when the stage's record cannot be read (it is quarantined)
            "record_error": s.problem if isinstance(s, BrokenStage) else None,
        },
    )


def session_entry(session: SessionRecord) -> SessionEntry:
    return (
        session.started_at or 0.0,
        session.id,
        session.stage_id,
        session.input_tokens or session.context_tokens or 0,
        session.cost_usd or 0.0,
    )


def build_status(
    head: dict[str, object],
    stages: list[StageEntry],
    sessions: list[SessionEntry],
    work_dir: str,
) -> dict[str, object]:
    """The status object; ``head`` is `plan_head` or ``{"error": message}``."""
    stages = sorted(stages, key=lambda e: (e[0], e[1]))
    totals: dict[str, tuple[int, float, int]] = {}
    for _started, _sid, stage_id, tokens, cost in sorted(sessions, key=lambda e: (e[0], e[1])):
        t, c, n = totals.get(stage_id, (0, 0.0, 0))
        totals[stage_id] = (t + tokens, c + cost, n + 1)
    plan = dict(head)
    counts = dict.fromkeys(STATUS_VALUES, 0)
    for _index, _id, s in stages:
        counts[s["status"]] += 1  # type: ignore[index]
    plan["counts"] = counts
    plan["total"] = len(stages)
    plan["done"] = counts["completed"] + counts["skipped"]
    plan["running"] = sum(1 for _i, _d, s in stages if s["status"] in ACTIVE_VALUES)
    plan["attention"] = sum(1 for _i, _d, s in stages if s["attention"] is not None)
    plan["work_dir"] = work_dir
    plan["tokens"] = sum(t[0] for t in totals.values())
    plan["cost_usd"] = round(sum(t[1] for t in totals.values()), 4)
    rows = []
    for _index, stage_id, s in stages:
        tokens, cost, count = totals.get(stage_id, (0, 0.0, 0))
        rows.append({**s, "sessions": count, "tokens": tokens, "cost_usd": round(cost, 4)})
    from loom_tui.core.scheduler_lock import lock_holder, no_scheduler_notice

    pid = lock_holder(work_dir)
    auto_merge = plan.get("auto_merge", True) is not False
    return {
        # who runs the scheduler (pid None: nobody), and a plain line when stages wait for one
        "scheduler": {
            "pid": pid,
            "notice": no_scheduler_notice(rows, auto_merge=auto_merge, pid=pid),
        },
        "plan": plan,
        "stages": rows,
    }


def read_head(store: Store) -> dict[str, object]:
    """`plan_head`, or ``{"error": …}`` when `.work/config.toml` cannot be read."""
    from loom_tui.core.errors import LoomError

    try:
        return plan_head(store.config())
    except LoomError as exc:
        return {"error": exc.message}


def status_dict(store: Store) -> dict[str, object]:
    """The status read from every record (`status_cache.cached_status` is the fast way)."""
    stages = [stage_entry(s) for s in store.stages()]
    sessions = [session_entry(s) for s in store.sessions()]
    return build_status(read_head(store), stages, sessions, store.work_dir)
