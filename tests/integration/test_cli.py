"""The `loom` command line, through the real console script in a subprocess only.

Every call goes through the `cli` fixture, which also checks that no traceback ever reaches the
user: errors are one `loom:` line (or click's usage message) and an exit code from the contract
in FORMATS.md (0 ok, 1 operation failed, 2 bad usage or input).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pygit2
import pytest
from ruamel.yaml import YAML

from tests.conftest import SAMPLE_PLAN, RunLoom, make_repo

PLAN_REL = "doc/plans/PLAN-0001-wordcount.md"
SAMPLE_IDS = ["scaffold", "tokenizer", "counter", "docs", "cli", "release"]
STATUSES = {
    "waiting-for-deps",
    "queued",
    "executing",
    "completed",
    "blocked",
    "needs-handoff",
    "waiting-for-input",
    "merge-conflict",
    "skipped",
}
STAGE_VERBS = ["complete", "block", "reset", "hold", "release", "skip", "retry"]


# --------------------------------------------------------------------------------------------------
# Helpers


def assert_no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout


@pytest.fixture
def cli(loom: RunLoom) -> RunLoom:
    """The `loom` fixture, checking every call for a traceback."""

    def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        proc = loom(*args, **kwargs)
        assert_no_traceback(proc)
        return proc

    return run


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def loom_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def status_json(cli: RunLoom, *args: str, **kwargs: object) -> dict[str, object]:
    proc = ok(cli(*args, "status", "--json", **kwargs))
    data = json.loads(proc.stdout)
    assert isinstance(data, dict)
    return data


def stages_by_id(data: dict[str, object]) -> dict[str, dict[str, object]]:
    stages = data["stages"]
    assert isinstance(stages, list)
    return {s["id"]: s for s in stages}


def stage_field(cli: RunLoom, stage_id: str, field: str, *args: str, **kwargs: object) -> object:
    """One field of one stage in `loom [ARGS] status --json`."""
    return stages_by_id(status_json(cli, *args, **kwargs))[stage_id][field]


def front_matter(path: Path) -> dict[str, object]:
    """The YAML front matter of a `.work/` record."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), text[:80]
    head, sep, _body = text[4:].partition("\n---\n")
    assert sep, f"{path}: front matter not closed"
    data = YAML(typ="safe").load(head)
    assert isinstance(data, dict)
    return data


def record_field(project: Path, stage_id: str, field: str) -> object:
    """One field of a stage's record in `.work/stages/`, read from the file (no `loom` process: for
    the loops that check a command's effect after each call; `status --json` is checked on its
    own)."""
    return front_matter(project / ".work" / "stages" / f"{stage_id}.md")[field]


def stage_files(project: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (project / ".work" / "stages").iterdir()}


def line_of(text: str, needle: str) -> int:
    """The 1-based number of the one line of ``text`` that contains ``needle``."""
    found = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


def plan_text(stages_yaml: str, title: str = "Test plan") -> str:
    return (
        f"# {title}\n\nSome prose before the metadata.\n\n<!-- loom METADATA -->\n\n"
        "```yaml\nloom:\n  version: 1\n  stages:\n"
        f"{stages_yaml}```\n\n<!-- END loom METADATA -->\n"
    )


def write_plan(repo: Path, name: str, stages_yaml: str) -> tuple[str, str]:
    """Write a plan under the repository's doc/plans/; returns (path relative to repo, text)."""
    text = plan_text(stages_yaml)
    target = repo / "doc" / "plans" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return f"doc/plans/{name}", text


def write_file(root: Path, rel: str, content: str = "content\n") -> None:
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content, encoding="utf-8")


def complete_scaffold(cli: RunLoom, project: Path) -> None:
    """Bring `scaffold` to completed the way a person would: block it, do the work, complete it."""
    ok(cli("stage", "block", "scaffold", "done", "by", "hand"))
    write_file(project, "wordcount/__init__.py", "__version__ = '0.1.0'\n")
    ok(cli("stage", "complete", "scaffold"))
    assert stage_field(cli, "scaffold", "status") == "completed"


