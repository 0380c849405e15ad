"""The stage graph: cycles, dependency depths, topological order and readiness of a stage.

Graphs map a stage id to the ids it depends on, in plan order; ``a -> b`` means "a depends on b".
"""

from __future__ import annotations

import itertools

import pytest

from loom_tui.core.dag import dependencies_done, depths, find_cycles, graph_of, topological
from loom_tui.core.model import StageRecord, Status

CHAIN_LENGTH = 5000


def chain(n: int, *, reverse: bool = False) -> dict[str, list[str]]:
    """s0 <- s1 <- ... <- s(n-1): each stage depends on the one before it."""
    graph = {f"s{i}": ([f"s{i - 1}"] if i else []) for i in range(n)}
    return dict(reversed(graph.items())) if reverse else graph


def ring(n: int, prefix: str = "r") -> dict[str, list[str]]:
    """r0 -> r1 -> ... -> r(n-1) -> r0."""
    return {f"{prefix}{i}": [f"{prefix}{(i + 1) % n}"] for i in range(n)}


def assert_is_cycle(graph: dict[str, list[str]], cycle: list[str]) -> None:
    """``cycle`` is [a, b, ..., a], each step an edge of ``graph``, no stage twice."""
    assert len(cycle) >= 2
    assert cycle[0] == cycle[-1]
    assert len(set(cycle[:-1])) == len(cycle) - 1
    for here, there in itertools.pairwise(cycle):
        assert there in graph[here], (here, there)


# --------------------------------------------------------------------------------------------------
# find_cycles


def test_acyclic_graphs_have_no_cycles() -> None:
    assert find_cycles({}) == []
    assert find_cycles({"a": []}) == []
    assert find_cycles({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}) == []


def test_two_stage_cycle() -> None:
    assert find_cycles({"a": ["b"], "b": ["a"]}) == [["a", "b", "a"]]


def test_three_stage_cycle_is_named_in_dependency_order() -> None:
    assert find_cycles({"a": ["b"], "b": ["c"], "c": ["a"]}) == [["a", "b", "c", "a"]]


def test_self_dependency_is_a_cycle_of_one() -> None:
    assert find_cycles({"a": ["a"], "b": []}) == [["a", "a"]]


def test_cycle_starts_at_the_stage_first_in_plan_order() -> None:
    graph = {"x": [], "c": ["a"], "a": ["b"], "b": ["c"]}
    assert find_cycles(graph) == [["c", "a", "b", "c"]]


def test_each_strongly_connected_component_gives_one_cycle() -> None:
    graph = {**ring(3, "p"), **ring(4, "q"), "z": ["p0", "q0"]}
    cycles = find_cycles(graph)
    assert sorted(cycles) == [["p0", "p1", "p2", "p0"], ["q0", "q1", "q2", "q3", "q0"]]


def test_cycle_in_a_component_with_several_loops_is_a_real_simple_cycle() -> None:
    # a and b and c form one component with two loops: a-b-a and a-c-b-a
    graph = {"a": ["c", "b"], "b": ["a"], "c": ["b"]}
    (cycle,) = find_cycles(graph)
    assert cycle[0] == "a"
    assert_is_cycle(graph, cycle)
    assert cycle == ["a", "b", "a"]  # the shortest way back to a


def test_stages_leading_into_a_cycle_are_not_part_of_it() -> None:
    graph = {"top": ["mid"], "mid": ["a"], "a": ["b"], "b": ["a"], "free": []}
    assert find_cycles(graph) == [["a", "b", "a"]]


def test_unknown_dependencies_are_ignored() -> None:
    assert find_cycles({"a": ["ghost"], "b": ["a", "ghost"]}) == []
    assert find_cycles({"a": ["ghost", "b"], "b": ["a"]}) == [["a", "b", "a"]]


def test_long_cycle_is_named_in_full() -> None:
    graph = ring(50)
    (cycle,) = find_cycles(graph)
    assert cycle == [f"r{i}" for i in range(50)] + ["r0"]


def test_long_cycle_apart_from_a_valid_chain() -> None:
    graph = {**chain(20), **ring(30)}
    (cycle,) = find_cycles(graph)
    assert len(cycle) == 31
    assert_is_cycle(graph, cycle)


