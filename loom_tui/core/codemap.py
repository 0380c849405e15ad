"""`loom map`: what the code itself says about a project, written into the knowledge files.

Everything here comes from a parser, never from a guess on a name: manifests through `tomllib`,
`json` and `configparser`, Python through `ast`, Makefiles through their rule syntax, Go through its
package clause (the first token after comments, by the language's grammar).  What has no parser
here (Rust or JavaScript imports) is said to be "not analysed" rather than guessed at.

The results go between `loom map` markers in architecture.md, entry-points.md and stack.md
(`knowledge.replace_generated`), so running it again replaces only what it wrote before.
"""

from __future__ import annotations

import ast
import configparser
import fnmatch
import json
import os
import re
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass, field

from loom_tui.core import knowledge
from loom_tui.core.errors import UsageError

#: never descended into: VCS data, environments, caches, build output, loom's own state
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        ".env",
        "env",
        "node_modules",
        ".worktrees",
        ".work",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        ".eggs",
        "target",
        "dist",
        "build",
        ".next",
        ".cache",
    }
)

LANGUAGES = {
    ".py": "Python",
    ".pyi": "Python",
    ".rs": "Rust",
    ".go": "Go",
    ".js": "JavaScript",
    ".mjs": "JavaScript",
    ".cjs": "JavaScript",
    ".jsx": "JavaScript",
    ".ts": "TypeScript",
    ".tsx": "TypeScript",
    ".c": "C",
    ".h": "C",
    ".cc": "C++",
    ".cpp": "C++",
    ".hpp": "C++",
    ".java": "Java",
    ".kt": "Kotlin",
    ".rb": "Ruby",
    ".php": "PHP",
    ".cs": "C#",
    ".swift": "Swift",
    ".sh": "Shell",
    ".bash": "Shell",
    ".md": "Markdown",
    ".toml": "TOML",
    ".yaml": "YAML",
    ".yml": "YAML",
    ".json": "JSON",
    ".css": "CSS",
    ".tcss": "CSS",
    ".html": "HTML",
    ".sql": "SQL",
}
#: the languages that are code (the others are data and documents, counted but not "main")
CODE = frozenset(
    {
        "Python",
        "Rust",
        "Go",
        "JavaScript",
        "TypeScript",
        "C",
        "C++",
        "Java",
        "Kotlin",
        "Ruby",
        "PHP",
        "C#",
        "Swift",
        "Shell",
    }
)
#: a Makefile target's name -> what it is for, for the known ones
MAKE_PURPOSES = {
    "test": "test",
    "tests": "test",
    "check": "check",  # the test command only when there is no `test` target
    "unit": "unit tests",
    "integration": "integration tests",
    "lint": "lint",
    "typecheck": "type check",
    "fmt": "format",
    "format": "format",
    "bench": "benchmarks",
    "build": "build",
    "all": "build",
    "install": "install",
    "run": "run",
    "dev": "run",
    "demo": "run",
    "docs": "docs",
    "clean": "clean",
    "release": "release",
    "venv": "set up",
    "setup": "set up",
}
_MAKE_RULE = re.compile(r"^([.A-Za-z0-9_][A-Za-z0-9_./ -]*?)\s*::?(?!=)(.*)$")


@dataclass
class Command:
    purpose: str
    command: str
    source: str


@dataclass
class EntryPoint:
    kind: str  # "console script", "binary", "main module", ...
    name: str
    target: str
    source: str


