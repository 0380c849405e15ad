"""`loom verify ID [--suggest]`: goal-backward verification of a stage.

Acceptance commands say "the tests pass"; goal-backward verification asks whether the goal is
met, from three sides, each declared in the plan:

- ``truths``: shell commands for observable behaviour; each must exit 0.  They run like acceptance
  commands (`acceptance.run_commands`): in a shell, with ``LOOM_STAGE_ID`` and ``LOOM_WORK_DIR``
  set, and each failure is reported with the tail of its output.
- ``artifacts``: globs; each must match at least one non-empty file that is not a *stub* (below).
- ``wiring``: ``{source, pattern}`` entries; the regular expression ``pattern`` must be found in
  the file ``source`` (a glob is allowed: found in any file it matches is enough).  Each entry
  searches for at most `wiring_patterns.SEARCH_SECONDS`: a pattern that backtracks without end
  fails its check instead of holding the command.

Everything runs in the stage's worktree when it exists on disk (`.worktrees/<id>`), else in the
project root (a merged stage's work is there).  Globs are relative to that directory; ``**``
matches across folders; hidden files are matched only by patterns that name them.

**What counts as a stub.**  A file is judged line by line, as text, by these simple rules (no
parsing, so they are the same for every language):

1. it is empty, or has fewer than ``MIN_LINES`` (3) non-blank lines; or
2. none of its lines is real code: every non-blank line is one of
   - a comment (a line starting with ``#``, ``//``, ``/*``, ``*``, ``--`` or ``<!--``, which
     also covers Markdown headings and ``*`` bullets) or a line of a Python docstring;
   - an import (``import``, ``from … import``, ``use …;``, ``#include``, ``require``);
   - a declaration header ending in ``:`` or ``{`` (``def``, ``class``, ``fn``, ``func``,
     ``function``, ``impl``, ``struct``, ``enum``, ``trait``, ``interface``, ``mod``,
     ``namespace``; optionally ``pub``/``export``/``async``), a decorator (``@…``) or
     ``package …``;
   - only brackets and punctuation (``}``, ``)``, ``];`` …);
   - a placeholder: ``pass``, ``...``, ``raise NotImplementedError``, ``unimplemented!()``,
     ``todo!()``, a ``raise``/``throw``/``panic`` saying "not implemented", or a bare
     ``TODO``/``FIXME`` marker.

So a file with a single line of real code (an assignment, a call, a return, a sentence of prose)
beyond its scaffolding is *not* a stub, whatever else it holds; a file of signatures whose bodies
are all ``pass``/``todo!()`` is.  Files larger than ``READ_LIMIT`` bytes and binary files (a NUL
byte in their first block) are taken as real.  The rules are deliberately simple: they catch the
"file created, body left for later" case, not subtle fakes.
"""

from __future__ import annotations

import glob
import os
import re

from loom_tui.core import git
from loom_tui.core.acceptance import CommandResult, run_commands
from loom_tui.core.model import StageRecord
from loom_tui.core.store import Store
from loom_tui.core.wiring_patterns import Deadline, compile_pattern

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

MIN_LINES = 3
READ_LIMIT = 256 * 1024
SHOWN_FILES = 5

KINDS = ("truth", "artifact", "wiring")

_COMMENT = re.compile(r"^(#|//|/\*|\*|--|<!--|-->)")
_IMPORT = re.compile(
    r"^(import\s|from\s+\S+\s+import\s|use\s+\S+;|#\s*include\b|(const|let|var)\s+\w+\s*="
    r"\s*require\()"
)
_DECLARATION = re.compile(
    r"^(export\s+)?(default\s+)?(pub(\([\w:]+\))?\s+)?(async\s+)?(unsafe\s+)?"
    r"(def|class|fn|func|function|impl|struct|enum|trait|interface|mod|module|namespace)\b.*[:{]$"
)
_PUNCTUATION = re.compile(r"^[\s{}()\[\];,:]*$")
_PLACEHOLDER = re.compile(
    r"^(pass|\.\.\.|(#|//|--)?\s*(TODO|FIXME|XXX)\b.*)$"
    r"|NotImplementedError|\bunimplemented!\s*\(|\btodo!\s*\("
    r"|\b(raise|throw|panic!?)\b.*(?i:\bnot\s+(yet\s+)?implemented\b)"
)


