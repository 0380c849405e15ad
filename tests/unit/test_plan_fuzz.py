"""Fuzzing the plan parser: whatever the input, `parse_plan_text` returns a `Plan` or raises
`PlanError` (never anything else), and every issue points at a line of the file.

The inputs go from arbitrary text, through Markdown with the metadata markers around YAML-ish noise,
to structured YAML documents (block and flow style, anchors and aliases, tags, deep nesting, alias
bombs and recursive aliases) and mutations of the bundled sample plan.
"""

from __future__ import annotations

import io
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from loom_tui.core.plan import Plan, PlanError, parse_plan_text

SAMPLE_PLAN = (
    Path(__file__).resolve().parents[2] / "loom_tui" / "samples" / "PLAN-0001-wordcount.md"
)
SAMPLE_TEXT = SAMPLE_PLAN.read_text(encoding="utf-8")
PATH = "doc/plans/PLAN-0099-fuzz.md"

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,  # write nothing into the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

START = "<!-- loom METADATA -->"
END = "<!-- END loom METADATA -->"


def file_lines(text: str) -> int:
    """Lines as an editor counts them (only \\n, \\r\\n and \\r end a line)."""
    parts = re.split(r"\r\n|\r|\n", text)
    return len(parts) - 1 if parts[-1] == "" else len(parts)


