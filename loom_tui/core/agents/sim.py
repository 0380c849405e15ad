"""The ``sim`` backend: loom's simulated agent (`loom-sim-agent`) in the stage's pane.

It gets the same settings file as the real agent and runs its hooks and statusLine command the way
Claude Code does; its transcripts go under `.work/sim-claude/` (as ``$CLAUDE_CONFIG_DIR``), never
into the user's own `~/.claude`.  It is always given the stage's ``--agent`` (it needs no agent
file), and records it with each start, so that tests see which agent a session would run as.
"""

from __future__ import annotations

import os
import sys

from loom_tui.core.agents.base import Launch, LaunchContext, base_env, bin_dir, write_settings
from loom_tui.core.agents.profiles import choose_agent

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
            "--agent",
            choose_agent(ctx.stage),
            ctx.signal_path,
        ]
        env = base_env(ctx)
        env["CLAUDE_CONFIG_DIR"] = os.path.join(ctx.store.work_dir, SIM_CONFIG_DIR)
        return Launch(argv, env)
