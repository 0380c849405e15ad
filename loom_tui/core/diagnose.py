"""`loom diagnose ID`: everything known about why a stage is where it is, in one report."""

from __future__ import annotations

import os

from loom_tui.core.model import Status
from loom_tui.core.store import Store, format_time


def diagnose(store: Store, stage_id: str) -> list[str]:
    stage = store.read_stage(stage_id)
    sessions = [s for s in store.sessions() if s.stage_id == stage_id]
    lines = [
        f"stage {stage.id} — {stage.name}",
        f"  status      {stage.status}"
        + (" (held)" if stage.held else "")
        + (" (merged)" if stage.merged else ""),
    ]
    if stage.blocked_reason:
        lines.append(f"  reason      {stage.blocked_reason}")
    if stage.failure:
        details = ", ".join(f"{k} {v}" for k, v in stage.failure.items() if k != "at")
        lines.append(f"  failure     {details}")
    lines.append(f"  retries     {stage.retry_count} of {stage.max_retries}")
    if stage.next_retry_at:
        lines.append(f"  next retry  {format_time(stage.next_retry_at)}")
    if stage.worktree:
        lines.append(f"  worktree    {stage.worktree} (branch {stage.branch})")
    lines.append(f"  sessions    {len(sessions)}")
    for s in sessions:
        code = "-" if s.exit_code is None else str(s.exit_code)
        lines.append(
            f"    {s.id[:8]}  gen {s.generation}  {s.status:<8} exit {code:<4} "
            f"{s.end_reason or ''}  started {format_time(s.started_at)}"
        )
    last = next((s for s in reversed(sessions) if s.last_lines), None)
    if last is not None:
        lines.append(f"  last lines of session {last.id[:8]}'s pane:")
        lines.extend(f"    | {line}" for line in last.last_lines[-25:])
    if stage.handoffs:
        lines.append("  handoffs    " + ", ".join(os.path.basename(h) for h in stage.handoffs))
    hints = []
    if stage.status is Status.BLOCKED:
        hints.append(f"loom stage retry {stage.id}   # start it again now")
        if stage.handoffs:
            hints.append(f"loom resume {stage.id}        # continue from the newest handoff")
        hints.append(f"loom stage skip {stage.id}    # give up on it; dependents may start")
    if stage.status is Status.MERGE_CONFLICT:
        hints.append(
            f"cd {stage.worktree or '.worktrees/' + stage.id} && git merge <base>   "
            "# resolve, commit"
        )
        hints.append(f"loom merge {stage.id}")
    if hints:
        lines.append("  next steps")
        lines.extend(f"    {h}" for h in hints)
    return lines
