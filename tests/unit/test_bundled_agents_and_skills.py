"""Every agent and skill loom ships (`agents/*.md`, `skills/*/SKILL.md`) is in Claude Code's format
and says what an agent inside a loom stage needs to know.

Front matter is read with a real YAML parser (ruamel.yaml, as Claude Code reads it with its own)
and with loom's fast reader, which the skill index uses at every session start.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from loom_tui.core import frontmatter

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENTS = sorted((REPO_ROOT / "agents").glob("*.md"))
SKILLS = sorted((REPO_ROOT / "skills").glob("*/SKILL.md"))

#: The agents of the original's README (with their models), and loom's own.
README_AGENTS = {
    "senior-software-engineer": "opus",
    "software-engineer": "sonnet",
    "code-reviewer": "opus",
}
LOOM_AGENTS = {"loom-stage-engineer", "loom-reviewer"}
#: Agents that may run a stage session, and so must know how to finish one.
STAGE_AGENTS = ["loom-stage-engineer", "senior-software-engineer", "software-engineer"]
READ_ONLY = ["code-reviewer", "loom-reviewer"]

#: The README's skill categories, each with the skills that must cover it.
CATEGORIES = {
    "languages": {"python", "typescript", "rust", "go", "shell-scripting"},
    "code quality": {"testing", "refactoring", "code-review", "debugging", "error-handling"},
    "infrastructure": {"docker", "ci-cd", "terraform", "kubernetes"},
    "security": {"secrets-management", "input-validation", "dependency-audit", "auth"},
    "architecture": {"api-design", "data-modelling", "event-driven", "cli-design"},
    "observability": {"logging", "metrics", "tracing"},
    "loom": {"loom-plan-writer", "loom-handoff"},
}


def front_matter(path: Path) -> tuple[dict[str, object], str]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), path
    front, body = text[4:].split("\n---\n", 1)
    data = YAML(typ="safe", pure=True).load(front)
    assert isinstance(data, dict), path
    # loom's own reader agrees, on its fast path (no YAML library at session start)
    assert frontmatter._parse_subset(front + "\n") == data, path
    return data, body


def tools(data: dict[str, object]) -> set[str]:
    return {t.strip() for t in str(data["tools"]).split(",")}


def agent(name: str) -> tuple[dict[str, object], str]:
    return front_matter(REPO_ROOT / "agents" / f"{name}.md")


# --------------------------------------------------------------------------------------------------
# Agents


def test_the_original_readmes_agents_and_loom_s_own_are_shipped() -> None:
    assert {p.stem for p in AGENTS} == set(README_AGENTS) | LOOM_AGENTS
    for name, model in README_AGENTS.items():
        assert agent(name)[0]["model"] == model, name


@pytest.mark.parametrize("path", AGENTS, ids=lambda p: p.stem)
def test_every_agent_is_a_claude_code_subagent_file(path: Path) -> None:
    data, body = front_matter(path)
    assert set(data) == {"name", "description", "model", "tools"}
    assert data["name"] == path.stem
    assert isinstance(data["description"], str) and len(data["description"]) > 100
    assert data["model"] in ("opus", "sonnet", "haiku")
    # the session's only tools are these (Claude Code ignores names it does not know)
    assert {"Read", "Grep", "Glob", "Bash", "Skill"} <= tools(data)
    assert len(body.splitlines()) > 50
    # `--agent` replaces Claude Code's own system prompt: the body has to stand alone
    assert body.lstrip().startswith("You ")


@pytest.mark.parametrize("name", STAGE_AGENTS)
def test_the_agents_that_run_stages_know_how_to_work_in_one(name: str) -> None:
    data, body = agent(name)
    assert {"Edit", "Write"} <= tools(data)
    for needle in (
        "signal",
        "worktree",
        "loom stage complete",
        "loom handoff write",
        "--summary",
        "--next",
        "loom memory decision",
        "loom memory note",
        "loom stage block",
        "acceptance",
    ):
        assert needle in body, (name, needle)
    assert_git_lane(body, name)


def assert_git_lane(body: str, name: str) -> None:
    """Explicit paths only, and never push or switch branches — and nothing that says otherwise."""
    flat = " ".join(body.split())
    assert re.search(r"git add [\w./<>-]+\.\w+", flat), name  # an explicit-path example
    for forbidden in ("git add -A", "git add .", "git push", "git checkout", "git switch"):
        assert forbidden in flat, (name, forbidden)
    for line in body.splitlines():
        for forbidden in ("git add -A", "git add .`", "git push"):
            if forbidden in line:
                assert re.search(r"\b(never|not)\b", line, re.IGNORECASE), (name, line)


@pytest.mark.parametrize("name", READ_ONLY)
def test_the_reviewers_cannot_edit_code(name: str) -> None:
    data, body = agent(name)
    assert "Edit" not in tools(data) and "MultiEdit" not in tools(data)
    assert "never" in body.lower()


def test_loom_reviewer_checks_acceptance_and_goal_checks() -> None:
    data, body = agent("loom-reviewer")
    assert "Write" not in tools(data)
    assert "loom verify" in body and "acceptance" in body


def test_code_reviewer_as_a_stage_commits_only_its_report() -> None:
    _data, body = agent("code-reviewer")
    for needle in ("loom stage complete", "loom stage block", "loom handoff write"):
        assert needle in body
    assert_git_lane(body, "code-reviewer")


# --------------------------------------------------------------------------------------------------
# Skills


def test_the_library_covers_every_category_of_the_readme() -> None:
    shipped = {p.parent.name for p in SKILLS}
    assert len(shipped) >= 22
    for category, wanted in CATEGORIES.items():
        assert wanted <= shipped, (category, wanted - shipped)


@pytest.mark.parametrize("path", SKILLS, ids=lambda p: p.parent.name)
def test_every_skill_is_a_claude_code_skill_file(path: Path) -> None:
    data, body = front_matter(path)
    assert set(data) <= {"name", "description", "allowed-tools", "triggers", "files"}
    assert data["name"] == path.parent.name
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", str(data["name"]))
    description = data["description"]
    assert isinstance(description, str) and 80 < len(description) <= 1024
    assert "use" in description.lower()  # says when to use it
    for key in ("triggers", "files"):
        value = data.get(key, [])
        assert isinstance(value, list) and all(isinstance(v, str) and v for v in value), key
    # real guidance: headings, and commands or checklists, not a paragraph
    lines = body.splitlines()
    assert len(lines) >= 45, len(lines)
    assert sum(line.startswith("## ") for line in lines) >= 3
    assert "```" in body or "- [ ]" in body or "|" in body


def test_skills_other_than_loom_s_own_have_triggers_or_file_patterns() -> None:
    for path in SKILLS:
        data, _body = front_matter(path)
        if data["name"] != "loom-handoff":
            assert data.get("triggers") or data.get("files"), path