def check(text: str) -> Plan | PlanError:
    """Parse ``text``: a Plan, or a PlanError whose issues all point inside the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning turned error must not escape either
            plan = parse_plan_text(text, PATH)
    except PlanError as err:
        assert err.issues, "a PlanError must carry at least one issue"
        limit = file_lines(text) + 1
        for issue in err.issues:
            assert isinstance(issue.line, int)
            assert 1 <= issue.line <= limit, (issue, limit)
            assert isinstance(issue.loc, str)
            assert isinstance(issue.message, str)
            assert issue.message
        formatted = err.lines()
        assert len(formatted) == len(err.issues)
        assert all(line.startswith(f"{PATH}:") for line in formatted)
        assert str(err) == "\n".join(formatted)
        assert [(i.line, i.loc) for i in err.issues] == sorted((i.line, i.loc) for i in err.issues)
        return err
    assert isinstance(plan, Plan)
    assert plan.stages
    assert plan.id == "PLAN-0099-fuzz"
    assert isinstance(plan.name, str)
    assert plan.name
    return plan


def wrap(yaml_text: str, fence: str = "```", info: str = "yaml") -> str:
    return f"# Fuzz plan\n\n{START}\n\n{fence}{info}\n{yaml_text}\n{fence}\n\n{END}\n"


# --------------------------------------------------------------------------------------------------
# Arbitrary text


@FUZZ
@given(st.text(max_size=400))
@example("")
@example("\ufeff")
@example(START)
@example(f"{START}\n```yaml\n")
@example(f"{START}\n```yaml\n```\n{END}\n")
@example(f"{START}\n```yaml\nloom:\n```\n{END}")
def test_arbitrary_text_never_raises_anything_but_plan_error(text: str) -> None:
    check(text)


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_decoded_bytes_never_raise_anything_but_plan_error(raw: bytes) -> None:
    check(raw.decode("utf-8", errors="replace"))
    check(raw.decode("latin-1"))


# --------------------------------------------------------------------------------------------------
# Markdown with the markers around YAML-ish noise

YAML_CHARS = st.sampled_from(
    [
        *":-[]{}&*!|>'\"#,?%@`~ \n\t\r\\abcxyz019.",
        *["loom", "version", "stages", "id", "name", "description", "dependencies", "\ufeff"],
        *["\x00", "\u2028", "\x85", "\x0c", "é", "🙂", "<<", "!!", "---", "..."],
    ]
)
YAML_NOISE = st.lists(YAML_CHARS, max_size=200).map("".join)

FRAGMENTS = st.sampled_from(
    [
        START,
        END,
        "```yaml",
        "```yml",
        "````yaml",
        "```",
        "````",
        "~~~",
        "```json",
        "# Heading",
        "#",
        "",
        "prose",
        "loom:",
        "  version: 1",
        "  version: 2",
        "  stages:",
        "  stages: []",
        "    - id: a",
        "    - id: b",
        "      name: A",
        "      description: d",
        "      dependencies: [a]",
        "      dependencies: [b]",
        "      context_budget: 0",
        "      wiring: [{source: x, pattern: '('}]",
        "  max_parallel: 0",
        "extra: 1",
        "- x",
        "  - &a [*a]",
        "      sim: {step_seconds: 1" + "0" * 330 + "}",
        "\t",
    ]
)


@FUZZ
@given(
    noise=YAML_NOISE,
    fence=st.sampled_from(["```", "````", "`````"]),
    info=st.sampled_from(["yaml", "yml", "YAML", ""]),
)
def test_markers_around_yaml_noise_never_raise_anything_but_plan_error(
    noise: str, fence: str, info: str
) -> None:
    check(wrap(noise, fence, info))
    check(wrap("loom:\n  " + noise, fence, info))


@FUZZ
@given(st.lists(FRAGMENTS, max_size=40))
def test_shuffled_plan_lines_never_raise_anything_but_plan_error(lines: list[str]) -> None:
    check("\n".join(lines))
    check("\r\n".join(lines) + "\r\n")


# --------------------------------------------------------------------------------------------------
# Mutations of the sample plan


@FUZZ
@given(st.data())
def test_mutated_sample_plan_never_raises_anything_but_plan_error(data: st.DataObject) -> None:
    lines = SAMPLE_TEXT.split("\n")
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        kind = data.draw(st.sampled_from(["delete", "duplicate", "replace", "insert", "swap"]))
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        if kind == "delete" and len(lines) > 1:
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "swap":
            j = data.draw(st.integers(0, len(lines) - 1), label="other line")
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "replace" and lines[i]:
            at = data.draw(st.integers(0, len(lines[i]) - 1), label="column")
            char = data.draw(YAML_CHARS, label="char")
            lines[i] = lines[i][:at] + char + lines[i][at + 1 :]
        else:
            lines.insert(i, data.draw(st.one_of(FRAGMENTS, YAML_NOISE), label="new line"))
    check("\n".join(lines))


# --------------------------------------------------------------------------------------------------
# One field of a valid plan set to any value: the issues are all on that field's line

JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([0, 1, 65, 100, 101, -1, 10**400, 2**63]),
        st.floats(),
        st.text(max_size=12),
        st.sampled_from(["", " ", "alpha", "zeta", "A", "/abs", "../x", "(", "a\x07", "\t"]),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
STAGE_FIELDS = [
    "id",
    "name",
    "description",
    "dependencies",
    "acceptance",
    "files",
    "context_budget",
    "truths",
    "artifacts",
    "wiring",
    "model",
    "max_retries",
    "sandbox",
    "sim",
    "sim.scenario",
    "sim.steps",
    "sim.step_seconds",
    "sim.tokens_per_step",
    "sim.compliant",
    "sim.edit",
    "sandbox.enabled",
    "sandbox.filesystem",
    "sandbox.excluded_commands",
    "wiring.source",
    "wiring.pattern",
    "wiring.description",
    "unknown_key",
]
PLAN_FIELDS = ["version", "max_parallel", "auto_merge", "base_branch", "sandbox", "bogus"]


def one_line_yaml(value: Any, style: str) -> str:
    """``value`` as YAML on one line: JSON (a YAML subset), empty (null) or a plain scalar."""
    if style == "empty" or value is None:
        return ""
    if style == "plain" and isinstance(value, str) and re.fullmatch(r"[a-z][a-z ./-]*", value):
        return value
    return json.dumps(value)


def field_line(field: str, value_yaml: str) -> str:
    head, _, rest = field.partition(".")
    if not rest:
        return f"{head}: {value_yaml}".rstrip()
    if head == "wiring":
        others = {"source": "a.py", "pattern": "x"}
        others.pop(rest, None)
        pairs = [f"{k}: {v}" for k, v in others.items()]
        return f"{head}: [{{{', '.join([*pairs, f'{rest}: {value_yaml}'])}}}]"
    return f"{head}: {{{rest}: {value_yaml}}}"


@FUZZ
@given(
    field=st.sampled_from(STAGE_FIELDS),
    value=JSON_VALUES,
    style=st.sampled_from(["json", "json", "empty", "plain"]),
)
def test_a_bad_stage_field_is_reported_on_its_own_line(field: str, value: Any, style: str) -> None:
    line = "      " + field_line(field, one_line_yaml(value, style))
    text = (
        "# Plan\n<!-- loom METADATA -->\n```yaml\n"  # lines 1-3
        "loom:\n  version: 1\n  stages:\n"  # lines 4-6
        "    - id: alpha\n      name: Alpha\n      description: Alpha.\n"  # lines 7-9
        "    - id: zeta\n      name: Zeta\n      description: Zeta.\n"  # lines 10-12
        "      dependencies: [alpha]\n"  # line 13
        "```\n<!-- END loom METADATA -->\n"
    )
    if field == "id":
        text = text.replace("    - id: alpha\n", "    -" + line[5:] + "\n", 1)
        at = 7
    else:
        text = text.replace(
            "      description: Alpha.\n", "      description: Alpha.\n" + line + "\n"
        )
        at = 10
    result = check(text)
    if isinstance(result, PlanError):
        allowed = {at}
        if field == "id":
            allowed |= {10, 13}  # a duplicate "zeta"; zeta's dependency on a renamed alpha
        assert {i.line for i in result.issues} <= allowed, (line, result.lines())


@FUZZ
@given(
    field=st.sampled_from(PLAN_FIELDS),
    value=JSON_VALUES,
    style=st.sampled_from(["json", "empty", "plain"]),
)
def test_a_bad_plan_field_is_reported_on_its_own_line(field: str, value: Any, style: str) -> None:
    yaml_value = one_line_yaml(value, style)
    text = wrap(
        f"loom:\n  {field}: {yaml_value}\n  stages:\n    - {{id: a, name: A, description: d}}\n"
        + ("" if field == "version" else "  version: 1\n")
    )
    result = check(text)
    if isinstance(result, PlanError):
        assert {i.line for i in result.issues} == {7}, (yaml_value, result.lines())


# --------------------------------------------------------------------------------------------------
# Structured YAML documents

STAGE_KEYS = [
    "id",
    "name",
    "description",
    "dependencies",
    "acceptance",
    "files",
    "context_budget",
    "truths",
    "artifacts",
    "wiring",
    "model",
    "max_retries",
    "sandbox",
    "sim",
    "source",
    "pattern",
    "scenario",
    "step_seconds",
    "enabled",
    "filesystem",
    "deny_read",
]
PLAN_KEYS = ["version", "stages", "max_parallel", "auto_merge", "base_branch", "sandbox", "stagez"]
IDS = ["a", "b", "c", "scaffold", "A", "-x", "a" * 65, ""]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, 1, 2, 65, 100, 101, -1, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from([*IDS, "/abs", "../up", "(", "[z-a]", "opus", "crash-once", "x\x07"]),
)


def values(leaves: st.SearchStrategy[Any] = SCALARS) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.sampled_from(STAGE_KEYS) | st.text(max_size=6), inner, max_size=4),
        ),
        max_leaves=12,
    )


def stage_strategy() -> st.SearchStrategy[dict[str, Any]]:
    good = st.fixed_dictionaries(
        {"id": st.sampled_from(IDS[:4]), "name": st.just("N"), "description": st.just("D")},
        optional={
            "dependencies": st.lists(st.sampled_from(IDS), max_size=3),
            "context_budget": st.sampled_from([0, 1, 65, 100, 101, "50"]),
            "wiring": st.lists(
                st.fixed_dictionaries({"source": st.just("a.py"), "pattern": st.text(max_size=5)}),
                max_size=2,
            ),
            "acceptance": st.lists(st.text(max_size=8), max_size=3),
            "files": st.lists(st.sampled_from(["a", "/b", "../c", "d/**"]), max_size=2),
        },
    )
    anything = st.dictionaries(st.sampled_from(STAGE_KEYS), values(), max_size=6)
    return st.one_of(good, anything)


def plan_strategy() -> st.SearchStrategy[Any]:
    loom = st.fixed_dictionaries(
        {"version": st.sampled_from([1, 1, 1, 2, "1", None])},
        optional={
            "stages": st.one_of(st.lists(stage_strategy(), max_size=5), values()),
            "max_parallel": SCALARS,
            "auto_merge": SCALARS,
            "stagez": values(),
        },
    )
    return st.one_of(
        st.fixed_dictionaries({"loom": loom}),
        st.fixed_dictionaries({"loom": loom, "extra": values()}),
        values(),
    )


def share_nodes(node: Any, draw_flag: Any, pool: list[Any]) -> Any:
    """Replace some containers with ones seen before, so the dumper writes anchors and aliases;
    sometimes make a container contain itself (a recursive alias)."""
    if isinstance(node, dict):
        for key in list(node):
            node[key] = share_nodes(node[key], draw_flag, pool)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            node[i] = share_nodes(item, draw_flag, pool)
    else:
        return node
    if pool and draw_flag():
        return pool[draw_flag(len(pool))]
    if draw_flag() and draw_flag():
        if isinstance(node, list):
            node.append(node)
        else:
            node["self"] = node
    pool.append(node)
    return node


def dump(value: Any, flow: bool | None) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = flow
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(value, out)
    return out.getvalue()


@FUZZ
@given(value=plan_strategy(), flow=st.sampled_from([False, True, None]), data=st.data())
def test_structured_yaml_documents_never_raise_anything_but_plan_error(
    value: Any, flow: bool | None, data: st.DataObject
) -> None:
    def draw_flag(n: int = 0) -> Any:
        if n:
            return data.draw(st.integers(0, n - 1))
        return data.draw(st.booleans())

    value = share_nodes(value, draw_flag, [])
    check(wrap(dump(value, flow)))


# A small emitter for what the dumper never writes: explicit tags, aliases before their anchor,
# undefined aliases, merge keys and flow collections with JSON scalars.
TAGS = [
    "!!python/object:os.system",
    "!!python/object/apply:os.system",
    "!!python/object/new:os.system",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/tuple",
    "!!binary",
    "!!set",
    "!!omap",
    "!!pairs",
    "!!timestamp",
    "!!int",
    "!!float",
    "!!bool",
    "!!null",
    "!!str",
    "!!map",
    "!!seq",
    "!!merge",
    "!custom",
    "!",
    "!<tag:example.com,2000:x>",
]


@st.composite
def tagged_yaml(draw: st.DrawFn, depth: int = 0) -> str:
    anchor = draw(st.sampled_from(["", "", "&a ", "&b "]))
    tag = draw(st.sampled_from(["", "", "", *[t + " " for t in TAGS]]))
    kind = draw(st.sampled_from(["scalar", "alias", "seq", "map"] if depth < 4 else ["scalar"]))
    if kind == "alias":
        return draw(st.sampled_from(["*a", "*b", "*zz"]))
    if kind == "scalar":
        scalar = draw(SCALARS.filter(lambda v: not isinstance(v, float) or math.isfinite(v)))
        try:
            body = json.dumps(scalar)
        except (TypeError, ValueError):  # pragma: no cover - every scalar is JSON
            body = "x"
        if draw(st.booleans()) and isinstance(scalar, str) and scalar.isalnum():
            body = scalar
        return f"{anchor}{tag}{body}"
    if kind == "seq":
        items = draw(st.lists(tagged_yaml(depth + 1), max_size=3))
        return f"{anchor}{tag}[{', '.join(items)}]"
    keys = draw(st.lists(st.sampled_from([*STAGE_KEYS, *PLAN_KEYS, "<<", "? x"]), max_size=4))
    items = [f"{k}: {draw(tagged_yaml(depth + 1))}" for k in keys]
    return f"{anchor}{tag}{{{', '.join(items)}}}"


@pytest.mark.slow  # seconds of CPU: started early under xdist
@FUZZ
@given(st.lists(tagged_yaml(), min_size=1, max_size=4), st.sampled_from(["stages", "sim", "x"]))
def test_tags_anchors_and_aliases_never_raise_anything_but_plan_error(
    documents: list[str], where: str
) -> None:
    check(wrap("loom: " + documents[0]))
    body = "\n".join(f"k{i}: {doc}" for i, doc in enumerate(documents[1:]))
    stages = "[{id: a, name: n, description: d, " + where + ": " + documents[0] + "}]"
    check(wrap(f"{body}\nloom:\n  version: 1\n  stages: {stages}\n"))


# --------------------------------------------------------------------------------------------------
# Deep nesting, alias bombs, recursive aliases


@settings(FUZZ, max_examples=25)
@given(
    depth=st.integers(1, 700),
    opener=st.sampled_from(["[", "{a: ", "- ", "a:\n"]),
    where=st.sampled_from(["root", "loom", "stage"]),
)
def test_deep_nesting_never_raises_anything_but_plan_error(
    depth: int, opener: str, where: str
) -> None:
    closer = {"[": "]", "{a: ": "}", "- ": "", "a:\n": ""}[opener]
    if opener in ("- ", "a:\n"):
        step = "- " if opener == "- " else "a:"
        depth = min(depth, 300)  # block style grows quadratically in size
        nested = "\n".join(" " * (2 * i) + step for i in range(depth)) + " x"
        nested = "\n" + "\n".join(" " * 8 + line for line in nested.split("\n"))
    else:
        nested = opener * depth + "x" + closer * depth
    if where == "root":
        text = wrap(nested.lstrip("\n"))
    elif where == "loom":
        text = wrap(f"loom: {nested}")
    else:
        text = wrap(f"loom:\n  version: 1\n  stages:\n    - id: a\n      sim: {nested}\n")
    check(text)


@pytest.mark.parametrize(
    ("opener", "depth"),
    # ruamel.yaml scans deeply nested flow sequences in quadratic time: keep "[" shallow here
    [("[", 100), ("[", 600), ("{a: ", 100), ("{a: ", 600), ("{a: ", 5000)],
)
def test_very_deep_flow_nesting_is_a_plan_error(opener: str, depth: int) -> None:
    closer = "]" if opener == "[" else "}"
    result = check(wrap("loom: " + opener * depth + closer * depth))
    assert isinstance(result, PlanError)


@settings(FUZZ, max_examples=20)
@given(
    width=st.integers(2, 12),
    levels=st.integers(1, 12),
    where=st.sampled_from(["loom", "stages", "acceptance", "extra"]),
)
def test_alias_bombs_never_raise_anything_but_plan_error(
    width: int, levels: int, where: str
) -> None:
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    top = f"*l{levels}"
    if where == "loom":
        tail = f"loom: {top}"
    elif where == "stages":
        tail = f"loom:\n  version: 1\n  stages: {top}"
    elif where == "acceptance":
        stage = f"{{id: a, name: n, description: d, acceptance: {top}}}"
        tail = f"loom:\n  version: 1\n  stages:\n    - {stage}"
    else:
        tail = f"extra: {top}\nloom: {{version: 1}}"
    check(wrap("\n".join(lines) + "\n" + tail))


def test_billion_laughs_is_refused_as_too_large() -> None:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 10)]
    result = check(wrap("\n".join(lines) + "\nloom: *l9"))
    assert isinstance(result, PlanError)
    assert [i.message for i in result.issues] == ["the metadata is too large (over 100000 values)"]


@pytest.mark.parametrize(
    "yaml_text",
    [
        "loom: &a [*a]",
        "loom: &a {x: *a}",
        "loom: &a {version: 1, stages: [*a]}",
        "loom: {version: 1, stages: &s [*s]}",
        "loom:\n  version: 1\n  stages: &s\n    - id: a\n      name: n\n      description: d\n"
        "      dependencies: *s",
        "loom: &a\n  version: 1\n  stages: *a",
        "a: &a [*a, *a]\nb: &b {k: *b, l: *a}\nloom: {version: 1, stages: [*b]}",
        "loom: *undefined",
        "loom: &a 1\nx: &a 2\ny: *a",
        "loom:\n  <<: *nothing\n  version: 1",
        "loom:\n  <<: &m {version: 1}\n  <<: *m",
        "loom: &m\n  <<: *m",
    ],
)
def test_recursive_and_odd_aliases_are_a_plan_error(yaml_text: str) -> None:
    result = check(wrap(yaml_text))
    assert isinstance(result, PlanError)
