"""Plan files: Markdown with a YAML metadata block that defines the stages.

Parsing collects every problem rather than stopping at the first, and reports each as
``PATH:LINE: stages[2].id: message`` with LINE counted in the Markdown file.  Whatever the input,
`parse_plan_text` raises only `PlanError` (a hypothesis fuzz test holds it to that).

Three passes:
1. find the metadata block in the Markdown and parse its YAML with ruamel.yaml's round-trip loader,
   which remembers the line of every key and item;
2. validate fields with pydantic models (`extra="forbid"`, strict types), mapping each error's
   location back to a line and turning unknown keys into "did you mean" suggestions;
3. check what spans stages (unique ids, known dependencies, cycles) in a separate pass, because
   pydantic skips model validators once a field has failed.

Before all that the file's size is capped, and after the YAML is read every string is checked for
what could not be stored or would be absurd (lone surrogates, a 50 MB description: `plan_text`).
"""

from __future__ import annotations

import difflib
import os
import re
from typing import Any

from pydantic import ValidationError

from loom_tui.core.dag import find_cycles
from loom_tui.core.errors import UsageError
from loom_tui.core.plan_schema import (  # ID_RULE and the specs: part of this module's API
    ID_RE,
    ID_RULE,
    FilesystemSandbox,
    LinuxSandbox,
    NetworkSandbox,
    PlanSpec,
    SandboxSpec,
    SimSpec,
    StageSpec,
    TruthCheck,
    WiringSpec,
)
from loom_tui.core.plan_text import (
    LIMITS,
    MAX_PLAN_BYTES,
    size_problem,
    storable,
    text_problems,
)

START_MARKER = "<!-- loom METADATA -->"
END_MARKER = "<!-- END loom METADATA -->"
# The original loom writes a note into its markers (``<!-- loom METADATA - Do not edit manually
# -->``) and finds them by their beginning: any such note is accepted.
_START_RE = re.compile(r"<!-- loom METADATA\b[^>]*-->")
_END_RE = re.compile(r"<!-- END loom METADATA\b[^>]*-->")
MAX_VALUES = 100_000
_FENCE_RE = re.compile(r"^(`{3,})\s*([A-Za-z0-9_+-]*)\s*$")


# --------------------------------------------------------------------------------------------------
# Errors


class PlanIssue:
    """One problem in a plan, at a line of the Markdown file."""

    __slots__ = ("line", "loc", "message")

    def __init__(self, line: int, loc: str, message: str) -> None:
        self.line = line
        self.loc = loc
        self.message = message

    def format(self, path: str) -> str:
        where = f"{self.loc}: " if self.loc else ""
        return f"{path}:{self.line}: {where}{self.message}"

    def __repr__(self) -> str:
        return f"PlanIssue({self.line}, {self.loc!r}, {self.message!r})"


class PlanError(UsageError):
    """A plan that cannot be used; carries every problem found (exit code 2)."""

    def __init__(self, path: str, issues: list[PlanIssue]) -> None:
        issues = sorted(issues, key=lambda i: (i.line, i.loc))
        self.path = path
        self.issues = issues
        super().__init__("\n".join(i.format(path) for i in issues))

    def lines(self) -> list[str]:
        return [i.format(self.path) for i in self.issues]


class Plan:
    """A parsed, valid plan."""

    def __init__(self, path: str, plan_id: str, name: str, spec: PlanSpec) -> None:
        self.path = path
        self.id = plan_id
        self.name = name
        self.spec = spec

    @property
    def stages(self) -> list[StageSpec]:
        return self.spec.stages

    def graph(self) -> dict[str, list[str]]:
        return {s.id: list(s.dependencies) for s in self.spec.stages}


# --------------------------------------------------------------------------------------------------
# Pass 1: the Markdown around the YAML


class _Block:
    def __init__(self, text: str, first_line: int, marker_line: int) -> None:
        self.text = text
        self.first_line = first_line  # 1-based line in the Markdown of the YAML's first line
        self.marker_line = marker_line


def _plan_name(lines: list[str], fallback: str) -> tuple[str, int]:
    """The first ``# `` heading outside code fences, and its line (the file stem and 1 without)."""
    fence: str | None = None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        match = _FENCE_RE.match(stripped) or re.match(r"^(`{3,}|~{3,})", stripped)
        if match:
            marker = match.group(1)
            if fence is None:
                fence = marker
            elif marker == fence:
                fence = None
            continue
        if fence is None and line.startswith("# ") and line[2:].strip():
            return line[2:].strip(), number
    return fallback, 1


