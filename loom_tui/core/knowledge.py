"""The project's knowledge: `doc/loom/knowledge/*.md`, what every agent should know first.

Unlike a stage's memory (`.work/memory/`, private to one run), these files are committed to the
repository, so they outlive the run, travel with the branches, and are merged like any other file.
People and agents add to them (`loom knowledge update`, `loom memory promote`); `loom map` fills a
marked generated section from the code itself; every stage's signal embeds them within a budget.

Agents call `knowledge show|update` and `memory promote`, so this module uses only cheap standard
library modules (no pathlib, no tempfile, no time formatting beyond `time.strftime`).
"""

from __future__ import annotations

import fcntl
import os
import time

from loom_tui.core.errors import LoomError, UsageError
from loom_tui.core.fsutil import atomic_write, write_error

TYPE_CHECKING = False  # not `typing`'s: agent-facing commands do not load it
if TYPE_CHECKING:
    from collections.abc import Callable

KNOWLEDGE_DIR = os.path.join("doc", "loom", "knowledge")

#: file name -> (title, what it holds): the original's seven files, in the order signals show them
FILES: dict[str, tuple[str, str]] = {
    "architecture.md": (
        "Architecture",
        "How the parts fit together: components, data flow, module dependencies.",
    ),
    "entry-points.md": (
        "Entry Points",
        "Where to start reading and how the project is run, built and tested.",
    ),
    "patterns.md": ("Patterns", "Patterns the code follows, so new code fits in."),
    "conventions.md": ("Conventions", "Coding conventions: naming, layout, style, tests."),
    "mistakes.md": ("Mistakes and Lessons", "What went wrong before, and how to avoid it."),
    "stack.md": ("Stack", "Languages, frameworks, dependencies and tooling."),
    "concerns.md": ("Concerns", "Technical debt, warnings and open problems."),
}

#: the names a person or an agent may use for a file, besides `name.md` and `name`
_ALIASES = {
    "arch": "architecture.md",
    "overview": "architecture.md",
    "entry": "entry-points.md",
    "entries": "entry-points.md",
    "entrypoints": "entry-points.md",
    "entry-point": "entry-points.md",
    "pattern": "patterns.md",
    "convention": "conventions.md",
    "mistake": "mistakes.md",
    "lessons": "mistakes.md",
    "lesson": "mistakes.md",
    "deps": "stack.md",
    "dependencies": "stack.md",
    "tooling": "stack.md",
    "concern": "concerns.md",
    "debt": "concerns.md",
}

#: the template's own lines, which carry no knowledge (signals and `show` skip them)
_PLACEHOLDER = "(Nothing recorded yet: add with `loom knowledge update"

GENERATED_BEGIN = "<!-- loom map: generated"
GENERATED_END = "<!-- loom map: end"


def directory(root: str) -> str:
    return os.path.join(root, KNOWLEDGE_DIR)


def resolve(name: str) -> str:
    """The file name ``name`` stands for (``patterns``, ``patterns.md``, ``pattern``); a clear
    error naming the valid files otherwise (never a path: ``../x`` is refused here)."""
    key = name.strip().lower()
    if key in FILES:
        return key
    if key + ".md" in FILES:
        return key + ".md"
    if key in _ALIASES:
        return _ALIASES[key]
    valid = ", ".join(n[:-3] for n in FILES)
    raise UsageError(f"no knowledge file {name!r}: use one of {valid}")


def template(name: str) -> str:
    title, about = FILES[name]
    stem = name[:-3]
    return (
        f"# {title}\n\n> {about}\n> Committed with the code; add to it, do not rewrite others' "
        f"entries.\n\n{_PLACEHOLDER} {stem} TEXT`.)\n"
    )