def imported_modules(stderr: str) -> set[str]:
    """The modules a run imported, from PYTHONPROFILEIMPORTTIME's report on stderr."""
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def listed_commands(help_text: str) -> set[str]:
    """The command names in the "Commands:" section of click's help."""
    section = help_text.split("Commands:", 1)[1]
    return {m.group(1) for m in re.finditer(r"^  ([a-z][\w-]*)(?:\s|$)", section, re.MULTILINE)}


def without_import_report(stderr: str) -> str:
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("import time:"))


# --------------------------------------------------------------------------------------------------
# loom init


def test_init_sets_initial_statuses_and_base_branch(
    git_repo: Path, sample_plan: Path, cli: RunLoom
) -> None:
    proc = ok(cli("init", PLAN_REL))
    assert "base branch main" in proc.stdout
    assert proc.stderr == ""
    assert (git_repo / ".work" / "config.toml").is_file()

    data = status_json(cli)
    plan = data["plan"]
    assert isinstance(plan, dict)
    assert plan["base_branch"] == "main"
    assert plan["id"] == "PLAN-0001-wordcount"
    assert plan["name"] == "PLAN-0001: Word-count tool"
    stages = stages_by_id(data)
    assert list(stages) == SAMPLE_IDS
    for stage_id, stage in stages.items():
        expected = "waiting-for-deps" if stage["dependencies"] else "queued"
        assert stage["status"] == expected, stage_id
        assert stage["held"] is False
        assert stage["merged"] is False
    assert stages["scaffold"]["status"] == "queued"
    for stage_id in SAMPLE_IDS[1:]:
        record = front_matter(git_repo / ".work" / "stages" / f"{stage_id}.md")
        assert record["status"] == "waiting-for-deps"


@pytest.mark.parametrize("branch", ["develop", "feature/login"])
def test_init_takes_the_checked_out_branch_as_base(
    tmp_path: Path, cli: RunLoom, branch: str
) -> None:
    repo = make_repo(tmp_path / "other", branch=branch)
    shutil.copy(SAMPLE_PLAN, repo / "plan.md")
    proc = ok(cli("init", "plan.md", cwd=repo))
    assert f"base branch {branch}" in proc.stdout
    plan = status_json(cli, cwd=repo)["plan"]
    assert isinstance(plan, dict)
    assert plan["base_branch"] == branch


def test_second_init_is_refused_and_clean_starts_again(
    git_repo: Path, sample_plan: Path, cli: RunLoom
) -> None:
    ok(cli("init", PLAN_REL))
    ok(cli("stage", "hold", "docs"))
    config_before = (git_repo / ".work" / "config.toml").read_bytes()

    again = cli("init", PLAN_REL)
    assert again.returncode == 1
    lines = loom_lines(again.stderr)
    assert len(lines) == 1, again.stderr
    assert lines[0].startswith("loom: ")
    assert "--clean" in lines[0]
    assert again.stdout == ""
    assert (git_repo / ".work" / "config.toml").read_bytes() == config_before
    assert stage_field(cli, "docs", "held") is True

    ok(cli("init", PLAN_REL, "--clean"))
    stages = stages_by_id(status_json(cli))
    assert stages["docs"]["held"] is False
    assert stages["scaffold"]["status"] == "queued"


CYCLE_STAGES = """\
    - id: a
      name: Stage A
      description: first
      dependencies: [b]
    - id: b
      name: Stage B
      description: second
      dependencies: [c]
    - id: c
      name: Stage C
      description: third
      dependencies: [a]
    - id: d
      name: Stage D
      description: outside the cycle
      dependencies: [a]
"""


def test_init_names_a_dependency_cycle_with_its_line(git_repo: Path, cli: RunLoom) -> None:
    rel, text = write_plan(git_repo, "cycle.md", CYCLE_STAGES)
    proc = cli("init", rel)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert not (git_repo / ".work").exists()

    pattern = re.compile(
        rf"^{re.escape(rel)}:(\d+): stages\[(\d+)\]\.dependencies: dependency cycle: (.+)$"
    )
    matches = [m for m in map(pattern.match, proc.stderr.splitlines()) if m]
    assert len(matches) == 1, proc.stderr
    line, index, cycle_text = matches[0].groups()
    nodes = cycle_text.split(" -> ")
    assert nodes[0] == nodes[-1]
    ring = nodes[:-1]
    assert len(ring) == 3
    rotations = [["a", "b", "c"][k:] + ["a", "b", "c"][:k] for k in range(3)]
    assert ring in rotations, cycle_text
    head, after = ring[0], ring[1]
    assert int(index) == "abc".index(head)
    assert int(line) == line_of(text, f"dependencies: [{after}]")
    assert "1 problem in the plan" in proc.stderr


