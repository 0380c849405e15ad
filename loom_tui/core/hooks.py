"""`loom hook <event>`: what Claude Code's hooks and statusLine command run in a stage session.

Each call reads Claude Code's JSON on stdin, appends what it learned to
`.work/hooks/<session-id>.jsonl` (the scheduler watches that folder and reacts at once), and
answers:

- ``statusline`` prints one short line (stage, context use against the budget, cost);
- ``post-tool-use`` and ``stop`` exit 2 with loom's request when the scheduler has asked the
  session to hand off (Claude Code shows that text to the model; a Stop hook never blocks twice in
  a row, or the agent could never stop);
- ``pre-compact`` blocks the first compaction of a session that has not handed off yet: the
  backstop when the budget was missed;
- ``session-start`` after a compaction reminds the agent where its signal file is.

A hook must never break the agent's work: any internal error is logged to `.work/logs/hooks.log`
and the hook exits 0.  Standard-library imports only, as this runs on every tool call.
"""

from __future__ import annotations

import json
import os
import time

from loom_tui.core import context
from loom_tui.core.errors import ProjectNotFound
from loom_tui.core.hook_flags import clear_flag
from loom_tui.core.hook_log import compact, trim

TYPE_CHECKING = False
if TYPE_CHECKING:
    from loom_tui.core.model import SessionRecord

EVENTS = {
    "statusline": "statusline",
    "session-start": "SessionStart",
    "user-prompt-submit": "UserPromptSubmit",
    "pre-tool-use": "PreToolUse",
    "post-tool-use": "PostToolUse",
    "notification": "Notification",
    "stop": "Stop",
    "pre-compact": "PreCompact",
    "session-end": "SessionEnd",
}


class HookAnswer:
    __slots__ = ("exit_code", "stderr", "stdout")

    def __init__(self, exit_code: int = 0, stdout: str = "", stderr: str = "") -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr


def handoff_request(stage_id: str, percent: float | None, budget: int) -> str:
    """The words loom sends an agent whose session must hand off."""
    used = f"{percent:.0f}%" if percent is not None else "past its budget"
    return (
        f"loom: this session's context is at {used} (the stage's budget is {budget}%). "
        "Commit your work now, then record your state with "
        f'`loom handoff write {stage_id} --summary "<what is done>" --next "<the next steps>"` '
        "(add --decision for each decision that matters), then stop: a fresh session "
        "continues from your handoff."
    )


def _append(path: str, record: dict[str, object]) -> None:
    """One whole line in the session's hook log, or none (a full disk: see `append_line`)."""
    from loom_tui.core.fsutil import append_line, json_line

    append_line(path, json_line(record))


def handle(command: str, raw: str, env: dict[str, str]) -> HookAnswer:
    """Handle one hook call; raises only on internal errors (the caller logs them)."""
    from loom_tui.core.store import Store

    event = EVENTS[command]
    problem = None
    try:
        payload = json.loads(raw) if raw.strip() else {}
    except ValueError:
        payload = {}
        problem = f"stdin is not JSON: {trim(raw)!r}"
    if not isinstance(payload, dict):
        payload = {}
        problem = problem or f"stdin is not a JSON object: {trim(raw)!r}"
    work_dir = env.get("LOOM_WORK_DIR")
    if not work_dir:
        from loom_tui.core.project import find_work_dir

        work_dir = find_work_dir(cwd=str(payload.get("cwd") or os.getcwd()))
    if not os.path.isdir(os.path.join(work_dir, "stages")):
        # a stale LOOM_WORK_DIR (the project was cleaned): create nothing there
        raise ProjectNotFound(f"{work_dir}: not a loom project's .work directory")
    store = Store(work_dir)
    if problem:
        log_problem(work_dir, command, problem)
    session_id = env.get("LOOM_SESSION_ID") or str(payload.get("session_id") or "")
    if session_id:
        store.session_path(session_id)  # an id that is not a plain name never becomes a path
    stage_id = env.get("LOOM_STAGE_ID") or ""
    now = time.time()
    record = compact(event, payload, now)
    answer = HookAnswer()
    reading = context.from_statusline(payload, now) if event == "statusline" else None
    if not session_id:
        return answer
    os.makedirs(store.hooks_dir, exist_ok=True)

    session = None
    stage = None
    try:
        session = store.read_session(session_id)
        stage_id = stage_id or session.stage_id
        stage = store.read_stage(stage_id) if stage_id else None
    except Exception as exc:
        session = None
        log_problem(work_dir, command, f"session {session_id}: {exc}")

    first_compaction = (
        event == "PreCompact"
        and session is not None
        and session.handoff is None
        and session.precompact_blocked_at is None
    )
    if first_compaction and session is not None:

        def mark(s: SessionRecord) -> None:
            s.precompact_blocked_at = now
            # this hook's answer asks for a handoff: `loom handoff write` records the trigger
            s.handoff_trigger = s.handoff_trigger or "precompact"

        store.update_session(session_id, mark)
        record["blocked"] = True
        budget = stage.context_budget if stage is not None else 65
        answer = HookAnswer(
            2,
            stderr="loom: compaction blocked. "
            + handoff_request(stage_id, session.context_percent, budget),
        )
    request = None
    requested = (
        session is not None and session.handoff_requested_at is not None and session.handoff is None
    )
    if event in ("PostToolUse", "Stop") and session is not None and requested:
        if not (event == "Stop" and payload.get("stop_hook_active")):
            budget = stage.context_budget if stage is not None else 65
            request = handoff_request(stage_id, session.context_percent, budget)
            # The agent got the request from this hook: a blocked Stop does not end its turn,
            # so the scheduler must not type the request into the pane as well.
            record["blocked"] = True
    elif event in ("PostToolUse", "Stop") and session is not None and session.handoff:
        # the flag outlived its request (the handoff is written): back to the sh fast path
        clear_flag(work_dir, session_id, "handoff")
    refusal = None
    if event == "PreToolUse" and stage_id:
        from loom_tui.core.guard import check

        worktree = (
            env.get("LOOM_WORKTREE")
            or (session.worktree if session is not None else None)
            or (stage.worktree if stage is not None else None)
        )
        refusal = check(payload, stage_id, worktree, stage.branch if stage is not None else None)
        if refusal:
            record["refused"] = refusal
    _append(os.path.join(store.hooks_dir, f"{session_id}.jsonl"), record)
    if _wants_attention(event, record, reading, stage):
        pulse(store.work_dir, session_id)

    if refusal:
        answer = HookAnswer(2, stderr=refusal)
    elif request is not None:
        answer = HookAnswer(2, stderr=request)
    elif event == "statusline":
        answer = HookAnswer(0, stdout=_status_line(stage_id, stage, reading, record))
    elif event == "SessionStart" and payload.get("source") in ("compact", "clear", "resume"):
        signal = env.get("LOOM_SIGNAL_FILE") or store.signal_path(session_id)
        answer = HookAnswer(
            0,
            stdout=json.dumps(
                {
                    "hookSpecificOutput": {
                        "hookEventName": "SessionStart",
                        "additionalContext": f"You are working on loom stage {stage_id}. "
                        f"Your assignment is in {signal}; re-read it before going on.",
                    }
                }
            ),
        )
    return answer