def test_accepts_tuples_and_any_mapping() -> None:
    graph: dict[str, tuple[str, ...]] = {"a": ("b",), "b": ("a",)}
    assert find_cycles(graph) == [["a", "b", "a"]]


def test_long_chain_has_no_cycle_and_no_recursion_error() -> None:
    assert find_cycles(chain(CHAIN_LENGTH)) == []
    assert find_cycles(chain(CHAIN_LENGTH, reverse=True)) == []


def test_long_chain_closed_into_a_ring_is_one_cycle_without_recursion_error() -> None:
    graph = chain(CHAIN_LENGTH)
    graph["s0"] = [f"s{CHAIN_LENGTH - 1}"]
    (cycle,) = find_cycles(graph)
    assert len(cycle) == CHAIN_LENGTH + 1
    assert cycle[0] == "s0"
    assert_is_cycle(graph, cycle)


def test_many_two_stage_cycles_are_each_reported() -> None:
    graph: dict[str, list[str]] = {}
    for i in range(200):
        graph[f"a{i}"] = [f"b{i}"]
        graph[f"b{i}"] = [f"a{i}"]
    cycles = find_cycles(graph)
    assert len(cycles) == 200
    assert sorted(c[0] for c in cycles) == sorted(f"a{i}" for i in range(200))


# --------------------------------------------------------------------------------------------------
# depths


def test_depth_is_zero_without_dependencies_and_one_more_than_the_deepest() -> None:
    graph = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["d", "a"], "f": []}
    assert depths(graph) == {"a": 0, "b": 1, "c": 1, "d": 2, "e": 3, "f": 0}


def test_depth_follows_the_longest_path() -> None:
    graph = {"a": [], "b": ["a"], "c": ["b"], "d": ["a", "c"]}
    assert depths(graph)["d"] == 3


def test_depth_ignores_unknown_dependencies() -> None:
    assert depths({"a": ["ghost"], "b": ["a", "ghost"]}) == {"a": 0, "b": 1}


def test_depth_does_not_depend_on_plan_order() -> None:
    graph = {"d": ["b", "c"], "c": ["a"], "b": ["a"], "a": []}
    assert depths(graph) == {"a": 0, "b": 1, "c": 1, "d": 2}


def test_depth_of_a_long_chain_without_recursion_error() -> None:
    for graph in (chain(CHAIN_LENGTH), chain(CHAIN_LENGTH, reverse=True)):
        result = depths(graph)
        assert len(result) == CHAIN_LENGTH
        assert all(result[f"s{i}"] == i for i in range(CHAIN_LENGTH))


def test_depths_of_a_graph_with_a_cycle_terminate_and_cover_every_stage() -> None:
    graph = {"a": ["b"], "b": ["a"], "c": ["a"], "d": []}
    result = depths(graph)
    assert set(result) == set(graph)
    assert result["d"] == 0
    assert result["c"] > result["a"]


def test_depths_of_a_long_ring_terminate() -> None:
    result = depths(ring(CHAIN_LENGTH))
    assert len(result) == CHAIN_LENGTH


def test_depths_of_an_empty_graph() -> None:
    assert depths({}) == {}


# --------------------------------------------------------------------------------------------------
# topological


def test_topological_puts_every_stage_after_its_dependencies() -> None:
    graph = {"release": ["cli", "docs"], "cli": ["tok", "count"], "docs": ["base"]}
    graph |= {"tok": ["base"], "count": ["base"], "base": []}
    order = topological(graph)
    assert sorted(order) == sorted(graph)
    position = {stage: i for i, stage in enumerate(order)}
    for stage, deps in graph.items():
        for dep in deps:
            assert position[dep] < position[stage], (dep, stage)


def test_topological_keeps_plan_order_between_ties() -> None:
    graph = {"z": [], "y": [], "b": ["z"], "a": ["y"], "x": []}
    assert topological(graph) == ["z", "y", "x", "b", "a"]


def test_topological_of_the_sample_diamond() -> None:
    graph = {
        "scaffold": [],
        "tokenizer": ["scaffold"],
        "counter": ["scaffold"],
        "docs": ["scaffold"],
        "cli": ["tokenizer", "counter"],
        "release": ["cli", "docs"],
    }
    assert topological(graph) == ["scaffold", "tokenizer", "counter", "docs", "cli", "release"]


