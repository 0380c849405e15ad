"""Plan text that could not be stored, or is absurdly large: `PATH:LINE` errors, nothing written.

Built with the helpers of `test_plan` (YAML line n is Markdown line n + 5; fields appended to the
first stage start on line 12).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from loom_tui.core.plan import PlanError, load_plan, parse_plan_text
from loom_tui.core.plan_text import DEFAULT_LIMIT, LIMITS, MAX_PLAN_BYTES
from tests.unit.test_plan import (
    BASE,
    NEXT,
    PATH,
    plan_md,
    problems,
    stage_md,
)

# --------------------------------------------------------------------------------------------------
# Lone surrogates


@pytest.mark.parametrize(
    ("field", "line"),
    [("name", 10), ("description", 11)],
)
def test_a_lone_surrogate_escape_is_reported_at_its_line(field: str, line: int) -> None:
    text = plan_md(BASE).replace(
        f"{field}: {'Alpha' if field == 'name' else 'The first stage.'}",
        f'{field}: "bad \\udc80 text"',
    )
    assert problems(text) == [
        (
            line,
            f"stages[0].{field}",
            "holds \\udc80, half of a UTF-16 surrogate pair and not a character: it cannot be "
            "stored as UTF-8; remove it (or write the whole character)",
        )
    ]


def test_a_surrogate_pair_as_json_writes_it_names_the_character_meant() -> None:
    (problem,) = problems(stage_md('acceptance: ["echo \\ud83d\\ude00"]'))
    assert problem[:2] == (NEXT, "stages[0].acceptance[0]")
    assert "\\ud83d\\ude00 (as JSON writes 😀)" in problem[2]
    assert "\\U0001F600" in problem[2]


def test_a_key_with_a_surrogate_is_reported_once_at_its_line() -> None:
    text = stage_md("model: opus", more='      "mo\\udcffdel": 1')
    assert problems(text) == [
        (
            NEXT + 1,
            "stages[0].mo\udcffdel",
            "holds \\udcff, half of a UTF-16 surrogate pair and not a character: it cannot be "
            "stored as UTF-8; remove it (or write the whole character)",
        )
    ]


def test_surrogates_are_reported_with_the_other_problems() -> None:
    text = stage_md('context_budget: 0\nsandbox: {network: {allowed_domains: ["\\udc80"]}}')
    found = problems(text)
    assert [(line, loc) for line, loc, _ in found] == [
        (NEXT, "stages[0].context_budget"),
        (NEXT + 1, "stages[0].sandbox.network.allowed_domains[0]"),
    ]


def test_characters_beyond_the_bmp_written_as_such_are_fine() -> None:
    plan = parse_plan_text(stage_md('model: "\\U0001F600 😀"'), PATH)
    assert plan.stages[0].model == "😀 😀"


# --------------------------------------------------------------------------------------------------
# Sizes


def test_a_description_over_64_kib_is_reported_at_its_line() -> None:
    text = plan_md(BASE).replace("The first stage.", "x" * (64 * 1024 + 1))
    assert problems(text) == [
        (
            11,
            "stages[0].description",
            "is 64 KiB long; the limit is 64 KiB: keep the assignment short and put long material "
            "in a file of the repository that it names",
        )
    ]


def test_a_description_of_exactly_64_kib_is_accepted() -> None:
    text = plan_md(BASE).replace("The first stage.", "x" * (64 * 1024))
    assert len(parse_plan_text(text, PATH).stages[0].description) == 64 * 1024


def test_the_limit_counts_utf8_bytes() -> None:
    text = plan_md(BASE).replace("The first stage.", "é" * (32 * 1024 + 1))  # 2 bytes each
    ((_line, loc, message),) = problems(text)
    assert loc == "stages[0].description"
    assert message.startswith("is 64 KiB long")


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("name", "n" * (LIMITS["name"] + 1), LIMITS["name"]),
        ("model", "m" * (LIMITS["model"] + 1), LIMITS["model"]),
        ("acceptance", ["a" * (DEFAULT_LIMIT + 1)], DEFAULT_LIMIT),
        ("files", ["f" * (DEFAULT_LIMIT + 1)], DEFAULT_LIMIT),
    ],
)
def test_other_text_fields_have_limits_too(field: str, value: object, limit: int) -> None:
    shown = value if isinstance(value, str) else f"[{value[0]}]"
    text = (
        stage_md(f"{field}: {shown}")
        if field != "name"
        else plan_md(BASE.replace("name: Alpha", f"name: {shown}"))
    )
    found = problems(text)
    assert len(found) == 1, found
    assert found[0][1].startswith(f"stages[0].{field}")
    assert found[0][2].endswith(f"the limit is {limit // 1024} KiB") or found[0][2].endswith(
        f"the limit is {limit:,} bytes"
    )


def test_a_huge_unknown_key_is_reported_cut_short() -> None:
    key = "k" * 1000  # (YAML allows simple keys up to 1024 characters)
    found = problems(stage_md(f"{key}: 1"))
    cut = "k" * 39 + "…"
    assert found == [(NEXT, f"stages[0].{cut}", "a key of 1,000 characters (keys are field names)")]


def test_a_huge_value_of_the_wrong_type_is_quoted_cut_short() -> None:
    ((_line, _loc, message),) = problems(stage_md(f"context_budget: '{'9' * 10_000}'"))
    assert len(message) < 200, message


def test_a_plan_heading_over_the_name_limit_is_reported_at_its_line() -> None:
    text = plan_md(BASE).replace("# Test plan", "# " + "T" * 2000)
    assert problems(text) == [
        (1, "", "the plan's name (its # heading) is 2,000 bytes long; the limit is 1,024 bytes")
    ]


def test_a_plan_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "PLAN-9-big.md"
    big = plan_md(BASE).replace("The first stage.", "x" * (50 * 1024 * 1024))
    path.write_text(big)
    started = time.monotonic()
    with pytest.raises(PlanError) as info:
        load_plan(str(path))
    elapsed = time.monotonic() - started
    assert info.value.lines() == [
        f"{path}:1: the plan is 50.0 MiB; the limit is 4 MiB (is this the right file?)"
    ]
    assert elapsed < 5.0, elapsed  # generous: only 4 MiB is read, nothing parsed


def test_a_plan_text_over_the_limit_is_refused_before_parsing() -> None:
    text = "# T\n" + "x" * MAX_PLAN_BYTES
    with pytest.raises(PlanError) as info:
        parse_plan_text(text, PATH)
    assert info.value.issues[0].line == 1
    assert "the limit is 4 MiB" in info.value.issues[0].message