MANY_PROBLEMS = """\
    - id: Bad_ID
      name: First
      description: first
    - id: second
      name: ""
      description: second
      dependencies: [zzz]
      context_budget: 500
    - id: third
      nmae: Third
      description: third
"""


def test_init_reports_every_problem_one_per_line(git_repo: Path, cli: RunLoom) -> None:
    rel, text = write_plan(git_repo, "broken.md", MANY_PROBLEMS)
    proc = cli("init", rel)
    assert proc.returncode == 2
    assert not (git_repo / ".work").exists()

    pattern = re.compile(rf"^{re.escape(rel)}:(\d+): (\S+): (.+)$")
    problems = {}
    lines = proc.stderr.splitlines()
    for line in lines[:-1]:
        match = pattern.match(line)
        assert match, f"not a PATH:LINE: problem line: {line!r}"
        problems[match.group(2)] = (int(match.group(1)), match.group(3))
    assert lines[-1] == f"loom: {len(problems)} problems in the plan; nothing was changed"

    expected_lines = {
        "stages[0].id": line_of(text, "id: Bad_ID"),
        "stages[1].name": line_of(text, 'name: ""'),
        "stages[1].dependencies[0]": line_of(text, "dependencies: [zzz]"),
        "stages[1].context_budget": line_of(text, "context_budget: 500"),
        "stages[2].nmae": line_of(text, "nmae: Third"),
    }
    for loc, line in expected_lines.items():
        assert loc in problems, (loc, proc.stderr)
        assert problems[loc][0] == line, (loc, proc.stderr)
    assert "'zzz'" in problems["stages[1].dependencies[0]"][1]
    assert "did you mean 'name'" in problems["stages[2].nmae"][1]
    assert "stages[2].name" in problems, proc.stderr  # the misspelt key leaves it missing
    assert (
        line_of(text, "id: third")
        <= problems["stages[2].name"][0]
        <= line_of(text, "description: third")
    )


def test_init_outside_a_git_repository_fails_with_one_line(tmp_path: Path, cli: RunLoom) -> None:
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    assert pygit2.discover_repository(str(outside)) is None
    shutil.copy(SAMPLE_PLAN, outside / "plan.md")
    proc = cli("init", "plan.md", cwd=outside)
    assert proc.returncode == 1
    lines = loom_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("loom: ")
    assert "git" in lines[0]
    assert not (outside / ".work").exists()


def test_init_with_a_missing_plan_is_bad_input(git_repo: Path, cli: RunLoom) -> None:
    proc = cli("init", "doc/plans/nope.md")
    assert proc.returncode == 2
    assert "doc/plans/nope.md:1:" in proc.stderr
    assert not (git_repo / ".work").exists()


# --------------------------------------------------------------------------------------------------
# loom status


def test_status_json_has_the_documented_shape(project: Path, cli: RunLoom) -> None:
    proc = ok(cli("status", "--json"))
    data = json.loads(proc.stdout)  # the whole of stdout is one object
    assert isinstance(data, dict)
    assert {"plan", "stages"} <= set(data)
    plan = data["plan"]
    assert isinstance(plan, dict)
    for key in ("id", "name", "base_branch"):
        assert isinstance(plan[key], str), key
    stages = data["stages"]
    assert isinstance(stages, list)
    assert [s["id"] for s in stages] == SAMPLE_IDS
    for stage in stages:
        assert isinstance(stage, dict)
        assert isinstance(stage["id"], str)
        assert isinstance(stage["name"], str)
        assert stage["name"]
        assert stage["status"] in STATUSES
        assert isinstance(stage["held"], bool)
        assert isinstance(stage["merged"], bool)
        assert isinstance(stage["dependencies"], list)
        assert all(isinstance(d, str) for d in stage["dependencies"])
        assert isinstance(stage["retry_count"], int)
        assert not isinstance(stage["retry_count"], bool)
        percent = stage["context_percent"]
        assert percent is None or (isinstance(percent, int | float) and 0 <= percent <= 100)
        assert stage["session_id"] is None or isinstance(stage["session_id"], str)
        assert isinstance(stage["handoffs"], list)
    by_id = stages_by_id(data)
    assert by_id["cli"]["dependencies"] == ["tokenizer", "counter"]
    assert by_id["release"]["name"] == "Release notes"


