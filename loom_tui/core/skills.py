"""The skills loom ships (`skills/<name>/SKILL.md`), and the few that fit a stage.

A skill's front matter holds Claude Code's own keys (``name``, ``description``, optionally
``allowed-tools``) and two of loom's, which Claude Code ignores:

- ``triggers``: words and phrases which, found in the stage's id, name or description, suggest
  the skill (``pytest``, ``code review``); a trailing ``*`` also takes longer words
  (``refactor*``: refactoring, refactored).  Case and punctuation do not matter (``CI/CD`` is
  ``ci cd``).  Triggers found only in the stage's acceptance commands or truths tip the balance
  and no more.
- ``files``: file-name patterns (``*.py``, ``Dockerfile``, ``*.tf``) matched against the stage's
  ``files`` globs: ``src/**/*.py`` matches ``*.py``.

A stage may also name skills itself (``skills: [rust]``, as plans for the original loom do): those
come first, then the best-scoring others.  `match_skills` keeps `MAX_SKILLS` in all;
`signal_section` is the "Skills" section of the stage's signal.  It runs at every session start,
so it stays cheap: the index is read once per process (the front matter of each file only), and
matching is substring tests on the stage's text, with no regular expression compiled per trigger.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from loom_tui.core import frontmatter
from loom_tui.core.errors import StoreError

if TYPE_CHECKING:
    from loom_tui.core.model import StageRecord

MAX_SKILLS = 5
#: Points for a trigger in the name or description, in the commands only, and for a file match;
#: a skill needs `THRESHOLD` to be named.
TEXT_POINTS, COMMAND_POINTS, FILE_POINTS = 2, 1, 3
THRESHOLD = 2


@dataclass(frozen=True)
class Skill:
    name: str
    description: str
    path: str
    triggers: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """The description's first sentence (what the signal shows)."""
        text = " ".join(self.description.split())
        end = re.search(r"[.!?](\s|$)", text)
        first = text[: end.start() + 1] if end else text
        return first if len(first) <= 200 else first[:199].rstrip() + "…"

    @functools.cached_property
    def needles(self) -> tuple[str, ...]:
        """The triggers as substrings of `words` output: `` code review `` for a phrase,
        `` refactor`` (no closing space) for a prefix."""
        out = []
        for trigger in self.triggers:
            prefix = trigger.endswith("*")
            text = words(trigger.rstrip("*"))
            if text.strip():
                out.append(text.rstrip() if prefix else text)
        return tuple(out)


_NOT_WORD = re.compile(r"[^a-z0-9]+")


def words(text: str) -> str:
    """``text`` lower-cased, every run of other characters than a-z and 0-9 one space, and a
    space at each end: so that `` code review `` is found as a phrase with a plain ``in``."""
    return f" {_NOT_WORD.sub(' ', text.lower()).strip()} "


def wildcard_match(name: str, pattern: str) -> bool:
    """fnmatch for patterns whose only wildcard is ``*`` (matching ``/`` too), without compiling
    a regular expression; other patterns go to `fnmatch`."""
    if "?" in pattern or "[" in pattern:
        return fnmatch.fnmatchcase(name, pattern)
    parts = pattern.split("*")
    if len(parts) == 1:
        return name == pattern
    first, last = parts[0], parts[-1]
    if not name.startswith(first) or not name.endswith(last):
        return False
    if len(first) + len(last) > len(name):
        return False
    at, stop = len(first), len(name) - len(last)
    for part in parts[1:-1]:
        found = name.find(part, at, stop)
        if found < 0:
            return False
        at = found + len(part)
    return True


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list):
        return tuple(str(v).strip() for v in value if isinstance(v, str | int) and str(v).strip())
    return ()


def read_skill(path: str) -> Skill | None:
    """The skill whose SKILL.md is at ``path`` (front matter only), or None if it is unusable."""
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(16_384)
    except (OSError, UnicodeDecodeError):
        return None
    end = head.find("\n---", 4)
    if end < 0:
        return None
    try:
        data, _body = frontmatter.parse(head[: end + 4] + "\n", path)
    except StoreError:
        return None
    name, description = data.get("name"), data.get("description")
    if not isinstance(name, str) or not isinstance(description, str):
        return None
    return Skill(
        name=name,
        description=description,
        path=path,
        triggers=_strings(data.get("triggers")),
        files=_strings(data.get("files")),
    )


