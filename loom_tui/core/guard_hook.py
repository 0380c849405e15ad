"""The PreToolUse guard's own entry point, for the sh fast path (core/hook.sh):
``python -m loom_tui.core.guard_hook WORK_DIR SESSION_ID STAGE_ID WORKTREE`` with the payload on
stdin.

`loom hook pre-tool-use` does the same work through the CLI, the store and the session record;
this path skips them (the settings name the stage and the worktree already), because it runs
before every Bash command that mentions git or loom and every edit not plainly inside the
worktree.  It appends the call's compact record (with ``refused`` when it refuses) to the
session's hook log, and exits 2 with the reason, or 0.  Any internal error lets the call through
(exit 0) and is logged to `.work/logs/hooks.log`: the guard must never break the agent's work.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    work_dir, session_id, stage_id, worktree = argv[:4]
    raw = sys.stdin.read()
    try:
        payload = json.loads(raw)
    except ValueError:
        return 0
    if not isinstance(payload, dict):
        return 0
    from loom_tui.core.guard import check
    from loom_tui.core.hook_log import compact

    refusal = check(payload, stage_id, worktree or None)
    record = compact("PreToolUse", payload, time.time())
    if refusal:
        record["refused"] = refusal
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    if "/" not in session_id and session_id not in ("", ".", ".."):
        path = os.path.join(work_dir, "hooks", f"{session_id}.jsonl")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    if refusal:
        sys.stderr.write(refusal + "\n")
        return 2
    return 0


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    except Exception as exc:  # the guard never breaks the agent's work
        from loom_tui.core.hooks import log_problem

        if len(sys.argv) > 1:
            log_problem(sys.argv[1], "pre-tool-use", f"guard: {type(exc).__name__}: {exc}")
        code = 0
    sys.exit(code)
