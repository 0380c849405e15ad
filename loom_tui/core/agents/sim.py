"""The ``sim`` backend: loom's simulated agent (`loom-sim-agent`) in the stage's pane.

It gets the same settings file as the real agent and runs its hooks and statusLine command the way
Claude Code does; its transcripts go under `.work/sim-claude/` (as ``$CLAUDE_CONFIG_DIR``), never
into the user's own `~/.claude`.
"""

from __future__ import annotations

import os
import sys

from loom_tui.core.agents.base import Launch, LaunchContext, base_env, bin_dir, write_settings

SIM_CONFIG_DIR = "sim-claude"


def sim_command() -> list[str]:
    path = os.path.join(bin_dir(), "loom-sim-agent")
    if os.path.exists(path):
        return [path]
    return [sys.executable, "-m", "loom_tui.simagent"]


class SimBackend:
    name = "sim"

    def launch(self, ctx: LaunchContext) -> Launch:
        write_settings(ctx)
        argv = [
            *sim_command(),
            "--stage",
            ctx.stage.id,
            "--session-id",
            ctx.session.id,
            "--settings",
            ctx.settings_path,
            "--model",
            ctx.stage.model,
            ctx.signal_path,
        ]
        env = base_env(ctx)
        env["CLAUDE_CONFIG_DIR"] = os.path.join(ctx.store.work_dir, SIM_CONFIG_DIR)
        return Launch(argv, env)
