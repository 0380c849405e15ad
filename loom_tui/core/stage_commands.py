"""Where and which plan commands of a stage run: its ``working_dir`` and, for an
integration-verify stage, its dependencies' acceptance as well.

The original loom's plans name a ``working_dir`` relative to the worktree (``.`` for its root),
and its integration-verify stages check that the pieces still work together by running every
earlier stage's acceptance again on the combined result.
"""

from __future__ import annotations

import os

from loom_tui.core.acceptance import CommandResult, run_commands
from loom_tui.core.errors import LoomError
from loom_tui.core.model import StageRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from loom_tui.core.store import Store


def in_working_dir(root: str, stage: StageRecord) -> str:
    """The directory of ``root`` (a worktree, or the project) where the stage's commands run."""
    rel = stage.working_dir or "."
    return root if rel == "." else os.path.join(root, rel)


def _dependencies(store: Store, stage: StageRecord) -> list[StageRecord]:
    """Every stage that ``stage`` depends on, directly or not, in plan order."""
    seen: dict[str, StageRecord] = {}
    todo = list(stage.dependencies)
    while todo:
        sid = todo.pop()
        if sid in seen:
            continue
        try:
            dep = store.read_stage(sid)
        except LoomError:  # a stage gone from the store has nothing to run
            continue
        seen[sid] = dep
        todo += dep.dependencies
    return sorted(seen.values(), key=lambda s: s.plan_index)


def run_acceptance(
    store: Store,
    stage: StageRecord,
    root: str,
    env: dict[str, str],
    on_result: Callable[[CommandResult], None] | None = None,
) -> list[CommandResult]:
    """Run the stage's acceptance in its working_dir of ``root``; an integration-verify stage
    then runs each dependency's acceptance too, each in that dependency's working_dir."""
    results = run_commands(
        stage.acceptance, in_working_dir(root, stage), env, on_result, stage.acceptance_checks
    )
    if stage.stage_type == "integration-verify":
        for dep in _dependencies(store, stage):
            results += run_commands(
                dep.acceptance, in_working_dir(root, dep), env, on_result, dep.acceptance_checks
            )
    return results
