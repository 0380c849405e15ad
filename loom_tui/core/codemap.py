"""`loom map`: what the code itself says about a project, written into the knowledge files.

Everything here comes from a parser, never from a guess on a name: manifests through `tomllib`,
`json` and `configparser`, Python through `ast`, Makefiles through their rule syntax, Go through its
package clause (the first token after comments, by the language's grammar).  What has no parser
here (Rust or JavaScript imports) is said to be "not analysed" rather than guessed at.

The readers live in codemap_manifests.py and codemap_sources.py, the records in
codemap_base.py; this module walks the tree, calls them, and renders the sections.  They go
between `loom map` markers in architecture.md, entry-points.md and stack.md
(`knowledge.replace_generated`), so running it again replaces only what it wrote before.
"""

from __future__ import annotations

import ast
import fnmatch
import os
from collections import Counter

from loom_tui.core import knowledge
from loom_tui.core.codemap_base import CODE, LANGUAGES, ProjectMap, read_text
from loom_tui.core.codemap_manifests import MANIFESTS, command_rank
from loom_tui.core.codemap_sources import (
    go_header,
    go_mains,
    go_package,
    other_languages,
    parse_python,
    python_mains,
    python_modules,
)
from loom_tui.core.errors import UsageError

__all__ = ["ProjectMap", "build", "go_header", "go_package", "scan", "write"]

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


# -- layout and modules ----------------------------------------------------------------------------


def _describe_dir(pm: ProjectMap, rel: str, inside: list[str]) -> str:
    """What a top-level directory holds: its package docstring's first line, else its README's
    first line, else what its files are."""
    init = f"{rel}/__init__.py"
    if init in pm.files_set:
        tree = parse_python(pm, init)
        doc = ast.get_docstring(tree) if tree is not None else None
        if doc:
            return "Python package: " + doc.strip().splitlines()[0]
    for readme in ("README.md", "README", "README.rst", "README.txt"):
        text = read_text(pm.root, f"{rel}/{readme}", 4000)
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
    python_mains(pm)
    go_mains(pm)
    pm.commands.sort(key=command_rank)
    _layout(pm)
    if deep:
        python_modules(pm)
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
        lines += other_languages(pm)
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
