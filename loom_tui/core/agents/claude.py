"""The ``claude`` backend: the real Claude Code CLI in the stage's pane."""

from __future__ import annotations

import os
import shutil

from loom_tui.core.agents import claude_code
from loom_tui.core.agents.base import Launch, LaunchContext, base_env, write_settings


class ClaudeBackend:
    name = "claude"

    def launch(self, ctx: LaunchContext) -> Launch:
        write_settings(ctx)
        binary = os.environ.get("LOOM_CLAUDE_BIN") or shutil.which(claude_code.BINARY)
        binary = binary or claude_code.BINARY
        argv = claude_code.launch_argv(
            binary, ctx.session.id, ctx.stage.model, ctx.settings_path, ctx.signal_path
        )
        env = base_env(ctx)
        env.update(claude_code.ENV)
        return Launch(argv, env)
