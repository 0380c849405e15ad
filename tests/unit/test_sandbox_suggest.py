"""`loom sandbox suggest` on real project folders: each language's registries and caches, and a
block that the plan parser takes as it is printed."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from loom_tui.core.agents.permissions import session_permissions
from loom_tui.core.init_project import stage_record
from loom_tui.core.plan import parse_plan_text
from loom_tui.core.sandbox_suggest import suggest
from tests.conftest import LOOM


def make(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "language", "domains", "write"),
    [
        (
            {"pyproject.toml": "[project]\nname='x'\n"},
            "Python",
            ["pypi.org", "files.pythonhosted.org"],
            ["~/.cache/pip"],
        ),
        ({"requirements-dev.txt": "pytest\n"}, "Python", ["pypi.org"], ["~/.cache/pip"]),
        ({"setup.py": "", "uv.lock": ""}, "Python", ["files.pythonhosted.org"], ["~/.cache/uv"]),
        (
            {"package.json": "{}", "package-lock.json": "{}"},
            "Node",
            ["registry.npmjs.org"],
            ["~/.npm"],
        ),
        (
            {"package.json": "{}", "yarn.lock": ""},
            "Node",
            ["registry.npmjs.org", "registry.yarnpkg.com"],
            ["~/.cache/yarn"],
        ),
        (
            {"Cargo.toml": "[package]\n"},
            "Rust",
            ["crates.io", "index.crates.io", "static.crates.io"],
            ["~/.cargo/registry"],
        ),
        (
            {"go.mod": "module x\n"},
            "Go",
            ["proxy.golang.org", "sum.golang.org"],
            ["~/go/pkg/mod", "~/.cache/go-build"],
        ),
    ],
)
def test_each_language_is_detected(
    tmp_path: Path, files: dict[str, str], language: str, domains: list[str], write: list[str]
) -> None:
    found = suggest(str(make(tmp_path, files)))
    assert [lang for lang, _ in found.found] == [language]
    assert set(domains) <= set(found.domains)
    assert set(write) <= set(found.write)


def test_a_monorepo_one_folder_down_and_dependencies_skipped(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "backend/pyproject.toml": "",
            "web/package.json": "{}",
            "node_modules/left-pad/package.json": "{}",
            ".hidden/Cargo.toml": "",
            "deep/er/go.mod": "",
        },
    )
    found = suggest(str(tmp_path))
    assert found.found == [("Python", "backend/pyproject.toml"), ("Node", "web/package.json")]


def test_the_printed_block_is_a_valid_plan_sandbox(tmp_path: Path) -> None:
    make(tmp_path, {"pyproject.toml": "", "Cargo.toml": "", "go.mod": "", "package.json": "{}"})
    proc = subprocess.run(
        [LOOM, "sandbox", "suggest", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# detected: Python (pyproject.toml), Node (package.json)")
    text = (
        "# Plan\n\n<!-- loom METADATA -->\n\n```yaml\nloom:\n  version: 1\n"
        + textwrap.indent(proc.stdout, "  ")
        + "  stages:\n    - id: a\n      name: A\n```\n\n<!-- END loom METADATA -->\n"
    )
    plan = parse_plan_text(text, "PLAN.md")
    sandbox = session_permissions(stage_record(plan, 0).sandbox)["sandbox"]
    assert isinstance(sandbox, dict)
    network = sandbox["network"]
    assert isinstance(network, dict)
    for domain in ("pypi.org", "registry.npmjs.org", "static.crates.io", "sum.golang.org"):
        assert domain in network["allowedDomains"]  # type: ignore[operator]
    filesystem = sandbox["filesystem"]
    assert isinstance(filesystem, dict)
    assert "~/.cargo/registry" in filesystem["allowWrite"]  # type: ignore[operator]


def test_nothing_found_is_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("hi")
    proc = subprocess.run(
        [LOOM, "sandbox", "suggest", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("loom: found no Python, Node, Rust or Go project")
    assert proc.stderr.count("\n") == 1
    missing = subprocess.run(
        [LOOM, "sandbox", "suggest", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode != 0 and "Traceback" not in missing.stderr


def test_the_projects_own_registries_are_added(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "web/package.json": "{}",
            "web/.npmrc": "registry=https://npm.corp.example/\n@acme:registry=https://acme.example/npm/\n",
            "api/requirements.txt": "--extra-index-url https://pkgs.corp.example/simple\nflask\n",
            "api/pyproject.toml": '[[tool.uv.index]]\nname = "corp"\nurl = "https://uv.corp.example/simple"\n',
            "lib/pyproject.toml": "not [valid toml",
        },
    )
    domains = suggest(str(tmp_path)).domains
    for host in ("npm.corp.example", "acme.example", "pkgs.corp.example", "uv.corp.example"):
        assert host in domains
    assert domains.count("pypi.org") == 1
