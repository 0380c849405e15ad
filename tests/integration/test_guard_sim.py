"""A sim run whose agent tries every lane violation through its session's real PreToolUse command:
each is refused with a reason, and the agent carries on and completes its stage.

The sim agent's ``violations: true`` option (loom_tui/simagent/violations.py) makes the tool calls
as Claude Code would: the configured hook command (core/hook.sh, then the guard) with a
real-shaped payload on stdin.
"""

from __future__ import annotations

import json
from typing import Any

from loom_tui.core.hook_log import normalize
from loom_tui.core.model import Status
from tests.integration.conftest import MakeProject
from tests.integration.engine import sim_stage


def test_every_violation_is_refused_and_the_agent_carries_on(make_project: MakeProject) -> None:
    project = make_project([sim_stage("a", violations=True), sim_stage("b", deps=["a"])])
    proc = project.run_headless()
    assert proc.returncode == 0, proc.stdout[-2000:]

    attempts: list[dict[str, Any]] = [
        json.loads(line)
        for line in (project.work / "sim" / "violations.jsonl").read_text().splitlines()
    ]
    assert {a["label"] for a in attempts} == {
        "git add -A",
        "git add .",
        "git add --all",
        "git push",
        "git checkout",
        "git switch",
        "commit on another branch",
        "other stage",
        "write outside",
        "edit outside",
        "notebook outside",
    }
    unrefused = [a["label"] for a in attempts if not a["refused"]]
    assert unrefused == []
    assert all(a["reason"].startswith("loom guard: ") for a in attempts)
    assert any("stage `a` only" in a["reason"] and "b" in a["reason"] for a in attempts)

    # the agent carried on: both stages done and merged, nothing left outside the worktree
    for stage_id in ("a", "b"):
        stage = project.stage(stage_id)
        assert stage.status is Status.COMPLETED and stage.merged
    assert not (project.root / "outside-the-worktree.txt").exists()
    # the sessions' hook flags (statusLine text, near-budget mark) went with them
    flags = project.work / "flags"
    assert not flags.exists() or not list(flags.iterdir())

    # the refusals are in the session's hook log, as the scheduler reads it
    session_id = attempts[0]["session"]
    log = project.work / "hooks" / f"{session_id}.jsonl"
    records = [normalize(json.loads(line)) for line in log.read_text().splitlines()]
    refused = [r for r in records if r.get("refused")]
    assert len(refused) == len(attempts)
    assert all(r["event"] == "PreToolUse" for r in refused)
