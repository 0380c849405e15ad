"""`loom init PLAN`: validate the plan and write the project's `.work/` records.

Stages without dependencies start `queued`, the others `waiting-for-deps`.  The base branch is the
plan's ``base_branch`` or else the branch checked out now.  `.work/` and `.worktrees/` are added to
the clone's `.git/info/exclude`, so that loom's own files never make the checkout look modified (a
dirty checkout holds merges back) and never travel into a stage's worktree.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time

from loom_tui.core import git
from loom_tui.core.config import ProjectConfig, write_config
from loom_tui.core.errors import LockBusy, LoomError
from loom_tui.core.fsutil import FileLock
from loom_tui.core.model import StageRecord, Status
from loom_tui.core.plan import Plan, load_plan
from loom_tui.core.project import WORK_DIR_NAME, WORKTREES_DIR_NAME
from loom_tui.core.store import Store


def tmux_socket_name(root: str) -> str:
    """The private tmux socket of a project: ``loom-`` and a short hash of its path."""
    digest = hashlib.sha1(os.path.realpath(root).encode("utf-8"), usedforsecurity=False)
    return f"loom-{digest.hexdigest()[:10]}"


def stage_record(plan: Plan, index: int) -> StageRecord:
    spec = plan.stages[index]
    sandbox = spec.sandbox or plan.spec.sandbox
    now = time.time()
    return StageRecord(
        id=spec.id,
        name=spec.name,
        description=spec.description,
        dependencies=list(spec.dependencies),
        acceptance=list(spec.acceptance),
        files=list(spec.files),
        context_budget=spec.context_budget,
        truths=list(spec.truths),
        artifacts=list(spec.artifacts),
        wiring=[w.model_dump(exclude_none=True) for w in spec.wiring],
        model=spec.model,
        max_retries=spec.max_retries,
        stall_seconds=spec.stall_seconds or plan.spec.stall_seconds,
        sandbox=sandbox.model_dump() if sandbox is not None else None,
        sim=spec.sim.model_dump() if spec.sim else None,
        plan_index=index,
        status=Status.WAITING_FOR_DEPS if spec.dependencies else Status.QUEUED,
        created_at=now,
    )


def init_project(plan_path: str, cwd: str, *, clean: bool = False) -> tuple[Store, Plan]:
    plan = load_plan(plan_path)
    root = git.repo_root(cwd)
    store = Store(os.path.join(root, WORK_DIR_NAME))
    config_path = os.path.join(store.work_dir, "config.toml")
    if os.path.exists(config_path):
        if not clean:
            try:
                current = store.config().plan_source
            except LoomError:
                current = "a plan"
            raise LoomError(
                f"already initialised with {current}; run `loom init {plan_path} --clean` to "
                "discard the current run's state and start again"
            )
        scheduler = FileLock(store.scheduler_lock_path, blocking=False)
        if not scheduler.acquire():
            raise LockBusy(
                "a loom scheduler is running on this project: stop it first (`loom stop`)"
            )
        try:
            shutil.rmtree(store.work_dir)
        finally:
            scheduler.release()
    base = plan.spec.base_branch or git.current_branch(root)
    if plan.spec.base_branch and not git.branch_exists(root, base):
        raise LoomError(f"base_branch {base!r} does not exist in this repository")
    source = os.path.abspath(plan_path)
    rel = os.path.relpath(source, root)
    store.create_layout()
    settings: dict[str, object] = {
        "max_parallel": plan.spec.max_parallel,
        "auto_merge": plan.spec.auto_merge,
        "tmux_socket": tmux_socket_name(root),
    }
    config = ProjectConfig(
        plan_source=source if rel.startswith("..") else rel,
        plan_id=plan.id,
        plan_name=plan.name,
        base_branch=base,
        settings=settings,
        created_at=time.time(),
    )
    with store.lock():
        write_config(store.work_dir, config)
        for index in range(len(plan.stages)):
            store.write_stage(stage_record(plan, index))
    git.exclude_paths(root, [f"/{WORK_DIR_NAME}/", f"/{WORKTREES_DIR_NAME}/"])
    from loom_tui.core.events import PlanInitialised

    store.append_event(PlanInitialised(plan=plan.id, stages=len(plan.stages), base=base))
    return store, plan
