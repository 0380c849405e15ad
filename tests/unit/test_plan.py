"""The plan parser: every rule of the plan format, each checked with its exact Markdown line.

Plans are built with `plan_md`, which wraps YAML in a fixed Markdown frame so that YAML line
``n`` is Markdown line ``n + 5``; `stage_md` goes one step further and appends fields to a valid
first stage, so that the first appended line is always Markdown line 12.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from loom_tui.core.dag import depths
from loom_tui.core.errors import EXIT_USAGE, UsageError
from loom_tui.core.plan import ID_RULE, Plan, PlanError, PlanIssue, load_plan, parse_plan_text

SAMPLE_PLAN = (
    Path(__file__).resolve().parents[2] / "loom_tui" / "samples" / "PLAN-0001-wordcount.md"
)

PATH = "doc/plans/PLAN-0042-test.md"
HEAD = "# Test plan\n\n<!-- loom METADATA -->\n\n```yaml\n"  # lines 1-5; YAML starts on line 6
TAIL = "```\n\n<!-- END loom METADATA -->\n"
OFFSET = 5  # YAML line n is Markdown line n + OFFSET

#: A valid plan with one stage: YAML lines 1-6, Markdown lines 6-11.
BASE = """\
loom:
  version: 1
  stages:
    - id: alpha
      name: Alpha
      description: The first stage.
