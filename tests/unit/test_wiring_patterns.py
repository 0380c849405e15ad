"""`core.wiring_patterns`: patterns both engines accept, searched under a time limit."""

from __future__ import annotations

import time

import pytest

from loom_tui.core.wiring_patterns import Deadline, compile_pattern, pattern_problem


def test_a_pattern_is_searched_across_lines() -> None:
    compiled = compile_pattern(r"^def main\(")
    match = Deadline().search(compiled, "import x\n\ndef main():\n    pass\n")
    assert match is not None and match.start() == 10


@pytest.mark.parametrize("pattern", ["main(", "[z-a]", r"\p{L}", "(?P<a>x)(?P<a>y)"])
def test_a_pattern_either_engine_refuses_is_invalid(pattern: str) -> None:
    problem = pattern_problem(pattern)
    assert problem is not None and problem.startswith("is not a valid regular expression: ")


def test_a_catastrophic_search_stops_at_the_deadline() -> None:
    compiled = compile_pattern("(a+)+$")
    deadline = Deadline(0.5)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        deadline.search(compiled, "a" * 50_000 + "!")
    assert time.monotonic() - started < 10  # 0.5 s of searching; generous for a loaded machine


def test_the_deadline_is_shared_by_the_files_of_one_entry() -> None:
    deadline = Deadline(0.0)
    with pytest.raises(TimeoutError):
        deadline.search(compile_pattern("x"), "x")
