"""The project's status as one JSON-ready object: the shape `loom status --json` prints.

Scripts and tests rely on this shape (FORMATS.md); add keys, never rename or remove them.
"""

from __future__ import annotations

import os

from loom_tui.core.errors import LoomError
from loom_tui.core.model import ACTIVE, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from loom_tui.core.store import Store


def status_dict(store: Store) -> dict[str, object]:
    stages = store.stages()
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
    plan["work_dir"] = store.work_dir
    return {
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
            }
            for s in stages
        ],
    }