@dataclass
class ProjectMap:
    """What one `loom map` found; ``sections`` are the generated bodies per knowledge file."""

    root: str
    base: str  # the mapped directory: the root, or the --focus sub-path
    files: list[str] = field(default_factory=list)
    languages: list[tuple[str, int]] = field(default_factory=list)
    layout: list[tuple[str, int, str]] = field(default_factory=list)
    entry_points: list[EntryPoint] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    tools: list[tuple[str, str]] = field(default_factory=list)
    dependencies: list[tuple[str, list[str]]] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    files_set: set[str] = field(default_factory=set)
    test_paths: set[str] = field(default_factory=set)  # pytest's testpaths, relative to root
    go_modules: dict[str, str] = field(default_factory=dict)  # go.mod's directory -> module path
    #: each Python file parsed once, shared by the entry points, the layout and --deep
    trees: dict[str, ast.Module | None] = field(default_factory=dict)

    @property
    def test_command(self) -> str | None:
        for purpose in ("test", "check"):
            found = next((c.command for c in self.commands if c.purpose == purpose), None)
            if found:
                return found
        return None

    @property
    def build_command(self) -> str | None:
        return next((c.command for c in self.commands if c.purpose == "build"), None)

    def summary(self) -> list[str]:
        langs = ", ".join(f"{n} {c}" for n, c in self.languages[:4] if n in CODE) or "no code"
        where = os.path.relpath(self.base, self.root)
        lines = [
            f"mapped {len(self.files)} files"
            + ("" if where == "." else f" under {where}/")
            + f" ({langs}); {len(self.entry_points)} entry point(s)",
            f"test command: {self.test_command or '(none found)'}",
        ]
        lines += [f"wrote {knowledge.KNOWLEDGE_DIR}/{name}" for name in self.written]
        return lines


# -- walking the tree ------------------------------------------------------------------------------


