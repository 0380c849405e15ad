"""The stage graph: cycles, dependency depth and the set of stages ready to start.

Pure functions over ``{stage id: [dependency ids]}`` so that the plan parser (before any record
exists), the scheduler and the TUI's DAG layout share one implementation.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from loom_tui.core.model import StageRecord


def find_cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One cycle per strongly connected component, each as ``[a, b, c, a]``.

    Dependencies that are not stages of the graph are ignored (the parser reports them apart).
    Iterative Tarjan, so a 10,000-stage chain does not exhaust Python's recursion limit.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    children_of: dict[str, list[str]] = {}
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child_i = work.pop()
            if child_i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = children_of.get(node)
            if children is None:
                children = children_of[node] = [d for d in graph.get(node, ()) if d in graph]
            if child_i < len(children):
                work.append((node, child_i + 1))
                child = children[child_i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    order = {name: i for i, name in enumerate(graph)}
    return [_cycle_path(graph, sorted(c, key=order.__getitem__)) for c in components]


def _cycle_path(graph: Mapping[str, Sequence[str]], component: list[str]) -> list[str]:
    """A simple cycle through the first member of ``component``, staying inside it."""
    members = set(component)
    start = component[0]
    parents: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        nxt = []
        for node in frontier:
            for dep in graph.get(node, ()):
                if dep == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    path.reverse()
                    return [*path, start]
                if dep in members and dep not in seen:
                    seen.add(dep)
                    parents[dep] = node
                    nxt.append(dep)
        frontier = nxt
    return [start, start]  # pragma: no cover - a component always has a cycle


def depths(graph: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Dependency depth of each stage: 0 without dependencies, else 1 + the deepest dependency.

    Stages on a cycle (which a valid plan never has) get the depth reached before the cycle.
    """
    result: dict[str, int] = {}
    visiting: set[str] = set()
    for root in graph:
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node in result:
                continue
            deps = [d for d in graph.get(node, ()) if d in graph]
            if expanded:
                visiting.discard(node)
                result[node] = 1 + max((result.get(d, 0) for d in deps), default=-1)
                continue
            visiting.add(node)
            stack.append((node, True))
            stack.extend((d, False) for d in deps if d not in result and d not in visiting)
    return result


def topological(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """Stages ordered so that each comes after its dependencies, ties kept in plan order."""
    depth = depths(graph)
    order = {name: i for i, name in enumerate(graph)}
    return sorted(graph, key=lambda n: (depth[n], order[n]))


def graph_of(stages: Iterable[StageRecord]) -> dict[str, list[str]]:
    return {s.id: list(s.dependencies) for s in stages}


def dependencies_done(stage: StageRecord, by_id: Mapping[str, StageRecord]) -> bool:
    """Whether every dependency is completed and merged (or skipped)."""
    return all(dep in by_id and by_id[dep].done for dep in stage.dependencies)