def skill_dirs() -> list[str]:
    """Where the bundled skills may be: in the installed package, then in a source checkout."""
    from loom_tui.core.install import source_dirs

    return source_dirs("skills")


@functools.cache
def _index(dirs: tuple[str, ...]) -> tuple[Skill, ...]:
    found: dict[str, Skill] = {}
    for folder in dirs:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            skill = read_skill(os.path.join(folder, name, "SKILL.md"))
            if skill is not None:
                found.setdefault(skill.name, skill)
    return tuple(found[name] for name in sorted(found))


def load_skills(dirs: list[str] | None = None) -> tuple[Skill, ...]:
    """Every bundled skill, by name (the index is read once per process and set of folders)."""
    return _index(tuple(skill_dirs() if dirs is None else dirs))


def score(skill: Skill, text: str, commands: str, files: list[str]) -> int:
    """How well ``skill`` fits a stage: ``text`` (its id, name and description) and ``commands``
    (its acceptance commands and truths), both through `words`, and ``files`` (its globs, lower
    case).  A trigger in the text scores `TEXT_POINTS`; triggers found only in the commands score
    `COMMAND_POINTS` in all (so commands tip a balance, never decide it); a file pattern that
    matches one of the globs scores `FILE_POINTS`."""
    points = 0
    in_commands = False
    for needle in skill.needles:
        if needle in text:
            points += TEXT_POINTS
        elif needle in commands:
            in_commands = True
    if in_commands:
        points += COMMAND_POINTS
    if any(wildcard_match(glob, pattern.lower()) for pattern in skill.files for glob in files):
        points += FILE_POINTS
    return points


def named_skills(names: list[str], pool: tuple[Skill, ...]) -> list[Skill]:
    """The skills a stage names, in its order: loom's own by name (``loom-rust``, the original's
    spelling, is loom's ``rust``), any other as a bare name (with no description or file)."""
    by_name = {s.name: s for s in pool}
    out: dict[str, Skill] = {}
    for name in names:
        skill = by_name.get(name) or by_name.get(name.removeprefix("loom-")) or Skill(name, "", "")
        out.setdefault(skill.name, skill)
    return list(out.values())


def match_skills(
    stage: StageRecord, skills: tuple[Skill, ...] | None = None, limit: int = MAX_SKILLS
) -> list[Skill]:
    """The skills the stage names, then those that fit it best, best first (at most ``limit`` in
    all, none below the threshold; ties by name)."""
    pool = load_skills() if skills is None else skills
    named = named_skills(stage.skills, pool)
    taken = {s.name for s in named}
    pool = tuple(s for s in pool if s.name not in taken)
    text = words(f"{stage.id} {stage.name} {stage.description}")
    commands = words(" ".join([*stage.acceptance, *stage.truths]))
    files = [f.lower() for f in stage.files]
    scored = [(score(s, text, commands, files), s.name, s) for s in pool]
    ranked = sorted((item for item in scored if item[0] >= THRESHOLD), key=lambda i: (-i[0], i[1]))
    return [*named, *(skill for _points, _name, skill in ranked)][:limit]


def signal_section(stage: StageRecord, skills: tuple[Skill, ...] | None = None) -> list[str]:
    """The "Skills" section of ``stage``'s signal (no lines when no skill fits)."""
    try:
        matched = match_skills(stage, skills)
    except Exception:  # a broken skill must never keep a session from starting
        return []
    if not matched:
        return []
    lines = [
        "",
        "## Skills",
        "",
        "These skills fit this stage. Load one when you reach the part of the work it covers: "
        "with the Skill tool and its name (once `loom install` has put it in Claude Code's "
        "skills), or by reading its file.",
        "",
    ]
    for skill in matched:
        if skill.path:
            lines.append(f"- `{skill.name}`: {skill.summary} (`{skill.path}`)")
        else:
            lines.append(f"- `{skill.name}`: named by the plan (not one of loom's skills)")
    return lines