"""
NEXT = 12  # the Markdown line of the first line appended to BASE

Problem = tuple[int, str, str]


def plan_md(yaml_text: str) -> str:
    """``yaml_text`` (dedented) as the metadata block of a Markdown plan."""
    return HEAD + textwrap.dedent(yaml_text).lstrip("\n") + TAIL


def stage_md(fields: str = "", more: str = "") -> str:
    """BASE with ``fields`` added to stage alpha (from line 12) and then ``more`` YAML lines.

    ``fields`` is written without indentation; ``more`` is written as it goes in the YAML (its
    lines continue at the plan's indentation, e.g. ``"    - id: beta"``).
    """
    fields = textwrap.dedent(fields).lstrip("\n")
    more = more.lstrip("\n")
    body = BASE + textwrap.indent(fields + "\n" if fields else "", " " * 6)
    return HEAD + body + (more.rstrip("\n") + "\n" if more else "") + TAIL


def stage_yaml(sid: str, deps: str | None = None, name: str | None = None) -> str:
    """A stage as YAML lines at the plan's indentation (three lines, four with deps)."""
    text = f"    - id: {sid}\n      name: {name or sid.title()}\n      description: Does {sid}.\n"
    if deps is not None:
        text += f"      dependencies: {deps}\n"
    return text


def parse(text: str, path: str = PATH) -> Plan:
    return parse_plan_text(text, path)


def plan_error(text: str, path: str = PATH) -> PlanError:
    with pytest.raises(PlanError) as info:
        parse_plan_text(text, path)
    return info.value


def problems(text: str) -> list[Problem]:
    return [(i.line, i.loc, i.message) for i in plan_error(text).issues]


def one_problem(text: str) -> Problem:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the only line of ``text`` containing ``needle`` (a cross-check)."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


# --------------------------------------------------------------------------------------------------
# The helpers themselves, so that the line arithmetic below can be trusted


def test_helpers_put_yaml_line_one_on_markdown_line_six() -> None:
    text = stage_md("model: sonnet")
    assert line_of(text, "loom:") == 1 + OFFSET == 6
    assert line_of(text, "- id: alpha") == 9
    assert line_of(text, "model: sonnet") == NEXT
    assert parse(text).stages[0].model == "sonnet"


# --------------------------------------------------------------------------------------------------
# Errors: format and attributes


def test_issue_is_formatted_as_path_line_location_message() -> None:
    err = plan_error(stage_md("context_budget: 0"))
    assert err.lines() == [
        f"{PATH}:12: stages[0].context_budget: must be greater than or equal to 1",
    ]
    assert str(err) == err.lines()[0]
    assert err.path == PATH


def test_issue_without_location_omits_it() -> None:
    assert PlanIssue(3, "", "boom").format("p.md") == "p.md:3: boom"
    assert PlanIssue(3, "stages[1].id", "bad").format("p.md") == "p.md:3: stages[1].id: bad"


def test_plan_error_is_a_usage_error_with_exit_code_2() -> None:
    err = plan_error("no metadata here\n")
    assert isinstance(err, UsageError)
    assert err.exit_code == EXIT_USAGE == 2


def test_plan_error_message_joins_every_line() -> None:
    err = plan_error(stage_md("context_budget: 0\nmax_retries: -1"))
    assert str(err) == "\n".join(err.lines())
    assert len(err.lines()) == 2


def test_plan_error_sorts_issues_given_out_of_order() -> None:
    err = PlanError(
        "p.md", [PlanIssue(9, "b", "x"), PlanIssue(2, "a", "y"), PlanIssue(9, "a", "z")]
    )
    assert [(i.line, i.loc) for i in err.issues] == [(2, "a"), (9, "a"), (9, "b")]


# --------------------------------------------------------------------------------------------------
# Pass 1: finding the metadata block


def test_missing_metadata_marker_is_reported_on_line_one() -> None:
    line, loc, message = one_problem("# A plan\n\nJust prose, no metadata.\n")
    assert (line, loc) == (1, "")
    assert message.startswith("no metadata block")
    assert "<!-- loom METADATA -->" in message
    assert "<!-- END loom METADATA -->" in message


def test_empty_file_has_no_metadata_block() -> None:
    assert one_problem("")[0] == 1


def test_yaml_block_without_markers_is_not_metadata() -> None:
    text = "# A plan\n\n```yaml\n" + BASE + "```\n"
    assert one_problem(text)[2].startswith("no metadata block")


def test_metadata_block_that_is_not_yaml_is_reported_at_its_fence() -> None:
    text = (
        '# A plan\n<!-- loom METADATA -->\n\n```json\n{"loom": {}}\n```\n'
        "<!-- END loom METADATA -->\n"
    )
    assert one_problem(text) == (4, "", "the metadata block must be a ```yaml fenced block")


def test_metadata_block_with_bare_fence_is_not_yaml() -> None:
    text = "# A plan\n<!-- loom METADATA -->\n```\n" + BASE + "```\n<!-- END loom METADATA -->\n"
    assert one_problem(text) == (3, "", "the metadata block must be a ```yaml fenced block")


def test_marker_followed_by_prose_only_is_reported_at_the_marker() -> None:
    text = "# A plan\n\n<!-- loom METADATA -->\n\nsome prose\n<!-- END loom METADATA -->\n"
    assert one_problem(text) == (3, "", "no ```yaml block follows <!-- loom METADATA -->")


def test_markers_with_nothing_between_are_reported_at_the_start_marker() -> None:
    text = "# A plan\n<!-- loom METADATA -->\n<!-- END loom METADATA -->\n" + "```yaml\n" + BASE
    assert one_problem(text) == (2, "", "no ```yaml block follows <!-- loom METADATA -->")


def test_yaml_fence_never_closed_is_reported_at_the_opening_fence() -> None:
    text = "# A plan\n\n<!-- loom METADATA -->\n\n```yaml\n" + BASE
    assert one_problem(text) == (5, "", "the ```yaml block is never closed by ```")


def test_missing_end_marker_is_reported_at_the_start_marker() -> None:
    text = "# A plan\n\n<!-- loom METADATA -->\n\n```yaml\n" + BASE + "```\n"
    assert one_problem(text) == (
        3,
        "",
        "<!-- loom METADATA --> is never closed by <!-- END loom METADATA -->",
    )


def test_end_marker_before_the_start_marker_does_not_close_it() -> None:
    text = (
        "<!-- END loom METADATA -->\n# A plan\n<!-- loom METADATA -->\n```yaml\n" + BASE + "```\n"
    )
    assert one_problem(text)[:2] == (3, "")
    assert "never closed by <!-- END loom METADATA -->" in one_problem(text)[2]


def test_yaml_blocks_outside_the_markers_are_ignored() -> None:
    decoy = "```yaml\nloom: {version: 9}\n```\n"
    text = "# Plan\n" + decoy + plan_md(BASE).split("\n", 1)[1] + decoy
    assert parse(text).spec.version == 1


def test_markers_and_fence_may_be_indented() -> None:
    text = (
        "# Plan\n  <!-- loom METADATA -->\n  ```yaml\n"
        + BASE
        + "  ```\n <!-- END loom METADATA -->\n"
    )
    assert [s.id for s in parse(text).stages] == ["alpha"]


@pytest.mark.parametrize("info", ["yaml", "yml", "YAML", " yaml "])
def test_fence_info_string_yaml_or_yml_is_accepted(info: str) -> None:
    text = (
        f"# Plan\n<!-- loom METADATA -->\n```{info}\n" + BASE + "```\n<!-- END loom METADATA -->\n"
    )
    assert parse(text).stages[0].id == "alpha"


@pytest.mark.parametrize("ticks", [4, 5, 8])
def test_long_fence_is_closed_only_by_a_fence_of_the_same_length(ticks: int) -> None:
    fence = "`" * ticks
    description = "      description: |\n        Example:\n        ```\n        make\n        ```\n"
    yaml_text = BASE.replace("      description: The first stage.\n", description)
    text = f"# Plan\n<!-- loom METADATA -->\n{fence}yaml\n{yaml_text}{fence}\n"
    text += "<!-- END loom METADATA -->\n"
    plan = parse(text)
    assert plan.stages[0].description == "Example:\n```\nmake\n```\n"


def test_long_fence_closed_by_a_shorter_fence_is_never_closed() -> None:
    text = (
        "# Plan\n\n<!-- loom METADATA -->\n````yaml\n" + BASE + "```\n<!-- END loom METADATA -->\n"
    )
    assert one_problem(text) == (4, "", "the ````yaml block is never closed by ````")


def test_short_fence_is_not_closed_by_a_longer_one() -> None:
    text = "# Plan\n<!-- loom METADATA -->\n```yaml\n" + BASE + "````\n<!-- END loom METADATA -->\n"
    assert one_problem(text) == (3, "", "the ```yaml block is never closed by ```")


def test_crlf_line_endings_keep_the_same_line_numbers() -> None:
    text = stage_md("context_budget: 0").replace("\n", "\r\n")
    assert one_problem(text)[:2] == (12, "stages[0].context_budget")
    assert parse(plan_md(BASE).replace("\n", "\r\n")).stages[0].id == "alpha"


def test_only_newline_and_carriage_return_end_a_line() -> None:
    # U+2028, NEL and form feed are not line ends for editors or YAML: lines must not shift
    prose = "# Test plan\u2028still the title\n\x0c\n<!-- loom METADATA -->\n\n```yaml\n"
    text = prose + BASE + "      context_budget: 0\n" + TAIL
    assert one_problem(text) == (
        NEXT,
        "stages[0].context_budget",
        "must be greater than or equal to 1",
    )


def test_unicode_line_separator_inside_a_value_is_kept() -> None:
    text = stage_md(more="").replace("The first stage.", "One\u2028two")
    assert parse(text).stages[0].description == "One\u2028two"


def test_lone_carriage_returns_end_lines() -> None:
    text = stage_md("context_budget: 0").replace("\n", "\r")
    assert one_problem(text)[:2] == (NEXT, "stages[0].context_budget")


# --------------------------------------------------------------------------------------------------
# Pass 1b: YAML syntax


def test_yaml_syntax_error_is_reported_at_its_markdown_line() -> None:
    text = stage_md("files: [a, b\nmodel: opus")
    line, loc, message = one_problem(text)
    assert loc == ""
    assert message.startswith("YAML syntax error: ")
    # the parser notices the unclosed flow sequence at the ':' of the next key
    assert line == NEXT + 1
    assert "flow sequence" in message


def test_yaml_bad_indentation_is_reported_at_the_offending_line() -> None:
    text = plan_md("loom:\n  version: 1\n   stages: []\n")
    line, _loc, message = one_problem(text)
    assert line == 8
    assert message.startswith("YAML syntax error: ")


def test_yaml_tab_indentation_is_a_syntax_error_with_its_line() -> None:
    text = plan_md("loom:\n  version: 1\n\tstages: []\n")
    line, _loc, message = one_problem(text)
    assert line == 8
    assert message.startswith("YAML syntax error: ")


def test_unclosed_quote_is_a_yaml_syntax_error() -> None:
    line, _loc, message = one_problem(stage_md('model: "opus'))
    assert message.startswith("YAML syntax error: ")
    assert "quoted scalar" in message
    # reported where the scanner hit the end of the block: the closing fence, after the quote
    assert line == NEXT + 1


def test_yaml_stray_bracket_is_reported_at_its_line() -> None:
    line, _loc, message = one_problem(stage_md("files: [a, b]]"))
    assert line == NEXT
    assert message.startswith("YAML syntax error: ")


def test_yaml_mapping_value_in_a_plain_scalar_is_reported_at_its_line() -> None:
    assert one_problem(stage_md("name2: a: b")) == (
        NEXT,
        "",
        "YAML syntax error: mapping values are not allowed here",
    )


def test_duplicate_plan_key_is_reported_at_the_second_occurrence() -> None:
    text = plan_md("loom:\n  version: 1\n  version: 2\n  stages: []\n")
    line, loc, message = one_problem(text)
    assert (line, loc) == (8, "")
    assert 'duplicate key "version"' in message


def test_duplicate_stage_key_is_reported_at_the_second_occurrence() -> None:
    line, _loc, message = one_problem(stage_md("model: a\nname: Again"))
    assert line == NEXT + 1
    assert 'duplicate key "name"' in message


def test_second_yaml_document_is_an_error_at_its_separator() -> None:
    line, _loc, message = one_problem(stage_md(more="---\nother: 1\n"))
    assert line == NEXT
    assert "single document" in message


@pytest.mark.parametrize("char", ["\x07", "\x00", "\x0c", "\x1b", "\ufffe"])
def test_character_yaml_forbids_is_reported_at_its_line(char: str) -> None:
    text = stage_md(f"acceptance: [make{char}]\nmodel: opus")
    assert one_problem(text) == (
        NEXT,
        "",
        f"YAML error: the character U+{ord(char):04X} is not allowed",
    )


def test_yaml_version_directive_is_accepted() -> None:
    assert parse(plan_md("%YAML 1.2\n---\n" + BASE)).stages[0].id == "alpha"


# --------------------------------------------------------------------------------------------------
# The root of the YAML


ROOT_MESSAGE = "the metadata must be a mapping under a 'loom:' key"


@pytest.mark.parametrize(
    "yaml_text",
    ["", "# only a comment\n", "- a\n- b\n", "just a string\n", "42\n", "plan:\n  version: 1\n"],
    ids=["empty", "comment", "list", "string", "number", "no-loom-key"],
)
def test_root_that_is_not_a_loom_mapping_is_reported_at_the_first_yaml_line(
    yaml_text: str,
) -> None:
    assert one_problem(plan_md(yaml_text)) == (6, "loom", ROOT_MESSAGE)


@pytest.mark.parametrize(
    ("yaml_text", "line"),
    [
        ("loom: 3\n", 6),
        ("loom: [1, 2]\n", 6),
        ("loom:\n", 6),  # null: the key's line, not the closing fence after it
        ("# comment\n\nloom:\n", 8),
        ("x: 1\n\nloom:\n  - a\n", 9),  # a block value: the line where the value starts
    ],
    ids=["scalar", "flow-list", "null", "null-after-blanks", "block-list"],
)
def test_loom_key_that_is_not_a_mapping_is_reported_at_its_value(yaml_text: str, line: int) -> None:
    assert one_problem(plan_md(yaml_text)) == (line, "loom", ROOT_MESSAGE)


def test_extra_top_level_keys_are_each_reported_with_the_loom_errors() -> None:
    text = plan_md(BASE + "extra: 1\nplan:\n  name: x\n")
    message = "unknown top-level key (everything goes under 'loom:')"
    assert problems(text) == [(12, "extra", message), (13, "plan", message)]


def test_extra_top_level_key_before_loom_is_reported_at_its_line() -> None:
    text = plan_md("title: x\n" + BASE)
    assert problems(text) == [(6, "title", "unknown top-level key (everything goes under 'loom:')")]


# --------------------------------------------------------------------------------------------------
# Plan level: version, stages, max_parallel, auto_merge, base_branch, sandbox


def test_version_other_than_one_is_refused() -> None:
    text = plan_md(BASE.replace("version: 1", "version: 2"))
    assert one_problem(text) == (
        7,
        "version",
        "unsupported plan version 2 (this loom reads version 1)",
    )


@pytest.mark.parametrize(
    ("value", "got"),
    [("'1'", "the string '1'"), ("1.0", "1.0"), ("true", "true"), ("", "nothing (null)")],
)
def test_version_must_be_the_integer_one(value: str, got: str) -> None:
    text = plan_md(BASE.replace("version: 1", f"version: {value}"))
    assert one_problem(text) == (7, "version", f"expected an integer, got {got}")


def test_missing_version_and_stages_point_at_the_loom_key() -> None:
    text = plan_md("loom:\n  max_parallel: 2\n")
    assert problems(text) == [
        (6, "stages", "required field is missing"),
        (6, "version", "required field is missing"),
    ]


def test_empty_stages_list_is_refused() -> None:
    text = plan_md("loom:\n  version: 1\n  stages: []\n")
    assert one_problem(text) == (8, "stages", "must not be empty")


@pytest.mark.parametrize(
    ("value", "got"),
    [
        ("{a: 1}", "a mapping"),
        ("5", "5"),
        ("alpha", "the string 'alpha'"),
        ("", "nothing (null)"),
    ],
)
def test_stages_must_be_a_list(value: str, got: str) -> None:
    text = plan_md(f"loom:\n  version: 1\n  stages: {value}\n  max_parallel: 2\n")
    assert one_problem(text) == (8, "stages", f"expected a list, got {got}")


@pytest.mark.parametrize(
    ("item", "got"), [("3", "3"), ("alpha", "the string 'alpha'"), ("[a]", "a list"), ("", "")]
)
def test_stage_that_is_not_a_mapping_is_reported_at_its_item(item: str, got: str) -> None:
    text = stage_md(more=f"    - {item}\n")
    got = got or "nothing (null)"
    assert one_problem(text) == (NEXT, "stages[1]", f"expected a mapping, got {got}")


def test_plan_defaults() -> None:
    plan = parse(plan_md(BASE))
    assert plan.spec.max_parallel == 4
    assert plan.spec.auto_merge is True
    assert plan.spec.base_branch is None
    assert plan.spec.sandbox is None


def test_plan_level_settings_are_read() -> None:
    more = "  max_parallel: 2\n  auto_merge: false\n  base_branch: develop\n"
    plan = parse(stage_md(more=more))
    assert (plan.spec.max_parallel, plan.spec.auto_merge, plan.spec.base_branch) == (
        2,
        False,
        "develop",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "must be greater than or equal to 1"),
        ("-3", "must be greater than or equal to 1"),
        ("'2'", "expected an integer, got the string '2'"),
    ],
)
def test_max_parallel_must_be_a_positive_integer(value: str, message: str) -> None:
    assert one_problem(stage_md(more=f"  max_parallel: {value}\n")) == (
        NEXT,
        "max_parallel",
        message,
    )


