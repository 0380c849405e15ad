"""Pre-accepting Claude Code's first-run dialogs for the stage worktrees.

An unattended pane must not sit on "Is this a project you created or one you trust?".  Claude
Code skips that dialog when `~/.claude.json` (or `$CLAUDE_CONFIG_DIR/.claude.json`) says
``projects["<path>"].hasTrustDialogAccepted: true`` for the working directory or any ancestor, so
loom marks the project's `.worktrees` folder once, writing the JSON atomically and keeping every
other key.  Onboarding and the custom API key question are settled in the same file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile

from loom_tui.core.agents import claude_code
from loom_tui.core.errors import LoomError
from loom_tui.core.fsutil import FileLock, atomic_write


def pre_accept(paths: list[str], env: dict[str, str] | None = None) -> str:
    """Mark ``paths`` trusted (and onboarding done); returns the file written."""
    env = dict(os.environ) if env is None else env
    target = claude_code.global_config_path(env)
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    # loom processes take turns; the lock file lives outside the user's home
    lock = os.path.join(tempfile.gettempdir(), f"loom-claude-json-{os.getuid()}.lock")
    with FileLock(lock):
        try:
            with open(target, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as exc:
            raise LoomError(f"{target}: cannot read Claude Code's settings: {exc}") from None
        if not isinstance(data, dict):
            raise LoomError(f"{target}: expected a JSON object")
        projects = data.get("projects")
        if not isinstance(projects, dict):
            projects = data["projects"] = {}
        for path in paths:
            entry = projects.get(os.path.abspath(path))
            if not isinstance(entry, dict):
                entry = projects[os.path.abspath(path)] = {}
            entry["hasTrustDialogAccepted"] = True
            entry.setdefault("hasCompletedProjectOnboarding", True)
        data["hasCompletedOnboarding"] = True
        key = env.get("ANTHROPIC_API_KEY")
        if key:
            responses = data.get("customApiKeyResponses")
            if not isinstance(responses, dict):
                responses = data["customApiKeyResponses"] = {}
            approved = responses.get("approved")
            if not isinstance(approved, list):
                approved = responses["approved"] = []
            if key[-20:] not in approved:
                approved.append(key[-20:])
            responses.setdefault("rejected", [])
        mode = 0o600
        with contextlib.suppress(OSError):
            mode = os.stat(target).st_mode & 0o777
        atomic_write(target, json.dumps(data, indent=2) + "\n", mode=mode)
    return target