def _find_block(lines: list[str]) -> _Block | PlanIssue:
    start = next((i for i, line in enumerate(lines) if _START_RE.fullmatch(line.strip())), None)
    if start is None:
        return PlanIssue(
            1, "", f"no metadata block: add a ```yaml block between {START_MARKER} and {END_MARKER}"
        )
    opening = None
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if not stripped:
            continue
        if _END_RE.fullmatch(stripped):
            break
        match = _FENCE_RE.match(stripped)
        if match and match.group(2).lower() in ("yaml", "yml"):
            opening = (i, match.group(1))
            break
        if stripped.startswith("```"):
            return PlanIssue(i + 1, "", "the metadata block must be a ```yaml fenced block")
    if opening is None:
        return PlanIssue(start + 1, "", f"no ```yaml block follows {START_MARKER}")
    fence_line, fence = opening
    closing = next(
        (i for i in range(fence_line + 1, len(lines)) if lines[i].strip() == fence), None
    )
    if closing is None:
        return PlanIssue(fence_line + 1, "", f"the {fence}yaml block is never closed by {fence}")
    if not any(_END_RE.fullmatch(line.strip()) for line in lines[closing + 1 :]):
        return PlanIssue(start + 1, "", f"{START_MARKER} is never closed by {END_MARKER}")
    text = "\n".join(lines[fence_line + 1 : closing]) + "\n"
    return _Block(text, fence_line + 2, start + 1)


# --------------------------------------------------------------------------------------------------
# Pass 1b: YAML with lines, turned into plain values


class _Plain:
    """Converts ruamel.yaml's round-trip nodes to plain Python values, guarding against alias
    bombs (a few lines of anchors that expand to billions of values) and recursive aliases."""

    def __init__(self) -> None:
        self.sizes: dict[int, int] = {}
        self.active: set[int] = set()

    def size(self, node: Any) -> int:
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if key in self.active:
            raise _YamlProblem("a YAML alias refers to itself")
        self.active.add(key)
        items = node.values() if isinstance(node, dict) else node
        total = 1
        for item in items:
            total += self.size(item)
            if total > MAX_VALUES:
                break
        self.active.discard(key)
        self.sizes[key] = total
        return total

    def convert(self, node: Any) -> Any:
        from ruamel.yaml.comments import TaggedScalar

        if isinstance(node, dict):
            out: dict[Any, Any] = {}
            for k, v in node.items():
                out[k if isinstance(k, str) else str(k)] = self.convert(v)
            return out
        if isinstance(node, list):
            return [self.convert(v) for v in node]
        if isinstance(node, bool) or node is None:
            return node
        if type(node).__name__ == "ScalarBoolean":
            return bool(node)
        if isinstance(node, str):
            return str(node)
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        if isinstance(node, TaggedScalar):
            return _Opaque(f"a value tagged {node.tag.value if node.tag else '?'}")
        if hasattr(node, "isoformat"):
            return str(node.isoformat())
        return _Opaque(f"a {type(node).__name__}")


