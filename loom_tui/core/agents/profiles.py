"""Which Claude Code agent (a subagent definition, ``claude --agent NAME``) a stage session runs as.

A stage names one with its ``agent:`` key; otherwise its ``stage_type`` decides (`BY_STAGE_TYPE`),
else `DEFAULT_AGENT`.  The definitions loom ships live in the
repository's `agents/` folder (in the wheel: `loom_tui/agents/`) and `loom install` copies them to
`~/.claude/agents/`.

Not to be confused with loom's agent *backend* (``--agent claude|sim``): the backend is the program
in the pane, the profile is the role that program plays.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

from loom_tui.core import frontmatter
from loom_tui.core.errors import StoreError

if TYPE_CHECKING:
    from loom_tui.core.model import StageRecord

DEFAULT_AGENT = "loom-stage-engineer"
#: A resolver session (the stage's branch conflicted with the base) merges both sides' intents:
#: loom's senior engineer, whatever runs the stage itself (a read-only reviewer could not edit).
RESOLVER_AGENT = "senior-software-engineer"

#: The agent for each stage type, when the stage names none itself.
BY_STAGE_TYPE: dict[str, str] = {
    "standard": DEFAULT_AGENT,
    "knowledge": DEFAULT_AGENT,
    "knowledge-distill": DEFAULT_AGENT,
    # verifying that merged stages work together is debugging across the whole code base
    "integration-verify": "senior-software-engineer",
}


def choose_agent(stage: StageRecord) -> str:
    """The agent of ``stage``'s sessions: `RESOLVER_AGENT` while it resolves a merge conflict,
    else its ``agent`` key, else its type's, else the default."""
    if stage.resolving:
        return RESOLVER_AGENT
    if stage.agent:
        return stage.agent
    return BY_STAGE_TYPE.get(stage.stage_type, DEFAULT_AGENT)


def named_by_plan(stage: StageRecord) -> bool:
    """Whether the plan chose ``stage``'s current agent (not loom)."""
    return bool(stage.agent) and not stage.resolving


@functools.cache
def bundled_agents() -> dict[str, dict[str, object]]:
    """The front matter of each agent loom ships, by name (read once per process)."""
    from loom_tui.core.install import source_dirs

    found: dict[str, dict[str, object]] = {}
    for folder in source_dirs("agents"):
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            if not name.endswith(".md"):
                continue
            path = os.path.join(folder, name)
            try:
                with open(path, encoding="utf-8") as fh:
                    data, _body = frontmatter.parse(fh.read(), path)
            except (OSError, UnicodeDecodeError, StoreError):
                continue
            agent = data.get("name")
            if isinstance(agent, str):
                found.setdefault(agent, data)
    return found


def bundled_model(agent: str) -> str | None:
    """The ``model`` of a bundled agent (None for an agent loom does not ship)."""
    model = bundled_agents().get(agent, {}).get("model")
    return model if isinstance(model, str) and model != "inherit" else None
