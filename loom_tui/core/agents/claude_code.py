"""Facts about Claude Code that loom relies on, in one place (checked against version 2.1.197).

When Claude Code changes, this is the module to update: flags, environment, the transcript
location, and the pane strings used as a last-resort signal of the agent's state.
"""

from __future__ import annotations

import os
import re

CHECKED_VERSION = "2.1.197"
BINARY = "claude"

#: Keep the CLI quiet and stable inside an unattended pane.
ENV = {
    "DISABLE_AUTOUPDATER": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}

PERMISSION_MODE = "acceptEdits"

FIRST_PROMPT = "Read your signal file at {signal} and carry out the stage it assigns."

SYSTEM_PROMPT = (
    "You are one agent of a loom plan: you work on one stage, in its own git worktree and branch. "
    "Your signal file holds your assignment, its acceptance criteria and the commands to report "
    "with. Work only inside your worktree and commit your work on your branch. When every "
    "acceptance command passes, run `loom stage complete <stage>`. If loom tells you that your "
    "context budget is reached, run `loom handoff write <stage>` with your current state and "
    "next steps, then stop: a fresh session will continue from your handoff."
)

DEFAULT_WINDOW = 200_000
ONE_MILLION_SUFFIX = "[1m]"
AUTO_COMPACT_FRACTION = 0.835


def launch_argv(
    binary: str,
    session_id: str,
    model: str,
    settings_path: str,
    signal_path: str,
    agent: str | None = None,
    effort: str | None = None,
) -> list[str]:
    """The command line of a stage session.

    The prompt is the last argument and no option that takes several values comes before it
    (those swallow a positional prompt, and then nothing is submitted).

    ``--effort LEVEL`` (low, medium, high, xhigh, max) is the plan's ``reasoning_effort``; without
    it the session keeps the user's own default.

    ``--agent NAME`` (one value) runs the session as that agent.  Seen in 2.1.197: the agent's
    body *replaces* Claude Code's own system prompt (``--append-system-prompt`` is still
    appended), its ``tools`` list becomes the session's only tools (unknown names are ignored),
    an explicit ``--model`` wins over the agent's ``model``, and an agent that does not exist
    ends the CLI at once with exit 1 (``--agent 'x' not found. Available agents: …``).
    """
    argv = [
        binary,
        "--session-id",
        session_id,
        "--model",
        model,
        "--settings",
        settings_path,
    ]
    if agent:
        argv += ["--agent", agent]
    if effort:
        argv += ["--effort", effort]
    return [
        *argv,
        "--append-system-prompt",
        SYSTEM_PROMPT,
        "--permission-mode",
        PERMISSION_MODE,
        FIRST_PROMPT.format(signal=signal_path),
    ]


def agent_installed(name: str, cwd: str, env: dict[str, str] | None = None) -> bool:
    """Whether Claude Code finds an agent file for ``name`` started in ``cwd``: a user agent
    (``<config dir>/agents/NAME.md``) or a project agent (``.claude/agents/NAME.md``)."""
    filename = f"{name}.md"
    return os.path.isfile(os.path.join(config_dir(env), "agents", filename)) or os.path.isfile(
        os.path.join(cwd, ".claude", "agents", filename)
    )


def config_dir(env: dict[str, str] | None = None) -> str:
    """Claude Code's configuration directory (``$CLAUDE_CONFIG_DIR``, else ``~/.claude``)."""
    env = dict(os.environ) if env is None else env
    explicit = env.get("CLAUDE_CONFIG_DIR")
    if explicit:
        return explicit
    return os.path.join(env.get("HOME") or os.path.expanduser("~"), ".claude")


def global_config_path(env: dict[str, str] | None = None) -> str:
    """`~/.claude.json`, or `$CLAUDE_CONFIG_DIR/.claude.json` when that is set."""
    env = dict(os.environ) if env is None else env
    explicit = env.get("CLAUDE_CONFIG_DIR")
    if explicit:
        return os.path.join(explicit, ".claude.json")
    return os.path.join(env.get("HOME") or os.path.expanduser("~"), ".claude.json")


def trusted_folders(repo_root: str, worktrees_dir: str) -> list[str]:
    """The folders to mark trusted in `~/.claude.json` so that no stage pane shows the trust dialog.

    2.1.197 accepts a trusted ancestor of the working directory, such as `<repo>/.worktrees`; later
    versions (seen in 2.1.332) accept only the directory itself or, in a git worktree, the root of
    its main repository.  The repository root satisfies both.
    """
    return [worktrees_dir, repo_root]


_SLUG_RE = re.compile(r"[^A-Za-z0-9]")


def project_slug(cwd: str) -> str:
    """The transcript folder name for a working directory: every non-alphanumeric becomes '-'.

    Over 200 characters, Claude Code truncates and appends a hash; loom then finds the transcript
    by its session id instead (see `transcript_path`).
    """
    return _SLUG_RE.sub("-", cwd)


def transcript_path(cwd: str, session_id: str, env: dict[str, str] | None = None) -> str:
    projects = os.path.join(config_dir(env), "projects")
    slug = project_slug(cwd)
    path = os.path.join(projects, slug, f"{session_id}.jsonl")
    if len(slug) <= 200 or os.path.exists(path):
        return path
    prefix = slug[:200]
    try:
        for name in os.listdir(projects):
            if name.startswith(prefix):
                candidate = os.path.join(projects, name, f"{session_id}.jsonl")
                if os.path.exists(candidate):
                    return candidate
    except OSError:
        pass
    return path


def window_size(model_id: str | None, reported: int | None = None) -> int:
    """The context window: what the statusLine reports, else 1M for a `[1m]` model, else 200k."""
    if reported:
        return int(reported)
    if model_id and model_id.endswith(ONE_MILLION_SUFFIX):
        return 1_000_000
    return DEFAULT_WINDOW


# Pane text: the last resort for the agent's state (strings change between versions).
PANE_PERMISSION = re.compile(r"Do you want to proceed\?|Do you want to make this edit")
PANE_TRUST = re.compile(r"Is this a project you created or one you trust|Do you trust the files")
PANE_BUSY = re.compile(r"esc to interrupt|^[·✢*✶✻✽] \S+…", re.MULTILINE)
PANE_IDLE_PROMPT = re.compile(r"^❯ ", re.MULTILINE)
PANE_EXITED = re.compile(r"Resume this session with:")