def _gitignore(root: str) -> list[tuple[str, bool, bool]]:
    """(pattern, anchored, directories only) of the root .gitignore's plain rules; negations are
    skipped (a skipped directory is only ever less mapped, never wrongly mapped)."""
    try:
        with open(os.path.join(root, ".gitignore"), encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    rules = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        rules.append((line.lstrip("/"), anchored, dir_only))
    return rules


def _ignored(rel: str, is_dir: bool, rules: list[tuple[str, bool, bool]]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    for pattern, anchored, dir_only in rules:
        if dir_only and not is_dir:
            continue
        if fnmatch.fnmatchcase(rel if anchored else name, pattern):
            return True
    return False


#: what `loom map` writes is not part of what it maps (a second run would count its own output)
_OWN_OUTPUT = knowledge.KNOWLEDGE_DIR.replace(os.sep, "/")


def scan(root: str, base: str) -> list[str]:
    """Every file under ``base`` (paths relative to ``root``, sorted), outside the skipped and
    the .gitignore'd directories and files."""
    rules = _gitignore(root)
    out = []
    for current, dirs, names in os.walk(base):
        rel_dir = os.path.relpath(current, root)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIP_DIRS
            and not d.endswith(".egg-info")
            and not _ignored(rel_dir + d, True, rules)
            and rel_dir + d != _OWN_OUTPUT
            and not os.path.islink(os.path.join(current, d))
        )
        out += [rel_dir + n for n in names if not _ignored(rel_dir + n, False, rules)]
    return sorted(out)


def _read(root: str, rel: str, limit: int = 2_000_000) -> str | None:
    try:
        with open(os.path.join(root, rel), encoding="utf-8") as fh:
            return fh.read(limit)
    except (OSError, UnicodeDecodeError):
        return None


def _toml(root: str, rel: str) -> dict[str, object] | None:
    text = _read(root, rel)
    if text is None:
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def _table(data: object, *keys: str) -> dict[str, object]:
    """``data[k1][k2]…`` when each is a table, else {}."""
    for key in keys:
        if not isinstance(data, dict):
            return {}
        data = data.get(key)
    return data if isinstance(data, dict) else {}


def _shown(rel_dir: str, name: str) -> str:
    return f"{rel_dir}/{name}" if rel_dir else name


# -- what each kind of project says ----------------------------------------------------------------


def _python_manifests(pm: ProjectMap, rel: str) -> None:
    directory = os.path.dirname(rel)
    name = os.path.basename(rel)
    if name == "pyproject.toml":
        data = _toml(pm.root, rel)
        if data is None:
            pm.tools.append(("pyproject.toml", f"`{rel}` does not parse as TOML"))
            return
        for group in ("scripts", "gui-scripts"):
            for script, target in _table(data, "project", group).items():
                pm.entry_points.append(EntryPoint("console script", script, str(target), rel))
        for script, target in _table(data, "tool", "poetry", "scripts").items():
            pm.entry_points.append(EntryPoint("console script", script, str(target), rel))
        tool = _table(data, "tool")
        where = f" (in {directory}/)" if directory else ""
        if "pytest" in tool:
            pm.commands.append(Command("test", "python -m pytest" + where, rel))
            paths = _table(tool, "pytest", "ini_options").get("testpaths")
            if isinstance(paths, list):
                pm.test_paths.update(os.path.normpath(_shown(directory, str(p))) for p in paths)
                pm.tools.append(("pytest", "tests in " + ", ".join(f"`{p}`" for p in paths)))
            else:
                pm.tools.append(("pytest", f"configured in `{rel}`"))
        for linter, command in (
            ("ruff", "ruff check ."),
            ("black", "black --check ."),
            ("mypy", "mypy"),
            ("pyright", "pyright"),
            ("tox", "tox"),
        ):
            if linter in tool:
                pm.tools.append((linter, f"configured in `{rel}`"))
                purpose = "type check" if linter in ("mypy", "pyright") else "lint"
                if linter == "tox":
                    purpose = "test"
                pm.commands.append(Command(purpose, command + where, rel))
        for env, table in _table(tool, "hatch", "envs").items():
            for script in _table(table, "scripts"):
                prefix = "" if env == "default" else f"{env}:"
                pm.commands.append(Command(script, f"hatch run {prefix}{script}", rel))
        for task in _table(tool, "poe", "tasks"):
            pm.commands.append(Command(task, f"poe {task}", rel))
        deps = _table(data, "project").get("dependencies")
        if isinstance(deps, list):
            pm.dependencies.append((f"Python (`{rel}`)", [_req_name(str(d)) for d in deps]))
        if _table(data, "build-system"):
            extras = _table(data, "project", "optional-dependencies")
            spec = ".[dev]" if "dev" in extras else "."
            pm.commands.append(
                Command("install", f"python -m pip install -e '{spec}'" + where, rel)
            )
    elif name == "setup.cfg":
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(_read(pm.root, rel) or "")
        except configparser.Error:
            return
        if parser.has_option("options.entry_points", "console_scripts"):
            for line in parser.get("options.entry_points", "console_scripts").splitlines():
                if "=" in line:
                    script, target = (p.strip() for p in line.split("=", 1))
                    pm.entry_points.append(EntryPoint("console script", script, target, rel))
        if parser.has_section("tool:pytest"):
            pm.commands.append(Command("test", "python -m pytest", rel))
        for section in ("flake8", "mypy"):
            if parser.has_section(section):
                pm.tools.append((section, f"configured in `{rel}`"))
    elif name in ("pytest.ini", "tox.ini"):
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(_read(pm.root, rel) or "")
        except configparser.Error:
            return
        if parser.has_section("pytest"):
            pm.commands.append(Command("test", "python -m pytest", rel))
        if name == "tox.ini" and parser.has_section("tox"):
            pm.commands.append(Command("test", "tox", rel))


def _req_name(requirement: str) -> str:
    """The distribution name of a PEP 508 requirement (`pydantic>=2,<3` -> `pydantic`)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return match.group(1) if match else requirement.strip()


def _package_json(pm: ProjectMap, rel: str) -> None:
    directory = os.path.dirname(rel)
    try:
        data = json.loads(_read(pm.root, rel) or "")
    except ValueError:
        pm.tools.append(("package.json", f"`{rel}` does not parse as JSON"))
        return
    if not isinstance(data, dict):
        return
    name = str(data.get("name") or directory or "package")
    bins = data.get("bin")
    if isinstance(bins, str):
        pm.entry_points.append(EntryPoint("binary", name.rsplit("/", 1)[-1], bins, rel))
    elif isinstance(bins, dict):
        for script, target in bins.items():
            pm.entry_points.append(EntryPoint("binary", str(script), str(target), rel))
    for key in ("main", "module"):
        if isinstance(data.get(key), str):
            pm.entry_points.append(EntryPoint(f"package {key}", name, str(data[key]), rel))
    tool = "npm"
    for lock, manager in (("pnpm-lock.yaml", "pnpm"), ("yarn.lock", "yarn"), ("bun.lockb", "bun")):
        if os.path.exists(os.path.join(pm.root, directory, lock)):
            tool = manager
    where = f" (in {directory}/)" if directory else ""
    scripts = data.get("scripts")
    if isinstance(scripts, dict):
        for script in map(str, scripts):
            short = script in ("test", "start") and tool != "bun"
            command = f"{tool} {script}" if short else f"{tool} run {script}"
            purposes = {"test": "test", "build": "build", "lint": "lint", "start": "run"}
            pm.commands.append(Command(purposes.get(script, script), command + where, rel))
    for key in ("dependencies", "devDependencies"):
        deps = data.get(key)
        if isinstance(deps, dict) and deps:
            pm.dependencies.append((f"JavaScript {key} (`{rel}`)", sorted(map(str, deps))))


def _cargo(pm: ProjectMap, rel: str) -> None:
    directory = os.path.dirname(rel)
    data = _toml(pm.root, rel)
    if data is None:
        pm.tools.append(("Cargo.toml", f"`{rel}` does not parse as TOML"))
        return
    package = _table(data, "package")
    name = str(package.get("name") or "")
    bins = data.get("bin")
    named = set()
    if isinstance(bins, list):
        for item in bins:
            if isinstance(item, dict) and item.get("name"):
                path = str(item.get("path") or f"src/bin/{item['name']}.rs")
                pm.entry_points.append(
                    EntryPoint("binary", str(item["name"]), _shown(directory, path), rel)
                )
                named.add(str(item["name"]))
    main_rs = _shown(directory, "src/main.rs")
    if name and name not in named and package.get("autobins", True) and main_rs in pm.files_set:
        pm.entry_points.append(EntryPoint("binary", name, main_rs, rel))
    lib_rs = _shown(directory, "src/lib.rs")
    if name and lib_rs in pm.files_set:
        pm.entry_points.append(EntryPoint("library", name, lib_rs, rel))
    if package or "workspace" in data:
        where = f" (in {directory}/)" if directory else ""
        pm.commands.append(Command("build", "cargo build" + where, rel))
        pm.commands.append(Command("test", "cargo test" + where, rel))
        pm.commands.append(Command("lint", "cargo clippy" + where, rel))
    deps = sorted(_table(data, "dependencies"))
    if deps:
        pm.dependencies.append((f"Rust (`{rel}`)", deps))


def _go_mod(pm: ProjectMap, rel: str) -> None:
    directory = os.path.dirname(rel)
    for raw in (_read(pm.root, rel) or "").splitlines():
        words = raw.split("//", 1)[0].split()
        if len(words) == 2 and words[0] == "module":
            pm.go_modules[directory] = words[1].strip('"')
    where = f" (in {directory}/)" if directory else ""
    pm.commands.append(Command("build", "go build ./..." + where, rel))
    pm.commands.append(Command("test", "go test ./..." + where, rel))
    pm.commands.append(Command("lint", "go vet ./..." + where, rel))
    deps = []
    block = False
    for raw in (_read(pm.root, rel) or "").splitlines():
        line = raw.split("//", 1)[0].strip()
        if line.startswith("require ("):
            block = True
        elif block and line == ")":
            block = False
        elif block and line:
            deps.append(line.split()[0])
        elif line.startswith("require "):
            deps.append(line.split()[1])
    if deps:
        pm.dependencies.append((f"Go (`{rel}`)", deps))


_GO_SPACE = re.compile(r"(?:\s+|;|//[^\n]*|/\*.*?\*/)*", re.DOTALL)
_GO_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\.")
_GO_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"|`([^`]*)`')


def go_header(text: str) -> tuple[str, list[str]] | None:
    """The package name and import paths of a Go source file, read by the grammar's rule that a
    file is a package clause, then import declarations, each after comments and space; None
    when the file does not start that way."""
    pos = _GO_SPACE.match(text, 0).end()  # type: ignore[union-attr]
    match = re.compile(r"package\s+([A-Za-z_][A-Za-z0-9_]*)").match(text, pos)
    if not match:
        return None
    package, pos = match.group(1), match.end()
    imports: list[str] = []

    def spec(at: int) -> int | None:
        ident = _GO_IDENT.match(text, at)
        if ident:  # a name, `_` or `.` before the path
            at = _GO_SPACE.match(text, ident.end()).end()  # type: ignore[union-attr]
        string = _GO_STRING.match(text, at)
        if not string:
            return None
        imports.append(string.group(1) if string.group(1) is not None else string.group(2))
        return string.end()

    while True:
        pos = _GO_SPACE.match(text, pos).end()  # type: ignore[union-attr]
        keyword = re.compile(r"import\b").match(text, pos)
        if not keyword:
            return package, imports
        pos = _GO_SPACE.match(text, keyword.end()).end()  # type: ignore[union-attr]
        if text.startswith("(", pos):
            pos += 1
            while True:
                pos = _GO_SPACE.match(text, pos).end()  # type: ignore[union-attr]
                if text.startswith(")", pos):
                    pos += 1
                    break
                after = spec(pos)
                if after is None:
                    return None
                pos = after
        else:
            after = spec(pos)
            if after is None:
                return None
            pos = after


def go_package(text: str) -> str | None:
    """The package name of a Go source file (see `go_header`)."""
    header = go_header(text)
    return header[0] if header else None


def _go_deep(pm: ProjectMap) -> list[str]:
    """With --deep: each Go package directory and what it imports, from the files' headers;
    imports inside a module of the project are shown as its directories."""
    packages: dict[str, set[str]] = {}
    for rel in pm.files:
        if rel.endswith(".go") and not rel.endswith("_test.go"):
            header = go_header(_read(pm.root, rel, 200_000) or "")
            if header is not None:
                packages.setdefault(os.path.dirname(rel) or ".", set()).update(header[1])
    if not packages:
        return []
    lines = [f"Go ({len(packages)} packages, import declarations read by the Go grammar):", ""]
    for directory, imports in sorted(packages.items()):
        inside, outside = [], []
        for path in sorted(imports):
            for module_dir, module in pm.go_modules.items():
                if path == module or path.startswith(module + "/"):
                    inside.append(_shown(module_dir, path[len(module) + 1 :]) or ".")
                    break
            else:
                outside.append(path)
        parts = []
        if inside:
            parts.append("imports " + ", ".join(f"`{p}/`" for p in inside))
        if outside:
            parts.append("uses " + ", ".join(f"`{p}`" for p in outside[:12]))
        lines.append(f"- `{directory}/`" + (": " + "; ".join(parts) if parts else ""))
    return lines


def _go_mains(pm: ProjectMap) -> None:
    dirs: dict[str, None] = {}
    for rel in pm.files:
        if rel.endswith(".go") and not rel.endswith("_test.go"):
            text = _read(pm.root, rel, 20_000)
            if text is not None and go_package(text) == "main":
                dirs.setdefault(os.path.dirname(rel), None)
    for directory in dirs:
        target = f"./{directory}" if directory else "."
        pm.entry_points.append(EntryPoint("Go main package", target, f"go run {target}", "go"))


def _is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":` (either way round)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    consts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(consts) == 1


def python_module_name(rel: str, files: set[str]) -> str:
    """The dotted module name of a Python file: its package chain (directories with an
    `__init__.py`) and its stem; a file outside any package is named by its stem."""
    parts = rel[:-3].split("/")
    name = [parts[-1]] if parts[-1] != "__init__" else []
    directory = parts[:-1]
    while directory and "/".join([*directory, "__init__.py"]) in files:
        name.insert(0, directory[-1])
        directory = directory[:-1]
    return ".".join(name) or parts[-1]


def _parse_python(pm: ProjectMap, rel: str) -> ast.Module | None:
    if rel not in pm.trees:
        text = _read(pm.root, rel)
        try:
            pm.trees[rel] = ast.parse(text, rel) if text is not None else None
        except (SyntaxError, ValueError):
            pm.trees[rel] = None
    return pm.trees[rel]


def _python_mains(pm: ProjectMap) -> None:
    for rel in pm.files:
        if not rel.endswith(".py"):
            continue
        module = python_module_name(rel, pm.files_set)
        if rel.endswith("/__main__.py"):
            package = module.rsplit(".", 1)[0] if "." in module else module
            if module != "__main__" and module.endswith(".__main__"):
                pm.entry_points.append(
                    EntryPoint("main module", f"python -m {package}", rel, "__main__.py")
                )
            continue
        text = _read(pm.root, rel)
        if text is None or "__main__" not in text:
            continue  # only a file that mentions it can hold the guard; the parser decides
        tree = _parse_python(pm, rel)
        if tree is not None and any(_is_main_guard(node) for node in tree.body):
            runs = f"python -m {module}" if "." in module else f"python {rel}"
            pm.entry_points.append(EntryPoint("main guard", runs, rel, "`if __name__`"))


def _makefile(pm: ProjectMap, rel: str) -> None:
    directory = os.path.dirname(rel)
    text = _read(pm.root, rel) or ""
    targets: list[str] = []
    phony: set[str] = set()
    for line in text.replace("\\\n", " ").splitlines():
        if line.startswith(("\t", "#", " ")) or "=" in line.split(":", 1)[0]:
            continue
        match = _MAKE_RULE.match(line)
        if not match:
            continue
        names = match.group(1).split()
        if names == [".PHONY"]:
            phony.update(match.group(2).split())
            continue
        for name in names:
            if not name.startswith(".") and "%" not in name and name not in targets:
                targets.append(name)
    make = "make" + (f" -C {directory}" if directory else "")
    for target in targets:
        purpose = MAKE_PURPOSES.get(target)
        if purpose is None and target not in phony:
            continue  # a file the Makefile builds, not a command
        pm.commands.append(Command(purpose or target, f"{make} {target}", rel))


MANIFESTS = {
    "pyproject.toml": _python_manifests,
    "setup.cfg": _python_manifests,
    "pytest.ini": _python_manifests,
    "tox.ini": _python_manifests,
    "package.json": _package_json,
    "Cargo.toml": _cargo,
    "go.mod": _go_mod,
    "Makefile": _makefile,
    "GNUmakefile": _makefile,
    "makefile": _makefile,
}
#: the command sources in the order they are trusted for "the" test or build command
_PREFERENCE = ("Makefile", "GNUmakefile", "makefile", "package.json", "Cargo.toml", "go.mod")


def _command_rank(command: Command) -> tuple[int, int]:
    name = os.path.basename(command.source)
    depth = command.source.count("/")
    order = _PREFERENCE.index(name) if name in _PREFERENCE else len(_PREFERENCE)
    return depth, order


# -- layout and modules ----------------------------------------------------------------------------


def _describe_dir(pm: ProjectMap, rel: str, inside: list[str]) -> str:
    """What a top-level directory holds: its package docstring's first line, else its README's
    first line, else what its files are."""
    init = f"{rel}/__init__.py"
    if init in pm.files_set:
        tree = _parse_python(pm, init)
        doc = ast.get_docstring(tree) if tree is not None else None
        if doc:
            return "Python package: " + doc.strip().splitlines()[0]
    for readme in ("README.md", "README", "README.rst", "README.txt"):
        text = _read(pm.root, f"{rel}/{readme}", 4000)
        if text:
            first = next((ln.strip("# ").strip() for ln in text.splitlines() if ln.strip()), "")
            if first:
                return first
    counts = Counter(LANGUAGES.get(os.path.splitext(f)[1], "other files") for f in inside)
    return ", ".join(f"{lang} {n}" for lang, n in counts.most_common(3))


def _children(prefix: str, files: list[str]) -> dict[str, list[str]]:
    """The directories right under ``prefix`` and the files (at any depth) in each."""
    children: dict[str, list[str]] = {}
    for rel in files:
        rest = rel[len(prefix) :]
        if rel.startswith(prefix) and "/" in rest:
            children.setdefault(prefix + rest.split("/", 1)[0], []).append(rel)
    return children


#: how many subdirectories of one top-level directory the layout names
_SUBDIRS = 12


def _layout(pm: ProjectMap) -> None:
    """The mapped directory's directories, two levels deep, each with what it holds."""
    base = os.path.relpath(pm.base, pm.root)
    prefix = "" if base == "." else base + "/"
    for child, inside in sorted(_children(prefix, pm.files).items()):
        about = _describe_dir(pm, child, inside)
        if child in pm.test_paths:
            about = f"the test suite (pytest's testpaths): {about}"
        subdirs = sorted(_children(child + "/", inside).items())
        if len(subdirs) > _SUBDIRS:  # many alike (one per skill, per plugin…): named, not listed
            names = ", ".join(d.rsplit("/", 1)[-1] for d, _f in subdirs[:6])
            about += f"; {len(subdirs)} subdirectories ({names}, …)"
            subdirs = []
        pm.layout.append((child, len(inside), about))
        for sub, sub_inside in subdirs:
            pm.layout.append((sub, len(sub_inside), _describe_dir(pm, sub, sub_inside)))


def _import_statements(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """The import statements of ``body`` and of the statements nested in it (under `if`, `try`,
    functions, classes, …): imports are statements, so the expressions need not be visited,
    which makes this several times quicker than `ast.walk`."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
            continue
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(node, name, None)
            if isinstance(inner, list):
                stack.extend(reversed([n for n in inner if isinstance(n, ast.AST)]))
    return found


def _modules(pm: ProjectMap) -> None:
    """With --deep: each Python module's first docstring line and what it imports from the
    project, the most imported modules, and the third-party imports (all from `ast`)."""
    py = [f for f in pm.files if f.endswith(".py")]
    names = {python_module_name(f, pm.files_set): f for f in py}
    tops = {n.split(".")[0] for n in names}
    fan_in: Counter[str] = Counter()
    external: Counter[str] = Counter()
    rows = []
    for module, rel in sorted(names.items()):
        tree = _parse_python(pm, rel)
        if tree is None:
            rows.append(f"- `{module}` (`{rel}`): does not parse")
            continue
        package = module if rel.endswith("__init__.py") else module.rpartition(".")[0]
        internal: list[str] = []
        for node in _import_statements(tree.body):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    up = package.split(".")
                    up = up[: len(up) - (node.level - 1)] if node.level > 1 else up
                    stem = ".".join(p for p in [*up, node.module or ""] if p)
                else:
                    stem = node.module or ""
                targets = [
                    f"{stem}.{a.name}" if f"{stem}.{a.name}" in names else stem for a in node.names
                ]
            for target in targets:
                top = target.split(".")[0]
                if top in tops:
                    known = target  # the deepest project module the import names
                    while known and known not in names:
                        known = known.rpartition(".")[0]
                    if known and known != module and known not in internal:
                        internal.append(known)
                elif top and top not in sys.stdlib_module_names and top != "__future__":
                    external[top] += 1
        fan_in.update(internal)
        doc = (ast.get_docstring(tree) or "").strip().splitlines()
        about = f": {doc[0][:110]}" if doc else ""
        uses = f" Imports {', '.join(f'`{i}`' for i in sorted(internal))}." if internal else ""
        rows.append(f"- `{module}`{about}{uses}")
    if not names:
        return
    pm.modules.append(f"Python ({len(names)} modules, read with `ast`). Most imported:")
    pm.modules.append("")
    pm.modules += [f"- `{m}` ({n} importers)" for m, n in fan_in.most_common(10)]
    if external:
        pm.modules += [
            "",
            "Third-party packages imported: "
            + ", ".join(f"`{n}`" for n, _c in external.most_common(20))
            + ".",
        ]
    pm.modules += ["", "Modules:", "", *rows]


def _other_languages(pm: ProjectMap) -> list[str]:
    """With --deep, after Python: Go's package imports, and a plain "not analysed" for each
    other language (its imports would need a parser this package does not have)."""
    go = _go_deep(pm)
    analysed = {"Python", "Go"} if go else {"Python"}
    lines = [
        f"- {n} ({c} files): modules and imports not analysed (no parser for it here)"
        for n, c in pm.languages
        if n in CODE and n not in analysed
    ]
    return lines + (["", *go] if go else [])


# -- putting it together ---------------------------------------------------------------------------


def build(root: str, *, deep: bool = False, focus: str | None = None) -> ProjectMap:
    """Map the project at ``root`` (or its sub-path ``focus``) without writing anything."""
    root = os.path.abspath(root)
    base = root
    if focus:
        base = os.path.normpath(os.path.join(root, focus))
        if os.path.commonpath([root, base]) != root or not os.path.isdir(base):
            raise UsageError(f"--focus {focus!r} is not a directory inside {root}")
    pm = ProjectMap(root=root, base=base)
    pm.files = scan(root, base)
    pm.files_set = set(pm.files)
    counts = Counter(
        LANGUAGES[e] for e in (os.path.splitext(f)[1] for f in pm.files) if e in LANGUAGES
    )
    pm.languages = counts.most_common()
    base_depth = 0 if base == root else os.path.relpath(base, root).count("/") + 1
    for rel in pm.files:
        handler = MANIFESTS.get(os.path.basename(rel))
        # the manifests of the mapped directory and of its sub-projects two levels down
        if handler is not None and rel.count("/") - base_depth <= 2:
            handler(pm, rel)
    _python_mains(pm)
    _go_mains(pm)
    pm.commands.sort(key=_command_rank)
    _layout(pm)
    if deep:
        _modules(pm)
    return pm


def _architecture(pm: ProjectMap, deep: bool) -> str:
    lines = ["## Languages (files counted by extension)", ""]
    lines += [f"- {n}: {c}" for n, c in pm.languages[:12]] or ["- no source files found"]
    lines += ["", "## Layout", ""]
    where = os.path.relpath(pm.base, pm.root)
    top = 0 if where == "." else where.count(os.sep) + 1  # the slashes in a top entry's path
    for d, c, about in pm.layout:
        indent = "  " * (d.count("/") - top)
        lines.append(f"{indent}- `{d}/` ({c} files): {about}")
    if not pm.layout:
        lines.append("- no directories: every file is at the top")
    if deep:
        lines += ["", "## Modules and imports", "", *(pm.modules or ["No Python modules."])]
        lines += _other_languages(pm)
    return "\n".join(lines)


def _entry_points(pm: ProjectMap) -> str:
    lines = ["## How to build and test", ""]
    lines.append(f"- Test: `{pm.test_command}`" if pm.test_command else "- Test: none found")
    if pm.build_command:
        lines.append(f"- Build: `{pm.build_command}`")
    seen = set()
    for c in pm.commands:
        if c.command in seen or c.command in (pm.test_command, pm.build_command):
            continue
        seen.add(c.command)
        lines.append(f"- {c.purpose}: `{c.command}` (from `{c.source}`)")
    lines += ["", "## Entry points", ""]
    for e in pm.entry_points:
        lines.append(f"- {e.kind} `{e.name}` → `{e.target}` (from {e.source})")
    if not pm.entry_points:
        lines.append("- none found in the manifests or the code")
    return "\n".join(lines)


def _stack(pm: ProjectMap) -> str:
    code = [(n, c) for n, c in pm.languages if n in CODE]
    lines = ["## Languages", ""]
    lines.append(", ".join(f"{n} ({c} files)" for n, c in code) or "No code files found.")
    lines += ["", "## Tooling", ""]
    lines += [f"- {t}: {what}" for t, what in pm.tools] or ["- none configured in a manifest"]
    lines += ["", "## Dependencies", ""]
    for where, names in pm.dependencies:
        shown = ", ".join(f"`{n}`" for n in names[:30])
        more = f" and {len(names) - 30} more" if len(names) > 30 else ""
        lines.append(f"- {where}: {shown}{more}")
    if not pm.dependencies:
        lines.append("- none declared in a manifest")
    return "\n".join(lines)


def write(root: str, *, deep: bool = False, focus: str | None = None) -> ProjectMap:
    """Map the project and write the generated sections of architecture.md, entry-points.md and
    stack.md (the files are created from their templates when missing; the rest is kept)."""
    pm = build(root, deep=deep, focus=focus)
    where = os.path.relpath(pm.base, pm.root)
    key = "map" if where == "." else f"map of {where}/"
    for name, body in (
        ("architecture.md", _architecture(pm, deep)),
        ("entry-points.md", _entry_points(pm)),
        ("stack.md", _stack(pm)),
    ):
        knowledge.replace_generated(pm.root, name, key, body)
        pm.written.append(name)
    return pm
