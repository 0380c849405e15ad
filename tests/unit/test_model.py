"""The stage statuses, the one transition table, and the records' field checking."""

from __future__ import annotations

import pytest

from loom_tui.core import frontmatter
from loom_tui.core.errors import LoomError, TransitionError
from loom_tui.core.model import (
    TRANSITIONS,
    SessionRecord,
    StageRecord,
    Status,
    can_transition,
    check_transition,
    dependents_of,
)

S = Status

ALLOWED = sorted(
    ((old, new) for old, targets in TRANSITIONS.items() for new in targets),
    key=lambda pair: (pair[0].value, pair[1].value),
)
REFUSED_ALL = sorted(
    (
        (old, new)
        for old in Status
        for new in Status
        if old is not new and new not in TRANSITIONS[old]
    ),
    key=lambda pair: (pair[0].value, pair[1].value),
)
REFUSED_SAMPLE = [
    (S.COMPLETED, S.SKIPPED),
    (S.SKIPPED, S.EXECUTING),
    (S.WAITING_FOR_DEPS, S.COMPLETED),
    (S.COMPLETED, S.EXECUTING),
    (S.WAITING_FOR_DEPS, S.EXECUTING),
    (S.QUEUED, S.COMPLETED),
    (S.SKIPPED, S.COMPLETED),
    (S.BLOCKED, S.EXECUTING),
    (S.COMPLETED, S.BLOCKED),
]


