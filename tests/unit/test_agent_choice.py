"""Which Claude Code agent a stage session runs as, and how that reaches Claude Code's command line.

The plan's ``agent:`` key goes through the real parser and `stage_record` (as `loom init` does);
the command line is built by the real `claude_code.launch_argv` and `ClaudeBackend`, with agent
files in a temporary ``CLAUDE_CONFIG_DIR``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from loom_tui.core.agents import claude_code
from loom_tui.core.agents.base import LaunchContext
from loom_tui.core.agents.claude import ClaudeBackend, session_agent
from loom_tui.core.agents.profiles import (
    BY_STAGE_TYPE,
    DEFAULT_AGENT,
    bundled_agents,
    bundled_model,
    choose_agent,
)
from loom_tui.core.agents.sim import SimBackend
from loom_tui.core.init_project import stage_record
from loom_tui.core.model import SessionRecord, StageRecord, Status
from loom_tui.core.plan import PlanError, parse_plan_text
from loom_tui.core.store import Store
from loom_tui.simagent import main as sim_main

PATH = "doc/plans/PLAN-0042-test.md"


def plan(stage_fields: str) -> str:
    return (
        "# Test plan\n\n<!-- loom METADATA -->\n\n```yaml\n"
        "loom:\n  version: 1\n  stages:\n"
        "    - id: alpha\n      name: Alpha\n      description: The first stage.\n"
        + "".join(f"      {line}\n" for line in stage_fields.splitlines() if line)
        + "```\n\n<!-- END loom METADATA -->\n"
    )


def record(stage_fields: str = "") -> StageRecord:
    parsed = parse_plan_text(plan(stage_fields), PATH)
    return stage_record(parsed, 0)


def stage(**fields: object) -> StageRecord:
    values: dict[str, object] = {"id": "alpha", "name": "Alpha", "status": "executing"}
    values.update(fields)
    return StageRecord(**values)


# --------------------------------------------------------------------------------------------------
# The plan's `agent:` key


def test_a_stage_without_agent_runs_as_loom_stage_engineer_on_opus() -> None:
    alpha = record()
    assert alpha.agent is None and alpha.model == "opus"
    assert choose_agent(alpha) == DEFAULT_AGENT == "loom-stage-engineer"


def test_the_agent_key_is_kept_and_brings_its_bundled_model() -> None:
    alpha = record("agent: software-engineer")
    assert alpha.agent == "software-engineer" and choose_agent(alpha) == "software-engineer"
    assert alpha.model == "sonnet"  # software-engineer's own model


def test_an_explicit_model_wins_over_the_agents() -> None:
    alpha = record("agent: software-engineer\nmodel: opus")
    assert (alpha.agent, alpha.model) == ("software-engineer", "opus")


def test_an_agent_loom_does_not_ship_keeps_the_default_model() -> None:
    alpha = record("agent: my-team:db-expert")
    assert (alpha.agent, alpha.model) == ("my-team:db-expert", "opus")
    assert bundled_model("my-team:db-expert") is None


@pytest.mark.parametrize("bad", ["''", "'two words'", "-dash-first", "'semi;colon'"])
def test_an_agent_that_is_not_an_agent_name_is_an_error_at_its_line(bad: str) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan_text(plan(f"agent: {bad}"), PATH)
    [issue] = info.value.issues
    assert (issue.line, issue.loc) == (12, "stages[0].agent")
    assert "is not an agent name" in issue.message


def test_the_agent_survives_the_stage_records_round_trip(tmp_path: Path) -> None:
    store = Store(str(tmp_path / ".work"))
    store.create_layout()
    store.write_stage(record("agent: code-reviewer"))
    again = store.read_stage("alpha")
    assert (again.agent, again.model) == ("code-reviewer", "opus")


def test_a_stage_type_picks_the_agent_when_the_stage_names_none() -> None:
    assert BY_STAGE_TYPE["integration-verify"] == "senior-software-engineer"
    verify = record("stage_type: integration-verify")
    assert (choose_agent(verify), verify.model) == ("senior-software-engineer", "opus")
    for kind in ("standard", "knowledge", "knowledge-distill", "something-newer"):
        assert choose_agent(stage(stage_type=kind)) == DEFAULT_AGENT
    named = stage(stage_type="integration-verify", agent="my-verifier")
    assert choose_agent(named) == "my-verifier"


def test_every_agent_loom_chooses_by_itself_is_shipped() -> None:
    shipped = bundled_agents()
    assert {DEFAULT_AGENT, *BY_STAGE_TYPE.values()} <= set(shipped)
    assert {name: shipped[name]["model"] for name in shipped} == {
        "code-reviewer": "opus",
        "loom-reviewer": "opus",
        "loom-stage-engineer": "opus",
        "senior-software-engineer": "opus",
        "software-engineer": "sonnet",
    }


# --------------------------------------------------------------------------------------------------
# Claude Code's command line


def test_the_command_line_names_the_agent_before_the_prompt() -> None:
    argv = claude_code.launch_argv(
        "claude", "sid", "sonnet", "/s.json", "/sig.md", agent="software-engineer"
    )
    at = argv.index("--agent")
    assert argv[at + 1] == "software-engineer"
    assert argv[argv.index("--model") + 1] == "sonnet"
    assert argv[-1] == claude_code.FIRST_PROMPT.format(signal="/sig.md")
    assert at < len(argv) - 2


def test_without_an_agent_the_command_line_has_no_agent_option() -> None:
    argv = claude_code.launch_argv("claude", "sid", "opus", "/s.json", "/sig.md")
    assert "--agent" not in argv
    assert argv[-1] == claude_code.FIRST_PROMPT.format(signal="/sig.md")


def test_loom_passes_its_default_agent_only_once_it_is_installed(tmp_path: Path) -> None:
    config = tmp_path / "claude"
    env = {"CLAUDE_CONFIG_DIR": str(config)}
    worktree = tmp_path / "wt"
    worktree.mkdir()
    # not installed: Claude Code would refuse to start, so no --agent
    assert session_agent(stage(), str(worktree), env) is None
    # installed for the user (`loom install`)
    (config / "agents").mkdir(parents=True)
    (config / "agents" / "loom-stage-engineer.md").write_text("---\nname: x\n---\n")
    assert session_agent(stage(), str(worktree), env) == "loom-stage-engineer"


def test_a_project_agent_in_the_worktree_counts_as_installed(tmp_path: Path) -> None:
    env = {"CLAUDE_CONFIG_DIR": str(tmp_path / "empty")}
    agents = tmp_path / "wt" / ".claude" / "agents"
    agents.mkdir(parents=True)
    (agents / "senior-software-engineer.md").write_text("---\nname: x\n---\n")
    typed = stage(stage_type="integration-verify")
    assert session_agent(typed, str(tmp_path / "wt"), env) == "senior-software-engineer"


def test_an_agent_the_stage_names_is_always_passed(tmp_path: Path) -> None:
    env = {"CLAUDE_CONFIG_DIR": str(tmp_path / "empty")}
    assert session_agent(stage(agent="my-agent"), str(tmp_path), env) == "my-agent"


def launch_context(tmp_path: Path, alpha: StageRecord) -> LaunchContext:
    store = Store(str(tmp_path / "repo" / ".work"))
    store.create_layout()
    session = SessionRecord(
        id=str(uuid.uuid4()), stage_id=alpha.id, generation=1, status="starting"
    )
    settings = str(tmp_path / "settings.json")
    return LaunchContext(store, alpha, session, str(tmp_path), "/sig.md", settings)


def test_the_claude_backend_runs_the_stage_as_its_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("LOOM_CLAUDE_BIN", "/usr/bin/claude")
    alpha = stage(agent="code-reviewer", status=Status.EXECUTING.value)
    argv = ClaudeBackend().launch(launch_context(tmp_path, alpha)).argv
    assert argv[argv.index("--agent") + 1] == "code-reviewer"


def test_the_sim_backend_always_names_the_agent_and_the_sim_agent_accepts_it(
    tmp_path: Path,
) -> None:
    argv = SimBackend().launch(launch_context(tmp_path, stage())).argv
    assert argv[argv.index("--agent") + 1] == "loom-stage-engineer"
    assert argv[-1] == "/sig.md"
    # the simulated agent's own parser takes the option
    with pytest.raises(SystemExit) as info:
        sim_main(["--agent", "x", "--help"])
    assert info.value.code == 0


def test_a_resolver_session_runs_as_the_senior_engineer_once_installed(tmp_path: Path) -> None:
    # a stage reviewed by the read-only code-reviewer still gets its conflicts resolved by an
    # agent that can edit
    resolving = stage(agent="code-reviewer", resolving=True)
    assert choose_agent(resolving) == "senior-software-engineer"
    config = tmp_path / "claude"
    env = {"CLAUDE_CONFIG_DIR": str(config)}
    assert session_agent(resolving, str(tmp_path), env) is None  # loom's choice: not installed
    (config / "agents").mkdir(parents=True)
    (config / "agents" / "senior-software-engineer.md").write_text("---\nname: x\n---\n")
    assert session_agent(resolving, str(tmp_path), env) == "senior-software-engineer"
    resolving.resolving = False
    assert session_agent(resolving, str(tmp_path), env) == "code-reviewer"


# --------------------------------------------------------------------------------------------------
# The original's `reasoning_effort:` key is Claude Code's --effort


def test_reasoning_effort_reaches_claude_codes_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("LOOM_CLAUDE_BIN", "/usr/bin/claude")
    store = Store(str(tmp_path / ".work"))
    store.create_layout()
    store.write_stage(record("reasoning_effort: xhigh"))
    alpha = store.read_stage("alpha")  # through the stage record's file
    assert alpha.reasoning_effort == "xhigh"
    argv = ClaudeBackend().launch(launch_context(tmp_path, alpha)).argv
    assert argv[argv.index("--effort") + 1] == "xhigh"
    assert argv.index("--effort") < len(argv) - 2  # before the prompt


def test_without_reasoning_effort_the_users_default_effort_stands() -> None:
    assert record().reasoning_effort is None
    argv = claude_code.launch_argv("claude", "sid", "opus", "/s.json", "/sig.md")
    assert "--effort" not in argv