def test_status_is_plain_text_when_not_a_terminal(project: Path, cli: RunLoom) -> None:
    proc = ok(cli("status"))
    assert "\x1b" not in proc.stdout
    lines = proc.stdout.splitlines()
    assert "PLAN-0001: Word-count tool" in lines[0]
    assert "base main" in lines[0]
    body = lines[1:]
    assert body[0].split()[:2] == ["stage", "status"]
    # the last line says that no scheduler runs while scaffold waits for one
    assert body[-1].startswith("! no scheduler is running")
    rows = {line.split()[0]: line for line in body[1:-1]}
    assert list(rows) == SAMPLE_IDS
    assert "queued" in rows["scaffold"]
    for stage_id in SAMPLE_IDS[1:]:
        assert "waiting-for-deps" in rows[stage_id]


def test_commands_outside_a_project_say_how_to_start_one(git_repo: Path, cli: RunLoom) -> None:
    for args in (("status",), ("status", "--json"), ("stage", "hold", "scaffold")):
        proc = cli(*args)
        assert proc.returncode == 1, args
        lines = loom_lines(proc.stderr)
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("loom: ")
        assert "loom init" in lines[0]
        assert proc.stdout == ""


def test_a_broken_stage_file_is_named_not_a_traceback(project: Path, cli: RunLoom) -> None:
    (project / ".work" / "stages" / "docs.md").write_text("garbage: [\n", encoding="utf-8")
    proc = cli("stage", "hold", "docs")
    assert proc.returncode == 1
    lines = loom_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("loom: .work/stages/docs.md")
    # status lists it (quarantined), and the other stages can still be changed
    for args in (("status",), ("status", "--json")):
        proc = cli(*args)
        assert proc.returncode == 0, args
        assert "docs" in proc.stdout and proc.stderr == ""
    assert cli("stage", "hold", "scaffold").returncode == 0


# --------------------------------------------------------------------------------------------------
# loom stage


def test_hold_and_release(project: Path, cli: RunLoom) -> None:
    record = project / ".work" / "stages" / "tokenizer.md"
    proc = ok(cli("stage", "hold", "tokenizer"))
    assert proc.stdout.strip() == "stage tokenizer held"
    assert stage_field(cli, "tokenizer", "held") is True
    assert front_matter(record)["held"] is True
    assert stage_field(cli, "tokenizer", "status") == "waiting-for-deps"

    again = ok(cli("stage", "hold", "tokenizer"))
    assert "already held" in again.stdout

    proc = ok(cli("stage", "release", "tokenizer"))
    assert proc.stdout.strip() == "stage tokenizer released"
    assert stage_field(cli, "tokenizer", "held") is False
    assert front_matter(record)["held"] is False

    again = ok(cli("stage", "release", "tokenizer"))
    assert "not held" in again.stdout


def test_hold_several_stages_at_once(project: Path, cli: RunLoom) -> None:
    ok(cli("stage", "hold", "docs", "cli"))
    stages = stages_by_id(status_json(cli))
    assert [s for s, v in stages.items() if v["held"]] == ["docs", "cli"]


def test_skip_a_completed_stage_is_refused_and_changes_nothing(project: Path, cli: RunLoom) -> None:
    complete_scaffold(cli, project)
    record = project / ".work" / "stages" / "scaffold.md"
    events = project / ".work" / "events.jsonl"
    record_before, events_before = record.read_bytes(), events.read_bytes()

    proc = cli("stage", "skip", "scaffold")
    assert proc.returncode == 1
    lines = loom_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("loom: ")
    assert "completed" in lines[0]
    assert "skipped" in lines[0]
    assert record.read_bytes() == record_before
    assert events.read_bytes() == events_before
    assert stage_field(cli, "scaffold", "status") == "completed"


