"""The bundled 10-stage fan-out/fan-in plan (PLAN-0002), initialised by the real `loom init` in a
fresh repository, with its records set by hand: six stages with a live session and a gauge (one
stalled, one waiting for permission), one blocked, and the joins still waiting."""

from __future__ import annotations

from pathlib import Path

from loom_tui.core.model import SessionRecord, Status
from loom_tui.core.store import Store
from tests.conftest import init_with_plan, make_repo
from tests.tui.conftest import MINUTE, NOW, TuiProject

PLAN = Path(__file__).resolve().parents[2] / "loom_tui" / "samples" / "PLAN-0002-fanout.md"
#: stage -> (status, context percent of its live session or None)
STATES: dict[str, tuple[Status, float | None]] = {
    "setup": (Status.COMPLETED, None),
    "api": (Status.EXECUTING, 44.0),
    "cli": (Status.EXECUTING, 12.0),
    "docs": (Status.EXECUTING, 71.0),
    "parser": (Status.WAITING_FOR_INPUT, 35.0),
    "storage": (Status.EXECUTING, 58.0),
    "ui-kit": (Status.BLOCKED, 63.0),
}


def make_fan_project(root: Path) -> TuiProject:
    make_repo(root)
    init_with_plan(root, PLAN)
    tp = TuiProject(root)
    store: Store = tp.store
    for index, (stage_id, (status, percent)) in enumerate(STATES.items()):
        fields: dict[str, object] = {"status": status, "started_at": NOW - (20 - index) * MINUTE}
        if status is Status.COMPLETED:
            fields.update(merged=True, completed_at=NOW - 15 * MINUTE)
        else:
            sid = f"s-{stage_id}-1"
            fields.update(
                generation=1,
                session_id=sid,
                context_percent=percent,
                branch=f"loom/{stage_id}",
                worktree=str(root / ".worktrees" / stage_id),
            )
            if status is Status.BLOCKED:
                fields.update(retry_count=1, blocked_reason="acceptance failed: test -s web/kit.js")
            if stage_id == "storage":
                fields["stalled_at"] = NOW - MINUTE
            store.write_session(
                SessionRecord(
                    id=sid,
                    stage_id=stage_id,
                    generation=1,
                    agent="sim",
                    tmux_socket=tp.socket,
                    model="opus",
                    worktree=str(root / ".worktrees" / stage_id),
                    context_window=200_000,
                    context_source="statusline",
                    status="ended" if status is Status.BLOCKED else "running",
                    pane_id=f"%{index}",
                    window=stage_id,
                    started_at=NOW - (20 - index) * MINUTE,
                    context_percent=percent,
                    context_tokens=int((percent or 0) * 2000),
                    agent_state="needs-permission" if stage_id == "parser" else "working",
                )
            )
        tp.set_stage(stage_id, **fields)
    Path(store.events_path).write_text("", encoding="utf-8")
    return tp
