"""`loom map` (core/codemap.py): small real projects of each kind, and loom-tui's own repository.

Each project is real files in a temporary directory, read by the same parsers `loom map` uses;
the loom-tui checks read this repository as it stands (and a copy of it, for the CLI run).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from loom_tui.core import codemap, knowledge
from loom_tui.core.errors import UsageError
from tests.conftest import LOOM, REPO_ROOT


def make(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / ".git").mkdir(exist_ok=True)
    return root


def entry_names(pm: codemap.ProjectMap) -> dict[str, tuple[str, str]]:
    return {e.name: (e.kind, e.target) for e in pm.entry_points}


PYPROJECT = """\
[project]
name = "demo"
dependencies = ["requests>=2", "click"]
[project.scripts]
demo = "demo.cli:main"
[project.optional-dependencies]
dev = ["pytest"]
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
[tool.pytest.ini_options]
testpaths = ["tests"]
[tool.ruff]
line-length = 100
"""


def test_a_python_project(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "pyproject.toml": PYPROJECT,
            "demo/__init__.py": '"""The demo package: greets people."""\n',
            "demo/__main__.py": "from demo.cli import main\nmain()\n",
            "demo/cli.py": "import sys\nfrom . import core\n\ndef main():\n    pass\n",
            "demo/core.py": "import requests\n",
            "tools/gen.py": 'print(1)\nif "__main__" == __name__:\n    print(2)\n',
            # mentions __main__ but has no guard: the parser, not the text, decides
            "demo/notes.py": 'WHAT = "__main__"\n',
            "tests/test_core.py": "def test_x():\n    pass\n",
            "setup.cfg": (
                "[options.entry_points]\nconsole_scripts =\n    old-demo = demo.cli:main\n"
            ),
        },
    )
    pm = codemap.build(str(root), deep=True)
    assert entry_names(pm) == {
        "demo": ("console script", "demo.cli:main"),
        "old-demo": ("console script", "demo.cli:main"),
        "python -m demo": ("main module", "demo/__main__.py"),
        "python tools/gen.py": ("main guard", "tools/gen.py"),
    }
    assert pm.test_command == "python -m pytest"
    assert ("install", "python -m pip install -e '.[dev]'") in [
        (c.purpose, c.command) for c in pm.commands
    ]
    layout = {d: about for d, _n, about in pm.layout}
    assert "\n- `demo/` (5 files)" in codemap._architecture(pm, deep=False)
    assert layout["demo"] == "Python package: The demo package: greets people."
    assert layout["tests"].startswith("the test suite (pytest's testpaths)")
    assert ("Python (`pyproject.toml`)", ["requests", "click"]) in pm.dependencies
    assert ("ruff", "configured in `pyproject.toml`") in pm.tools
    # --deep: the relative import resolved, the third-party one named
    modules = "\n".join(pm.modules)
    assert "- `demo.cli` Imports `demo.core`." in modules
    assert "Third-party packages imported: `requests`." in modules


def test_a_makefile_test_target_is_the_test_command(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "pyproject.toml": PYPROJECT,
            "Makefile": (
                "VENV := .venv\n.PHONY: check test lint bench docs-site\ncheck: lint\n"
                "$(VENV)/stamp: pyproject.toml\n\ttouch $@\n"
                "test: lint\n\tpytest\nlint:\n\truff check .\nbench:\n\tpython bench.py\n"
                "docs-site:\n\tmkdocs build\nout.txt: in.txt\n\tcp in.txt out.txt\n"
                "%.o: %.c\n\tcc -c $<\n"
            ),
        },
    )
    pm = codemap.build(str(root))
    assert pm.test_command == "make test"
    made = [c.command for c in pm.commands if c.source == "Makefile"]
    # phony or known targets only: not the file `out.txt`, the pattern rule or `$(VENV)/stamp`
    assert made == ["make check", "make test", "make lint", "make bench", "make docs-site"]


def test_a_node_project(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "package.json": (
                '{"name": "@acme/tool", "main": "lib/index.js",'
                ' "bin": {"acme": "bin/acme.js"},'
                ' "scripts": {"test": "vitest", "build": "tsc", "lint": "eslint ."},'
                ' "dependencies": {"zod": "^3"}, "devDependencies": {"vitest": "^1"}}'
            ),
            "yarn.lock": "",
            "lib/index.js": "module.exports = {}\n",
            "bin/acme.js": "#!/usr/bin/env node\n",
            "node_modules/zod/index.js": "x\n",
        },
    )
    pm = codemap.build(str(root))
    assert entry_names(pm) == {
        "acme": ("binary", "bin/acme.js"),
        "@acme/tool": ("package main", "lib/index.js"),
    }
    assert pm.test_command == "yarn test"
    assert pm.build_command == "yarn run build"
    assert dict(pm.languages) == {"JavaScript": 2, "JSON": 1}  # node_modules is not walked
    assert ("JavaScript dependencies (`package.json`)", ["zod"]) in pm.dependencies


def test_a_single_bin_string_names_the_package(tmp_path: Path) -> None:
    root = make(tmp_path, {"package.json": '{"name": "@x/cli", "bin": "cli.js"}'})
    assert entry_names(codemap.build(str(root))) == {"cli": ("binary", "cli.js")}


def test_a_rust_project(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "Cargo.toml": (
                '[package]\nname = "weaver"\nversion = "0.1.0"\n'
                '[[bin]]\nname = "weave-admin"\npath = "src/admin.rs"\n'
                '[dependencies]\nserde = "1"\nclap = { version = "4" }\n'
            ),
            "src/main.rs": "fn main() {}\n",
            "src/admin.rs": "fn main() {}\n",
            "src/lib.rs": "pub fn f() {}\n",
            "target/debug/junk.rs": "x",
        },
    )
    pm = codemap.build(str(root), deep=True)
    assert [(e.name, e.kind, e.target) for e in pm.entry_points] == [
        ("weave-admin", "binary", "src/admin.rs"),
        ("weaver", "binary", "src/main.rs"),
        ("weaver", "library", "src/lib.rs"),
    ]
    assert pm.test_command == "cargo test"
    assert pm.build_command == "cargo build"
    assert dict(pm.languages) == {"Rust": 3, "TOML": 1}  # target/ is build output
    assert ("Rust (`Cargo.toml`)", ["clap", "serde"]) in pm.dependencies
    arch = codemap._architecture(pm, deep=True)
    assert "- Rust (3 files): modules and imports not analysed" in arch


def test_a_go_project(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "go.mod": (
                "module example.com/loomy\n\ngo 1.22\n\nrequire (\n"
                "\tgithub.com/spf13/cobra v1.8.0 // cli\n\tgolang.org/x/sync v0.7.0\n)\n"
            ),
            "cmd/loomy/main.go": (
                "// Command loomy.\n/* a\nblock */\npackage main\n\nfunc main() {}\n"
            ),
            "cmd/loomy/main_test.go": "package main\n",
            "internal/store/store.go": "package store\n// package main in a comment\n",
            "tools/gen/gen.go": "//go:build ignore\n\npackage main\nfunc main() {}\n",
        },
    )
    pm = codemap.build(str(root))
    assert [(e.kind, e.name) for e in pm.entry_points] == [
        ("Go main package", "./cmd/loomy"),
        ("Go main package", "./tools/gen"),
    ]
    assert pm.test_command == "go test ./..."
    assert ("Go (`go.mod`)", ["github.com/spf13/cobra", "golang.org/x/sync"]) in pm.dependencies


def test_go_deep_reads_each_packages_imports(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "go.mod": "module example.com/loomy // the module\n\ngo 1.22\n",
            "cmd/loomy/main.go": (
                'package main\n\nimport (\n\t"fmt"\n\tst "example.com/loomy/internal/store"\n'
                ")\n\nfunc main() { fmt.Println(st.X) }\n"
            ),
            "internal/store/store.go": 'package store\n\nimport "os"\n\nvar X = os.Args\n',
            "web/app.ts": "import x from './x'\n",
        },
    )
    arch = codemap._architecture(codemap.build(str(root), deep=True), deep=True)
    assert "Go (2 packages, import declarations read by the Go grammar):" in arch
    assert "- `cmd/loomy/`: imports `internal/store/`; uses `fmt`" in arch
    assert "- `internal/store/`: uses `os`" in arch
    assert "- TypeScript (1 files): modules and imports not analysed" in arch


def test_go_header_parsing() -> None:
    text = (
        '// c\n/* x */ package main\n\nimport "fmt"\nimport (\n\tf "os"\n\t_ "embed" // c\n'
        "\t. `strings`\n)\nfunc main() {}\n"
    )
    assert codemap.go_header(text) == ("main", ["fmt", "os", "embed", "strings"])
    assert codemap.go_header("package p\nimport (") is None  # unfinished: not guessed at


def test_go_package_clause_parsing() -> None:
    assert codemap.go_package("package main\n") == "main"
    assert codemap.go_package("// x\n\n/* package main */ package store") == "store"
    assert codemap.go_package("/* never closed") is None
    assert codemap.go_package("") is None


def test_skipped_and_gitignored_directories_are_not_mapped(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            ".gitignore": "generated/\n/local.py\n*.log\n",
            "app.py": "x = 1\n",
            "local.py": "x = 1\n",
            "run.log": "",
            "generated/big.py": "x = 1\n",
            ".venv/lib/site.py": "x = 1\n",
            ".worktrees/a/app.py": "x = 1\n",
            "pkg/__pycache__/m.py": "x = 1\n",
        },
    )
    assert codemap.scan(str(root), str(root)) == [".gitignore", "app.py"]


def test_focus_maps_only_the_sub_path(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "Makefile": ".PHONY: test\ntest:\n\tpytest\n",
            "svc/api/package.json": '{"scripts": {"test": "jest"}}',
            "svc/api/index.js": "x\n",
            "svc/api/lib/util.js": "x\n",
            "other/main.py": 'if __name__ == "__main__":\n    pass\n',
        },
    )
    pm = codemap.build(str(root), focus="svc/api")
    assert pm.files == ["svc/api/index.js", "svc/api/lib/util.js", "svc/api/package.json"]
    assert pm.test_command == "npm test (in svc/api/)"
    assert [d for d, _n, _a in pm.layout] == ["svc/api/lib"]
    assert "\n- `svc/api/lib/` (1 files): JavaScript 1" in codemap._architecture(pm, deep=False)
    with pytest.raises(UsageError, match="not a directory inside"):
        codemap.build(str(root), focus="../elsewhere")
    with pytest.raises(UsageError):
        codemap.build(str(root), focus="svc/nothing")


def test_rerunning_replaces_only_the_generated_section(tmp_path: Path) -> None:
    root = make(tmp_path, {"Makefile": ".PHONY: test\ntest:\n\tpytest\n"})
    codemap.write(str(root))
    path = root / knowledge.KNOWLEDGE_DIR / "entry-points.md"
    path.write_text(path.read_text() + "\nStart with the Makefile. (a person's note)\n")
    knowledge.append(str(root), "entry-points", "Ask Ana about the deploy.")
    (root / "Makefile").write_text(".PHONY: check\ncheck:\n\tpytest\n")

    codemap.write(str(root))
    codemap.write(str(root))  # and again: nothing doubles

    text = path.read_text()
    assert text.count("<!-- loom map: generated (map)") == 1
    assert text.count("<!-- loom map: end (map) -->") == 1
    assert "- Test: `make check`" in text and "make test" not in text
    assert "Start with the Makefile. (a person's note)" in text
    assert "Ask Ana about the deploy." in text
    # a focused map has a section of its own and leaves the whole-project one alone
    (root / "sub").mkdir()
    (root / "sub" / "Makefile").write_text(".PHONY: test\ntest:\n\ttrue\n")
    codemap.write(str(root), focus="sub")
    text = path.read_text()
    assert "- Test: `make check`" in text
    assert "<!-- loom map: generated (map of sub/)" in text
    assert "- Test: `make -C sub test`" in text


def test_loom_tui_itself() -> None:
    """The entry points and test command of this repository, as `loom map` finds them."""
    pm = codemap.build(str(REPO_ROOT))
    names = entry_names(pm)
    assert names["loom"] == ("console script", "loom_tui.cli:main")
    assert names["loom-sim-agent"] == ("console script", "loom_tui.simagent:main")
    assert names["python -m loom_tui"] == ("main module", "loom_tui/__main__.py")
    assert pm.test_command == "make test"
    assert "make bench" in [c.command for c in pm.commands]
    assert dict(pm.languages)["Python"] > 100
    assert not [f for f in pm.files if f.startswith((".venv/", ".git/", ".work/"))]


def test_loom_map_cli_on_a_copy_of_loom_tui(tmp_path: Path) -> None:
    """The real `loom map --deep`, on a copy of this repository (its files, a fresh `.git`)."""
    copy = tmp_path / "loom-tui"
    shutil.copytree(
        REPO_ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".work", ".worktrees", "__pycache__", "*_cache", ".hypothesis", "doc"
        ),
    )
    (copy / ".git").mkdir()
    proc = subprocess.run(
        [LOOM, "map", "--deep"], cwd=copy, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "test command: make test" in proc.stdout
    entry = (copy / knowledge.KNOWLEDGE_DIR / "entry-points.md").read_text()
    assert "- Test: `make test`" in entry
    assert "- console script `loom` → `loom_tui.cli:main` (from pyproject.toml)" in entry
    assert "- console script `loom-sim-agent` → `loom_tui.simagent:main`" in entry
    arch = (copy / knowledge.KNOWLEDGE_DIR / "architecture.md").read_text()
    assert "- `loom_tui.core.store`: " in arch
    assert "`loom_tui.core.model` (" in arch.split("Most imported:", 1)[1].split("Modules:")[0]
