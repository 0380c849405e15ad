"""Knowledge in a real run: the real `loom` CLI, real git, real tmux, the simulated agent.

The project's committed knowledge files, and a memory note promoted before the run (into the
main checkout, not committed, so the stages' worktrees do not have it), reach the signal of every
stage, not only later sessions of the stage that wrote the note; a large file is cut with a
pointer to the rest.
"""

from __future__ import annotations

from tests.integration.conftest import MakeProject
from tests.integration.engine import sim_stage

KDIR = "doc/loom/knowledge"
BIG = "\n".join(f"- component {i:03d} talks to component {i + 1:03d}" for i in range(400))


def test_every_stage_signal_includes_the_knowledge_files(make_project: MakeProject) -> None:
    alpha = sim_stage("alpha")
    beta = sim_stage("beta", deps=["alpha"])
    project = make_project(
        [alpha, beta],
        files={
            "README.md": "# demo\n",
            f"{KDIR}/mistakes.md": "# Mistakes\n\n- Never push from a stage session.\n",
            f"{KDIR}/architecture.md": f"# Architecture\n\n{BIG}\n",
        },
    )
    project.loom("memory", "note", "--stage", "beta", "The API speaks JSON only", check=True)
    project.loom("memory", "promote", "note", "patterns", "--stage", "beta", check=True)

    proc = project.run_headless()
    assert proc.returncode == 0, proc.stdout + proc.stderr

    starts = {s["stage"]: s for s in project.starts()}
    assert set(starts) == {"alpha", "beta"}
    for stage_id, start in starts.items():
        signal = (project.work / "signals" / f"{start['session']}.md").read_text()
        part = signal.split("\n## Project knowledge\n", 1)[1].split("\n## ", 1)[0]
        assert "### mistakes.md\n\n- Never push from a stage session." in part, stage_id
        # promoted from beta's memory: in every stage's signal, alpha's included
        assert "### patterns.md" in part and "- The API speaks JSON only" in part, stage_id
        assert "- component 000 talks to component 001" in part
        assert "- component 399" not in part
        assert f"more lines in {KDIR}/architecture.md)" in part
        assert len(part) < 8000
        assert (
            "The API speaks JSON only"
            not in signal.split("\n## Commands\n")[0].split("\n## Project knowledge\n")[0]
        )
    beta_signal = (project.work / "signals" / f"{starts['beta']['session']}.md").read_text()
    assert "## Stage memory" not in beta_signal  # its one note was promoted
