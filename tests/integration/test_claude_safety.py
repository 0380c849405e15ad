"""What `loom` itself does for a safe Claude Code run, through the real CLI.

`loom run --no-trust` and the `trust_claude_folders` setting: the real `loom run --headless
--agent claude`, with a stand-in `claude` that exits at once (the stage then fails: max_retries
is 0), in a throw-away HOME.  Without the option, loom marks the project trusted in
`~/.claude.json` and says so in one line; with it, the file is never created.  And `loom init`
says when the plan's sandbox cannot apply here.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import LOOM
from tests.integration.engine import Project

STAGE = {
    "id": "a",
    "name": "A",
    "description": "Do A.",
    "acceptance": ["true"],
    "max_retries": 0,
}


def _project(tmp_path: Path) -> tuple[Project, Path]:
    project = Project.create(tmp_path, [STAGE])
    home = tmp_path / "home"
    home.mkdir()
    fake = tmp_path / "claude"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    project.env = {
        k: v for k, v in project.env.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))
    }
    project.env.update(
        HOME=str(home), LOOM_CLAUDE_BIN=str(fake), ANTHROPIC_API_KEY="sk-fake-0123456789abcdefghij"
    )
    return project, home


def _run(project: Project, *extra: str) -> str:
    try:
        proc = project.loom("run", "--headless", "--agent", "claude", *extra, timeout=90)
    finally:
        project.close()
    assert proc.returncode == 1, proc.stdout + proc.stderr  # stuck: the stand-in exits at once
    return proc.stdout + proc.stderr


def test_no_trust_leaves_claude_json_alone_and_trust_is_said_once(tmp_path: Path) -> None:
    project, home = _project(tmp_path)
    out = _run(project, "--no-trust")
    assert not (home / ".claude.json").exists(), out
    assert "trusted" not in out

    project.loom("stage", "retry", "a", check=True)
    out = _run(project)
    data = json.loads((home / ".claude.json").read_text())
    assert data["projects"][str(project.root)]["hasTrustDialogAccepted"] is True
    assert "customApiKeyResponses" not in data
    said = [line for line in out.splitlines() if "trusted" in line]
    assert len(said) == 1 and ".claude.json" in said[0], out

    project.loom("stage", "retry", "a", check=True)
    out = _run(project)
    assert "trusted" not in out, "said once: nothing changed the second time"


def test_the_setting_turns_trust_off(tmp_path: Path) -> None:
    project, home = _project(tmp_path)
    project.set_settings(trust_claude_folders=False)
    _run(project)
    assert not (home / ".claude.json").exists()
    assert not os.path.exists(str(home / ".claude.json.loom-backup"))


def test_no_trust_before_another_command_is_a_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [LOOM, "--no-trust", "status"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "and --no-trust before a command" in proc.stderr


def test_init_says_when_the_sandbox_cannot_apply(tmp_path: Path) -> None:
    """Claude Code's sandbox needs bubblewrap and socat on Linux; `loom init` names the missing
    ones once, and says nothing when they are there (stand-ins on PATH) or nothing enables it."""
    plan = tmp_path / "repo" / "doc" / "plans" / "PLAN-9999-test.md"
    project = Project.create(tmp_path, [STAGE], sandbox={"enabled": True})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = dict(project.env)
    env["PATH"] = f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"
    for tool in ("bwrap", "socat"):
        for folder in env["PATH"].split(os.pathsep)[1:]:
            assert not os.path.exists(os.path.join(folder, tool)), "the machine has it"
    proc = subprocess.run(
        [LOOM, "init", "--clean", str(plan)],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    notes = [line for line in proc.stdout.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: the plan enables the sandbox, but bwrap and socat are not installed: Claude Code "
        "will run Bash unsandboxed (the deny lists still apply to its file tools)"
    ], proc.stdout + proc.stderr
    for tool in ("bwrap", "socat"):
        (bin_dir / tool).write_text("#!/bin/sh\n")
        (bin_dir / tool).chmod(0o755)
    proc = subprocess.run(
        [LOOM, "init", "--clean", str(plan)],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and "note:" not in proc.stdout, proc.stdout + proc.stderr