@pytest.mark.parametrize(("value", "got"), [("'yes'", "the string 'yes'"), ("1", "1")])
def test_auto_merge_must_be_a_boolean(value: str, got: str) -> None:
    assert one_problem(stage_md(more=f"  auto_merge: {value}\n")) == (
        NEXT,
        "auto_merge",
        f"expected true or false, got {got}",
    )


@pytest.mark.parametrize("branch", ["'a b'", "'x:y'", "'  '", "'a~1'"])
def test_base_branch_must_be_a_valid_branch_name(branch: str) -> None:
    line, loc, message = one_problem(stage_md(more=f"  base_branch: {branch}\n"))
    assert (line, loc) == (NEXT, "base_branch")
    assert message.endswith("is not a valid branch name")


def test_plan_level_sandbox_is_read_and_checked() -> None:
    more = "  sandbox:\n    enabled: false\n    network:\n      allowed_domains: [pypi.org]\n"
    sandbox = parse(stage_md(more=more)).spec.sandbox
    assert sandbox is not None
    assert sandbox.enabled is False
    assert sandbox.network.allowed_domains == ["pypi.org"]
    assert one_problem(stage_md(more="  sandbox: [x]\n")) == (
        NEXT,
        "sandbox",
        "expected a mapping, got a list",
    )


# --------------------------------------------------------------------------------------------------
# Stage ids


@pytest.mark.parametrize(
    "sid", ["a", "0", "a-b_c", "9lives", "x" * 64, "a" + "-" * 63, "stage_01", "0-"]
)
def test_valid_stage_ids_are_accepted(sid: str) -> None:
    text = plan_md(BASE.replace("id: alpha", f"id: '{sid}'"))
    assert parse(text).stages[0].id == sid


@pytest.mark.parametrize(
    "sid",
    ["A", "Alpha", "-a", "_a", "a b", "a.b", "a/b", "é", "x" * 65, "", "a\tb", "ab!"],
    ids=lambda s: repr(s)[:12],
)
def test_invalid_stage_id_is_reported_at_its_line(sid: str) -> None:
    quoted = '"' + sid.replace("\t", "\\t") + '"'
    text = plan_md(BASE.replace("id: alpha", f"id: {quoted}"))
    assert one_problem(text) == (9, "stages[0].id", f"{sid!r} {ID_RULE}")


def test_id_length_limit_is_64_characters() -> None:
    ok = "a" * 64
    assert parse(plan_md(BASE.replace("alpha", ok))).stages[0].id == ok
    line, loc, message = one_problem(plan_md(BASE.replace("alpha", ok + "b")))
    assert (line, loc) == (9, "stages[0].id")
    assert "1-64 characters" in message


def test_id_that_is_a_number_suggests_quoting() -> None:
    text = plan_md(BASE.replace("id: alpha", "id: 42"))
    assert one_problem(text) == (9, "stages[0].id", 'expected a string, got 42 (quote it: "42")')


def test_duplicate_id_names_the_line_of_its_first_use() -> None:
    text = stage_md(more=stage_yaml("beta") + stage_yaml("alpha", name="Again"))
    assert text.splitlines()[15 - 1] == "    - id: alpha"
    assert one_problem(text) == (
        15,
        "stages[2].id",
        "duplicate id 'alpha' (first used on line 9)",
    )