class _Opaque:
    """A YAML value loom cannot use (a custom tag); fails validation with its description."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return self.what


class _YamlProblem(Exception):
    pass


def _load_yaml(block: _Block) -> tuple[Any, Any] | PlanIssue:
    """(round-trip tree with lines, plain values), or the YAML syntax error."""
    import warnings

    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import ReaderError

    yaml = YAML(typ="rt", pure=True)
    try:
        # ruamel.yaml warns (to stderr, or raises under -W error) about e.g. a reused anchor
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = yaml.load(block.text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = block.first_line + (mark.line if mark is not None else 0)
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "invalid YAML"
        return PlanIssue(line, "", f"YAML syntax error: {problem}")
    except ReaderError as exc:  # a character YAML does not allow: report the line it is on
        position = exc.position if isinstance(exc.position, int) else 0
        line = block.first_line + block.text.count("\n", 0, max(position, 0))
        char = exc.character
        what = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        return PlanIssue(line, "", f"YAML error: the character {what} is not allowed")
    except RecursionError:
        return PlanIssue(block.first_line, "", "the YAML is nested too deeply")
    except (YAMLError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        return PlanIssue(block.first_line, "", f"YAML error: {exc}")
    plain = _Plain()
    try:
        if plain.size(tree) > MAX_VALUES:
            return PlanIssue(
                block.first_line, "", f"the metadata is too large (over {MAX_VALUES} values)"
            )
        return tree, plain.convert(tree)
    except _YamlProblem as exc:
        return PlanIssue(block.first_line, "", str(exc))
    except RecursionError:
        return PlanIssue(block.first_line, "", "the YAML is nested too deeply")


# --------------------------------------------------------------------------------------------------
# Pass 2: fields, with errors mapped to lines


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_of(tree: Any, loc: tuple[Any, ...], first_line: int, *, key_line: bool = False) -> int:
    """The Markdown line of the value at ``loc`` in the round-trip tree (or of its nearest parent).

    ruamel.yaml's positions are 0-based within the YAML block; ``first_line`` is the Markdown line
    of the block's first line.
    """
    node = tree
    line = getattr(getattr(tree, "lc", None), "line", 0) or 0
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and part in node:
                if lc is not None:
                    # an empty (null) value's position is that of the next token: use the key's
                    use_key = (key_line and last) or node[part] is None
                    pos = lc.key(part) if use_key else lc.value(part)
                    line = pos[0]
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                if lc is not None:
                    line = lc.item(part)[0]
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return first_line + int(line)


def _schema_issues(tree: Any, data: dict[str, Any], first_line: int) -> list[PlanIssue]:
    try:
        PlanSpec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    else:
        return []
    issues = []
    seen: set[tuple[int, str, str]] = set()
    for err in errors:
        loc: tuple[Any, ...] = tuple(p for p in err["loc"] if isinstance(p, int | str))
        # pydantic adds the name of a union member or a function to the location: drop those.
        clean: list[Any] = []
        node: Any = data
        for part in loc:
            if (isinstance(node, dict) and part in node) or (
                isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            ):
                node = node[part]
                clean.append(part)
            elif err["type"] in ("extra_forbidden", "missing") and part == loc[-1]:
                clean.append(part)
        kind = err["type"]
        message = str(err["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        full_loc = ("loom", *clean)
        if kind == "extra_forbidden":
            key = clean[-1]
            parent_loc = tuple(clean[:-1])
            kind_of_parent = _kind(parent_loc)
            allowed = _ALLOWED[kind_of_parent]
            hint = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            message = f"unknown key {_shown(str(key))}" + (
                f" (did you mean {hint[0]!r}?)" if hint else _allowed_text(kind_of_parent)
            )
            line = _line_of(tree, full_loc, first_line, key_line=True)
        elif kind == "missing":
            message = "required field is missing"
            line = _line_of(tree, full_loc[:-1], first_line, key_line=True)
            if isinstance(clean[-1], str) and len(clean) >= 2 and isinstance(clean[-2], int):
                line = _item_line(tree, full_loc[:-1], first_line)
        else:
            message = _friendly(kind, message, node)
            line = _line_of(tree, full_loc, first_line)
        loc_text = _format_loc(tuple(clean)) or "loom"
        signature = (line, loc_text, message)
        if signature not in seen:
            seen.add(signature)
            issues.append(PlanIssue(line, loc_text, message))
    return issues


def _item_line(tree: Any, loc: tuple[Any, ...], first_line: int) -> int:
    """The line of a list item (the `- ` of a stage), for fields missing from it."""
    parent = tree
    for part in loc[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return _line_of(tree, loc, first_line)
    lc = getattr(parent, "lc", None)
    try:
        return first_line + int(lc.item(loc[-1])[0]) if lc is not None else first_line
    except (KeyError, IndexError, TypeError, AttributeError):
        return _line_of(tree, loc, first_line)


def _friendly(kind: str, message: str, value: Any) -> str:
    if isinstance(value, _Opaque):
        return f"cannot use {value.what} here"
    if kind in ("string_type",) and isinstance(value, int | float) and not isinstance(value, bool):
        return f'expected a string, got {value!r} (quote it: "{value}")'
    if kind == "string_type":
        return f"expected a string, got {_describe(value)}"
    if kind == "int_type":
        return f"expected an integer, got {_describe(value)}"
    if kind == "float_type":
        return f"expected a number, got {_describe(value)}"
    if kind == "bool_type":
        return f"expected true or false, got {_describe(value)}"
    if kind == "list_type":
        return f"expected a list, got {_describe(value)}"
    if kind in ("dict_type", "model_type"):
        return f"expected a mapping, got {_describe(value)}"
    if kind == "too_short" and isinstance(value, list) and not value:
        return "must not be empty"
    if kind == "literal_error":
        return message.replace("Input should be", "must be")
    return message.replace("Input should be", "must be")


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {_shown(value)}"
    return _shown(repr(value), quote=False)


def _shown(text: str, *, quote: bool = True, limit: int = 80) -> str:
    """``text`` quoted for a message, cut short: a value in the wrong place may be huge."""
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(cut) if quote else cut


_ALLOWED: dict[str, list[str]] = {
    "plan": list(PlanSpec.model_fields),
    "stage": list(StageSpec.model_fields),
    "wiring": list(WiringSpec.model_fields),
    "sandbox": list(SandboxSpec.model_fields),
    "filesystem": list(FilesystemSandbox.model_fields),
    "network": list(NetworkSandbox.model_fields),
    "linux": list(LinuxSandbox.model_fields),
    "acceptance": list(TruthCheck.model_fields),
    "sim": list(SimSpec.model_fields),
}


def _allowed_text(kind: str) -> str:
    """The keys to list for an unknown key with no close match: the original loom's keys that
    have no effect here are left out (a suggestion still finds them), so the list stays short."""
    from loom_tui.core.plan_compat import no_effect_at

    allowed = _ALLOWED[kind]
    shown = [k for k in allowed if k not in no_effect_at(kind)]
    more = ", or one of the original loom's keys" if len(shown) < len(allowed) else ""
    return f" (allowed: {', '.join(shown)}{more})"


def _kind(parent: tuple[Any, ...]) -> str:
    """Which mapping of the schema (a key of ``_ALLOWED``) the location ``parent`` is."""
    names = [p for p in parent if isinstance(p, str)]
    if not names:
        return "plan"
    last = names[-1]
    if last == "stages":
        return "stage"
    return last if last in _ALLOWED else "plan"


# --------------------------------------------------------------------------------------------------
# Pass 3: what spans stages


def _graph_issues(tree: Any, data: dict[str, Any], first_line: int) -> list[PlanIssue]:
    stages = data.get("stages")
    if not isinstance(stages, list):
        return []
    issues: list[PlanIssue] = []
    first_index: dict[str, int] = {}
    graph: dict[str, list[str]] = {}
    for i, stage in enumerate(stages):
        if not isinstance(stage, dict):
            continue
        sid = stage.get("id")
        if not isinstance(sid, str) or not ID_RE.fullmatch(sid):
            continue
        if sid in first_index:
            first_line_of = _line_of(tree, ("loom", "stages", first_index[sid], "id"), first_line)
            issues.append(
                PlanIssue(
                    _line_of(tree, ("loom", "stages", i, "id"), first_line),
                    f"stages[{i}].id",
                    f"duplicate id {sid!r} (first used on line {first_line_of})",
                )
            )
            continue
        first_index[sid] = i
    known = list(first_index)
    for i, stage in enumerate(stages):
        if not isinstance(stage, dict):
            continue
        sid = stage.get("id")
        deps = stage.get("dependencies", [])
        if not isinstance(deps, list):
            continue
        valid: list[str] = []
        seen: set[str] = set()
        for j, dep in enumerate(deps):
            if not isinstance(dep, str):
                continue  # the schema pass reports the type
            loc = ("loom", "stages", i, "dependencies", j)
            where = f"stages[{i}].dependencies[{j}]"
            if dep == sid:
                issues.append(
                    PlanIssue(
                        _line_of(tree, loc, first_line), where, "a stage cannot depend on itself"
                    )
                )
            elif dep not in first_index:
                hint = difflib.get_close_matches(dep, known, n=1, cutoff=0.6)
                suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
                issues.append(
                    PlanIssue(
                        _line_of(tree, loc, first_line), where, f"unknown stage {dep!r}{suffix}"
                    )
                )
            elif dep in seen:
                issues.append(
                    PlanIssue(_line_of(tree, loc, first_line), where, f"{dep!r} is listed twice")
                )
            else:
                valid.append(dep)
            seen.add(dep)
        if isinstance(sid, str) and first_index.get(sid) == i:
            graph[sid] = valid
    for cycle in find_cycles(graph):
        head = cycle[0]
        i = first_index[head]
        j = next((k for k, d in enumerate(stages[i].get("dependencies", [])) if d == cycle[1]), 0)
        issues.append(
            PlanIssue(
                _line_of(tree, ("loom", "stages", i, "dependencies", j), first_line),
                f"stages[{i}].dependencies",
                f"dependency cycle: {' -> '.join(cycle)}",
            )
        )
    return issues


# --------------------------------------------------------------------------------------------------
# Entry points


def _text_issues(tree: Any, plain: dict[str, Any], first_line: int) -> list[PlanIssue]:
    """Strings that could not be stored (lone surrogates) or are too long, at their lines."""
    issues = []
    for loc, is_key, message in text_problems(plain):
        line = _line_of(tree, loc, first_line, key_line=is_key)
        shown = (*loc[:-1], _shown(str(loc[-1]), quote=False, limit=40)) if is_key else loc
        # under `loom:` as the schema's errors are (`stages[0].name`), else from the root
        where = _format_loc(shown[1:] if shown[:1] == ("loom",) and len(shown) > 1 else shown)
        issues.append(PlanIssue(line, where, message))
    return issues


def _too_big(size: int, path: str) -> PlanError:
    return PlanError(
        path,
        [
            PlanIssue(
                1,
                "",
                f"the plan is {size / (1024 * 1024):,.1f} MiB; the limit is "
                f"{MAX_PLAN_BYTES // (1024 * 1024)} MiB (is this the right file?)",
            )
        ],
    )


def parse_plan_text(text: str, path: str) -> Plan:
    """Parse the Markdown ``text`` of the plan at ``path``; raises `PlanError` with every issue."""
    if len(text) > MAX_PLAN_BYTES:  # characters: at least as many bytes
        raise _too_big(len(text), path)
    # Only \n, \r\n and \r end a line, as for editors and ruamel.yaml; str.splitlines() would also
    # split at \x0b, \x0c, \x1c-\x1e, \x85, U+2028 and U+2029, shifting lines and changing values.
    lines = re.split(r"\r\n|\r|\n", text)
    if lines[-1] == "":
        lines.pop()
    block = _find_block(lines)
    if isinstance(block, PlanIssue):
        raise PlanError(path, [block])
    loaded = _load_yaml(block)
    if isinstance(loaded, PlanIssue):
        raise PlanError(path, [loaded])
    tree, plain = loaded
    if not isinstance(plain, dict) or not isinstance(plain.get("loom"), dict):
        line = block.first_line
        if isinstance(plain, dict) and "loom" in plain:
            line = _line_of(tree, ("loom",), block.first_line)
        raise PlanError(
            path, [PlanIssue(line, "loom", "the metadata must be a mapping under a 'loom:' key")]
        )
    extra = [k for k in plain if k != "loom"]
    issues = [
        PlanIssue(
            _line_of(tree, (k,), block.first_line, key_line=True),
            str(k),
            "unknown top-level key (everything goes under 'loom:')",
        )
        for k in extra
    ]
    data = plain["loom"]
    stem = os.path.splitext(os.path.basename(path))[0]
    name, name_line = _plan_name(lines, stem)
    too_long = size_problem(name, LIMITS["name"])
    if too_long is not None:
        issues.append(PlanIssue(name_line, "", f"the plan's name (its # heading) {too_long}"))
    text_issues = _text_issues(tree, plain, block.first_line)
    if text_issues:
        issues += text_issues
        data = storable(data)
    # a value already reported as unstorable is not reported again for what storing it made of it
    reported = {i.loc for i in text_issues}
    issues += [i for i in _schema_issues(tree, data, block.first_line) if i.loc not in reported]
    issues += _graph_issues(tree, data, block.first_line)
    if issues:
        raise PlanError(path, issues)
    spec = PlanSpec.model_validate(data)
    return Plan(path, stem, name, spec)


def load_plan(path: str) -> Plan:
    """Read and parse the plan file at ``path``."""
    try:
        with open(path, "rb") as fh:
            # no more than one byte past the limit: a 50 MB file is refused without reading it
            raw = fh.read(MAX_PLAN_BYTES + 1)
            size = os.fstat(fh.fileno()).st_size if len(raw) > MAX_PLAN_BYTES else len(raw)
    except FileNotFoundError:
        raise PlanError(path, [PlanIssue(1, "", "no such file")]) from None
    except IsADirectoryError:
        raise PlanError(path, [PlanIssue(1, "", "is a directory, not a plan file")]) from None
    except OSError as exc:
        raise PlanError(path, [PlanIssue(1, "", f"cannot read: {exc.strerror}")]) from None
    if size > MAX_PLAN_BYTES:
        raise _too_big(max(size, len(raw)), path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PlanError(path, [PlanIssue(line, "", "not valid UTF-8 text")]) from None
    return parse_plan_text(text, path)


__all__ = [
    "END_MARKER",
    "ID_RULE",
    "START_MARKER",
    "Plan",
    "PlanError",
    "PlanIssue",
    "PlanSpec",
    "SandboxSpec",
    "SimSpec",
    "StageSpec",
    "WiringSpec",
    "load_plan",
    "parse_plan_text",
]
