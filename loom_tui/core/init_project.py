"""`loom init PLAN`: validate the plan and write the project's `.work/` records.

Stages without dependencies start `queued`, the others `waiting-for-deps`.  The base branch is the
plan's ``base_branch`` or else the branch checked out now; it must exist and have a commit, since
every stage branches from it.  `.work/` and `.worktrees/` are added to the clone's
`.git/info/exclude`, so that loom's own files never make the checkout look modified (a dirty
checkout holds merges back) and never travel into a stage's worktree.

Everything that can fail is done before the project is touched, and the new state is written
whole into `.work.init/` beside the old one, which it then replaces in one step
(`swapdir.replace_dir`): a plan or disk error, or a kill at any moment, leaves the previous state
(its stages, memory and events) as it was, or the complete new one.  The next `loom init` removes
what a killed one left behind.
"""

from __future__ import annotations

import hashlib
import os
import time

from loom_tui.core import git, swapdir
from loom_tui.core.config import ProjectConfig, write_config
from loom_tui.core.errors import LockBusy, LoomError
from loom_tui.core.fsutil import FileLock, arm_kill_at_write
from loom_tui.core.model import StageRecord, Status
from loom_tui.core.plan import Plan, StageSpec, load_plan
from loom_tui.core.project import WORK_DIR_NAME, WORKTREES_DIR_NAME
from loom_tui.core.sandbox_merge import effective_sandbox
from loom_tui.core.store import Store


def tmux_socket_name(root: str) -> str:
    """The private tmux socket of a project: ``loom-`` and a short hash of its path."""
    digest = hashlib.sha1(os.path.realpath(root).encode("utf-8"), usedforsecurity=False)
    return f"loom-{digest.hexdigest()[:10]}"


def _model(spec: StageSpec) -> str:
    """The stage's ``model``, else the model of the bundled agent it names, else the default: a
    stage run by `software-engineer` runs on that agent's Sonnet unless it says otherwise."""
    if spec.agent and "model" not in spec.model_fields_set:
        from loom_tui.core.agents.profiles import bundled_model

        return bundled_model(spec.agent) or spec.model
    return spec.model


def stage_record(plan: Plan, index: int) -> StageRecord:
    spec = plan.stages[index]
    sandbox = effective_sandbox(plan.spec.sandbox, spec.sandbox)
    now = time.time()
    return StageRecord(
        id=spec.id,
        name=spec.name,
        description=spec.description or spec.name,
        dependencies=list(spec.dependencies),
        acceptance=[a if isinstance(a, str) else a.command for a in spec.acceptance],
        acceptance_checks=[
            {} if isinstance(a, str) else a.model_dump(exclude={"command"}, exclude_defaults=True)
            for a in spec.acceptance
        ],
        working_dir=spec.working_dir,
        setup=list(spec.setup),
        stage_type=spec.stage_type,
        files=list(spec.files),
        context_budget=spec.context_budget,
        truths=list(spec.truths),
        artifacts=list(spec.artifacts),
        wiring=[w.model_dump(exclude_none=True) for w in spec.wiring],
        model=_model(spec),
        agent=spec.agent,
        reasoning_effort=spec.reasoning_effort,
        skills=list(spec.skills),
        max_retries=spec.max_retries,
        stall_seconds=spec.stall_seconds or plan.spec.stall_seconds,
        sandbox=sandbox,
        sim=spec.sim.model_dump() if spec.sim else None,
        plan_index=index,
        status=Status.WAITING_FOR_DEPS if spec.dependencies else Status.QUEUED,
        created_at=now,
    )


STAGING_SUFFIX = ".init"
#: The test hook of the scheduler (`LOOM_TEST_KILL_AT_WRITE`), here for `loom init`'s writes.
KILL_AT_WRITE_ENV = "LOOM_TEST_KILL_AT_WRITE"


