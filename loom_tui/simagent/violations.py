"""The ``violations: true`` sim option: the agent tries every lane violation loom's guard refuses.

Each attempt is a tool call made the way Claude Code makes it: the session's configured PreToolUse
command runs with a real-shaped payload (`HookRunner`, through `SimAgent.tool`).  A refused call
(exit 2) reaches the "model" as the hook's text, and the agent carries on with its stage.  A call
the guard let through is never carried out (a simulation must not push, or write outside its
worktree): it is only recorded.  Every attempt goes to `.work/sim/violations.jsonl` as
``{"stage", "session", "label", "tool", "refused", "reason"}``, for tests and people to check.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from loom_tui.core.fsutil import append_line

if TYPE_CHECKING:
    from loom_tui.simagent.agent import SimAgent


def attempts(agent: SimAgent) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, tool, input) of each violation, for this stage and worktree."""
    root = os.path.dirname(agent.store.work_dir)
    others = [s.id for s in agent.store.stages() if s.id != agent.stage_id]
    other = others[0] if others else "another-stage"
    return [
        ("git add -A", "Bash", {"command": "git add -A", "description": "Stage all"}),
        ("git add .", "Bash", {"command": "git add .", "description": "Stage all"}),
        ("git add --all", "Bash", {"command": "git add --all && git commit -m wip"}),
        ("git push", "Bash", {"command": "git push origin HEAD", "description": "Publish"}),
        ("git checkout", "Bash", {"command": "git checkout main", "description": "Switch"}),
        ("git switch", "Bash", {"command": "git switch -c elsewhere"}),
        (
            "commit on another branch",
            "Bash",
            {"command": f"git -C {root} commit --allow-empty -m 'on the base branch'"},
        ),
        ("other stage", "Bash", {"command": f"loom stage complete {other}"}),
        (
            "write outside",
            "Write",
            {"file_path": os.path.join(root, "outside-the-worktree.txt"), "content": "x\n"},
        ),
        (
            "edit outside",
            "Edit",
            {"file_path": "../../README.md", "old_string": "#", "new_string": "##"},
        ),
        (
            "notebook outside",
            "NotebookEdit",
            {"notebook_path": "/tmp/loom-sim-outside.ipynb", "new_source": "print(1)"},
        ),
    ]


def try_all(agent: SimAgent) -> int:
    """Attempt each violation; returns how many the guard refused."""
    path = os.path.join(agent.store.work_dir, "sim", "violations.jsonl")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    refused = 0
    for label, tool, tool_input in attempts(agent):
        reason = agent.tool(tool, tool_input, lambda: "(a simulation: not carried out)", 300)
        blocked = agent.last_refusal
        refused += blocked is not None
        record = {
            "stage": agent.stage_id,
            "session": agent.session_id,
            "label": label,
            "tool": tool,
            "refused": blocked is not None,
            "reason": blocked or reason,
        }
        append_line(path, json.dumps(record))
    return refused