def stub_reason(path: str) -> str | None:
    """Why the file at ``path`` is a stub (see the module's docstring), or None if it is real."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            raw = fh.read(READ_LIMIT + 1)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if size == 0 or not raw.strip():
        return "empty"
    if len(raw) > READ_LIMIT or b"\0" in raw[:8192]:
        return None
    lines = [line.strip() for line in raw.decode("utf-8", errors="replace").splitlines()]
    lines = [line for line in lines if line]
    if len(lines) < MIN_LINES:
        return f"only {len(lines)} non-blank line{'s' if len(lines) != 1 else ''}"
    placeholders = 0
    in_docstring: str | None = None
    for line in lines:
        if in_docstring is not None:
            if line.count(in_docstring) % 2 == 1:
                in_docstring = None
            continue
        quote = next((q for q in ('"""', "'''") if line.startswith(q)), None)
        if quote is not None:
            if line.count(quote) % 2 == 1:
                in_docstring = quote
            continue
        if _PLACEHOLDER.search(line):
            placeholders += 1
            continue
        if (
            _COMMENT.match(line)
            or _IMPORT.match(line)
            or _DECLARATION.match(line)
            or _PUNCTUATION.match(line)
            or line.startswith(("@", "package "))
        ):
            continue
        return None
    if placeholders:
        return "only placeholders (pass / TODO / not implemented) and declarations"
    return "no code: only comments, imports and declarations"


# --------------------------------------------------------------------------------------------------
# Checks


class Check:
    """One verified item: a truth command, an artifact glob or a wiring entry."""

    __slots__ = ("detail", "kind", "output_tail", "passed", "target")

    def __init__(
        self,
        kind: str,
        target: str,
        passed: bool,
        detail: str,
        output_tail: list[str] | None = None,
    ) -> None:
        self.kind = kind
        self.target = target
        self.passed = passed
        self.detail = detail
        self.output_tail = output_tail or []

    def line(self) -> str:
        mark = "✓" if self.passed else "✗"
        return f"{mark} {self.kind:<8}  {self.target}  ({self.detail})"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "target": self.target,
            "passed": self.passed,
            "detail": self.detail,
            "output_tail": list(self.output_tail),
        }


class VerifyReport:
    """Every check of one stage, and where they ran."""

    def __init__(self, stage_id: str, cwd: str, checks: list[Check]) -> None:
        self.stage_id = stage_id
        self.cwd = cwd
        self.checks = checks

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def passed(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        total = len(self.checks)
        if total == 0:
            return (
                f"stage {self.stage_id} declares no truths, artifacts or wiring: nothing to verify "
                f"(`loom verify {self.stage_id} --suggest` proposes some)"
            )
        counts = ", ".join(
            f"{n} {kind}{'s' if n != 1 and kind != 'wiring' else ''}"
            for kind in KINDS
            if (n := sum(1 for c in self.checks if c.kind == kind))
        )
        if self.passed:
            return f"stage {self.stage_id} verified: all {total} checks passed ({counts})"
        failed = len(self.failed)
        return f"stage {self.stage_id} failed verification: {failed} of {total} checks failed"


def stage_dir(store: Store, stage: StageRecord) -> str:
    """Where the stage's checks run: its worktree when that exists on disk, else the project."""
    for candidate in (git.worktree_path(store.root, stage.id), stage.worktree):
        if candidate and os.path.isdir(candidate):
            return candidate
    return store.root


def matching_files(cwd: str, pattern: str) -> list[str]:
    """The regular files that ``pattern`` (relative to ``cwd``) matches, relative and sorted."""
    names = glob.glob(pattern, root_dir=cwd, recursive=True)
    return sorted(n for n in names if os.path.isfile(os.path.join(cwd, n)))


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN_FILES])
    return shown + (f" and {len(names) - SHOWN_FILES} more" if len(names) > SHOWN_FILES else "")


def check_artifact(cwd: str, pattern: str) -> Check:
    files = matching_files(cwd, pattern)
    if not files:
        return Check("artifact", pattern, False, "no file matches")
    real: list[str] = []
    stubs: list[str] = []
    for name in files:
        reason = stub_reason(os.path.join(cwd, name))
        if reason is None:
            real.append(name)
        else:
            stubs.append(f"{name}: {reason}")
    if real:
        return Check("artifact", pattern, True, f"{len(real)} real: {_listed(real)}")
    return Check(
        "artifact",
        pattern,
        False,
        f"{'the only file is' if len(stubs) == 1 else 'every file is'} a stub — {_listed(stubs)}",
    )