def test_complete_runs_every_acceptance_command_and_reports_each(
    project: Path, cli: RunLoom
) -> None:
    ok(cli("stage", "block", "tokenizer", "doing", "it", "by", "hand"))
    write_file(project, "wordcount/__init__.py")  # the second command passes, the first fails

    proc = cli("stage", "complete", "tokenizer")
    assert proc.returncode == 1
    out = proc.stdout.splitlines()
    assert out[0] == "stage tokenizer: running 2 acceptance command(s)"
    assert any(
        line.startswith("  ✗ FAILED  test -s wordcount/tokenize.py  (exit 1") for line in out
    )
    assert any(line.startswith("  ✓ passed  test -s wordcount/__init__.py  (") for line in out)
    assert "1 of 2 acceptance command(s) failed" in proc.stderr
    assert stage_field(cli, "tokenizer", "status") == "blocked"

    write_file(project, "wordcount/tokenize.py")
    proc = ok(cli("stage", "complete", "tokenizer"))
    out = proc.stdout.splitlines()
    assert sum(line.startswith("  ✓ passed  ") for line in out) == 2
    assert not any("FAILED" in line for line in out)
    assert out[-1] == "stage tokenizer completed (2 acceptance command(s) passed)"
    assert stage_field(cli, "tokenizer", "status") == "completed"
    assert front_matter(project / ".work" / "stages" / "tokenizer.md")["status"] == "completed"

    again = ok(cli("stage", "complete", "tokenizer"))
    assert "already completed" in again.stdout
    assert "running" not in again.stdout


SIDE_EFFECT_STAGES = """\
    - id: solo
      name: Solo
      description: one stage whose acceptance commands leave traces
      acceptance:
        - echo first >> acceptance.log
        - echo something went wrong; exit 3
        - test "$LOOM_STAGE_ID" = solo && echo third >> acceptance.log
"""


def test_complete_runs_the_commands_after_a_failure_too(git_repo: Path, cli: RunLoom) -> None:
    rel, _text = write_plan(git_repo, "solo.md", SIDE_EFFECT_STAGES)
    ok(cli("init", rel))
    ok(cli("stage", "block", "solo"))
    proc = cli("stage", "complete", "solo")
    assert proc.returncode == 1
    assert (git_repo / "acceptance.log").read_text().split() == ["first", "third"]
    assert sum(line.startswith("  ✓ passed  ") for line in proc.stdout.splitlines()) == 2
    assert "  ✗ FAILED  echo something went wrong; exit 3  (exit 3," in proc.stdout
    assert "      something went wrong" in proc.stdout.splitlines()
    assert "1 of 3 acceptance command(s) failed" in proc.stderr
    assert stage_field(cli, "solo", "status") == "blocked"


def test_complete_on_a_queued_stage_is_refused_without_running_commands(
    project: Path, cli: RunLoom
) -> None:
    # The transition table has no queued -> completed: a stage is completed from executing (its
    # agent) or by hand from blocked/needs-handoff/waiting-for-input (see complete_scaffold).
    write_file(project, "wordcount/__init__.py")
    before = (project / ".work" / "stages" / "scaffold.md").read_bytes()
    proc = cli("stage", "complete", "scaffold")
    assert proc.returncode == 1
    lines = loom_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert "queued" in lines[0]
    assert "completed" in lines[0]
    assert proc.stdout == ""  # neither "running N acceptance command(s)" nor results
    assert (project / ".work" / "stages" / "scaffold.md").read_bytes() == before


def test_complete_scaffold_then_its_status_is_completed(project: Path, cli: RunLoom) -> None:
    complete_scaffold(cli, project)
    stages = stages_by_id(status_json(cli))
    assert stages["scaffold"]["status"] == "completed"
    assert stages["scaffold"]["merged"] is False
    # dependents wait for the merge, not just the completion
    assert stages["tokenizer"]["status"] == "waiting-for-deps"


