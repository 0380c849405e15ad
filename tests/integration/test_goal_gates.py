"""Goal-backward gates: `loom stage complete` runs the acceptance commands, then the stage's truths,
artifacts (with stub detection) and wiring, and completes only if every layer passes; a refusal
names the layer.  Real CLI, real git; one test runs the simulated agent end to end."""

from __future__ import annotations

from typing import Any

from loom_tui.core.model import StageRecord, Status
from tests.integration.conftest import MakeProject
from tests.integration.engine import Project, sim_stage
from tests.integration.test_verify import FILES

EMPTY = {"wordcount/empty.py": ""}
RUST_STUB = {"src/lib.rs": "pub fn answer() -> u32 {\n    todo!()\n}\n"}


def executing(project: Project, stage_id: str) -> None:
    def change(record: StageRecord) -> None:
        record.status = Status.EXECUTING

    project.store.update_stage(stage_id, change)


def gated(stage_id: str = "s", **fields: Any) -> dict[str, Any]:
    return {
        "id": stage_id,
        "name": f"Stage {stage_id}",
        "description": "Do it.",
        "acceptance": ["true"],
        **fields,
    }


def complete(project: Project, stage_id: str = "s") -> tuple[int, str]:
    proc = project.loom("stage", "complete", stage_id)
    return proc.returncode, proc.stdout + proc.stderr


def test_a_stub_artifact_is_refused_and_the_layer_named(make_project: MakeProject) -> None:
    for artifact, files in (
        ("wordcount/tokenize.py", {}),  # raise NotImplementedError / pass
        ("src/lib.rs", RUST_STUB),  # todo!()
        ("wordcount/empty.py", EMPTY),  # an empty file
    ):
        project = make_project([gated(artifacts=[artifact])], files={**FILES, **files})
        executing(project, "s")
        code, out = complete(project)
        assert code == 1, out
        assert "acceptance passed, but the artifacts layer failed" in out, out
        assert "✗ artifact" in out
        stage = project.stage("s")
        assert stage.status is Status.EXECUTING
        assert stage.acceptance_failure is not None
        assert stage.acceptance_failure["layer"] == "artifacts"


def test_missing_wiring_and_a_failing_truth_are_refused(make_project: MakeProject) -> None:
    wiring = [{"source": "wordcount/cli.py", "pattern": "from wordcount.tokenize import"}]
    project = make_project([gated(wiring=wiring)], files=FILES)
    executing(project, "s")
    code, out = complete(project)
    assert code == 1 and "the wiring layer failed" in out, out
    project = make_project([gated(truths=["grep -q tokenize wordcount/cli.py"])], files=FILES)
    executing(project, "s")
    code, out = complete(project)
    assert code == 1 and "the truths layer failed" in out, out


def test_a_stage_whose_gates_all_pass_completes(make_project: MakeProject) -> None:
    wiring = [{"source": "wordcount/cli.py", "pattern": "from wordcount.count import top"}]
    project = make_project(
        [
            gated(
                truths=["test -s wordcount/count.py"],
                artifacts=["wordcount/count.py"],
                wiring=wiring,
            )
        ],
        files=FILES,
    )
    executing(project, "s")
    code, out = complete(project)
    assert code == 0, out
    assert "completed" in out and project.stage("s").status is Status.COMPLETED


def test_an_agent_that_never_wires_its_work_in_ends_in_review_as_a_goal_check_failure(
    make_project: MakeProject,
) -> None:
    spec = sim_stage("a", max_retries=0)
    spec["wiring"] = [{"source": "sim/a.md", "pattern": "wired into the app"}]
    project = make_project([spec])
    result = project.run_headless()
    assert result.returncode == 1, result.stdout + result.stderr
    stage = project.stage("a")
    assert stage.status is Status.NEEDS_HUMAN_REVIEW
    assert stage.failure is not None and stage.failure["kind"] == "goal-check"
    assert stage.blocked_reason is not None
    assert stage.blocked_reason.startswith("goal check failed (wiring)")
    report = project.loom("diagnose", "a", check=True).stdout
    assert "failure     goal-check" in report
    assert "sim/a.md" not in project.git("ls-tree", "-r", "--name-only", "main")
