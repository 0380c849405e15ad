"""`loom verify ID [--suggest]`: goal-backward verification, through the real `loom` CLI.

Projects are real git repositories initialised with a plan (`Project`); one test runs its stage
with the simulated agent so that the checks run in the stage's real worktree.  The stub rules are
also checked directly on files written to a temporary directory (`stub_reason` is a pure function
of a file's content).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from loom_tui.core.model import StageRecord
from loom_tui.core.verify import MIN_LINES, stub_reason
from tests.integration.conftest import MakeProject
from tests.integration.engine import Project, plan_text, sim_stage

REAL_COUNT = '''"""Counting words."""

from collections import Counter


def top(words: list[str], n: int) -> list[tuple[str, int]]:
    counts = Counter(words)
    return counts.most_common(n)
'''
REAL_CLI = '''"""The command line."""

import sys

from wordcount.count import top


def main() -> None:
    words = sys.stdin.read().split()
    for word, count in top(words, 3):
        print(word, count)
'''
STUB_TOKENIZE = '''"""Tokenizer."""

import re


def tokenize(text: str) -> list[str]:
    """Split into words."""
    raise NotImplementedError


class Tokenizer:
    def split(self, text):
        pass
'''
FILES = {
    "README.md": "# demo\n",
    "wordcount/__init__.py": "",
    "wordcount/count.py": REAL_COUNT,
    "wordcount/cli.py": REAL_CLI,
    "wordcount/tokenize.py": STUB_TOKENIZE,
    "src/deep/nested/module.rs": "pub fn answer() -> u32 {\n    let x = 40;\n    x + 2\n}\n",
}


def stage(stage_id: str = "s", **fields: Any) -> dict[str, Any]:
    return {"id": stage_id, "name": f"Stage {stage_id}", "description": "Do it.", **fields}


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def check_lines(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines() if line.strip()[:1] in ("✓", "✗")]


# --------------------------------------------------------------------------------------------------
# Verification through the CLI


def test_every_layer_passing_exits_0_and_records_an_event(make_project: MakeProject) -> None:
    project = make_project(
        [
            stage(
                truths=[
                    'python3 -c \'from wordcount.count import top; assert top(["a", "a"], 1)'
                    ' == [("a", 2)]\'',
                    'test "$LOOM_STAGE_ID" = s',
                ],
                artifacts=["wordcount/*.py", "src/**/*.rs"],
                wiring=[
                    {
                        "source": "wordcount/cli.py",
                        "pattern": r"from wordcount\.count import top",
                        "description": "the CLI uses the counter",
                    },
                    {"source": "wordcount/**/*.py", "pattern": r"^def main\("},
                ],
            )
        ],
        files=FILES,
    )
    proc = ok(project.loom("verify", "s"))
    assert proc.stdout.splitlines()[0] == "verifying stage s in the project root"
    lines = check_lines(proc.stdout)
    assert len(lines) == 6 and all(line.startswith("✓") for line in lines), proc.stdout
    # the artifact names the real files, not the stub or the empty __init__.py
    artifact = next(line for line in lines if "wordcount/*.py" in line)
    assert "2 real: wordcount/cli.py, wordcount/count.py" in artifact
    assert "src/deep/nested/module.rs" in next(line for line in lines if "src/**/*.rs" in line)
    assert "found in wordcount/cli.py:5" in proc.stdout
    assert "the CLI uses the counter" in proc.stdout
    assert proc.stdout.splitlines()[-1] == (
        "stage s verified: all 6 checks passed (2 truths, 2 artifacts, 2 wiring)"
    )
    events = project.events("verify")
    assert len(events) == 1
    assert events[0]["stage"] == "s" and events[0]["passed"] is True
    assert events[0]["checks"] == 6 and events[0]["failed"] == []


def test_each_failure_is_reported_and_the_exit_code_is_1(make_project: MakeProject) -> None:
    project = make_project(
        [
            stage(
                truths=["true", "echo first line; echo 'the reason it broke'; exit 3"],
                artifacts=["wordcount/tokenize.py", "missing/*.rs", "wordcount/__init__.py"],
                wiring=[
                    {"source": "wordcount/cli.py", "pattern": "import tokenize"},
                    {"source": "nowhere/*.py", "pattern": "x"},
                ],
            )
        ],
        files=FILES,
    )
    proc = project.loom("verify", "s")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = check_lines(proc.stdout)
    assert [line[0] for line in lines] == ["✓", "✗", "✗", "✗", "✗", "✗", "✗"]
    # a failing truth shows its exit status and the tail of its output
    assert "echo first line; echo 'the reason it broke'; exit 3  (exit 3," in proc.stdout
    assert "      the reason it broke" in proc.stdout.splitlines()
    assert "the only file is a stub — wordcount/tokenize.py: only placeholders" in proc.stdout
    assert "missing/*.rs  (no file matches)" in proc.stdout
    assert "wordcount/__init__.py: empty" in proc.stdout
    assert "(not found in wordcount/cli.py)" in proc.stdout
    assert "(no file matches nowhere/*.py)" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "stage s failed verification: 6 of 7 checks failed"
    event = project.events("verify")[-1]
    assert event["passed"] is False and event["checks"] == 7
    assert event["failed"][0] == "truth: echo first line; echo 'the reason it broke'; exit 3"
    assert len(event["failed"]) == 6


def test_json_output_has_every_check(make_project: MakeProject) -> None:
    project = make_project(
        [stage(truths=["exit 4"], artifacts=["wordcount/count.py"])], files=FILES
    )
    proc = project.loom("verify", "s", "--json")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["stage"] == "s" and data["passed"] is False
    assert data["cwd"] == str(project.root)
    assert [(c["kind"], c["passed"]) for c in data["checks"]] == [
        ("truth", False),
        ("artifact", True),
    ]
    assert data["checks"][0]["detail"].startswith("exit 4")


def test_checks_run_in_the_stage_worktree_then_in_the_project_once_merged(
    make_project: MakeProject,
) -> None:
    spec = sim_stage("a")
    spec.update(
        truths=["test -s sim/a.md", "git rev-parse --abbrev-ref HEAD | grep -qx 'loom/a'"],
        wiring=[{"source": "sim/a.md", "pattern": r"Written by stage a\."}],
    )
    project = make_project([spec], auto_merge=False)
    ok(project.run_headless())  # the gates of `stage complete` passed: truths and wiring

    def with_artifact(record: StageRecord) -> None:  # declared afterwards: it would not pass
        record.artifacts = ["sim/*.md"]

    project.store.update_stage("a", with_artifact)
    assert (project.root / ".worktrees" / "a" / "sim" / "a.md").is_file()
    assert not (project.root / "sim").exists()

    proc = project.loom("verify", "a")
    assert proc.stdout.splitlines()[0] == "verifying stage a in .worktrees/a"
    lines = check_lines(proc.stdout)
    # both truths and the wiring hold in the worktree; the sim agent's two-line file is a stub
    assert [line[0] for line in lines] == ["✓", "✓", "✗", "✓"], proc.stdout
    assert "sim/a.md: only 2 non-blank lines" in proc.stdout
    assert proc.returncode == 1

    ok(project.loom("merge", "a"))  # no scheduler runs: the merge removes the worktree
    assert not (project.root / ".worktrees" / "a").exists()
    proc = project.loom("verify", "a")
    assert proc.stdout.splitlines()[0] == "verifying stage a in the project root"
    # the file is in the base now; HEAD is main, so the branch truth fails there
    assert [line[0] for line in check_lines(proc.stdout)] == ["✓", "✗", "✗", "✓"]


def test_a_stage_without_checks_has_nothing_to_verify(make_project: MakeProject) -> None:
    project = make_project([stage(acceptance=["true"])])
    proc = ok(project.loom("verify", "s"))
    assert "declares no truths, artifacts or wiring: nothing to verify" in proc.stdout
    assert "`loom verify s --suggest`" in proc.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["verify", "nope"], 1, "no stage 'nope' in this plan (stages: s)"),
        (["verify", "Bad/Id"], 2, "invalid stage id 'Bad/Id'"),
        (["verify"], 2, "Missing argument 'ID'"),
        (["verify", "s", "--bogus"], 2, "No such option '--bogus'"),
    ],
)
def test_bad_input_gives_a_message_and_the_contract_exit_code(
    make_project: MakeProject, args: list[str], code: int, message: str
) -> None:
    project = make_project([stage()])
    proc = project.loom(*args)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert message in proc.stderr


def test_verify_outside_a_project_says_so(tmp_path: Path) -> None:
    proc = Project(tmp_path).loom("verify", "s")
    assert proc.returncode == 1
    assert "no loom project here" in proc.stderr


# --------------------------------------------------------------------------------------------------
# --suggest


def _suggested(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data = YAML(typ="safe").load(proc.stdout)
    assert isinstance(data, dict), proc.stdout
    return data


def test_suggestions_are_valid_yaml_and_pass_against_a_real_implementation(
    make_project: MakeProject,
) -> None:
    definition = stage(
        files=["wordcount/count.py"],
        acceptance=[
            "test -s wordcount/count.py",
            "test -f docs/usage.md",
            "python3 -c 'from wordcount.count import top'",
        ],
    )
    project = make_project([definition], files=FILES)
    proc = ok(project.loom("verify", "s", "--suggest"))
    assert proc.stdout.startswith("# suggested goal checks for stage s")
    suggested = _suggested(proc)
    assert suggested["truths"] == [
        "python3 -c 'from wordcount.count import top'",  # behaviour, not a file test
        "python3 -c 'import wordcount.count'",
    ]
    # the files glob, and the file an acceptance command tests that no files glob covers
    assert suggested["artifacts"] == ["wordcount/count.py", "docs/usage.md"]
    [wiring] = suggested["wiring"]
    assert wiring["source"] == "wordcount/*.py"
    assert "wordcount/count.py" in wiring["description"]
    pattern = re.compile(wiring["pattern"], re.MULTILINE)
    assert pattern.search(REAL_CLI)
    for unrelated in ("import count\n", "from collections import Counter\n", "count = 3\n"):
        assert pattern.search(unrelated) is None, unrelated
    for wired in ("from . import count\n", "from .count import top\n", "import wordcount.count\n"):
        assert pattern.search(wired), wired

    # Put them into the plan (minus the docs file, which this project does not have): they hold.
    suggested["artifacts"].remove("docs/usage.md")
    plan = project.root / "doc" / "plans" / "PLAN-9999-test.md"
    plan.write_text(plan_text([{**definition, **suggested}]))
    ok(project.loom("init", "doc/plans/PLAN-9999-test.md", "--clean"))
    proc = ok(project.loom("verify", "s"))
    assert proc.stdout.splitlines()[-1].startswith("stage s verified: all 4 checks passed")
    proc = ok(project.loom("verify", "s", "--suggest"))
    assert "already declares truths, artifacts and wiring" in proc.stdout


def test_suggestions_for_rust_and_typescript_files_and_declared_layers(
    make_project: MakeProject,
) -> None:
    project = make_project(
        [
            stage(
                files=["src/auth.rs", "web/src/login.ts", "docs/**"],
                acceptance=["cargo test"],
                truths=["cargo test auth"],
            )
        ]
    )
    proc = ok(project.loom("verify", "s", "--suggest"))
    assert "# truths: already declared" in proc.stdout
    suggested = _suggested(proc)
    assert "truths" not in suggested
    assert suggested["artifacts"] == ["src/auth.rs", "web/src/login.ts", "docs/**"]
    rust, ts = suggested["wiring"]
    assert rust["source"] == "src/*.rs"
    assert re.search(rust["pattern"], "mod auth;\nfn main() {}\n", re.MULTILINE)
    assert re.search(rust["pattern"], "use crate::auth::login;\n", re.MULTILINE)
    assert not re.search(rust["pattern"], "mod author;\n", re.MULTILINE)
    assert ts["source"] == "web/src/**/*.ts"
    assert re.search(ts["pattern"], "import { login } from './login';\n", re.MULTILINE)
    assert re.search(ts["pattern"], 'import x from "../src/login.ts"\n', re.MULTILINE)
    assert not re.search(ts["pattern"], "import x from './loginForm'\n", re.MULTILINE)


def test_nothing_to_suggest_without_files_or_acceptance(make_project: MakeProject) -> None:
    project = make_project([stage()])
    proc = ok(project.loom("verify", "s", "--suggest"))
    assert "nothing to suggest: stage s lists no files or acceptance commands" in proc.stdout


# --------------------------------------------------------------------------------------------------
# What counts as a stub


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("empty.py", "", "empty"),
        ("blank.py", "\n   \n\t\n", "empty"),
        ("short.py", "x = 1\ny = 2\n", "only 2 non-blank lines"),
        ("one.md", "# Title\n\n\n", "only 1 non-blank line"),
        (
            "placeholder.py",
            'import os\n\n\n@dataclass\nclass A:\n    """Doc\n    more doc.\n    """\n\n'
            "    def f(self) -> int:\n        ...\n\n    async def g(self):\n        pass\n",
            "only placeholders",
        ),
        (
            "todo.rs",
            "use std::io;\n\npub fn read() -> io::Result<()> {\n    todo!()\n}\n\n"
            'impl Foo {\n    fn x(&self) {\n        unimplemented!("later")\n    }\n}\n',
            "only placeholders",
        ),
        (
            "stub.ts",
            "import { x } from './x';\n\nexport function login(): void {\n"
            "  throw new Error('Not implemented');\n}\n",
            "only placeholders",
        ),
        (
            "marker.go",
            "package auth\n\n// TODO: write the handler\nfunc Handle() {\n}\n",
            "only placeholders",
        ),
        (
            "comments.py",
            "# one\n# two\n# three\nfrom x import y\n",
            "no code: only comments, imports and declarations",
        ),
        ("headings.md", "# Usage\n\n## Options\n\n## Examples\n", "no code"),
    ],
)
def test_stub_rules(tmp_path: Path, name: str, text: str, reason: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    found = stub_reason(str(path))
    assert found is not None and reason in found, found


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("add.py", "def add(a, b):\n    total = a + b\n    return total\n"),
        ("docs.md", "# Usage\n\nRun `wc FILE` to count the words.\n\n## Options\n"),
        (
            "mixed.py",
            "import os\n\n\ndef later():\n    raise NotImplementedError\n\n\n"
            "def now():\n    return os.getcwd()\n",
        ),
        ("lib.rs", "pub fn answer() -> u32 {\n    42\n}\n"),
        ("except.py", "try:\n    run()\nexcept NotImplementedError:\n    fallback()\n"),
    ],
)
def test_real_code_is_not_a_stub(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert stub_reason(str(path)) is None


def test_binary_and_large_files_count_as_real(tmp_path: Path) -> None:
    binary = tmp_path / "logo.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    assert stub_reason(str(binary)) is None
    large = tmp_path / "big.py"
    large.write_text("# comment\n" * 30_000)
    assert stub_reason(str(large)) is None


def test_min_lines_is_the_documented_threshold() -> None:
    assert MIN_LINES == 3