def check_wiring(cwd: str, entry: object) -> Check:
    if not isinstance(entry, dict):
        return Check("wiring", repr(entry), False, "not a {source, pattern} mapping")
    source, pattern = entry.get("source"), entry.get("pattern")
    if not isinstance(source, str) or not isinstance(pattern, str) or not source or not pattern:
        return Check("wiring", repr(entry), False, "needs a source and a pattern")
    target = f"{source} ~ /{pattern}/"
    description = entry.get("description")
    if isinstance(description, str) and description.strip():
        target += f"  — {description.strip()}"
    try:
        # ``literal: true`` (the original's key): the pattern is plain text
        compiled = compile_pattern(re.escape(pattern) if entry.get("literal") else pattern)
    except ValueError as exc:
        return Check("wiring", target, False, str(exc).replace("is not a", "not a", 1))
    files = matching_files(cwd, source)
    if not files:
        return Check("wiring", target, False, f"no file matches {source}")
    deadline = Deadline()
    for name in files:
        try:
            with open(os.path.join(cwd, name), encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            continue
        try:
            match = deadline.search(compiled, text)
        except TimeoutError:
            return Check(
                "wiring",
                target,
                False,
                f"gave up after {deadline.seconds:g} s searching {name} for /{pattern}/: the "
                "pattern backtracks too much (nested repeats such as (a+)+); simplify it",
            )
        if match is not None:
            line = text.count("\n", 0, match.start()) + 1
            return Check("wiring", target, True, f"found in {name}:{line}")
    where = files[0] if len(files) == 1 else f"any of {len(files)} files"
    return Check("wiring", target, False, f"not found in {where}")


def _truth(result: CommandResult) -> Check:
    if result.passed:
        detail = f"exit 0, {result.seconds:.1f} s"
    elif result.timed_out:
        detail = f"timed out after {result.seconds:.0f} s"
    else:
        detail = f"exit {result.exit_code}, {result.seconds:.1f} s"
    return Check("truth", result.command, result.passed, detail, result.output_tail)


def verify_stage(
    store: Store, stage_id: str, on_check: Callable[[Check], None] | None = None
) -> VerifyReport:
    """Run every check of the stage (all of them, even after a failure) and record an event."""
    from loom_tui.core.stage_commands import in_working_dir

    stage = store.read_stage(stage_id)
    cwd = in_working_dir(stage_dir(store, stage), stage)
    checks: list[Check] = []

    def add(check: Check) -> None:
        checks.append(check)
        if on_check is not None:
            on_check(check)

    env = {"LOOM_STAGE_ID": stage_id, "LOOM_WORK_DIR": store.work_dir}
    run_commands(stage.truths, cwd, env, lambda result: add(_truth(result)))
    for pattern in stage.artifacts:
        add(check_artifact(cwd, pattern))
    for entry in stage.wiring:
        add(check_wiring(cwd, entry))
    report = VerifyReport(stage_id, cwd, checks)
    from loom_tui.core.events import VerifyDone

    store.append_event(
        VerifyDone(
            stage=stage_id,
            passed=report.passed,
            checks=len(checks),
            failed=tuple(f"{c.kind}: {c.target}" for c in report.failed),
            cwd=store.rel(cwd),
        )
    )
    return report


# --------------------------------------------------------------------------------------------------
# Suggestions


_GLOB_CHARS = frozenset("*?[")
_EXISTS_TEST = re.compile(r"^\s*(test|\[)\s+-[sfe]\s+(['\"]?)([^'\"\s;&|]+)\2\s*\]?\s*$")
_PY_MODULE = re.compile(r"^[A-Za-z_][\w/]*\.py$")
_JS_EXT = (".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs")


def _quote(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    import json

    return json.dumps(text, ensure_ascii=False)


def _python_module(path: str) -> str | None:
    if not _PY_MODULE.match(path) or path.startswith(("tests/", "test/")):
        return None
    parts = path[:-3].split("/")
    if parts[0] == "src":  # the src layout: src/pkg/mod.py is pkg.mod
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or parts[-1] in ("__main__", "setup", "conftest"):
        return None
    return ".".join(parts)


def _wiring_for(path: str) -> tuple[str, str, str] | None:
    """(source glob, pattern, description) that shows ``path`` is used by its neighbours."""
    folder, name = os.path.split(path)
    stem, ext = os.path.splitext(name)
    if not stem.isidentifier() or stem in ("__init__", "__main__", "main", "lib", "mod", "index"):
        return None
    prefix = f"{folder}/" if folder else ""
    if ext == ".py":
        if not folder or folder == "src":
            pattern = rf"^\s*(import\s+{stem}\b|from\s+{stem}\s+import\b)"
        else:
            dotted = folder[4:] if folder.startswith("src/") else folder
            package = re.escape(dotted.replace("/", "."))
            pattern = (
                rf"^\s*(from\s+(\.|{package})\s+import\s+.*\b{stem}\b"
                rf"|from\s+(\.|{package}\.){stem}\s+import\b"
                rf"|import\s+{package}\.{stem}\b)"
            )
        return f"{prefix}*.py", pattern, f"{path} is imported by another module"
    if ext == ".rs":
        return (
            f"{prefix}*.rs",
            rf"\bmod\s+{stem}\b|\buse\s+(crate::|super::|self::)?{stem}::",
            f"{path} is declared as a module",
        )
    if ext in _JS_EXT:
        return (
            f"{prefix}**/*{ext}",
            rf"""(from\s+|require\(\s*|import\s*\(\s*)['"]\.{{1,2}}/([\w./-]*/)?{stem}(\.\w+)?['"]""",
            f"{path} is imported",
        )
    if ext == ".go":
        return None  # Go wires packages, not files: nothing honest to suggest per file
    return None


def _behavioural(command: str) -> bool:
    """Whether an acceptance command checks behaviour rather than that a file exists."""
    return _EXISTS_TEST.match(command) is None


def suggest(stage: StageRecord) -> dict[str, list[object]]:
    """Truths, artifacts and wiring derived from the stage's ``files`` and ``acceptance``.

    Heuristics, to be reviewed before they go into the plan:

    - truths: every acceptance command that exercises behaviour (not a ``test -s FILE``-style
      existence check), and ``python3 -c 'import M'`` for each Python module named in ``files``;
    - artifacts: every ``files`` glob, and every file an acceptance command tests for existence
      (unless a ``files`` glob covers it);
    - wiring: for each Python, Rust or JavaScript/TypeScript file named in ``files`` (not a glob),
      an import or ``mod`` declaration of it in the files beside it.
    """
    truths: list[object] = []
    artifacts: list[object] = []
    wiring: list[object] = []
    import fnmatch

    artifacts.extend(dict.fromkeys(stage.files))
    for command in stage.acceptance:
        match = _EXISTS_TEST.match(command)
        if match is None:
            truths.append(command)
            continue
        path = match.group(3)
        if not any(fnmatch.fnmatchcase(path, str(p)) for p in artifacts):
            artifacts.append(path)
    literal = [f for f in stage.files if not _GLOB_CHARS.intersection(f)]
    for path in literal:
        module = _python_module(path)
        if module is not None:
            truths.append(f"python3 -c 'import {module}'")
    for path in literal:
        found = _wiring_for(path)
        if found is not None:
            source, pattern, description = found
            wiring.append({"source": source, "pattern": pattern, "description": description})
    return {"truths": truths, "artifacts": artifacts, "wiring": wiring}


def suggestion_lines(store: Store, stage_id: str) -> list[str]:
    """`loom verify ID --suggest`: YAML to paste into the stage's entry in the plan."""
    stage = store.read_stage(stage_id)
    declared = {
        "truths": bool(stage.truths),
        "artifacts": bool(stage.artifacts),
        "wiring": bool(stage.wiring),
    }
    if all(declared.values()):
        return [
            f"# stage {stage_id} already declares truths, artifacts and wiring; "
            f"`loom verify {stage_id}` checks them"
        ]
    found = suggest(stage)
    lines = [
        f"# suggested goal checks for stage {stage_id}, derived from its files and acceptance "
        "commands;",
        "# review them and add them to the stage in the plan (stage records take them at "
        "`loom init`)",
    ]
    for key in ("truths", "artifacts"):
        if declared[key]:
            lines.append(f"# {key}: already declared")
        elif found[key]:
            lines.append(f"{key}:")
            lines.extend(f"  - {_quote(str(v))}" for v in found[key])
    if declared["wiring"]:
        lines.append("# wiring: already declared")
    elif found["wiring"]:
        lines.append("wiring:")
        for entry in found["wiring"]:
            assert isinstance(entry, dict)
            lines.append(f"  - source: {_quote(entry['source'])}")
            lines.append(f"    pattern: {_quote(entry['pattern'])}")
            lines.append(f"    description: {_quote(entry['description'])}")
    if not any(found[k] for k, d in declared.items() if not d):
        lines.append(
            f"# nothing to suggest: stage {stage_id} lists no files or acceptance commands "
            "to derive checks from"
        )
    return lines