def test_an_unknown_stage_lists_the_known_ones_and_changes_nothing(
    project: Path, cli: RunLoom
) -> None:
    for verb in STAGE_VERBS:
        operands = ("nope",) if verb == "block" else ("scaffold", "nope")
        proc = cli("stage", verb, *operands)
        assert proc.returncode == 1, verb
        lines = loom_lines(proc.stderr)
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("loom: ")
        assert "'nope'" in lines[0]
        for stage_id in SAMPLE_IDS:
            assert stage_id in lines[0], (verb, stage_id)
    stages = stages_by_id(status_json(cli))
    assert stages["scaffold"]["status"] == "queued"
    assert stages["scaffold"]["held"] is False


@pytest.mark.parametrize("bad_id", ["../x", "Scaffold", "-x", "a/b", "x" * 65, "_x"])
def test_an_invalid_stage_id_is_bad_usage(project: Path, cli: RunLoom, bad_id: str) -> None:
    stages_dir = project / ".work" / "stages"
    before = {p.name: p.read_bytes() for p in stages_dir.iterdir()}
    for verb in STAGE_VERBS:
        proc = cli("stage", verb, "--", bad_id)
        assert proc.returncode == 2, (verb, proc.stderr)
        lines = loom_lines(proc.stderr)
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("loom: invalid stage id")
        assert proc.stdout == ""
    assert {p.name: p.read_bytes() for p in stages_dir.iterdir()} == before


def test_an_invalid_id_among_valid_ones_changes_nothing(project: Path, cli: RunLoom) -> None:
    proc = cli("stage", "hold", "scaffold", "../x")
    assert proc.returncode == 2
    assert stage_field(cli, "scaffold", "held") is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("stage", "hold", "--bogus", "scaffold"), "No such option"),
        (("stage", "hold", "scaffold", "--bogus"), "No such option"),
        (("stage", "hold", "scaffold", "--work-dir", "."), "No such option"),
        (("--bogus", "status"), "No such option"),
        (("status", "--bogus"), "No such option"),
        (("stage", "hold"), "Missing argument"),
        (("stage", "block"), "Missing argument"),
        (("init",), "Missing argument"),
        (("completions",), "Missing argument"),
        (("completions", "tcsh"), "Invalid value"),
        (("--work-dir",), "requires an argument"),
        (("stage", "frobnicate", "scaffold"), "No such command"),
        (("frobnicate",), "No such command"),
    ],
)
def test_bad_usage_exits_2_with_clicks_message(
    project: Path, cli: RunLoom, args: tuple[str, ...], message: str
) -> None:
    before = stage_files(project)
    proc = cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Error: " in proc.stderr
    assert message in proc.stderr
    assert proc.stdout == ""
    assert stage_files(project) == before  # nothing held, nothing changed


# --------------------------------------------------------------------------------------------------
# The fast path and the click path


HOLD_FORMS: list[tuple[str, ...]] = [
    ("stage", "{verb}", "scaffold"),
    ("stage", "{verb}", "--", "scaffold"),
    ("stage", "{verb}", "scaffold", "--"),
    ("--work-dir", ".", "stage", "{verb}", "scaffold"),
    ("--work-dir=.", "stage", "{verb}", "--", "scaffold"),
    ("--work-dir", "{project}", "stage", "{verb}", "scaffold", "--"),
    ("--work-dir", "{project}/.work", "stage", "{verb}", "scaffold"),
    # a repeated option is an unusual form: the fast path leaves it to click (last one wins)
    ("--work-dir", "/nonexistent", "--work-dir", ".", "stage", "{verb}", "scaffold"),
    ("--work-dir", "/nonexistent", "--work-dir", ".", "stage", "{verb}", "--", "scaffold"),
]