def test_every_repeat_of_an_id_points_at_the_first_use() -> None:
    text = stage_md(more=stage_yaml("alpha") + stage_yaml("alpha"))
    assert problems(text) == [
        (12, "stages[1].id", "duplicate id 'alpha' (first used on line 9)"),
        (15, "stages[2].id", "duplicate id 'alpha' (first used on line 9)"),
    ]


def test_stage_with_duplicate_id_still_has_its_dependencies_checked() -> None:
    text = stage_md(more=stage_yaml("alpha", deps="[nope]"))
    assert problems(text) == [
        (12, "stages[1].id", "duplicate id 'alpha' (first used on line 9)"),
        (15, "stages[1].dependencies[0]", "unknown stage 'nope'"),
    ]


# --------------------------------------------------------------------------------------------------
# name, description, model: required / non-empty strings


@pytest.mark.parametrize("field", ["id", "name"])
def test_missing_required_stage_field_is_reported_at_the_stage_item(field: str) -> None:
    lines = {
        "id": "    - id: beta\n",
        "name": "      name: Beta\n",
        "description": "      description: d\n",
    }
    body = "".join(line for key, line in lines.items() if key != field)
    if field == "id":
        body = "    - " + body.lstrip()
    text = stage_md(more=body)
    assert one_problem(text) == (NEXT, f"stages[1].{field}", "required field is missing")


def test_stage_missing_everything_but_id_reports_each_field() -> None:
    text = stage_md(more="    - id: beta\n")
    assert problems(text) == [(NEXT, "stages[1].name", "required field is missing")]


def test_a_stage_without_a_description_is_accepted_as_in_the_original() -> None:
    plan = parse_plan_text(stage_md(more="    - id: beta\n      name: Beta\n"), "p.md")
    assert plan.stages[1].description is None


@pytest.mark.parametrize("field", ["name", "description", "model"])
@pytest.mark.parametrize("value", ['""', "'   '", '"\\t"'])
def test_text_fields_must_not_be_empty(field: str, value: str) -> None:
    if field == "model":
        text = stage_md(f"model: {value}")
        line = NEXT
    else:
        line = 10 if field == "name" else 11
        current = "Alpha" if field == "name" else "The first stage."
        text = plan_md(BASE.replace(f"{field}: {current}", f"{field}: {value}"))
    assert one_problem(text) == (line, f"stages[0].{field}", "must not be empty")


@pytest.mark.parametrize(
    ("field", "value", "got"),
    [
        ("name", "42", '42 (quote it: "42")'),
        ("description", "3.14", '3.14 (quote it: "3.14")'),
        ("model", "4", '4 (quote it: "4")'),
        ("name", "true", "true"),
        ("description", "[a, b]", "a list"),
        ("model", "{a: 1}", "a mapping"),
    ],
)
def test_non_string_where_a_string_is_expected_says_what_it_got_and_numbers_suggest_quoting(
    field: str, value: str, got: str
) -> None:
    if field == "model":
        text = stage_md(f"model: {value}")
    else:
        current = "Alpha" if field == "name" else "The first stage."
        text = plan_md(BASE.replace(f"{field}: {current}", f"{field}: {value}"))
    line = {"name": 10, "description": 11, "model": NEXT}[field]
    assert one_problem(text) == (line, f"stages[0].{field}", f"expected a string, got {got}")


def test_empty_value_is_reported_at_its_key_line_not_the_next_one() -> None:
    # an empty YAML value is null; the error belongs on the key's line even with blank lines after
    text = plan_md("loom:\n  version:\n  stages:\n    - id:\n      name: A\n      model:\n\n\n")
    assert problems(text) == [
        (7, "version", "expected an integer, got nothing (null)"),
        (9, "stages[0].id", "expected a string, got nothing (null)"),
        (11, "stages[0].model", "expected a string, got nothing (null)"),
    ]


def test_empty_model_at_the_end_is_reported_at_its_key_line() -> None:
    assert one_problem(stage_md("model:")) == (
        NEXT,
        "stages[0].model",
        "expected a string, got nothing (null)",
    )


def test_stage_defaults() -> None:
    stage = parse(plan_md(BASE)).stages[0]
    assert stage.context_budget == 65
    assert stage.model == "opus"
    assert stage.max_retries == 3
    assert stage.dependencies == []
    assert stage.acceptance == []
    assert stage.files == []
    assert stage.truths == []
    assert stage.artifacts == []
    assert stage.wiring == []
    assert stage.sandbox is None
    assert stage.sim is None


def test_every_stage_field_is_read() -> None:
    fields = """\
    dependencies: []
    acceptance: [make test]
    files: ["src/**/*.py"]
    context_budget: 40
    truths: ["./app --version"]
    artifacts: [dist/app]
    wiring:
      - {source: src/app.py, pattern: "def main", description: entry point}
    model: sonnet
    max_retries: 0
    sandbox: {enabled: false}
    sim: {scenario: crash-once, steps: 2}
    """
    stage = parse(stage_md(fields)).stages[0]
    assert stage.acceptance == ["make test"]
    assert stage.files == ["src/**/*.py"]
    assert stage.context_budget == 40
    assert stage.truths == ["./app --version"]
    assert stage.artifacts == ["dist/app"]
    assert [(w.source, w.pattern, w.description) for w in stage.wiring] == [
        ("src/app.py", "def main", "entry point")
    ]
    assert stage.model == "sonnet"
    assert stage.max_retries == 0
    assert stage.sandbox is not None
    assert stage.sandbox.enabled is False
    assert stage.sim is not None
    assert (stage.sim.scenario, stage.sim.steps) == ("crash-once", 2)


# --------------------------------------------------------------------------------------------------
# dependencies


def test_dependencies_are_read() -> None:
    plan = parse(stage_md(more=stage_yaml("beta", deps="[alpha]")))
    assert plan.graph() == {"alpha": [], "beta": ["alpha"]}


def test_unknown_dependency_suggests_a_close_id() -> None:
    text = stage_md(more=stage_yaml("beta", deps="[alpah]"))
    assert one_problem(text) == (
        15,
        "stages[1].dependencies[0]",
        "unknown stage 'alpah' (did you mean 'alpha'?)",
    )


def test_unknown_dependency_without_a_close_id_has_no_suggestion() -> None:
    text = stage_md(more=stage_yaml("beta", deps="[zzz]"))
    assert one_problem(text) == (15, "stages[1].dependencies[0]", "unknown stage 'zzz'")


def test_dependency_on_itself_is_refused() -> None:
    text = stage_md("dependencies: [alpha]")
    assert one_problem(text) == (
        NEXT,
        "stages[0].dependencies[0]",
        "a stage cannot depend on itself",
    )


def test_dependency_listed_twice_is_refused_at_the_second_item() -> None:
    text = stage_md(more=stage_yaml("beta", deps="\n        - alpha\n        - alpha"))
    assert line_of(text, "dependencies:") == 15
    assert one_problem(text) == (17, "stages[1].dependencies[1]", "'alpha' is listed twice")


def test_block_list_dependencies_report_each_item_on_its_own_line() -> None:
    deps = "\n        - alpha\n        - ghost\n        - beta\n        - ghost"
    text = stage_md(more=stage_yaml("beta", deps=deps))
    assert problems(text) == [
        (17, "stages[1].dependencies[1]", "unknown stage 'ghost'"),
        (18, "stages[1].dependencies[2]", "a stage cannot depend on itself"),
        (19, "stages[1].dependencies[3]", "unknown stage 'ghost'"),
    ]


def test_dependencies_must_be_a_list_of_strings() -> None:
    text = stage_md("dependencies: alpha")
    assert one_problem(text) == (
        NEXT,
        "stages[0].dependencies",
        "expected a list, got the string 'alpha'",
    )
    text = stage_md(more=stage_yaml("'7'", deps="[7]", name="Seven"))
    assert one_problem(text) == (
        15,
        "stages[1].dependencies[0]",
        'expected a string, got 7 (quote it: "7")',
    )


