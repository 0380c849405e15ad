"""`loom map`'s source readers: Python through `ast` (main guards, `__main__` modules, and with
--deep the modules and their imports) and Go through its grammar's header (package clause, then
import declarations).  Other languages are said to be "not analysed" rather than guessed at.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from collections import Counter

from loom_tui.core.codemap_base import CODE, EntryPoint, ProjectMap, read_text, shown

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
            header = go_header(read_text(pm.root, rel, 200_000) or "")
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
                    inside.append(shown(module_dir, path[len(module) + 1 :]) or ".")
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


def go_mains(pm: ProjectMap) -> None:
    dirs: dict[str, None] = {}
    for rel in pm.files:
        if rel.endswith(".go") and not rel.endswith("_test.go"):
            text = read_text(pm.root, rel, 20_000)
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


def parse_python(pm: ProjectMap, rel: str) -> ast.Module | None:
    if rel not in pm.trees:
        text = read_text(pm.root, rel)
        try:
            pm.trees[rel] = ast.parse(text, rel) if text is not None else None
        except (SyntaxError, ValueError):
            pm.trees[rel] = None
    return pm.trees[rel]


def python_mains(pm: ProjectMap) -> None:
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
        text = read_text(pm.root, rel)
        if text is None or "__main__" not in text:
            continue  # only a file that mentions it can hold the guard; the parser decides
        tree = parse_python(pm, rel)
        if tree is not None and any(_is_main_guard(node) for node in tree.body):
            runs = f"python -m {module}" if "." in module else f"python {rel}"
            pm.entry_points.append(EntryPoint("main guard", runs, rel, "`if __name__`"))


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


def python_modules(pm: ProjectMap) -> None:
    """With --deep: each Python module's first docstring line and what it imports from the
    project, the most imported modules, and the third-party imports (all from `ast`)."""
    py = [f for f in pm.files if f.endswith(".py")]
    names = {python_module_name(f, pm.files_set): f for f in py}
    tops = {n.split(".")[0] for n in names}
    fan_in: Counter[str] = Counter()
    external: Counter[str] = Counter()
    rows = []
    for module, rel in sorted(names.items()):
        tree = parse_python(pm, rel)
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


def other_languages(pm: ProjectMap) -> list[str]:
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
