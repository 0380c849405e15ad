"""The interface every agent backend implements, and the per-session settings they share."""

from __future__ import annotations

import json
import os
import shlex
import sys
from typing import TYPE_CHECKING, Protocol

from loom_tui.core.agents.permissions import session_permissions
from loom_tui.core.fsutil import atomic_write

if TYPE_CHECKING:
    from loom_tui.core.model import SessionRecord, StageRecord
    from loom_tui.core.store import Store

#: Claude Code hook events loom listens to, with the `loom hook` sub-command that handles each.
HOOK_EVENTS = {
    "SessionStart": "session-start",
    "UserPromptSubmit": "user-prompt-submit",
    "PreToolUse": "pre-tool-use",
    "PostToolUse": "post-tool-use",
    "Notification": "notification",
    "Stop": "stop",
    "PreCompact": "pre-compact",
    "SessionEnd": "session-end",
}


class LaunchContext:
    """What a backend needs to know to launch one session."""

    def __init__(
        self,
        store: Store,
        stage: StageRecord,
        session: SessionRecord,
        worktree: str,
        signal_path: str,
        settings_path: str,
    ) -> None:
        self.store = store
        self.stage = stage
        self.session = session
        self.worktree = worktree
        self.signal_path = signal_path
        self.settings_path = settings_path


class Launch:
    """The command line and environment of a session's pane."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.argv = argv
        self.env = env


class AgentBackend(Protocol):
    name: str

    def launch(self, ctx: LaunchContext) -> Launch: ...


def bin_dir() -> str:
    """Where `loom` and `loom-sim-agent` are installed (beside the running interpreter)."""
    return os.path.dirname(os.path.abspath(sys.executable))


def loom_command() -> str:
    """The absolute `loom` command, quoted for a shell (hooks run through `sh -c`)."""
    path = os.path.join(bin_dir(), "loom")
    if os.path.exists(path):
        return shlex.quote(path)
    return f"{shlex.quote(sys.executable)} -m loom_tui"


def base_env(ctx: LaunchContext) -> dict[str, str]:
    """Environment every session's pane gets, whatever the agent."""
    path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    return {
        "LOOM_WORK_DIR": ctx.store.work_dir,
        "LOOM_STAGE_ID": ctx.stage.id,
        "LOOM_SESSION_ID": ctx.session.id,
        "LOOM_SIGNAL_FILE": ctx.signal_path,
        "PATH": f"{bin_dir()}{os.pathsep}{path}",
    }


#: The hooks' fast path, run by `sh` (see the script's header): no Python start per tool call.
HOOK_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "hook.sh")


def hook_command(ctx: LaunchContext, sub: str) -> str:
    """The command Claude Code runs for hook ``sub`` (or the statusLine) of this one session:
    `core/hook.sh` with the session's paths spelled out, so it needs no environment, and the
    Python it falls back to when there is real work (`loom hook <sub>`)."""
    words = [
        "sh",
        HOOK_SCRIPT,
        sub,
        ctx.store.work_dir,
        ctx.session.id,
        ctx.stage.id,
        ctx.worktree,
        sys.executable,
        str(ctx.stage.context_budget),
    ]
    return " ".join(shlex.quote(w) for w in words)


def session_settings(ctx: LaunchContext) -> dict[str, object]:
    """The settings file passed with ``--settings``: loom's hooks and statusLine, per session,
    and the permissions and sandbox of `permissions.py`.

    Never the user's own settings: this file applies to this one session only.
    """
    hooks = {
        event: [{"matcher": "*", "hooks": [{"type": "command", "command": hook_command(ctx, sub)}]}]
        for event, sub in HOOK_EVENTS.items()
    }
    settings: dict[str, object] = {
        "statusLine": {"type": "command", "command": hook_command(ctx, "statusline"), "padding": 0},
        "hooks": hooks,
        "env": {"LOOM_STAGE_ID": ctx.stage.id, "LOOM_SESSION_ID": ctx.session.id},
    }
    git_dir = os.path.join(ctx.store.root, ".git")
    writable = [git_dir] if os.path.isdir(git_dir) else []
    settings.update(session_permissions(ctx.stage.sandbox, writable))
    return settings


def write_settings(ctx: LaunchContext) -> str:
    atomic_write(
        ctx.settings_path, json.dumps(session_settings(ctx), indent=2) + "\n", durable=False
    )
    return ctx.settings_path
