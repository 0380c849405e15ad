"""`loom map`'s records (what it found) and the readers its parsers share.

`ProjectMap` collects what the manifest readers (codemap_manifests.py) and the source readers
(codemap_sources.py) find; codemap.py walks the tree, calls them and writes the knowledge files.
"""

from __future__ import annotations

import ast
import os
import tomllib
from dataclasses import dataclass, field

from loom_tui.core import knowledge

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


def read_text(root: str, rel: str, limit: int = 2_000_000) -> str | None:
    try:
        with open(os.path.join(root, rel), encoding="utf-8") as fh:
            return fh.read(limit)
    except (OSError, UnicodeDecodeError):
        return None


def read_toml(root: str, rel: str) -> dict[str, object] | None:
    text = read_text(root, rel)
    if text is None:
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def subtable(data: object, *keys: str) -> dict[str, object]:
    """``data[k1][k2]…`` when each is a table, else {}."""
    for key in keys:
        if not isinstance(data, dict):
            return {}
        data = data.get(key)
    return data if isinstance(data, dict) else {}


def shown(rel_dir: str, name: str) -> str:
    return f"{rel_dir}/{name}" if rel_dir else name