def test_topological_of_a_long_chain_declared_backwards() -> None:
    order = topological(chain(CHAIN_LENGTH, reverse=True))
    assert order == [f"s{i}" for i in range(CHAIN_LENGTH)]


def test_topological_with_a_cycle_still_lists_every_stage_once() -> None:
    graph = {"a": ["b"], "b": ["a"], "c": []}
    order = topological(graph)
    assert sorted(order) == ["a", "b", "c"]
    assert order[0] == "c"


def test_topological_with_unknown_dependencies() -> None:
    assert topological({"b": ["a", "ghost"], "a": ["ghost"]}) == ["a", "b"]


# --------------------------------------------------------------------------------------------------
# graph_of, dependencies_done


def record(sid: str, status: Status = Status.WAITING_FOR_DEPS, **values: object) -> StageRecord:
    return StageRecord(id=sid, name=sid.title(), status=status.value, **values)


def test_graph_of_records_keeps_plan_order_and_copies_lists() -> None:
    deps = ["a"]
    records = [record("b", dependencies=deps), record("a")]
    graph = graph_of(records)
    assert list(graph) == ["b", "a"]
    assert graph == {"b": ["a"], "a": []}
    graph["b"].append("x")
    assert records[0].dependencies == ["a"]


def test_stage_without_dependencies_is_ready() -> None:
    assert dependencies_done(record("a"), {}) is True


def test_completed_and_merged_dependency_is_done() -> None:
    dep = record("a", Status.COMPLETED, merged=True)
    assert dependencies_done(record("b", dependencies=["a"]), {"a": dep}) is True


def test_completed_but_unmerged_dependency_is_not_done() -> None:
    dep = record("a", Status.COMPLETED, merged=False)
    assert dependencies_done(record("b", dependencies=["a"]), {"a": dep}) is False


def test_skipped_dependency_counts_as_done_merged_or_not() -> None:
    for merged in (False, True):
        dep = record("a", Status.SKIPPED, merged=merged)
        assert dependencies_done(record("b", dependencies=["a"]), {"a": dep}) is True


@pytest.mark.parametrize(
    "status",
    [s for s in Status if s not in (Status.COMPLETED, Status.SKIPPED)],
    ids=lambda s: s.value,
)
@pytest.mark.parametrize("merged", [False, True])
def test_dependency_in_any_other_status_is_not_done(status: Status, merged: bool) -> None:
    dep = record("a", status, merged=merged)
    assert dependencies_done(record("b", dependencies=["a"]), {"a": dep}) is False


def test_every_dependency_must_be_done() -> None:
    by_id = {
        "a": record("a", Status.COMPLETED, merged=True),
        "b": record("b", Status.SKIPPED),
        "c": record("c", Status.EXECUTING),
    }
    assert dependencies_done(record("d", dependencies=["a", "b"]), by_id) is True
    assert dependencies_done(record("d", dependencies=["a", "b", "c"]), by_id) is False
    by_id["c"] = record("c", Status.COMPLETED, merged=True)
    assert dependencies_done(record("d", dependencies=["a", "b", "c"]), by_id) is True


def test_unknown_dependency_is_never_done() -> None:
    by_id = {"a": record("a", Status.COMPLETED, merged=True)}
    assert dependencies_done(record("b", dependencies=["a", "ghost"]), by_id) is False


def test_dependencies_done_along_a_long_chain() -> None:
    records = [
        record(f"s{i}", Status.COMPLETED, merged=True, dependencies=[f"s{i - 1}"] if i else [])
        for i in range(CHAIN_LENGTH)
    ]
    by_id = {r.id: r for r in records}
    assert all(dependencies_done(r, by_id) for r in records)
    by_id["s2500"] = record("s2500", Status.EXECUTING, dependencies=["s2499"])
    ready = [r.id for r in records if dependencies_done(r, by_id)]
    assert "s2501" not in ready
    assert len(ready) == CHAIN_LENGTH - 1
    assert topological(graph_of(records))[:3] == ["s0", "s1", "s2"]