def _run_form(
    cli: RunLoom, form: tuple[str, ...], project: Path, **values: str
) -> tuple[tuple[int, str, str], bool]:
    args = [a.format(project=project, **values) for a in form]
    proc = cli(*args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    used_click = "click" in imported_modules(proc.stderr)
    return (proc.returncode, proc.stdout, without_import_report(proc.stderr)), used_click


def test_fast_path_and_click_path_give_identical_results(project: Path, cli: RunLoom) -> None:
    results = {}
    paths = {}
    for form in HOLD_FORMS:
        steps = []
        used = set()
        for verb in ("hold", "hold", "release", "release"):
            result, used_click = _run_form(cli, form, project, verb=verb)
            used.add(used_click)
            held = record_field(project, "scaffold", "held")
            steps.append((*result, held))
        assert len(used) == 1, form  # one form, one path
        results[form] = steps
        paths[form] = used.pop()
    assert set(paths.values()) == {True, False}, paths  # both paths were exercised
    expected = results[HOLD_FORMS[0]]
    assert [s[3] for s in expected] == [True, True, False, False]
    assert expected[0][:3] == (0, "stage scaffold held\n", "")
    for form, steps in results.items():
        assert steps == expected, form


def test_fast_path_and_click_path_agree_on_block_with_a_reason(project: Path, cli: RunLoom) -> None:
    forms = [
        ("stage", "block", "docs", "waiting", "for", "a", "person"),
        ("stage", "block", "--", "docs", "waiting", "for", "a", "person"),
        ("--work-dir", "/x", "--work-dir", ".", "stage", "block", "docs", "waiting", "for"),
        ("--work-dir", "/x", "--work-dir", ".", "stage", "block", "--", "docs", "a", "--", "b"),
        ("stage", "block", "--", "docs", "a", "--", "b"),
    ]
    seen = []
    for form in forms:
        (code, out, err), used_click = _run_form(cli, form, project)
        reason = " ".join(form[form.index("docs") + 1 :])
        assert (code, out, err) == (0, f"stage docs blocked: {reason}\n", ""), form
        stage = front_matter(project / ".work" / "stages" / "docs.md")
        assert (stage["status"], stage["blocked_reason"]) == ("blocked", reason)
        ok(cli("stage", "reset", "docs"))
        assert record_field(project, "docs", "status") == "waiting-for-deps"
        seen.append(used_click)
    assert set(seen) == {True, False}


@pytest.mark.parametrize(
    ("operands", "code"),
    [(("nope",), 1), (("scaffold", "nope"), 1), (("../x",), 2), (("--", "-x"), 2)],
)
def test_both_paths_report_errors_alike(
    project: Path, cli: RunLoom, operands: tuple[str, ...], code: int
) -> None:
    fast = cli("stage", "hold", *operands)
    via_click = cli("--work-dir", "/x", "--work-dir", ".", "stage", "hold", *operands)
    assert fast.returncode == via_click.returncode == code
    assert fast.stderr == via_click.stderr
    assert fast.stdout == via_click.stdout == ""
    assert record_field(project, "scaffold", "held") is False


def test_stage_hold_help_goes_to_click(project: Path, cli: RunLoom) -> None:
    for args in (("stage", "hold", "--help"), ("stage", "hold", "scaffold", "-h")):
        proc = ok(cli(*args))
        assert proc.stdout.startswith("Usage: loom stage hold [OPTIONS] ID...")
    assert stage_field(cli, "scaffold", "held") is False


# --------------------------------------------------------------------------------------------------
# Finding the project


def test_work_dir_option_and_env_from_an_unrelated_directory(
    project: Path, tmp_path: Path, cli: RunLoom
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for root in (str(project), str(project / ".work")):
        data = status_json(cli, "--work-dir", root, cwd=elsewhere)
        plan = data["plan"]
        assert isinstance(plan, dict)
        assert plan["work_dir"] == str(project / ".work")

    env = {"LOOM_WORK_DIR": str(project)}
    ok(cli("stage", "hold", "docs", cwd=elsewhere, env=env))
    assert stage_field(cli, "docs", "held", cwd=elsewhere, env=env) is True
    ok(cli("--work-dir", str(project), "stage", "release", "docs", cwd=elsewhere))
    assert stage_field(cli, "docs", "held", cwd=elsewhere, env=env) is False

    # --work-dir wins over $LOOM_WORK_DIR
    bad_env = {"LOOM_WORK_DIR": str(elsewhere)}
    ok(cli("--work-dir", str(project), "stage", "hold", "docs", cwd=elsewhere, env=bad_env))
    assert stage_field(cli, "docs", "held", "--work-dir", str(project), env=bad_env) is True


@pytest.mark.parametrize("args", [("status",), ("stage", "hold", "docs")])
def test_a_wrong_work_dir_is_named_as_given(
    project: Path, tmp_path: Path, cli: RunLoom, args: tuple[str, ...]
) -> None:
    missing = str(tmp_path / "missing")
    proc = cli(*args, cwd=tmp_path, env={"LOOM_WORK_DIR": missing})
    assert proc.returncode == 1
    assert loom_lines(proc.stderr) == [f"loom: $LOOM_WORK_DIR={missing}: no .work/ directory there"]

    proc = cli("--work-dir", missing, *args, cwd=project)
    assert proc.returncode == 1
    assert loom_lines(proc.stderr) == [f"loom: --work-dir {missing}: no .work/ directory there"]


def test_the_project_is_found_from_a_subdirectory(project: Path, cli: RunLoom) -> None:
    deep = project / "wordcount" / "deep" / "er"
    deep.mkdir(parents=True)
    plan = status_json(cli, cwd=deep)["plan"]
    assert isinstance(plan, dict)
    assert plan["work_dir"] == str(project / ".work")
    ok(cli("stage", "hold", "counter", cwd=deep))
    assert front_matter(project / ".work" / "stages" / "counter.md")["held"] is True


def test_the_project_is_found_from_a_linked_worktree(
    project: Path, tmp_path: Path, cli: RunLoom
) -> None:
    worktree = tmp_path / "linked"
    pygit2.Repository(str(project)).add_worktree("linked", str(worktree))
    assert (worktree / ".git").is_file()
    plan = status_json(cli, cwd=worktree)["plan"]
    assert isinstance(plan, dict)
    assert plan["work_dir"] == str(project / ".work")
    ok(cli("stage", "hold", "counter", cwd=worktree))
    assert stage_field(cli, "counter", "held") is True


# --------------------------------------------------------------------------------------------------
# Help, version, completion


def test_help_lists_every_command(git_repo: Path, cli: RunLoom) -> None:
    from loom_tui.cli.app import cli as click_app

    proc = ok(cli("--help"))
    assert proc.stdout.startswith("Usage: loom")
    listed = listed_commands(proc.stdout)
    assert listed == set(click_app.commands)
    assert {"init", "status", "stage", "completions"} <= listed
    assert "--work-dir" in proc.stdout
    assert ok(cli("-h")).stdout == proc.stdout
    for command in sorted(listed):
        sub = ok(cli(command, "--help"))
        assert sub.stdout.startswith(f"Usage: loom {command}")


def test_stage_help_lists_every_verb(git_repo: Path, cli: RunLoom) -> None:
    proc = ok(cli("stage", "--help"))
    listed = listed_commands(proc.stdout)
    assert listed == {*STAGE_VERBS, "human-review"}


def test_version(git_repo: Path, cli: RunLoom) -> None:
    from loom_tui import __version__

    for flag in ("--version", "-V"):
        proc = ok(cli(flag))
        assert proc.stdout.strip() == f"loom, version {__version__}"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completions_print_a_script(git_repo: Path, cli: RunLoom, shell: str) -> None:
    proc = ok(cli("completions", shell))
    assert "_LOOM_COMPLETE" in proc.stdout
    shell_path = shutil.which(shell)
    if shell_path is not None and shell in ("bash", "zsh"):
        check = subprocess.run(
            [shell_path, "-n"], input=proc.stdout, capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, check.stderr


def test_completion_offers_stage_ids(project: Path, cli: RunLoom) -> None:
    env = {"_LOOM_COMPLETE": "bash_complete", "COMP_WORDS": "loom stage hold t", "COMP_CWORD": "3"}
    proc = ok(cli(env=env))
    assert proc.stdout.split() == ["plain,tokenizer"]
    env["COMP_WORDS"] = "loom stage hold "
    proc = ok(cli(env=env))
    assert proc.stdout.split() == [f"plain,{s}" for s in SAMPLE_IDS]
