"""The original loom's v1 plan format, unit by unit: its markers and keys in the schema, object-form
acceptance matched by `run_commands`, ``working_dir`` for `loom stage complete`, a failing
``setup``, and its sandbox keys in the Claude Code settings."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from loom_tui.core import actions
from loom_tui.core.acceptance import run_commands
from loom_tui.core.engine.starts import SetupFailed, run_setup
from loom_tui.core.model import StageRecord, Status
from loom_tui.core.plan import PlanError, parse_plan_text
from loom_tui.core.plan_compat import no_effect_keys
from loom_tui.core.store import Store


def plan(yaml_text: str, start: str = "<!-- loom METADATA -->", end: str = "") -> str:
    end = end or "<!-- END loom METADATA -->"
    body = textwrap.dedent(yaml_text).strip("\n")
    return f"# PLAN: T\n\n{start}\n\n```yaml\n{body}\n```\n\n{end}\n"


ONE = """\
loom:
  version: 1
  stages:
    - id: a
      name: A
      working_dir: "."
"""


def issues(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(PlanError) as info:
        parse_plan_text(text, "p.md")
    return [(i.line, i.loc, i.message) for i in info.value.issues]


# markers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("<!-- loom METADATA -->", "<!-- END loom METADATA -->"),
        ("<!-- loom METADATA - Do not edit manually -->", "<!-- END loom METADATA -->"),
        (
            "<!-- loom METADATA - Do not edit manually -->",
            "<!-- END loom METADATA - Do not edit manually -->",
        ),
    ],
)
def test_both_marker_spellings_load(start: str, end: str) -> None:
    assert parse_plan_text(plan(ONE, start, end), "p.md").stages[0].id == "a"


def test_a_prose_mention_of_the_marker_is_not_a_marker() -> None:
    text = "the loom METADATA block is below\n" + plan(ONE)
    assert parse_plan_text(text, "p.md").stages[0].name == "A"


# keys ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["/abs", "../up", "app/../../x", "~/x"])
def test_working_dir_must_be_relative_without_dotdot(bad: str) -> None:
    text = plan(ONE.replace('working_dir: "."', f'working_dir: "{bad}"'))
    ((line, loc, message),) = issues(text)
    assert (line, loc) == (11, "stages[0].working_dir")
    assert "relative" in message or "'..'" in message


def test_object_acceptance_unknown_key_gets_did_you_mean_at_its_line() -> None:
    text = plan(
        ONE
        + "      acceptance:\n        - plain\n"
        + "        - command: x\n          stdout_contain: [y]\n"
    )
    assert issues(text) == [
        (
            15,
            "stages[0].acceptance[1].stdout_contain",
            "unknown key 'stdout_contain' (did you mean 'stdout_contains'?)",
        )
    ]


def test_a_blank_command_is_one_error_in_either_form() -> None:
    text = plan(ONE + '      acceptance: ["", {command: " "}]\n')
    assert issues(text) == [
        (12, "stages[0].acceptance[0]", "must not be blank"),
        (12, "stages[0].acceptance[1].command", "must not be blank"),
    ]


def test_reasoning_effort_and_stage_type_take_the_originals_values() -> None:
    text = plan(ONE + "      reasoning_effort: extreme\n      stage_type: knowledge-base\n")
    found = {loc: message for _line, loc, message in issues(text)}
    assert "'low', 'medium', 'high', 'xhigh' or 'max'" in found["stages[0].reasoning_effort"]
    assert "'integration-verify'" in found["stages[0].stage_type"]


def test_a_literal_wiring_pattern_need_not_be_a_regex() -> None:
    wiring = '      wiring: [{source: a.py, pattern: "f(", description: d, literal: true}]\n'
    assert parse_plan_text(plan(ONE + wiring), "p.md").stages[0].wiring[0].literal


def test_no_effect_keys_are_listed_once_each() -> None:
    text = plan(
        """\
        loom:
          version: 1
          ratchet_files: [x]
          stages:
            - {id: a, name: A, working_dir: ".", parallel_group: g, implementers: [claude]}
            - {id: b, name: B, working_dir: ., parallel_group: g, sandbox: {permission_mode: plan}}
        """
    )
    assert no_effect_keys(parse_plan_text(text, "p.md").spec) == [
        "ratchet_files",
        "stages[].implementers",
        "stages[].parallel_group",
        "stages[].sandbox.permission_mode",
    ]


# object-form acceptance ---------------------------------------------------------------------------


def test_object_form_acceptance_matches_stdout_stderr_and_the_exit_code(tmp_path: Path) -> None:
    commands = [
        "echo Usage: tool",
        "echo Usage: tool",
        "echo fine; echo panicked >&2",
        "echo fine; echo warning >&2",
        "exit 3",
        "exit 3",
        "true",
    ]
    checks = [
        {"stdout_contains": ["Usage:"], "stdout_not_contains": ["panicked"]},
        {"stdout_contains": ["Usage:", "missing"]},
        {"stdout_not_contains": ["panicked"]},  # stderr is not stdout
        {"stderr_empty": True},
        {"exit_code": 3},
        {},
        {"exit_code": 1},
    ]
    results = run_commands(commands, str(tmp_path), checks=checks)
    assert [r.passed for r in results] == [True, False, True, False, True, False, False]
    assert results[1].unmet == ["stdout lacks 'missing'"]
    assert results[3].unmet == ["stderr is not empty"]
    assert "stdout lacks 'missing'" in results[1].summary()
    assert "expected 1" in results[6].summary()
    assert results[2].output_tail == ["fine", "panicked"]  # both streams shown


# working_dir and integration-verify in `loom stage complete` --------------------------------------


def _executing(store: Store, stage_id: str, **fields: object) -> None:
    def change(record: StageRecord) -> None:
        if record.status is Status.WAITING_FOR_DEPS:
            record.set_status(Status.QUEUED)
        record.set_status(Status.EXECUTING)
        for name, value in fields.items():
            setattr(record, name, value)

    store.update_stage(stage_id, change)


def test_complete_runs_acceptance_in_the_working_dir_with_object_checks(
    project: Path,
) -> None:
    store = Store(str(project / ".work"))
    (project / "sub").mkdir()
    (project / "sub" / "marker.txt").write_text("hello from sub\n")
    _executing(
        store,
        "scaffold",
        working_dir="sub",
        acceptance=["cat marker.txt", "test -f marker.txt"],
        acceptance_checks=[{"stdout_contains": ["from sub"]}, {}],
    )
    result, results = actions.complete(store, "scaffold")
    assert result.changed, [r.summary() for r in results]
    _executing(
        store,
        "tokenizer",
        working_dir="sub",
        acceptance=["cat marker.txt"],
        acceptance_checks=[{"stdout_contains": ["absent"]}],
    )
    result, _results = actions.complete(store, "tokenizer")
    assert not result.changed
    failure = store.read_stage("tokenizer").acceptance_failure or {}
    assert failure["failed"][0]["unmet"] == ["stdout lacks 'absent'"]  # type: ignore[index]


def test_an_integration_verify_stage_also_runs_its_dependencies_acceptance(
    project: Path,
) -> None:
    store = Store(str(project / ".work"))
    scaffold = store.read_stage("scaffold")
    _executing(store, "tokenizer", stage_type="integration-verify", acceptance=["true"])
    _result, results = actions.complete(store, "tokenizer")
    assert [r.command for r in results] == ["true", *scaffold.acceptance]


# setup --------------------------------------------------------------------------------------------


def test_setup_runs_in_the_working_dir_and_a_failure_names_the_command_and_output(
    project: Path, tmp_path: Path
) -> None:
    store = Store(str(project / ".work"))
    worktree = tmp_path / "wt"
    (worktree / "app").mkdir(parents=True)
    stage = store.read_stage("scaffold")
    stage.working_dir = "app"
    stage.setup = ["pwd > here.txt"]
    run_setup(store, stage, str(worktree))
    assert (worktree / "app" / "here.txt").read_text().strip().endswith("/wt/app")
    stage.setup = ["true", "echo step one; echo broken >&2; exit 4", "touch never"]
    with pytest.raises(SetupFailed) as info:
        run_setup(store, stage, str(worktree))
    assert info.value.message.startswith("setup command `echo step one;")
    assert "(exit 4)" in info.value.message and "broken" in info.value.message
    assert not (worktree / "app" / "never").exists()  # it stops at the first failure


# sandbox keys -------------------------------------------------------------------------------------


def test_the_originals_sandbox_keys_become_claude_code_sandbox_settings(project: Path) -> None:
    from loom_tui.core.agents.base import LaunchContext, session_settings
    from loom_tui.core.model import SessionRecord
    from loom_tui.core.plan_schema import SandboxSpec

    store = Store(str(project / ".work"))
    stage = store.read_stage("scaffold")
    stage.sandbox = SandboxSpec.model_validate(
        {
            "auto_allow": False,
            "allow_unsandboxed_escape": True,
            "network": {
                "allowed_domains": ["a.org"],
                "additional_domains": ["b.org"],
                "allow_local_binding": True,
                "allow_unix_sockets": ["/run/x.sock"],
            },
            "linux": {"enable_weaker_nested": True},
        }
    ).model_dump()
    session = SessionRecord(id="s1", stage_id="scaffold", status="starting")
    ctx = LaunchContext(store, stage, session, str(project), "sig.md", "settings.json")
    settings = session_settings(ctx)
    sandbox = settings["sandbox"]
    assert isinstance(sandbox, dict)
    assert sandbox["autoAllowBashIfSandboxed"] is False
    assert sandbox["allowUnsandboxedCommands"] is True
    # the domains are the sandbox's network allowlist, not WebFetch permissions
    assert sandbox["network"] == {
        "allowedDomains": ["a.org", "b.org"],
        "allowLocalBinding": True,
        "allowUnixSockets": ["/run/x.sock"],
    }
    assert sandbox["enableWeakerNestedSandbox"] is True
    permissions = settings["permissions"]
    assert isinstance(permissions, dict)
    assert not [rule for rule in permissions["allow"] if rule.startswith("WebFetch")]