def test_dependency_on_a_stage_with_an_invalid_id_is_unknown() -> None:
    text = stage_md(more=stage_yaml("Beta") + stage_yaml("gamma", deps="[Beta]"))
    assert problems(text) == [
        (12, "stages[1].id", f"'Beta' {ID_RULE}"),
        (18, "stages[2].dependencies[0]", "unknown stage 'Beta'"),
    ]


# --------------------------------------------------------------------------------------------------
# Cycles


def cycle_plan(edges: list[tuple[str, str]]) -> str:
    """A plan with one stage per letter used in ``edges``, plus the valid base stage alpha."""
    names = sorted({n for edge in edges for n in edge})
    more = ""
    for name in names:
        deps = [b for a, b in edges if a == name]
        more += stage_yaml(name, deps="[" + ", ".join(deps) + "]")
    return stage_md(more=more)


def test_two_stage_cycle_names_the_cycle_and_its_line() -> None:
    text = cycle_plan([("a", "b"), ("b", "a")])
    assert line_of(text, "dependencies: [b]") == 15
    assert one_problem(text) == (15, "stages[1].dependencies", "dependency cycle: a -> b -> a")


def test_cycle_error_names_the_cycle_and_its_line() -> None:
    text = cycle_plan([("a", "b"), ("b", "c"), ("c", "a")])
    assert one_problem(text) == (
        15,
        "stages[1].dependencies",
        "dependency cycle: a -> b -> c -> a",
    )


def test_cycle_is_named_from_the_stage_that_comes_first_in_the_plan() -> None:
    # c is written first, so the cycle is reported on c's line and starts with c
    more = stage_yaml("c", deps="[a]") + stage_yaml("a", deps="[b]") + stage_yaml("b", deps="[c]")
    text = stage_md(more=more)
    assert one_problem(text) == (
        15,
        "stages[1].dependencies",
        "dependency cycle: c -> a -> b -> c",
    )


def test_cycle_line_is_the_dependency_item_that_closes_it() -> None:
    deps = "\n        - alpha\n        - b"
    more = stage_yaml("a", deps=deps) + stage_yaml("b", deps="[alpha, a]")
    text = stage_md(more=more)
    assert line_of(text, "        - b") == 17
    assert one_problem(text) == (17, "stages[1].dependencies", "dependency cycle: a -> b -> a")


def test_long_independent_cycles_are_each_reported() -> None:
    ring = [f"r{i:02d}" for i in range(12)]
    edges = [(ring[i], ring[(i + 1) % len(ring)]) for i in range(len(ring))]
    edges += [("x", "y"), ("y", "x")]
    text = cycle_plan(edges)
    found = problems(text)
    assert [p[2] for p in found] == [
        "dependency cycle: " + " -> ".join([*ring, ring[0]]),
        "dependency cycle: x -> y -> x",
    ]
    assert [p[:2] for p in found] == [
        (line_of(text, "dependencies: [r01]"), "stages[1].dependencies"),
        (line_of(text, "dependencies: [y]"), "stages[13].dependencies"),
    ]


def test_stages_hanging_off_a_cycle_are_not_part_of_it() -> None:
    edges = [("a", "b"), ("b", "a"), ("c", "a"), ("d", "c")]
    found = problems(cycle_plan(edges))
    assert [p[2] for p in found] == ["dependency cycle: a -> b -> a"]


def test_self_dependency_is_not_also_reported_as_a_cycle() -> None:
    found = problems(stage_md("dependencies: [alpha]"))
    assert [p[2] for p in found] == ["a stage cannot depend on itself"]


def test_diamond_is_not_a_cycle() -> None:
    edges = [("b", "a"), ("c", "a"), ("d", "b"), ("d", "c")]
    more = stage_yaml("a", deps="[]")
    for name in "bcd":
        deps = [t for s, t in edges if s == name]
        more += stage_yaml(name, deps="[" + ", ".join(deps) + "]")
    plan = parse(stage_md(more=more))
    assert plan.graph()["d"] == ["b", "c"]


# --------------------------------------------------------------------------------------------------
# context_budget, max_retries


@pytest.mark.parametrize("value", [1, 50, 100])
def test_context_budget_within_1_to_100_is_accepted(value: int) -> None:
    assert parse(stage_md(f"context_budget: {value}")).stages[0].context_budget == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "must be greater than or equal to 1"),
        ("-5", "must be greater than or equal to 1"),
        ("101", "must be less than or equal to 100"),
        ("'50'", "expected an integer, got the string '50'"),
        ("50.5", "expected an integer, got 50.5"),
        ("true", "expected an integer, got true"),
        ("[50]", "expected an integer, got a list"),
    ],
)
def test_context_budget_outside_1_to_100_or_not_an_integer_is_refused(
    value: str, message: str
) -> None:
    assert one_problem(stage_md(f"context_budget: {value}")) == (
        NEXT,
        "stages[0].context_budget",
        message,
    )


@pytest.mark.parametrize("value", [0, 1, 3, 10])
def test_max_retries_zero_or_more_is_accepted(value: int) -> None:
    assert parse(stage_md(f"max_retries: {value}")).stages[0].max_retries == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "must be greater than or equal to 0"),
        ("'3'", "expected an integer, got the string '3'"),
        ("1.5", "expected an integer, got 1.5"),
    ],
)
def test_max_retries_below_zero_or_not_an_integer_is_refused(value: str, message: str) -> None:
    assert one_problem(stage_md(f"max_retries: {value}")) == (
        NEXT,
        "stages[0].max_retries",
        message,
    )


# --------------------------------------------------------------------------------------------------
# acceptance, truths: shell commands


@pytest.mark.parametrize("field", ["acceptance", "truths"])
def test_commands_may_contain_tabs_and_newlines(field: str) -> None:
    text = stage_md(f'{field}:\n  - "make\\ttest"\n  - |\n    set -e\n    make check\n')
    assert getattr(parse(text).stages[0], field) == ["make\ttest", "set -e\nmake check\n"]


@pytest.mark.parametrize("field", ["acceptance", "truths"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('""', "must not be blank"),
        ("'   '", "must not be blank"),
        ('"\\t\\n"', "must not be blank"),
        ('"make\\x07"', "must not contain control characters (other than tab and newline)"),
        ('"a\\rb"', "must not contain control characters (other than tab and newline)"),
        ('"a\\x1bb"', "must not contain control characters (other than tab and newline)"),
        ('"a\\x7fb"', "must not contain control characters (other than tab and newline)"),
        ('"a\\0b"', "must not contain control characters (other than tab and newline)"),
    ],
)
def test_blank_command_or_control_character_is_reported_at_the_item(
    field: str, value: str, message: str
) -> None:
    text = stage_md(f"{field}:\n  - make test\n  - {value}\n")
    assert one_problem(text) == (NEXT + 2, f"stages[0].{field}[1]", message)


@pytest.mark.parametrize("field", ["acceptance", "truths"])
def test_every_bad_command_of_a_list_is_reported(field: str) -> None:
    text = stage_md(f'{field}:\n  - ""\n  - ok\n  - "a\\x01b"\n  - 5\n')
    control = "must not contain control characters (other than tab and newline)"
    assert problems(text) == [
        (13, f"stages[0].{field}[0]", "must not be blank"),
        (15, f"stages[0].{field}[2]", control),
        (16, f"stages[0].{field}[3]", 'expected a string, got 5 (quote it: "5")'),
    ]