class DirLock:
    """An exclusive `flock` on the knowledge directory itself: no lock file to commit or ignore.

    Every read-modify-write of a knowledge file (update, promote, map) holds it, so two agents
    appending at once both keep their entry."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> DirLock:
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def _ensure_dir(root: str) -> str:
    path = directory(root)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc) from None
    return path


def _read(path: str, limit: int = -1) -> str | None:
    try:
        # newline="": the file as it is (a person's \r\n stays), not as universal newlines
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            return fh.read(limit)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise LoomError(f"{path} is a directory, not a knowledge file") from None


def init(root: str) -> list[str]:
    """Create `doc/loom/knowledge/` and each missing file from its template; the names created.

    Idempotent: a file that exists is left exactly as it is, whatever it holds."""
    path = _ensure_dir(root)
    created = []
    with DirLock(path):
        for name in FILES:
            target = os.path.join(path, name)
            if os.path.lexists(target):
                continue
            atomic_write(target, template(name))
            created.append(name)
    return created


def listing(root: str) -> list[tuple[str, int, str]]:
    """(file name, size in bytes, first line of content) of each knowledge file, the known ones
    first in their order, then any others a person added."""
    path = directory(root)
    try:
        names = sorted(n for n in os.listdir(path) if n.endswith(".md"))
    except FileNotFoundError:
        return []
    ordered = [n for n in FILES if n in names] + [n for n in names if n not in FILES]
    out = []
    for name in ordered:
        text = _read(os.path.join(path, name)) or ""
        lines = [line for line in content_lines(text) if line.strip()]
        first = next(
            (line for line in lines if not line.startswith("#")), lines[0] if lines else ""
        )
        out.append((name, len(text.encode("utf-8")), first))
    return out


def read(root: str, name: str) -> str:
    name = resolve(name)
    text = _read(os.path.join(directory(root), name))
    if text is None:
        raise LoomError(f"no {KNOWLEDGE_DIR}/{name} yet: run `loom knowledge init`")
    return text


def _modify(root: str, name: str, change: Callable[[str], str]) -> str:
    """Read ``name`` (its template when missing), apply ``change(text) -> text`` and write the
    result atomically, all under the directory's lock; the file's path."""
    path = _ensure_dir(root)
    target = os.path.join(path, name)
    with DirLock(path):
        current = _read(target)
        if current is None:
            current = template(name)
        new = change(current)
        if new != current:
            atomic_write(target, new)
    return target


def entry_text(text: str, stamp: str | None = None, source: str = "") -> str:
    """One dated entry: a `### date` heading (and where it came from), then the text as given."""
    stamp = stamp or time.strftime("%Y-%m-%d %H:%M")
    head = f"### {stamp}" + (f" ({source})" if source else "")
    return f"{head}\n\n{text.strip()}\n"


def append(root: str, name: str, text: str, source: str = "") -> str:
    """Append a dated entry to knowledge file ``name``; its path.  The placeholder line of a fresh
    template goes once there is real content."""
    name = resolve(name)
    if not text.strip():
        raise UsageError("nothing to add: the text is empty")
    entry = entry_text(text, source=source)

    def change(current: str) -> str:
        body = "\n".join(line for line in current.split("\n") if not line.startswith(_PLACEHOLDER))
        return body.rstrip("\n") + "\n\n" + entry

    return _modify(root, name, change)


def replace_generated(root: str, name: str, key: str, body: str) -> str:
    """Put ``body`` between the generated markers tagged ``key`` in file ``name``, replacing what
    an earlier `loom map` wrote there and nothing else; appended at the end the first time."""
    name = resolve(name)
    begin = f"{GENERATED_BEGIN} ({key}); `loom map` replaces this section, write outside it -->"
    end = f"{GENERATED_END} ({key}) -->"
    block = f"{begin}\n{body.strip()}\n{end}\n"

    def change(current: str) -> str:
        start = current.find(begin)
        stop = current.find(end, start) if start >= 0 else -1
        if start >= 0 and stop >= 0:
            return current[:start] + block + _after(current, stop + len(end))
        body_lines = [line for line in current.split("\n") if not line.startswith(_PLACEHOLDER)]
        return "\n".join(body_lines).rstrip("\n") + "\n\n" + block

    return _modify(root, name, change)


def _after(text: str, at: int) -> str:
    """What follows a replaced block: its own newline dropped (the block ends with one)."""
    rest = text[at:]
    return rest[1:] if rest.startswith("\n") else rest


def content_lines(text: str) -> list[str]:
    """The lines of a knowledge file that carry knowledge: not its title and the `>` note under
    it, not the template's placeholder, not the generated section's markers, no blank lines at
    either end."""
    out: list[str] = []
    for line in text.split("\n"):
        if line.startswith((_PLACEHOLDER, GENERATED_BEGIN, GENERATED_END)):
            continue
        # the title and the note under it; a person's own quotes and headings further on stay
        if not out and (not line.strip() or line.startswith(("# ", "> ")) or line == ">"):
            continue
        out.append(line.rstrip())
    while out and not out[-1].strip():
        out.pop()
    return out


#: how much of the knowledge files a signal embeds, in characters, all files together
SIGNAL_BUDGET = 6000
#: how much the promoted entries not yet in a file may add to that
_PROMOTED_BUDGET = 1500
#: how much of one file a signal reads at most (its pointer then counts the lines read)
_SIGNAL_READ_LIMIT = 1_000_000


def _demoted(lines: list[str]) -> list[str]:
    """Headings moved two levels down (outside code fences), so a file's `## Languages` stays
    inside the signal's `## Project knowledge` section rather than starting a section of its own."""
    out = []
    fenced = False
    for line in lines:
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        out.append("##" + line if not fenced and line.startswith("#") else line)
    return out


