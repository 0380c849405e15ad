"""`loom diagnose ID`: everything known about why a stage is where it is, in one report.

Each line is passed through `textsafe.one_line`: names, reasons and pane lines come from plans and
agents, and their control characters are shown as escapes rather than sent to the terminal.
"""

from __future__ import annotations

import os

from loom_tui.core.engine.rules_sessions import SERVER_LOST_KIND
from loom_tui.core.model import SessionRecord, StageRecord, Status
from loom_tui.core.quarantine import is_broken
from loom_tui.core.store import Store, format_time
from loom_tui.core.textsafe import one_line

#: What each failure kind means, in the words `diagnose` uses (StageRecord.failure["kind"]).
FAILURE_KINDS = {
    "crash": "the agent's process ended with an error before the stage was complete",
    "exit": "the agent exited normally but never completed the stage",
    "acceptance": "the agent ran `loom stage complete` and acceptance commands failed (below)",
    "goal-check": "its acceptance passed, but goal checks (truths, artifacts, wiring) failed: "
    "a stub, a missing file or missing wiring (below)",
    "stalled": "the session showed no activity (no hook event, no transcript growth, no output "
    "in its pane) for the stall time; loom nudged it, then ended it and wrote a handoff",
    "handoff-loop": "sessions kept handing off without committing anything",
    "killed": "a person ended the session (`loom sessions kill`)",
    "start-failed": "loom could not start a session for it",
    "setup": "one of its setup commands failed before the agent started (its output below)",
    "tmux-server-lost": "loom's tmux server died, taking every session with it",
    "merge-conflict": "its branch conflicts with the base branch, and the resolver sessions "
    "loom started did not resolve it",
    "unreadable-record": "its record in .work/stages/ cannot be read (above: the file and the "
    "field); loom leaves the file as it is and starts nothing for the stage",
}


def _scheduler(store: Store, stage: StageRecord) -> list[str]:
    """Who runs the scheduler; said plainly when none does and this stage waits for one."""
    from loom_tui.core.scheduler_lock import scheduler_pid, waiting_for_scheduler

    pid = scheduler_pid(store)
    if pid is not None:
        return [f"  scheduler   runs (pid {pid})" if pid else "  scheduler   starting"]
    try:
        auto_merge = store.config().auto_merge
    except Exception:
        auto_merge = True
    if waiting_for_scheduler([stage], auto_merge=auto_merge):
        return [
            "  scheduler   none is running, and this stage waits for one: `loom` starts it "
            "(or `loom run --headless`)"
        ]
    return ["  scheduler   none is running"]


def diagnose(store: Store, stage_id: str) -> list[str]:
    stage = store.stage_or_broken(stage_id)  # an unreadable record is explained, not an error
    sessions = [s for s in store.sessions() if s.stage_id == stage_id]
    lines = [
        f"stage {stage.id} — {stage.name}",
        f"  status      {stage.status}"
        + (" (held)" if stage.held else "")
        + (" (merged)" if stage.merged else ""),
    ]
    if stage.blocked_reason:
        lines.append(f"  reason      {stage.blocked_reason}")
    lines += _scheduler(store, stage)
    lines += _supervision(stage)
    if (stage.failure or {}).get("kind") == SERVER_LOST_KIND:
        lines.append(f"  tmux        {_server_died(stage, sessions)}")
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
    if stage.attention == "stalled":
        hints.append("in the TUI, select the stage and press a   # look at the agent; type to it")
    if stage.status is Status.NEEDS_HUMAN_REVIEW and stage.resolving:
        hints.append(
            f"cd {stage.worktree or '.worktrees/' + stage.id} && git merge <base>   "
            "# resolve, commit"
        )
        hints.append(f"loom merge {stage.id} --resolved")
    if stage.status is Status.NEEDS_HUMAN_REVIEW:
        hints.append(
            f"loom stage retry {stage.id}   # one more attempt (the failure is in its signal)"
        )
        hints.append(f"loom stage skip {stage.id}    # give up on it; dependents may start")
        hints.append(f"loom stage reset {stage.id}   # start it over from the base")
    if is_broken(stage):
        hints.append(f"loom stage reset {stage.id}   # rebuild its record from the plan")
    elif stage.status is Status.BLOCKED:
        hints.append(f"loom stage retry {stage.id}   # start it again now")
        if stage.handoffs:
            hints.append(f"loom resume {stage.id}        # continue from the newest handoff")
        hints.append(f"loom stage skip {stage.id}    # give up on it; dependents may start")
    if stage.status is Status.MERGE_CONFLICT:
        hints.append(
            f"cd {stage.worktree or '.worktrees/' + stage.id} && git merge <base>   "
            "# resolve, commit"
        )
        hints.append(f"loom merge {stage.id} --resolved")
    if hints:
        lines.append("  next steps")
        lines.extend(f"    {h}" for h in hints)
    return [one_line(line) for line in lines]


def _supervision(stage: StageRecord) -> list[str]:
    """The stage's failure (its kind, what it means, the evidence) and whether it is stalled."""
    lines = []
    if stage.failure:
        kind = str(stage.failure.get("kind") or "?")
        details = ", ".join(
            f"{k} {v}"
            for k, v in stage.failure.items()
            if k not in ("at", "kind") and v is not None
        )
        lines.append(f"  failure     {kind}" + (f" ({details})" if details else ""))
        if kind in FAILURE_KINDS:
            lines.append(f"              {FAILURE_KINDS[kind]}")
    if stage.failure_counts:
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(stage.failure_counts.items()))
        lines.append(f"  failures    {counts}")
    if stage.attention == "stalled" and stage.stalled_at is not None:
        lines.append(
            f"  stalled     since {format_time(stage.stalled_at)}: no activity in its session; "
            "loom nudged the agent and ends the session if it stays quiet"
        )
    failed = (stage.acceptance_failure or {}).get("failed")
    if isinstance(failed, list) and failed:
        lines.append("  acceptance failed:")
        for item in failed:
            if isinstance(item, dict):
                lines.append(f"    $ {item.get('command')}   (exit {item.get('exit_code')})")
                tail = str(item.get("tail") or "").splitlines()[-10:]
                lines.extend(f"    | {line}" for line in tail)
    return lines


def _server_died(stage: StageRecord, sessions: list[SessionRecord]) -> str:
    """What a stage whose session was lost with its tmux server is told."""
    failure = stage.failure or {}
    lost = next((s for s in sessions if s.id == failure.get("session")), None)
    socket = f" {lost.tmux_socket}" if lost is not None and lost.tmux_socket else ""
    who = f"session {lost.id[:8]}" if lost is not None else "its session"
    text = (
        f"the tmux server{socket} died while {who} ran: every agent in it ended at once "
        "(not this stage's fault)"
    )
    if stage.status is Status.BLOCKED:
        return text + "; it kept dying, so the stage waits for you"
    return text + "; the stage went on from a handoff without spending a retry"
