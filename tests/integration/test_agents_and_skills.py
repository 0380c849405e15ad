"""Agents and skills in a real run: the real `loom` CLI, real git, real tmux, the simulated agent.

- A stage's ``agent:`` reaches the session's command line (the simulated agent records the
  ``--agent`` and ``--model`` it was started with), and a stage without one runs as
  `loom-stage-engineer`.
- The signal of each session names the skills that fit its stage, and no Skills section when
  none does.
- The plan in the `loom-plan-writer` skill is accepted by `loom init` as it stands.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from loom_tui.core.agents.profiles import choose_agent
from loom_tui.core.store import Store
from tests.conftest import LOOM, REPO_ROOT, make_repo
from tests.integration.conftest import MakeProject
from tests.integration.engine import sim_stage


def test_a_sim_run_starts_each_stage_as_its_agent_and_names_its_skills(
    make_project: MakeProject,
) -> None:
    container = sim_stage("container")
    container.update(
        name="Container image",
        description="Add a Dockerfile for the service and a GitHub Actions workflow that "
        "builds it on every push.",
        files=["Dockerfile", ".github/workflows/*.yml"],
        agent="software-engineer",
    )
    plain = sim_stage("plain", deps=["container"])
    project = make_project([container, plain])

    proc = project.run_headless()
    assert proc.returncode == 0, proc.stdout + proc.stderr

    starts = {s["stage"]: s for s in project.starts()}
    assert (starts["container"]["agent"], starts["container"]["model"]) == (
        "software-engineer",
        "sonnet",  # the agent's own model: the stage names none
    )
    assert (starts["plain"]["agent"], starts["plain"]["model"]) == ("loom-stage-engineer", "opus")

    signal = (project.work / "signals" / f"{starts['container']['session']}.md").read_text()
    section = signal.split("\n## Skills\n", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^- `([a-z0-9-]+)`: ", section, re.MULTILINE)
    assert sorted(listed) == ["ci-cd", "docker"], section
    assert str(REPO_ROOT / "skills" / "docker" / "SKILL.md") in section
    quiet = (project.work / "signals" / f"{starts['plain']['session']}.md").read_text()
    assert "## Skills" not in quiet


def test_the_plan_writers_example_plan_is_accepted_by_loom_init(tmp_path: Path) -> None:
    skill = (REPO_ROOT / "skills" / "loom-plan-writer" / "SKILL.md").read_text()
    example = skill.split("````markdown\n", 1)[1].split("\n````\n", 1)[0] + "\n"
    root = make_repo(tmp_path / "repo")
    plan = root / "doc" / "plans" / "PLAN-0007-csv-export.md"
    plan.parent.mkdir(parents=True)
    plan.write_text(example)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOM_", "TMUX"))}

    proc = subprocess.run(
        [LOOM, "init", "doc/plans/PLAN-0007-csv-export.md"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PLAN-0007: CSV export for reports (4 stages, 2 ready)" in proc.stdout
    assert "no effect" not in proc.stdout

    stages = {s.id: s for s in Store(str(root / ".work")).stages()}
    assert list(stages) == ["csv-writer", "export-endpoint", "export-docs", "integration"]
    writer, endpoint = stages["csv-writer"], stages["export-endpoint"]
    assert (writer.agent, writer.model) == ("software-engineer", "sonnet")
    assert writer.skills == ["python", "testing"]
    assert writer.description.startswith("Add app/reports/csv_export.py with `to_csv(")
    assert "\n" not in writer.description  # folded by `>-`
    assert endpoint.dependencies == ["csv-writer"]
    [wiring] = endpoint.wiring
    assert isinstance(wiring, dict)
    assert (wiring["source"], wiring["pattern"]) == ("app/api/reports.py", "export\\.csv")
    assert stages["export-docs"].context_budget == 50
    integration = stages["integration"]
    assert integration.dependencies == ["export-endpoint", "export-docs"]
    assert (integration.stage_type, integration.agent) == ("integration-verify", None)
    assert choose_agent(integration) == "senior-software-engineer"