def _sources(dirs: list[str]) -> list[tuple[str, str, list[str]]]:
    """(file name, shown path, content lines) of each knowledge file with content, each read from
    the first of ``dirs`` that has it (the stage's worktree first, then the project root)."""
    names: list[str] = []
    for d in dirs:
        try:
            names += [n for n in os.listdir(d) if n.endswith(".md") and n not in names]
        except OSError:
            continue
    ordered = [n for n in FILES if n in names] + sorted(n for n in names if n not in FILES)
    out = []
    for name in ordered:
        for d in dirs:
            try:  # a runaway file costs the signal its budget, not the scheduler a minute
                text = _read(os.path.join(d, name), _SIGNAL_READ_LIMIT)
            except LoomError:
                text = None
            if text is not None:
                lines = content_lines(text)
                if lines:
                    out.append((name, f"{KNOWLEDGE_DIR}/{name}", lines))
                break
    return out


def _fit(lines: list[str], budget: int) -> tuple[list[str], int]:
    """The first of ``lines`` that fit in ``budget`` characters, and how many were left out."""
    used = 0
    for i, line in enumerate(lines):
        used += len(line) + 1
        if used > budget:
            return lines[:i], len(lines) - i
    return lines, 0


def signal_section(
    worktree: str,
    root: str,
    promoted: list[tuple[str, str, str]],
    budget: int = SIGNAL_BUDGET,
) -> list[str]:
    """The signal's `## Project knowledge` section: every knowledge file with content, each cut to
    a fair share of ``budget`` (with a pointer to the rest), then the promoted memory entries of
    any stage that the files shown do not already hold.  Empty when there is nothing to show."""
    dirs = [directory(worktree)]
    if os.path.realpath(directory(root)) != os.path.realpath(dirs[0]):
        dirs.append(directory(root))
    files = _sources(dirs)
    everything = "\n".join("\n".join(lines) for _n, _p, lines in files)
    extra = [(s, k, t) for s, k, t in promoted if t not in everything]
    if not files and not extra:
        return []
    # fair shares: the smaller files first, each leaving what it does not need to the others
    shares: dict[str, int] = {}
    left = budget
    by_size = sorted(files, key=lambda f: sum(len(x) + 1 for x in f[2]))
    for i, (name, _shown, lines) in enumerate(by_size):
        share = left // (len(by_size) - i)
        shares[name] = min(share, sum(len(x) + 1 for x in lines))
        left -= shares[name]
    out = [
        "",
        "## Project knowledge",
        "",
        f"What is known about this project, from `{KNOWLEDGE_DIR}/` (committed with the code). "
        "Read it before you start; add what you learn with `loom knowledge update FILE TEXT`, or "
        "move a memory entry there with `loom memory promote TYPE FILE`.",
    ]
    for name, shown, lines in files:
        kept, cut = _fit(lines, shares[name])
        out += ["", f"### {name}", "", *_demoted(kept)]
        if cut:
            more = f"{cut} more line{'s' if cut != 1 else ''}"
            out.append(f"… ({more} in {shown})")
    if extra:
        out += ["", "### Promoted from the stages' memory", ""]
        entries = [f"- {text} ({kind}, stage `{stage}`)" for stage, kind, text in extra]
        listed, cut = _fit(entries, _PROMOTED_BUDGET)
        out += listed
        if cut:
            out.append(f"… ({cut} more: `loom memory list --stage ID` shows a stage's entries)")
    return out


def find_root(explicit: str | None = None, cwd: str | None = None) -> str:
    """The checkout whose knowledge a command reads and writes: the project of ``--work-dir``
    when given, else the git worktree holding the current directory.  Inside a stage's worktree
    that is the worktree (not the main checkout), so what an agent adds is committed on its
    branch and merged with its work, as the files are part of the repository."""
    if explicit:
        path = os.path.abspath(explicit)
        return os.path.dirname(path) if os.path.basename(path) == ".work" else path
    current = os.path.abspath(cwd or os.getcwd())
    while True:
        if os.path.lexists(os.path.join(current, ".git")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            raise LoomError(
                "not inside a git repository: run this in the project, or give --work-dir"
            )
        current = parent
