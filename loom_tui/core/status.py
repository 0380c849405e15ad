"""The project's status as one JSON-ready object: the shape `loom status --json` prints.

Scripts and tests rely on this shape (FORMATS.md); add keys, never rename or remove them.  A
stage whose record cannot be read is listed too, blocked, with ``record_error`` naming the file and
the field (see `quarantine`).
"""

from __future__ import annotations

import os

from loom_tui.core.errors import LoomError
from loom_tui.core.model import ACTIVE, Status
from loom_tui.core.quarantine import BrokenStage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from loom_tui.core.store import Store


def status_dict(store: Store) -> dict[str, object]:
    stages = store.stages()
    totals: dict[str, tuple[int, float, int]] = {}
    for session in store.sessions():
        tokens, cost, count = totals.get(session.stage_id, (0, 0.0, 0))
        totals[session.stage_id] = (
            tokens + (session.input_tokens or session.context_tokens or 0),
            cost + (session.cost_usd or 0.0),
            count + 1,
        )
    try:
        config = store.config()
        plan: dict[str, object] = {
            "id": config.plan_id,
            "name": config.plan_name,
            "source": config.plan_source,
            "base_branch": config.base_branch,
            "max_parallel": config.max_parallel,
            "auto_merge": config.auto_merge,
        }
    except LoomError as exc:
        plan = {"error": exc.message}
    counts = {s.value: 0 for s in Status}
    for stage in stages:
        counts[stage.status.value] += 1
    plan["counts"] = counts
    plan["total"] = len(stages)
    plan["done"] = counts[Status.COMPLETED.value] + counts[Status.SKIPPED.value]
    plan["running"] = sum(1 for s in stages if s.status in ACTIVE)
    plan["attention"] = sum(1 for s in stages if s.attention is not None)
    plan["work_dir"] = store.work_dir
    plan["tokens"] = sum(t[0] for t in totals.values())
    plan["cost_usd"] = round(sum(t[1] for t in totals.values()), 4)
    from loom_tui.core.scheduler_lock import no_scheduler_notice, scheduler_pid

    pid = scheduler_pid(store)
    auto_merge = plan.get("auto_merge", True) is not False
    return {
        # who runs the scheduler (pid None: nobody), and a plain line when stages wait for one
        "scheduler": {
            "pid": pid,
            "notice": no_scheduler_notice(list(stages), auto_merge=auto_merge, pid=pid),
        },
        "plan": plan,
        "stages": [
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
                "sessions": totals.get(s.id, (0, 0.0, 0))[2],
                "tokens": totals.get(s.id, (0, 0.0, 0))[0],
                "cost_usd": round(totals.get(s.id, (0, 0.0, 0))[1], 4),
            }
            for s in stages
        ],
    }
