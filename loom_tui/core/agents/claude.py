"""The ``claude`` backend: the real Claude Code CLI in the stage's pane."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from loom_tui.core.agents import claude_code
from loom_tui.core.agents.base import Launch, LaunchContext, base_env, write_settings
from loom_tui.core.agents.profiles import choose_agent, named_by_plan

if TYPE_CHECKING:
    from loom_tui.core.model import StageRecord


def session_agent(
    stage: StageRecord, worktree: str, env: dict[str, str] | None = None
) -> str | None:
    """The ``--agent`` of a session of ``stage``: the agent the plan names, always (if it is
    missing, Claude Code says so in the pane); the one loom chose only when it is installed
    (`loom install`), since Claude Code refuses to start with an agent it cannot find."""
    agent = choose_agent(stage)
    if named_by_plan(stage) or claude_code.agent_installed(agent, worktree, env):
        return agent
    return None


class ClaudeBackend:
    name = "claude"

    def launch(self, ctx: LaunchContext) -> Launch:
        write_settings(ctx)
        binary = os.environ.get("LOOM_CLAUDE_BIN") or shutil.which(claude_code.BINARY)
        binary = binary or claude_code.BINARY
        argv = claude_code.launch_argv(
            binary,
            ctx.session.id,
            ctx.stage.model,
            ctx.settings_path,
            ctx.signal_path,
            agent=session_agent(ctx.stage, ctx.worktree),
            effort=ctx.stage.reasoning_effort,
        )
        env = base_env(ctx)
        env.update(claude_code.ENV)
        return Launch(argv, env)