@pytest.mark.parametrize("field", ["acceptance", "truths"])
def test_commands_must_be_a_list(field: str) -> None:
    assert one_problem(stage_md(f"{field}: make test")) == (
        NEXT,
        f"stages[0].{field}",
        "expected a list, got the string 'make test'",
    )


# --------------------------------------------------------------------------------------------------
# files, artifacts: relative globs


@pytest.mark.parametrize("field", ["files", "artifacts"])
@pytest.mark.parametrize("glob", ["src/**/*.py", "./README.md", "a..b", "docs/..x/y", "*"])
def test_relative_globs_are_accepted(field: str, glob: str) -> None:
    assert getattr(parse(stage_md(f"{field}: ['{glob}']")).stages[0], field) == [glob]


@pytest.mark.parametrize("field", ["files", "artifacts"])
@pytest.mark.parametrize(
    ("glob", "message"),
    [
        ("/etc/passwd", "'/etc/passwd' must be relative to the project root"),
        ("~/notes", "'~/notes' must be relative to the project root"),
        ("C:\\src", "'C:\\\\src' must be relative to the project root"),
        ("..", "'..' must not use '..'"),
        ("../x", "'../x' must not use '..'"),
        ("a/../b", "'a/../b' must not use '..'"),
        ("a\\..\\b", "'a\\\\..\\\\b' must not use '..'"),
        ("", "must not be blank"),
    ],
)
def test_absolute_or_parent_globs_are_reported_at_the_item(
    field: str, glob: str, message: str
) -> None:
    text = stage_md(f"{field}:\n  - ok/*.py\n  - '{glob}'\n")
    assert one_problem(text) == (NEXT + 2, f"stages[0].{field}[1]", message)


@pytest.mark.parametrize("field", ["files", "artifacts"])
def test_every_bad_glob_of_a_list_is_reported(field: str) -> None:
    text = stage_md(f"{field}: [/abs, ok, ../up]")
    assert problems(text) == [
        (NEXT, f"stages[0].{field}[0]", "'/abs' must be relative to the project root"),
        (NEXT, f"stages[0].{field}[2]", "'../up' must not use '..'"),
    ]


# --------------------------------------------------------------------------------------------------
# wiring


def test_wiring_description_is_optional() -> None:
    stage = parse(stage_md("wiring:\n  - source: app.py\n    pattern: '^def main'\n")).stages[0]
    assert stage.wiring[0].description is None


def test_wiring_with_invalid_regex_is_reported_at_the_pattern() -> None:
    text = stage_md("wiring:\n  - source: app.py\n    pattern: 'main('\n")
    line, loc, message = one_problem(text)
    assert (line, loc) == (14, "stages[0].wiring[0].pattern")
    assert message.startswith("is not a valid regular expression: ")
    assert "missing )" in message


@pytest.mark.parametrize(
    "pattern", ["'*x'", "'(?P<a>x)(?P<a>y)'", "'a{99999999999999999999}'", "'[z-a]'"]
)
def test_wiring_patterns_python_cannot_compile_are_refused(pattern: str) -> None:
    text = stage_md(f"wiring: [{{source: a.py, pattern: {pattern}}}]")
    line, loc, message = one_problem(text)
    assert (line, loc) == (NEXT, "stages[0].wiring[0].pattern")
    assert message.startswith("is not a valid regular expression: ")


def test_wiring_pattern_nested_too_deeply_is_refused_not_crashing() -> None:
    pattern = "(" * 3000 + ")" * 3000
    text = stage_md(f"wiring: [{{source: a.py, pattern: '{pattern}'}}]")
    line, loc, message = one_problem(text)
    assert (line, loc) == (NEXT, "stages[0].wiring[0].pattern")
    assert message.startswith("is not a valid regular expression")


def test_wiring_empty_pattern_is_refused() -> None:
    text = stage_md("wiring: [{source: a.py, pattern: ''}]")
    assert one_problem(text) == (NEXT, "stages[0].wiring[0].pattern", "must not be empty")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("/etc/hosts", "'/etc/hosts' must be relative to the project root"),
        ("../x.py", "'../x.py' must not use '..'"),
        ("''", "must not be blank"),
    ],
)
def test_wiring_source_must_be_relative(source: str, message: str) -> None:
    text = stage_md(f"wiring:\n  - pattern: x\n    source: {source}\n")
    assert one_problem(text) == (14, "stages[0].wiring[0].source", message)


def test_wiring_item_missing_fields_is_reported_at_the_item() -> None:
    text = stage_md("wiring:\n  - source: a.py\n  - 3\n  - pattern: x\n")
    assert problems(text) == [
        (13, "stages[0].wiring[0].pattern", "required field is missing"),
        (14, "stages[0].wiring[1]", "expected a mapping, got 3"),
        (15, "stages[0].wiring[2].source", "required field is missing"),
    ]


def test_wiring_must_be_a_list() -> None:
    assert one_problem(stage_md("wiring: {source: a, pattern: b}")) == (
        NEXT,
        "stages[0].wiring",
        "expected a list, got a mapping",
    )


# --------------------------------------------------------------------------------------------------
# sandbox, sim


def test_stage_sandbox_mapping_is_read() -> None:
    fields = """\
    sandbox:
      enabled: true
      filesystem:
        deny_read: [secrets/]
        allow_write: [build/]
      network:
        allowed_domains: [example.org]
      excluded_commands: [loom, git]
    """
    sandbox = parse(stage_md(fields)).stages[0].sandbox
    assert sandbox is not None
    assert sandbox.filesystem.deny_read == ["secrets/"]
    assert sandbox.filesystem.allow_write == ["build/"]
    assert sandbox.filesystem.deny_write == []
    assert sandbox.network.allowed_domains == ["example.org"]
    assert sandbox.excluded_commands == ["loom", "git"]


@pytest.mark.parametrize(("value", "got"), [("3", "3"), ("[a]", "a list"), ("yes", "the string")])
def test_stage_sandbox_must_be_a_mapping(value: str, got: str) -> None:
    line, loc, message = one_problem(stage_md(f"sandbox: {value}"))
    assert (line, loc) == (NEXT, "stages[0].sandbox")
    assert message.startswith(f"expected a mapping, got {got}")


def test_sandbox_nested_fields_are_checked_at_their_lines() -> None:
    fields = "sandbox:\n  enabled: 1\n  filesystem:\n    deny_read: secrets\n"
    assert problems(stage_md(fields)) == [
        (13, "stages[0].sandbox.enabled", "expected true or false, got 1"),
        (15, "stages[0].sandbox.filesystem.deny_read", "expected a list, got the string 'secrets'"),
    ]


def test_empty_sandbox_and_sim_mean_none() -> None:
    stage = parse(stage_md("sandbox:\nsim:")).stages[0]
    assert stage.sandbox is None
    assert stage.sim is None


def test_sim_mapping_is_read_with_defaults() -> None:
    sim = parse(stage_md("sim:\n  scenario: overrun\n  step_seconds: 2\n")).stages[0].sim
    assert sim is not None
    assert (sim.scenario, sim.steps, sim.step_seconds, sim.compliant) == ("overrun", 4, 2.0, True)


@pytest.mark.parametrize(("value", "got"), [("[1]", "a list"), ("crash", "the string 'crash'")])
def test_sim_must_be_a_mapping(value: str, got: str) -> None:
    assert one_problem(stage_md(f"sim: {value}")) == (
        NEXT,
        "stages[0].sim",
        f"expected a mapping, got {got}",
    )


def test_sim_unknown_scenario_lists_the_known_ones() -> None:
    line, loc, message = one_problem(stage_md("sim:\n  scenario: explode\n"))
    assert (line, loc) == (13, "stages[0].sim.scenario")
    assert message.startswith("must be 'normal', 'crash-once'")