def _pair_id(pair: tuple[Status, Status]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


def stage(status: Status = S.QUEUED, **values: object) -> StageRecord:
    values.setdefault("id", "alpha")
    values.setdefault("name", "Alpha")
    return StageRecord(status=status.value, **values)


# --------------------------------------------------------------------------------------------------
# The table


def test_every_status_has_a_row_in_the_table() -> None:
    assert set(TRANSITIONS) == set(Status)
    for old, targets in TRANSITIONS.items():
        assert old not in targets, f"{old} lists itself as a transition"
        assert targets <= set(Status)


def test_statuses_are_kebab_case_in_files() -> None:
    assert {s.value for s in Status} == {
        "waiting-for-deps",
        "queued",
        "executing",
        "completed",
        "blocked",
        "needs-handoff",
        "waiting-for-input",
        "merge-conflict",
        "skipped",
        "needs-human-review",
    }


def test_the_table_and_the_sample_cover_what_the_brief_expects() -> None:
    assert len(ALLOWED) == sum(len(v) for v in TRANSITIONS.values())
    for pair in REFUSED_SAMPLE:
        assert pair in REFUSED_ALL


@pytest.mark.parametrize(("old", "new"), ALLOWED, ids=[_pair_id(p) for p in ALLOWED])
def test_allowed_transition_passes_the_check_and_changes_the_record(
    old: Status, new: Status
) -> None:
    assert can_transition(old, new)
    check_transition("alpha", old, new)  # does not raise
    record = stage(old)
    record.set_status(new)
    assert record.status is new
    # The written form carries the kebab-case value and reads back as the same status.
    data = record.to_dict()
    assert data["status"] == new.value
    assert StageRecord(**data).status is new


@pytest.mark.parametrize(("old", "new"), REFUSED_SAMPLE, ids=[_pair_id(p) for p in REFUSED_SAMPLE])
def test_refused_transition_raises_naming_both_statuses(old: Status, new: Status) -> None:
    assert not can_transition(old, new)
    with pytest.raises(TransitionError) as info:
        check_transition("alpha", old, new)
    message = str(info.value)
    assert old.value in message
    assert new.value in message
    assert "alpha" in message
    assert isinstance(info.value, LoomError)


@pytest.mark.parametrize(("old", "new"), REFUSED_ALL, ids=[_pair_id(p) for p in REFUSED_ALL])
def test_refused_transition_leaves_the_record_unchanged(old: Status, new: Status) -> None:
    record = stage(old)
    before = record.to_dict()
    with pytest.raises(TransitionError, match=f"from {old.value} to {new.value}"):
        record.set_status(new)
    assert record.status is old
    assert record.to_dict() == before


@pytest.mark.parametrize("status", list(Status), ids=[s.value for s in Status])
def test_setting_the_same_status_is_a_no_op(status: Status) -> None:
    record = stage(status)
    record.set_status(status)
    assert record.status is status


def test_terminal_statuses_only_go_back_by_reset_or_merge_conflict() -> None:
    assert TRANSITIONS[S.SKIPPED] == {S.QUEUED, S.WAITING_FOR_DEPS}
    assert TRANSITIONS[S.COMPLETED] == {S.MERGE_CONFLICT, S.QUEUED, S.WAITING_FOR_DEPS}


def test_status_is_reachable_from_the_start() -> None:
    seen = {S.WAITING_FOR_DEPS}
    frontier = [S.WAITING_FOR_DEPS]
    while frontier:
        current = frontier.pop()
        for nxt in TRANSITIONS[current]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(Status)


# --------------------------------------------------------------------------------------------------
# done


@pytest.mark.parametrize(
    ("status", "merged", "done"),
    [
        (S.COMPLETED, True, True),
        (S.COMPLETED, False, False),
        (S.SKIPPED, False, True),
        (S.SKIPPED, True, True),
        (S.WAITING_FOR_DEPS, False, False),
        (S.QUEUED, False, False),
        (S.EXECUTING, False, False),
        (S.EXECUTING, True, False),
        (S.BLOCKED, True, False),
        (S.NEEDS_HANDOFF, False, False),
        (S.WAITING_FOR_INPUT, False, False),
        (S.MERGE_CONFLICT, False, False),
        (S.MERGE_CONFLICT, True, False),
    ],
)
def test_done_means_completed_and_merged_or_skipped(
    status: Status, merged: bool, done: bool
) -> None:
    assert stage(status, merged=merged).done is done


def test_dependents_of_lists_stages_naming_the_dependency() -> None:
    a = stage(id="a")
    b = stage(id="b", dependencies=["a"])
    c = stage(id="c", dependencies=["b", "a"])
    d = stage(id="d", dependencies=["b"])
    assert [s.id for s in dependents_of("a", [a, b, c, d])] == ["b", "c"]
    assert [s.id for s in dependents_of("d", [a, b, c, d])] == []


# --------------------------------------------------------------------------------------------------
# Records: defaults, problems, unknown keys


def test_defaults_are_fresh_copies_per_record() -> None:
    one = stage()
    two = stage()
    one.dependencies.append("x")
    one.handoffs.append("h")
    assert two.dependencies == []
    assert two.handoffs == []
    assert StageRecord(id="z", name="Z").dependencies == []


def test_defaults_match_the_plan_format() -> None:
    record = StageRecord(id="a", name="A")
    assert record.status is S.WAITING_FOR_DEPS
    assert record.context_budget == 65
    assert record.model == "opus"
    assert record.max_retries == 3
    assert record.held is False
    assert record.merged is False
    assert record.retry_count == 0


def test_a_valid_record_has_no_problems() -> None:
    assert StageRecord.problems(stage().to_dict()) == []
    assert SessionRecord.problems(SessionRecord(id="s1", stage_id="a").to_dict()) == []


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("held", "yes", "held: expected true or false, got 'yes'"),
        ("held", 1, "held: expected true or false, got 1"),
        ("merged", None, "merged: expected true or false, got None"),
        ("retry_count", "3", "retry_count: expected an integer, got '3'"),
        ("retry_count", True, "retry_count: expected an integer, got True"),
        ("retry_count", 1.5, "retry_count: expected an integer, got 1.5"),
        ("context_percent", "50%", "context_percent: expected a number or null, got '50%'"),
        ("context_percent", False, "context_percent: expected a number or null, got False"),
        ("dependencies", "a", "dependencies: expected a list of strings, got 'a'"),
        ("dependencies", ["a", 1], "dependencies: expected a list of strings, got ['a', 1]"),
        ("wiring", {"a": 1}, "wiring: expected a list, got {'a': 1}"),
        ("sandbox", [], "sandbox: expected a mapping or null, got []"),
        ("session_id", 7, "session_id: expected a string or null, got 7"),
        ("name", None, "name: expected a string, got None"),
        ("status", 3, "status: expected a stage status, got 3"),
    ],
)
def test_problems_name_the_field_and_the_wrong_value(
    field: str, value: object, expected: str
) -> None:
    data = stage().to_dict()
    data[field] = value
    assert StageRecord.problems(data) == [expected]


