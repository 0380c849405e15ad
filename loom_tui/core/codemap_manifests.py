"""`loom map`'s manifest readers: entry points, commands, tools and dependencies, each from the
manifest's own parser (`tomllib`, `json`, `configparser`) or, for Makefiles and go.mod, their
line syntax; never from a file's name alone.
"""

from __future__ import annotations

import configparser
import json
import os
import re

from loom_tui.core.codemap_base import (
    Command,
    EntryPoint,
    ProjectMap,
    read_text,
    read_toml,
    shown,
    subtable,
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


# -- what each kind of project says ----------------------------------------------------------------


def _python_manifests(pm: ProjectMap, rel: str) -> None:
    directory = os.path.dirname(rel)
    name = os.path.basename(rel)
    if name == "pyproject.toml":
        data = read_toml(pm.root, rel)
        if data is None:
            pm.tools.append(("pyproject.toml", f"`{rel}` does not parse as TOML"))
            return
        for group in ("scripts", "gui-scripts"):
            for script, target in subtable(data, "project", group).items():
                pm.entry_points.append(EntryPoint("console script", script, str(target), rel))
        for script, target in subtable(data, "tool", "poetry", "scripts").items():
            pm.entry_points.append(EntryPoint("console script", script, str(target), rel))
        tool = subtable(data, "tool")
        where = f" (in {directory}/)" if directory else ""
        if "pytest" in tool:
            pm.commands.append(Command("test", "python -m pytest" + where, rel))
            paths = subtable(tool, "pytest", "ini_options").get("testpaths")
            if isinstance(paths, list):
                pm.test_paths.update(os.path.normpath(shown(directory, str(p))) for p in paths)
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
        for env, env_table in subtable(tool, "hatch", "envs").items():
            for script in subtable(env_table, "scripts"):
                prefix = "" if env == "default" else f"{env}:"
                pm.commands.append(Command(script, f"hatch run {prefix}{script}", rel))
        for task in subtable(tool, "poe", "tasks"):
            pm.commands.append(Command(task, f"poe {task}", rel))
        deps = subtable(data, "project").get("dependencies")
        if isinstance(deps, list):
            pm.dependencies.append((f"Python (`{rel}`)", [_req_name(str(d)) for d in deps]))
        if subtable(data, "build-system"):
            extras = subtable(data, "project", "optional-dependencies")
            spec = ".[dev]" if "dev" in extras else "."
            pm.commands.append(
                Command("install", f"python -m pip install -e '{spec}'" + where, rel)
            )
    elif name == "setup.cfg":
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(read_text(pm.root, rel) or "")
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
            parser.read_string(read_text(pm.root, rel) or "")
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
        data = json.loads(read_text(pm.root, rel) or "")
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
    data = read_toml(pm.root, rel)
    if data is None:
        pm.tools.append(("Cargo.toml", f"`{rel}` does not parse as TOML"))
        return
    package = subtable(data, "package")
    name = str(package.get("name") or "")
    bins = data.get("bin")
    named = set()
    if isinstance(bins, list):
        for item in bins:
            if isinstance(item, dict) and item.get("name"):
                path = str(item.get("path") or f"src/bin/{item['name']}.rs")
                pm.entry_points.append(
                    EntryPoint("binary", str(item["name"]), shown(directory, path), rel)
                )
                named.add(str(item["name"]))
    main_rs = shown(directory, "src/main.rs")
    if name and name not in named and package.get("autobins", True) and main_rs in pm.files_set:
        pm.entry_points.append(EntryPoint("binary", name, main_rs, rel))
    lib_rs = shown(directory, "src/lib.rs")
    if name and lib_rs in pm.files_set:
        pm.entry_points.append(EntryPoint("library", name, lib_rs, rel))
    if package or "workspace" in data:
        where = f" (in {directory}/)" if directory else ""
        pm.commands.append(Command("build", "cargo build" + where, rel))
        pm.commands.append(Command("test", "cargo test" + where, rel))
        pm.commands.append(Command("lint", "cargo clippy" + where, rel))
    deps = sorted(subtable(data, "dependencies"))
    if deps:
        pm.dependencies.append((f"Rust (`{rel}`)", deps))


def _go_mod(pm: ProjectMap, rel: str) -> None:
    directory = os.path.dirname(rel)
    for raw in (read_text(pm.root, rel) or "").splitlines():
        words = raw.split("//", 1)[0].split()
        if len(words) == 2 and words[0] == "module":
            pm.go_modules[directory] = words[1].strip('"')
    where = f" (in {directory}/)" if directory else ""
    pm.commands.append(Command("build", "go build ./..." + where, rel))
    pm.commands.append(Command("test", "go test ./..." + where, rel))
    pm.commands.append(Command("lint", "go vet ./..." + where, rel))
    deps = []
    block = False
    for raw in (read_text(pm.root, rel) or "").splitlines():
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


def _makefile(pm: ProjectMap, rel: str) -> None:
    directory = os.path.dirname(rel)
    text = read_text(pm.root, rel) or ""
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


def command_rank(command: Command) -> tuple[int, int]:
    name = os.path.basename(command.source)
    depth = command.source.count("/")
    order = _PREFERENCE.index(name) if name in _PREFERENCE else len(_PREFERENCE)
    return depth, order