@pytest.mark.parametrize(
    "value", ["1" + "0" * 400, "1e400", "3601"], ids=["int-beyond-float", "inf", "3601"]
)
def test_sim_step_seconds_beyond_range_is_refused_not_crashing(value: str) -> None:
    assert one_problem(stage_md(f"sim:\n  step_seconds: {value}\n")) == (
        13,
        "stages[0].sim.step_seconds",
        "must be less than or equal to 3600",
    )


def test_sim_edit_must_be_relative() -> None:
    assert one_problem(stage_md("sim: {edit: /tmp/x}")) == (
        NEXT,
        "stages[0].sim.edit",
        "'/tmp/x' must be relative to the project root",
    )


# --------------------------------------------------------------------------------------------------
# Unknown keys


def test_unknown_stage_key_suggests_the_close_one() -> None:
    assert one_problem(stage_md("contxt_budget: 50")) == (
        NEXT,
        "stages[0].contxt_budget",
        "unknown key 'contxt_budget' (did you mean 'context_budget'?)",
    )


def test_unknown_stage_key_without_a_close_one_lists_the_allowed_keys() -> None:
    line, loc, message = one_problem(stage_md("color: red"))
    assert (line, loc) == (NEXT, "stages[0].color")
    assert message.startswith("unknown key 'color' (allowed: id, name, description, dependencies")
    assert message.endswith("sandbox, sim, reasoning_effort, or one of the original loom's keys)")
    assert "parallel_group" not in message  # no effect here: not listed, still suggested


def test_unknown_plan_key_suggests_the_close_one() -> None:
    assert one_problem(stage_md(more="  max_paralel: 2\n")) == (
        NEXT,
        "max_paralel",
        "unknown key 'max_paralel' (did you mean 'max_parallel'?)",
    )


def test_unknown_plan_key_without_a_close_one_lists_the_allowed_keys() -> None:
    assert one_problem(stage_md(more="  junk: 2\n")) == (
        NEXT,
        "junk",
        "unknown key 'junk' (allowed: version, stages, max_parallel, auto_merge, base_branch, "
        "sandbox, stall_seconds, or one of the original loom's keys)",
    )


def test_unknown_wiring_key_suggests_the_close_one() -> None:
    text = stage_md("wiring:\n  - source: a.py\n    pattern: x\n    descripton: y\n")
    assert one_problem(text) == (
        15,
        "stages[0].wiring[0].descripton",
        "unknown key 'descripton' (did you mean 'description'?)",
    )


@pytest.mark.parametrize(
    ("fields", "line", "loc", "suggestion"),
    [
        ("sandbox:\n  enabeld: true\n", 13, "stages[0].sandbox.enabeld", "enabled"),
        (
            "sandbox:\n  filesystem:\n    deny_reed: []\n",
            14,
            "stages[0].sandbox.filesystem.deny_reed",
            "deny_read",
        ),
        (
            "sandbox:\n  network:\n    allowed_domain: []\n",
            14,
            "stages[0].sandbox.network.allowed_domain",
            "allowed_domains",
        ),
        ("sim:\n  scenaro: stall\n", 13, "stages[0].sim.scenaro", "scenario"),
    ],
)
def test_unknown_nested_key_suggests_the_close_one(
    fields: str, line: int, loc: str, suggestion: str
) -> None:
    key = loc.rsplit(".", 1)[1]
    assert one_problem(stage_md(fields)) == (
        line,
        loc,
        f"unknown key {key!r} (did you mean {suggestion!r}?)",
    )


def test_non_string_key_is_an_unknown_key() -> None:
    line, loc, message = one_problem(stage_md("1: x"))
    assert loc == "stages[0].1"
    assert message.startswith("unknown key '1'")
    assert line == 9  # ruamel.yaml keys it as the int 1: the stage's line is the closest known


# --------------------------------------------------------------------------------------------------
# YAML features loom does not use


@pytest.mark.parametrize(
    ("tag", "what"),
    [
        ("!custom x", "a value tagged !custom"),
        ("!!python/object:os.system x", "a value tagged tag:yaml.org,2002:python/object:os.system"),
        ("!!python/name:os.system ''", "a value tagged tag:yaml.org,2002:python/name:os.system"),
    ],
)
def test_custom_tags_are_refused_not_constructed(tag: str, what: str) -> None:
    assert one_problem(stage_md(f"model: {tag}")) == (
        NEXT,
        "stages[0].model",
        f"cannot use {what} here",
    )


def test_python_apply_tag_does_not_run_anything() -> None:
    line, loc, _message = one_problem(stage_md("model: !!python/object/apply:os.system [exit 3]"))
    assert (line, loc) == (NEXT, "stages[0].model")


def test_anchors_and_aliases_are_expanded() -> None:
    fields = "acceptance: &checks [make test, make lint]\ntruths: *checks\n"
    stage = parse(stage_md(fields)).stages[0]
    assert stage.truths == stage.acceptance == ["make test", "make lint"]


def test_merge_keys_are_expanded() -> None:
    text = plan_md(
        "loom:\n  version: 1\n  stages:\n"
        "    - &base {id: alpha, name: Alpha, description: d, model: sonnet}\n"
        "    - <<: *base\n      id: beta\n"
    )
    assert [(s.id, s.model) for s in parse(text).stages] == [
        ("alpha", "sonnet"),
        ("beta", "sonnet"),
    ]


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    text = plan_md("\n".join(lines) + "\nloom: *a9\n")
    assert one_problem(text) == (6, "", "the metadata is too large (over 100000 values)")


@pytest.mark.slow  # seconds of CPU: started early under xdist
def test_deeply_nested_yaml_is_refused() -> None:
    text = plan_md("loom: " + "[" * 2000 + "]" * 2000 + "\n")
    assert one_problem(text) == (6, "", "the YAML is nested too deeply")


# --------------------------------------------------------------------------------------------------
# Every error is collected


def test_all_errors_are_collected_and_sorted_by_line() -> None:
    text = plan_md(
        """\
        loom:
          version: 2
          max_paralel: 3
          stages:
            - id: Bad
              name: ""
              description: d
              context_budget: 0
              dependencies: [ghost]
            - id: b
              name: B
              description: d
              dependencies: [c]
              files: [/abs, ../up]
              acceptance: ["", ok]
              wiring: [{source: a.py, pattern: "("}]
              model: 5
            - id: c
              name: C
              description: d
              dependencies: [b, c]
              max_retries: -1
              sandbox: 1
              sim: []
            - id: b
            - name: nameless
              description: d
        extra: 1
        """
    )
    found = problems(text)
    assert [(line, loc) for line, loc, _ in found] == [
        (7, "version"),
        (8, "max_paralel"),
        (10, "stages[0].id"),
        (11, "stages[0].name"),
        (13, "stages[0].context_budget"),
        (14, "stages[0].dependencies[0]"),
        (18, "stages[1].dependencies"),  # the cycle b -> c -> b
        (19, "stages[1].files[0]"),
        (19, "stages[1].files[1]"),
        (20, "stages[1].acceptance[0]"),
        (21, "stages[1].wiring[0].pattern"),
        (22, "stages[1].model"),
        (26, "stages[2].dependencies[1]"),
        (27, "stages[2].max_retries"),
        (28, "stages[2].sandbox"),
        (29, "stages[2].sim"),
        (30, "stages[3].id"),
        (30, "stages[3].name"),
        (31, "stages[4].id"),
        (33, "extra"),
    ]
    messages = {(line, loc): message for line, loc, message in found}
    assert messages[18, "stages[1].dependencies"] == "dependency cycle: b -> c -> b"
    assert messages[14, "stages[0].dependencies[0]"] == "unknown stage 'ghost'"
    assert messages[26, "stages[2].dependencies[1]"] == "a stage cannot depend on itself"
    assert messages[30, "stages[3].id"] == "duplicate id 'b' (first used on line 15)"
    assert messages[31, "stages[4].id"] == "required field is missing"
    assert messages[8, "max_paralel"].endswith("(did you mean 'max_parallel'?)")
    assert found == sorted(found, key=lambda p: (p[0], p[1]))
    err = plan_error(text)
    assert len(err.lines()) == len(found) == 20
    assert all(line.startswith(f"{PATH}:") for line in err.lines())