def test_nullable_fields_accept_null_and_numbers_accept_ints() -> None:
    data = stage().to_dict()
    data.update(context_percent=None, session_id=None, sandbox=None, next_retry_at=12)
    assert StageRecord.problems(data) == []
    data.update(context_percent=42, created_at=1.5)
    assert StageRecord.problems(data) == []


@pytest.mark.parametrize("bad", ["running", "Queued", "waiting_for_deps", "", "done"])
def test_unknown_status_is_a_problem_listing_the_known_ones(bad: str) -> None:
    data = stage().to_dict()
    data["status"] = bad
    (problem,) = StageRecord.problems(data)
    assert problem.startswith(f"status: unknown status {bad!r}")
    for known in Status:
        assert known.value in problem


@pytest.mark.parametrize("missing", ["id", "name", "status"])
def test_missing_required_field_is_a_problem(missing: str) -> None:
    data = stage().to_dict()
    del data[missing]
    assert StageRecord.problems(data) == [f"{missing}: required field is missing"]


def test_several_problems_are_all_reported() -> None:
    problems = StageRecord.problems({"held": "no", "retry_count": "x"})
    assert "id: required field is missing" in problems
    assert "name: required field is missing" in problems
    assert "status: required field is missing" in problems
    assert any(p.startswith("held:") for p in problems)
    assert any(p.startswith("retry_count:") for p in problems)
    assert len(problems) == 5


def test_session_record_required_fields_and_types() -> None:
    assert SessionRecord.problems({}) == [
        "id: required field is missing",
        "stage_id: required field is missing",
    ]
    assert SessionRecord.problems({"id": "s", "stage_id": "a", "pid": "12"}) == [
        "pid: expected an integer or null, got '12'"
    ]
    assert SessionRecord(id="s", stage_id="a", status="running").live
    assert not SessionRecord(id="s", stage_id="a", status="exited").live


def test_unknown_keys_are_kept_in_extra_and_written_back() -> None:
    data = stage().to_dict()
    data["future_field"] = {"nested": [1, 2]}
    data["note_from_a_newer_loom"] = "keep me"
    assert StageRecord.problems(data) == []
    record = StageRecord(**data)
    assert record.extra == {"future_field": {"nested": [1, 2]}, "note_from_a_newer_loom": "keep me"}
    assert not hasattr(record, "future_field")
    record.set_status(S.EXECUTING)
    out = record.to_dict()
    assert out["future_field"] == {"nested": [1, 2]}
    assert out["note_from_a_newer_loom"] == "keep me"
    assert out["status"] == "executing"
    # Known fields come first, in declaration order, then the unknown ones.
    assert list(out)[: len(StageRecord.field_names())] == StageRecord.field_names()
    assert list(out)[-2:] == ["future_field", "note_from_a_newer_loom"]


def test_unknown_keys_survive_a_trip_through_a_record_file() -> None:
    data = stage().to_dict()
    data["x_custom"] = ["a", "b"]
    text = frontmatter.render(StageRecord(**data).to_dict(), "body\n")
    parsed, body = frontmatter.parse(text, "stages/alpha.md")
    assert body == "body\n"
    again = StageRecord(**parsed)
    assert again.extra == {"x_custom": ["a", "b"]}
    assert again == StageRecord(**data)


def test_records_compare_by_content_and_are_unhashable() -> None:
    assert stage() == stage()
    assert stage() != stage(S.EXECUTING)
    assert stage() != SessionRecord(id="alpha", stage_id="alpha")
    with pytest.raises(TypeError):
        hash(stage())
    assert "alpha" in repr(stage())


def test_invalid_status_value_in_constructor_raises() -> None:
    with pytest.raises(ValueError, match="bogus"):
        StageRecord(id="a", name="A", status="bogus")
