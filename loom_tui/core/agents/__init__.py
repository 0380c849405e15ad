"""Agent backends: how a stage session's agent is launched.

Two backends share one interface (`base.AgentBackend`): ``claude`` runs the real Claude Code CLI,
``sim`` runs loom's simulated agent (`loom-sim-agent`), which behaves like an agent in its pane
and runs the same hooks and statusLine command, so that the demo and the tests need no API key.
"""

from __future__ import annotations

from loom_tui.core.agents.base import AgentBackend, Launch, LaunchContext
from loom_tui.core.errors import UsageError

BACKENDS = ("claude", "sim")


def get_backend(name: str) -> AgentBackend:
    if name == "claude":
        from loom_tui.core.agents.claude import ClaudeBackend

        return ClaudeBackend()
    if name == "sim":
        from loom_tui.core.agents.sim import SimBackend

        return SimBackend()
    raise UsageError(f"unknown agent {name!r} (use one of: {', '.join(BACKENDS)})")


__all__ = ["BACKENDS", "AgentBackend", "Launch", "LaunchContext", "get_backend"]
