"""The simulated agent as a merge-conflict resolver (its signal is a resolver's signal).

It does what the signal asks of a real agent: merge the base branch into its stage's branch,
resolve each conflicting file by keeping both sides (this branch's lines, then the base's, with
no markers left), commit, and run `loom merge <id>`.  With the stage's ``sim: {resolver: fail}``
it gives up instead (undoing the half-done merge), so tests can use up the resolver attempts.
"""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loom_tui.simagent.agent import SimAgent

GIT_ENV = {
    "GIT_AUTHOR_NAME": "loom-sim-agent",
    "GIT_AUTHOR_EMAIL": "sim@loom.invalid",
    "GIT_COMMITTER_NAME": "loom-sim-agent",
    "GIT_COMMITTER_EMAIL": "sim@loom.invalid",
}


def keep_both(text: str) -> str:
    """``text`` with each conflict replaced by both of its sides, ours first (a diff3 base
    section, ``|||||||`` to ``=======``, is dropped)."""
    out: list[str] = []
    ours: list[str] = []
    theirs: list[str] = []
    part = ""  # "", "ours", "base", "theirs"
    for line in text.splitlines(keepends=True):
        if line.startswith("<<<<<<< ") or line.rstrip("\n") == "<<<<<<<":
            part, ours, theirs = "ours", [], []
        elif part == "ours" and line.startswith("|||||||"):
            part = "base"
        elif part in ("ours", "base") and line.rstrip("\n") == "=======":
            part = "theirs"
        elif part == "theirs" and (line.startswith(">>>>>>> ") or line.rstrip("\n") == ">>>>>>>"):
            out += ours + [t for t in theirs if t not in ours]
            part = ""
        elif part == "ours":
            ours.append(line)
        elif part == "theirs":
            theirs.append(line)
        elif part == "":
            out.append(line)
    return "".join(out)


def _git(cwd: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(GIT_ENV)
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=False, capture_output=True, text=True
    )


def resolve(agent: SimAgent) -> int:
    """Resolve the stage's conflict as the signal asks; returns the agent's exit status."""
    from loom_tui.core.config import read_config

    base = read_config(agent.store.work_dir).base_branch
    cwd = agent.cwd
    merged = agent.tool(
        "Bash",
        {"command": f"git merge {base}", "description": "Merge the base branch"},
        lambda: _said(_git(cwd, "merge", "--no-edit", base), "merged"),
        800,
    )
    conflicted = [
        f for f in _git(cwd, "diff", "--name-only", "--diff-filter=U").stdout.splitlines() if f
    ]
    if agent.spec.get("resolver") == "fail":
        agent.tool("Bash", {"command": "git merge --abort"}, lambda: _abort(cwd), 200)
        return agent.give_up(f"✗ Could not resolve the conflict in {', '.join(conflicted)}.")
    for rel in conflicted:

        def fix(rel: str = rel) -> str:
            path = os.path.join(cwd, rel)
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(keep_both(text))
            _git(cwd, "add", "--", rel)
            return f"resolved {rel}, keeping both sides"

        agent.tool("Edit", {"file_path": rel}, fix, 900)
    if conflicted or "Automatic merge failed" in merged:
        agent.tool(
            "Bash",
            {"command": "git commit --no-edit", "description": "Commit the merge"},
            lambda: _said(_git(cwd, "commit", "--no-edit"), "committed"),
            300,
        )
    return agent.run_loom_merge()


def _abort(cwd: str) -> str:
    return _said(_git(cwd, "merge", "--abort"), "merge aborted")


def _said(proc: subprocess.CompletedProcess[str], quiet: str) -> str:
    return (proc.stdout + proc.stderr).strip() or quiet