def _base_branch(root: str, plan: Plan) -> str:
    """The branch the stages start from, or a `LoomError` that says what to do."""
    wanted = plan.spec.base_branch
    base = wanted or git.current_branch(root)
    if git.branch_exists(root, base):
        return base
    if not git.has_branches(root):
        raise LoomError(
            "this repository has no commit yet, and every stage branches from one: commit "
            "something first (for example `git commit --allow-empty -m 'Start'`), then run "
            f"`loom init {plan.path}` again"
        )
    if wanted:
        raise LoomError(
            f"base_branch {base!r} (from the plan) does not exist in this repository: create it "
            f"(`git branch {base}`) or change base_branch in {plan.path}"
        )
    raise LoomError(
        f"the checked-out branch {base!r} has no commit yet, and every stage branches from it: "
        "commit on it first, or set base_branch in the plan to a branch that has commits"
    )


def _state(work_dir: str) -> str:
    """``"none"``, ``"project"`` (a config.toml) or ``"other"`` (files loom did not write)."""
    if not os.path.lexists(work_dir):
        return "none"
    if not os.path.isdir(work_dir):
        return "other"
    if os.path.exists(os.path.join(work_dir, "config.toml")):
        return "project"
    for _folder, _dirs, files in os.walk(work_dir):
        if any(not name.endswith(".lock") for name in files):
            return "other"
    return "none"  # the empty folders of an init killed before it wrote anything


def _build(staging: str, plan: Plan, plan_path: str, root: str, base: str) -> None:
    """Write the complete new state into ``staging``."""
    swapdir.remove(staging)  # what a killed `loom init` left there
    store = Store(staging)
    store.create_layout()
    source = os.path.abspath(plan_path)
    rel = os.path.relpath(source, root)
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
    write_config(store.work_dir, config)
    for index in range(len(plan.stages)):
        store.write_stage(stage_record(plan, index))
    from loom_tui.core.events import PlanInitialised

    store.append_event(PlanInitialised(plan=plan.id, stages=len(plan.stages), base=base))


def init_project(plan_path: str, cwd: str, *, clean: bool = False) -> tuple[Store, Plan]:
    plan = load_plan(plan_path)
    root = git.repo_root(cwd)
    base = _base_branch(root, plan)
    work_dir = os.path.join(root, WORK_DIR_NAME)
    staging = work_dir + STAGING_SUFFIX
    kill_at = os.environ.pop(KILL_AT_WRITE_ENV, "")
    if kill_at.isdigit():
        arm_kill_at_write(int(kill_at))
    one_init = FileLock(os.path.join(git.open_repo(root).path, "loom-init.lock"), blocking=False)
    if not one_init.acquire():
        raise LockBusy("another `loom init` is running on this repository")
    try:
        swapdir.recover(work_dir)
        state = _state(work_dir)
        if state != "none" and not clean:
            raise LoomError(_refusal(Store(work_dir), state, plan_path))
        scheduler = FileLock(os.path.join(work_dir, "loom.lock"), blocking=False)
        if state == "project" and not scheduler.acquire():
            raise LockBusy(
                "a loom scheduler is running on this project: stop it first (`loom stop`)"
            )
        # before the staging folder exists: a killed init must not leave the checkout dirty
        git.exclude_paths(
            root,
            [
                f"/{WORK_DIR_NAME}/",
                f"/{WORKTREES_DIR_NAME}/",
                f"/{os.path.basename(staging)}/",
                f"/{WORK_DIR_NAME}{swapdir.OLD_SUFFIX}/",
            ],
        )
        try:
            try:
                _build(staging, plan, plan_path, root, base)
            except BaseException:
                swapdir.remove(staging)
                raise
            swapdir.replace_dir(staging, work_dir)
        finally:
            scheduler.release()
    finally:
        one_init.release()
    return Store(work_dir), plan


def _refusal(store: Store, state: str, plan_path: str) -> str:
    if state == "other":
        return (
            f"{store.rel(store.work_dir)}/ exists but holds no loom project (no config.toml): "
            f"move it away, or run `loom init {plan_path} --clean` to replace it"
        )
    try:
        current = store.config().plan_source
    except LoomError:
        current = "a plan"
    return (
        f"already initialised with {current}; run `loom init {plan_path} --clean` to "
        "discard the current run's state and start again"
    )