#: Hook events the scheduler reacts to at once; the others (tool calls, routine readings) it
#: reads from the hook log on its next tick.
ATTENTION_EVENTS = frozenset(
    {"SessionStart", "UserPromptSubmit", "Notification", "Stop", "PreCompact", "SessionEnd"}
)
PULSE_DIR = "pulse"


def _wants_attention(
    event: str, record: dict[str, object], reading: context.Reading | None, stage: object
) -> bool:
    if event in ATTENTION_EVENTS or record.get("blocked"):
        return True
    budget = getattr(stage, "context_budget", None)
    return reading is not None and isinstance(budget, int) and reading.percent >= budget


def pulse(work_dir: str, session_id: str) -> None:
    """Wake the scheduler now: touch `.work/pulse/<session>` (a folder it watches, unlike the
    busy hook logs)."""
    folder = os.path.join(work_dir, PULSE_DIR)
    os.makedirs(folder, exist_ok=True)
    fd = os.open(os.path.join(folder, session_id), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.close(fd)


def _status_line(
    stage_id: str, stage: object, reading: context.Reading | None, record: dict[str, object]
) -> str:
    budget = getattr(stage, "context_budget", 65)
    cost = record.get("cost_usd")
    return status_text(
        stage_id,
        budget,
        reading.percent if reading is not None else None,
        cost if isinstance(cost, int | float) else None,
    )


def status_text(stage_id: str, budget: int, percent: float | None, cost: float | None) -> str:
    """The statusLine: stage, context use against the budget, cost.  The scheduler writes it to
    `.work/flags/<sid>.status` for the sh fast path; the Python hook prints it itself."""
    parts = [f"loom {stage_id}" if stage_id else "loom"]
    if percent is not None:
        gauge = context.level(percent, budget)
        parts.append(f"ctx {percent:.0f}%/{budget}% ({gauge})")
    else:
        parts.append(f"ctx -/{budget}%")
    if cost is not None:
        parts.append(f"${cost:.2f}")
    return " · ".join(parts)


def log_failure(env: dict[str, str], command: str, exc: BaseException) -> None:
    """Record a hook's internal error where a person can find it; never raises."""
    work_dir = env.get("LOOM_WORK_DIR")
    if work_dir:
        log_problem(work_dir, command, f"{type(exc).__name__}: {exc}")


def log_problem(work_dir: str, command: str, message: str) -> None:
    """Append one line to `.work/logs/hooks.log`; never raises."""
    try:
        logs = os.path.join(work_dir, "logs")
        os.makedirs(logs, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        from loom_tui.core.fsutil import append_line

        append_line(os.path.join(logs, "hooks.log"), f"{stamp} hook {command}: {message}")
    except Exception:
        pass