# --------------------------------------------------------------------------------------------------
# Plan name and id


def test_plan_name_is_the_first_level_one_heading() -> None:
    text = "Intro\n## Not this\n# PLAN-0042: The real name  \n# Later heading\n" + plan_md(BASE)
    assert parse(text).name == "PLAN-0042: The real name"


def test_plan_name_prefix_is_kept_as_written() -> None:
    assert parse("# Plan: Build it\n" + plan_md(BASE)).name == "Plan: Build it"


@pytest.mark.parametrize("fence", ["```", "```bash", "~~~", "````"])
def test_plan_name_ignores_headings_inside_code_fences(fence: str) -> None:
    closing = fence.rstrip("bash") if fence.startswith("`") else fence
    inner = "```\n# still inside\n```\n" if fence == "````" else ""
    text = f"{fence}\n# a shell comment\n{inner}{closing}\n# Real name\n" + plan_md(BASE)
    assert parse(text).name == "Real name"


def test_plan_name_ignores_headings_inside_the_metadata_block() -> None:
    text = "<!-- loom METADATA -->\n```yaml\n# a YAML comment\n" + BASE + "```\n"
    text += "<!-- END loom METADATA -->\n\n# After the metadata\n"
    assert parse(text).name == "After the metadata"


@pytest.mark.parametrize("heading", ["#NoSpace", "## Level two", "#", "#   ", " # indented"])
def test_plan_name_falls_back_to_the_file_stem(heading: str) -> None:
    text = heading + "\n" + plan_md(BASE).split("\n", 1)[1]
    assert parse(text).name == "PLAN-0042-test"


@pytest.mark.parametrize(
    ("path", "plan_id"),
    [
        ("doc/plans/PLAN-0007-x.md", "PLAN-0007-x"),
        ("PLAN-1.md", "PLAN-1"),
        ("/abs/dir/my.plan.md", "my.plan"),
        ("noext", "noext"),
    ],
)
def test_plan_id_is_the_file_stem(path: str, plan_id: str) -> None:
    plan = parse(plan_md(BASE), path)
    assert plan.id == plan_id
    assert plan.path == path


def test_errors_carry_the_path_given() -> None:
    err = plan_error(stage_md("model: ''"), "elsewhere/PLAN-9.md")
    assert err.lines() == ["elsewhere/PLAN-9.md:12: stages[0].model: must not be empty"]


# --------------------------------------------------------------------------------------------------
# The bundled sample plan


def test_sample_plan_parses_into_six_stages_with_a_diamond() -> None:
    plan = load_plan(str(SAMPLE_PLAN))
    assert plan.id == "PLAN-0001-wordcount"
    assert plan.name == "PLAN-0001: Word-count tool"
    assert plan.spec.max_parallel == 3
    assert [s.id for s in plan.stages] == [
        "scaffold",
        "tokenizer",
        "counter",
        "docs",
        "cli",
        "release",
    ]
    graph = plan.graph()
    # the diamond: scaffold -> tokenizer, counter -> cli
    assert graph["tokenizer"] == ["scaffold"]
    assert graph["counter"] == ["scaffold"]
    assert graph["cli"] == ["tokenizer", "counter"]
    assert graph["release"] == ["cli", "docs"]
    assert depths(graph) == {
        "scaffold": 0,
        "tokenizer": 1,
        "counter": 1,
        "docs": 1,
        "cli": 2,
        "release": 3,
    }
    by_id = {s.id: s for s in plan.stages}
    assert by_id["cli"].context_budget == 50
    assert by_id["scaffold"].context_budget == 65
    assert by_id["counter"].sim is not None
    assert by_id["counter"].sim.scenario == "crash-once"


def test_sample_plan_text_parses_the_same_through_parse_plan_text() -> None:
    text = SAMPLE_PLAN.read_text(encoding="utf-8")
    plan = parse_plan_text(text, str(SAMPLE_PLAN))
    assert plan.graph() == load_plan(str(SAMPLE_PLAN)).graph()


def test_sample_plan_errors_point_at_lines_of_the_real_file() -> None:
    text = SAMPLE_PLAN.read_text(encoding="utf-8").replace(
        "context_budget: 50", "context_budget: 0"
    )
    line = line_of(text, "context_budget: 0")
    assert one_problem(text) == (
        line,
        "stages[4].context_budget",
        "must be greater than or equal to 1",
    )


# --------------------------------------------------------------------------------------------------
# load_plan: reading the file


def test_load_plan_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "PLAN-0003-demo.md"
    path.write_text(plan_md(BASE), encoding="utf-8")
    plan = load_plan(str(path))
    assert (plan.id, plan.name, plan.path) == ("PLAN-0003-demo", "Test plan", str(path))


def test_load_plan_missing_file_is_a_plan_error(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.md")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert info.value.lines() == [f"{path}:1: no such file"]


def test_load_plan_on_a_directory_is_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as info:
        load_plan(str(tmp_path))
    assert info.value.lines() == [f"{tmp_path}:1: is a directory, not a plan file"]


def test_load_plan_non_utf8_reports_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "PLAN-1.md"
    path.write_bytes(b"# Plan\n\nsome text\ncaf\xe9 au lait\nmore\n")
    with pytest.raises(PlanError) as info:
        load_plan(str(path))
    assert info.value.lines() == [f"{path}:4: not valid UTF-8 text"]


def test_load_plan_non_utf8_on_the_first_line(tmp_path: Path) -> None:
    path = tmp_path / "PLAN-1.md"
    path.write_bytes(b"\xff\xfe# Plan\n")
    with pytest.raises(PlanError) as info:
        load_plan(str(path))
    assert [(i.line, i.message) for i in info.value.issues] == [(1, "not valid UTF-8 text")]


def test_load_plan_non_utf8_inside_the_yaml_reports_its_line(tmp_path: Path) -> None:
    path = tmp_path / "PLAN-1.md"
    path.write_bytes(stage_md("model: opus").encode().replace(b"opus", b"op\x80us"))
    with pytest.raises(PlanError) as info:
        load_plan(str(path))
    assert [(i.line, i.message) for i in info.value.issues] == [(NEXT, "not valid UTF-8 text")]


def test_load_plan_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "PLAN-0005-bom.md"
    path.write_bytes(b"\xef\xbb\xbf" + plan_md(BASE).encode())
    plan = load_plan(str(path))
    assert plan.name == "Test plan"
    assert plan.stages[0].id == "alpha"


def test_load_plan_with_bom_keeps_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "PLAN-0005-bom.md"
    path.write_bytes(b"\xef\xbb\xbf" + stage_md("context_budget: 0").encode())
    with pytest.raises(PlanError) as info:
        load_plan(str(path))
    assert [(i.line, i.loc) for i in info.value.issues] == [(NEXT, "stages[0].context_budget")]


def test_load_plan_with_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "PLAN-0006.md"
    path.write_bytes(b"\xef\xbb\xbf" + plan_md(BASE).replace("\n", "\r\n").encode())
    assert load_plan(str(path)).name == "Test plan"
