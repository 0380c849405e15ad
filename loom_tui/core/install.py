"""`loom install [--dest DIR]`: copy loom's agents and skills to where Claude Code finds them.

The repository's `agents/*.md` go to `<DIR>/agents/`, and each `skills/<name>/` folder that holds
a `SKILL.md` goes, with all its files, to `<DIR>/skills/<name>/`.  DIR is ``$CLAUDE_CONFIG_DIR``
when set, else `~/.claude`.  The files are found in the installed package (`loom_tui/agents`,
`loom_tui/skills`: the wheel carries them there) or, in a source checkout, at the repository root.

A file the user changed is never overwritten without ``force``.  loom remembers what it wrote in
`<DIR>/.loom-install.json` (a SHA-256 per file): a file still as loom wrote it is updated to the new
version; one whose content differs from both (edited by the user, or not loom's to begin with) is
skipped and reported.
"""

from __future__ import annotations

import hashlib
import json
import os

from loom_tui.core.errors import LoomError
from loom_tui.core.fsutil import atomic_write

MANIFEST = ".loom-install.json"
KINDS = ("agents", "skills")


def source_dirs(kind: str) -> list[str]:
    """Where the bundled ``kind`` ("agents" or "skills") may be: the package, then the checkout."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [os.path.join(package, kind), os.path.join(os.path.dirname(package), kind)]


def bundled_files() -> dict[str, str]:
    """Every file to install: its path relative to the destination -> its source path."""
    found: dict[str, str] = {}
    for folder in source_dirs("agents"):
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if name.endswith(".md") and os.path.isfile(path):
                found.setdefault(f"agents/{name}", path)
    for folder in source_dirs("skills"):
        if not os.path.isdir(folder):
            continue
        for skill in sorted(os.listdir(folder)):
            skill_dir = os.path.join(folder, skill)
            if not os.path.isfile(os.path.join(skill_dir, "SKILL.md")):
                continue
            for directory, dirs, files in os.walk(skill_dir):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
                for name in sorted(files):
                    if name.startswith(".") or name.endswith((".pyc", ".pyo")):
                        continue
                    path = os.path.join(directory, name)
                    rel = os.path.relpath(path, folder).replace(os.sep, "/")
                    found.setdefault(f"skills/{rel}", path)
    return found


def default_dest() -> str:
    """Claude Code's configuration directory: ``$CLAUDE_CONFIG_DIR``, else `~/.claude`."""
    from loom_tui.core.agents.claude_code import config_dir

    return config_dir()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)}


class InstallResult:
    """What `install` did to each file: ``installed``, ``updated``, ``unchanged``, ``replaced``
    (the user's version overwritten, with ``force``) or ``skipped`` (the user's version kept)."""

    def __init__(self, dest: str) -> None:
        self.dest = dest
        self.files: list[tuple[str, str]] = []

    def count(self, action: str) -> int:
        return sum(1 for _rel, a in self.files if a == action)

    def lines(self, *, dry_run: bool = False) -> list[str]:
        verbs = {
            "installed": "would install" if dry_run else "installed",
            "updated": "would update" if dry_run else "updated",
            "replaced": "would overwrite your changes to"
            if dry_run
            else "overwrote your changes to",
            "skipped": "skipped",
        }
        out = []
        for rel, action in self.files:
            if action == "unchanged":
                continue
            line = f"{verbs[action]} {os.path.join(self.dest, rel)}"
            if action == "skipped":
                line += " (it differs from loom's version: changed by you; --force overwrites it)"
            out.append(line)
        labels = {
            "installed": "to install" if dry_run else "installed",
            "updated": "to update" if dry_run else "updated",
            "replaced": "to overwrite" if dry_run else "overwritten",
            "unchanged": "unchanged",
            "skipped": "skipped",
        }
        summary = ", ".join(
            f"{self.count(a)} {label}" for a, label in labels.items() if self.count(a)
        )
        out.append(
            f"{'dry run: ' if dry_run else ''}{len(self.files)} files in {self.dest}: {summary}"
        )
        return out


def install(
    dest: str | None = None, *, force: bool = False, dry_run: bool = False
) -> InstallResult:
    """Copy the bundled agents and skills into ``dest`` (see the module's docstring)."""
    files = bundled_files()
    if not files:
        looked = ", ".join(d for kind in KINDS for d in source_dirs(kind))
        raise LoomError(f"no agents or skills found in this loom installation (looked in {looked})")
    target = os.path.abspath(os.path.expanduser(dest or default_dest()))
    if os.path.exists(target) and not os.path.isdir(target):
        raise LoomError(f"{target}: not a directory")
    manifest_path = os.path.join(target, MANIFEST)
    manifest = _read_manifest(manifest_path)
    result = InstallResult(target)
    try:
        for rel, source in files.items():
            with open(source, "rb") as fh:
                data = fh.read()
            path = os.path.join(target, *rel.split("/"))
            try:
                with open(path, "rb") as fh:
                    current: bytes | None = fh.read()
            except FileNotFoundError:
                current = None
            if current == data:
                action = "unchanged"
            elif current is None:
                action = "installed"
            elif manifest.get(rel) == _digest(current):
                action = "updated"
            elif force:
                action = "replaced"
            else:
                result.files.append((rel, "skipped"))
                continue
            if action != "unchanged" and not dry_run:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                atomic_write(path, data)
            manifest[rel] = _digest(data)
            result.files.append((rel, action))
        if not dry_run:
            os.makedirs(target, exist_ok=True)
            text = json.dumps({"files": dict(sorted(manifest.items()))}, indent=2) + "\n"
            atomic_write(manifest_path, text)
    except OSError as exc:
        raise LoomError(f"cannot install into {target}: {exc}") from None
    return result
