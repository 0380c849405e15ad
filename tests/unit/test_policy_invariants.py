"""The run's invariants, by property: random histories of agents, people, merges and restarts.

A hypothesis state machine drives the real scheduler pass — `decide`, the `Executor`, the
`SessionObserver` — over a random plan, with the in-memory stand-ins of `engine_fakes` for tmux,
git and the record files (see there why).  Each step is what happens to a real run: an agent
completes, crashes, exits, hands off, reports its context or waits for a person; a person holds,
releases, skips, resets or retries a stage, or resolves a merge conflict; time passes; the
scheduler restarts, or is killed at its Nth write.  After every step the world must hold:

- no stage starts unless every dependency is completed and merged, or skipped;
- at most one live session per stage, and no session starts before the one before it ended;
- a reset sends every stage whose readiness hangs on the reset one (through stages that have not
  completed or been skipped) back to waiting-for-deps and cancels its pending retry;
- every stage has a way out: completed, skipped, blocked with a reason, waiting on a dependency
  that is not done, queued for a free slot, or active with a live session — with a deadline
  where one is due (a merge held back, a handoff under way, a stage cooling down after an error);

and at the end, once people stop interfering and agents do their work, the plan completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import tempfile
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from loom_tui.core import actions
from loom_tui.core.config import ProjectConfig, write_config
from loom_tui.core.engine.rules_stages import START_FAILURES_LIMIT
from loom_tui.core.engine.scheduler import MAX_STEPS, Scheduler, SchedulerOptions
from loom_tui.core.errors import LoomError
from loom_tui.core.events import Event, SchedulerError
from loom_tui.core.handoff import write_handoff
from loom_tui.core.merging import merge_now
from loom_tui.core.model import ACTIVE, StageRecord, Status
from loom_tui.core.readiness import dependencies_done
from loom_tui.core.store import RecordCache
from tests.unit.engine_fakes import (
    Boundary,
    FakeBackend,
    FakePane,
    FakePaneHost,
    FakeRepo,
    Killed,
    MemoryStore,
)

S = Status
SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None
#: Examples in all, over SHARDS tests that pytest-xdist runs side by side.
EXAMPLES = int(os.environ.get("LOOM_PROPERTY_EXAMPLES", "2000"))
SHARDS = 4
START = 1_000_000.0


@st.composite
def plans(draw: st.DrawFn) -> list[tuple[list[int], int]]:
    """A DAG of 2-6 stages: each depends on some earlier ones; (dependencies, max_retries)."""
    count = draw(st.integers(2, 6))
    stages = []
    for i in range(count):
        deps = sorted(draw(st.sets(st.integers(0, i - 1), max_size=2))) if i else []
        stages.append((deps, draw(st.integers(0, 2))))
    return stages


AGENT_ACTS = (
    "complete-exit",
    "complete-stay",
    "crash",
    "crash-status-lost",
    "exit-0",
    "handoff-exit",
    "handoff-stay",
    "context-over",
    "context-under",
    "precompact",
    "ask",
    "work",
    "vanish",
)
USER_ACTS = ("hold", "release", "skip", "reset", "retry", "resolve")


class EngineMachine(RuleBasedStateMachine):
    ids: itertools.count[int] = itertools.count(1)

    @classmethod
    def next_uuid(cls) -> uuid.UUID:
        return uuid.UUID(int=next(cls.ids), version=4)

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="loom-prop-", dir=SHM)
        self.boundary = Boundary()
        self.host = FakePaneHost(self.boundary, self._on_start)
        self.repo = FakeRepo(self.tmp, self.boundary)
        self.store = MemoryStore(os.path.join(self.tmp, ".work"), self.boundary)
        self.store.create_layout()
        self.now = START
        #: session ids in order (see the test below), so that a failing history replays alike
        EngineMachine.ids = itertools.count(1)
        self.loop = asyncio.new_event_loop()
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.max_parallel = 2
        self.scheduler: Scheduler | None = None

    # set-up and passes ------------------------------------------------------------------------
    @initialize(plan=plans(), max_parallel=st.integers(1, 3))
    def setup(self, plan: list[tuple[list[int], int]], max_parallel: int) -> None:
        self.max_parallel = max_parallel
        write_config(
            self.store.work_dir,
            ProjectConfig(
                plan_source="doc/plans/PLAN-1-prop.md",
                plan_id="PLAN-1-prop",
                plan_name="PLAN-1: property",
                base_branch="main",
                settings={"retry_backoff_seconds": 30.0, "retry_backoff_max_seconds": 300.0},
            ),
        )
        self.ids = [f"s{i}" for i in range(len(plan))]
        for i, (deps, retries) in enumerate(plan):
            self.store.write_stage(
                StageRecord(
                    id=self.ids[i],
                    name=f"Stage {i}",
                    description=f"do {i}",
                    dependencies=[self.ids[d] for d in deps],
                    max_retries=retries,
                    plan_index=i,
                )
            )
        self._new_scheduler()
        self._pass()

    def clock(self) -> float:
        return self.now

    def _new_scheduler(self) -> None:
        self.boundary.disarm()
        if self.scheduler is not None:
            self.scheduler._lock.release()
        self.scheduler = Scheduler(
            self.store,
            SchedulerOptions(agent="sim", max_parallel=self.max_parallel),
            panes=self.host,
            repo=self.repo,
            backend=FakeBackend(),
            clock=self.clock,
            inline_io=True,
        )
        self.scheduler.acquire()  # `loom merge` then leaves the tidying up to it
        self.scheduler.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, SchedulerError) and "a test's broken git" not in event.message:
            self.errors.append(f"{event.stage}: {event.message}")

    def _pass(self, kill_at: int | None = None) -> None:
        assert self.scheduler is not None
        if kill_at is not None:
            self.boundary.arm(kill_at)
        try:
            self.loop.run_until_complete(self.scheduler.reconcile())
        except Killed:
            self._new_scheduler()  # lost: everything the dead scheduler held in memory
            self.loop.run_until_complete(self.scheduler.reconcile())
        self.boundary.disarm()
        assert not self.errors, self.errors

    def teardown(self) -> None:
        try:
            if self.scheduler is not None and self.ids:
                self._settle()
        finally:
            if self.scheduler is not None:
                self.scheduler._lock.release()
            self.loop.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    # what the world checks at each start ----------------------------------------------------
    def _on_start(self, stage_id: str, session_id: str) -> None:
        stage = self.store.read_stage(stage_id)
        by_id = {s.id: s for s in self.store.stages()}
        assert stage.status is S.EXECUTING and stage.session_id == session_id, stage
        assert dependencies_done(stage, by_id), f"{stage_id} started before its dependencies"
        assert session_id not in self.host.started, f"session {session_id} started twice"
        others = [p for p in self.host.alive() if p.stage_id == stage_id]
        assert not others, f"{stage_id}: a second agent starts beside {others[0].session_id}"
        earlier = [
            s for s in self.store.sessions() if s.stage_id == stage_id and s.id != session_id
        ]
        assert not [s for s in earlier if s.live], f"{stage_id}: the session before is live"

    # agents -----------------------------------------------------------------------------------
    def _agents(self) -> list[FakePane]:
        return sorted(self.host.alive(), key=lambda p: int(p.pane_id[1:]))

    @precondition(lambda self: bool(self.ids) and any(True for _ in self.host.alive()))
    @rule(data=st.data(), act=st.sampled_from(AGENT_ACTS))
    def agent_acts(self, data: st.DataObject, act: str) -> None:
        pane = data.draw(st.sampled_from(self._agents()))
        self._agent(pane, act)
        self._pass()

    def _agent(self, pane: FakePane, act: str) -> None:
        sid, stage_id = pane.session_id, pane.stage_id
        if act.startswith("complete"):
            with contextlib.suppress(LoomError):  # refused for a stale agent, as for a real one
                actions.complete(self.store, stage_id, source="agent")
            if act == "complete-exit":
                self._exit(pane, 0)
        elif act == "crash":
            self._exit(pane, 3)
        elif act == "crash-status-lost":
            self._exit(pane, 3, file=False, reported=False)
        elif act == "exit-0":
            self._exit(pane, 0)
        elif act.startswith("handoff"):
            session = self.store.read_session(sid)
            _path, event = write_handoff(
                self.store,
                stage_id,
                session_id=sid,
                trigger=session.handoff_trigger or "manual",
                written_by="agent",
            )
            self.store.append_event(event)
            now = self.now

            def at_now(record: Any) -> None:
                record.handoff_at = now  # on the machine's clock, not the real one

            self.store.update_session(sid, at_now)
            if act == "handoff-exit":
                self._exit(pane, 0)
            else:
                self._hook(sid, {"event": "Stop"})
        elif act in ("context-over", "context-under"):
            tokens = 190_000 if act == "context-over" else 20_000
            self._hook(sid, {"event": "statusline", "tokens": tokens, "window": 200_000})
        elif act == "precompact":

            def mark(record: Any) -> None:
                if record.handoff is None and record.precompact_blocked_at is None:
                    record.precompact_blocked_at = self.now
                    record.handoff_trigger = record.handoff_trigger or "precompact"

            self.store.update_session(sid, mark)  # what the PreCompact hook records
        elif act == "ask":
            self._hook(sid, {"event": "Notification", "type": "idle_prompt"})
        elif act == "work":
            self._hook(sid, {"event": "PreToolUse", "tool": "Bash"})
        elif act == "vanish":  # the tmux server lost the pane
            del self.host.panes[pane.pane_id]
            self._stale()

    def _exit(self, pane: FakePane, code: int, *, file: bool = True, reported: bool = True) -> None:
        pane.alive = False
        pane.exit_code = code
        pane.reported = reported
        if file:
            path = os.path.join(self.store.sessions_dir, f"{pane.session_id}.exit")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(f"{code}\n")
        self._stale()

    def _stale(self) -> None:
        assert self.scheduler is not None
        self.scheduler.book.stale = True  # what the watcher does when an exit file appears

    def _hook(self, session_id: str, record: dict[str, object]) -> None:
        import json

        record.setdefault("ts", self.now)
        with open(os.path.join(self.store.hooks_dir, f"{session_id}.jsonl"), "a") as fh:
            fh.write(json.dumps(record) + "\n")

    # people, time, the repository, restarts ---------------------------------------------------
    @precondition(lambda self: bool(self.ids))
    @rule(data=st.data(), act=st.sampled_from(USER_ACTS))
    def person_acts(self, data: st.DataObject, act: str) -> None:
        stage_id = data.draw(st.sampled_from(self.ids))
        try:
            if act == "resolve":
                self.repo.conflicts.discard(stage_id)
                merge_now(self.store, stage_id, repo=self.repo)
            else:
                getattr(actions, act)(self.store, stage_id)
        except LoomError:
            return  # refused (already held, not blocked, …): nothing changed
        if act == "reset":
            self._check_reset(stage_id)
        self._pass()

    def _check_reset(self, stage_id: str) -> None:
        """Every stage that reaches the reset one through dependencies none of which completed or
        was skipped waits again, with no retry pending."""
        stages = {s.id: s for s in self.store.stages()}
        done = {i for i, s in stages.items() if s.status in (S.COMPLETED, S.SKIPPED)}

        def reaches(stage: StageRecord) -> bool:
            return any(
                dep == stage_id or (dep not in done and reaches(stages[dep]))
                for dep in stage.dependencies
            )

        for stage in stages.values():
            if stage.id not in done and stage.id != stage_id and reaches(stage):
                assert stage.status is S.WAITING_FOR_DEPS, stage
                assert stage.next_retry_at is None, stage

    @precondition(lambda self: bool(self.ids))
    @rule(seconds=st.sampled_from([0.5, 1.0, 3.0, 31.0, 121.0, 301.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        self._pass()

    @precondition(lambda self: bool(self.ids))
    @rule(data=st.data(), kind=st.sampled_from(["conflict", "waiting", "clear"]))
    def next_merge(self, data: st.DataObject, kind: str) -> None:
        stage_id = data.draw(st.sampled_from(self.ids))
        self.repo.conflicts.discard(stage_id)
        self.repo.waiting.discard(stage_id)
        if kind == "conflict":
            self.repo.conflicts.add(stage_id)
        elif kind == "waiting":
            self.repo.waiting.add(stage_id)

    @precondition(lambda self: bool(self.ids))
    @rule(data=st.data(), times=st.integers(1, 4))
    def git_fails(self, data: st.DataObject, times: int) -> None:
        """The next worktree creations of a stage fail: it cools down, then, after three
        failures in a row, is blocked with the error as its reason."""
        stage_id = data.draw(st.sampled_from(self.ids))
        self.repo.failing[stage_id] = times
        self.now += 1.0
        self._pass()

    @precondition(lambda self: bool(self.ids))
    @rule()
    def restart(self) -> None:
        self._new_scheduler()
        self._pass()

    @precondition(lambda self: bool(self.ids))
    @rule(data=st.data(), writes=st.integers(1, 8))
    def killed_mid_pass(self, data: st.DataObject, writes: int) -> None:
        # Something for the pass to do first, then the kill at its Nth write.
        pane = data.draw(st.sampled_from([None, *self._agents()]))
        if pane is not None:
            self._agent(pane, data.draw(st.sampled_from(AGENT_ACTS)))
        self._pass(kill_at=writes)

    # what holds after every step --------------------------------------------------------------
    @invariant()
    def the_world_has_a_way_out(self) -> None:
        if not self.ids or self.scheduler is None:
            return
        shared = RecordCache()  # read-only views, no copies
        stages = {s.id: s for s in self.store.stages(shared)}
        sessions = {s.id: s for s in self.store.sessions(shared)}
        executor = self.scheduler.executor
        deadline = self.scheduler._next_deadline
        live_by_stage: dict[str, list[str]] = {}
        for s in sessions.values():
            if s.live:
                live_by_stage.setdefault(s.stage_id, []).append(s.id)
        alive_by_stage: dict[str, int] = {}
        for pane in self.host.alive():
            alive_by_stage[pane.stage_id] = alive_by_stage.get(pane.stage_id, 0) + 1
        for stage_id, count in alive_by_stage.items():
            assert count <= 1, f"{stage_id}: {count} agents alive"
        for stage_id, live in live_by_stage.items():
            assert len(live) <= 1, f"{stage_id}: live sessions {live}"
        cooling = {i for i, t in executor.cooldowns.items() if t > self.now}
        active = sum(1 for s in stages.values() if s.status in ACTIVE)
        for stage in stages.values():
            where = stage
            if stage.id in cooling:
                assert deadline is not None, where
                continue
            if stage.status in ACTIVE:
                session = sessions.get(stage.session_id or "")
                assert session is not None and session.live, where
                panes = [p for p in self.host.panes.values() if p.session_id == session.id]
                if not (panes and panes[0].alive):
                    assert deadline is not None, f"{where}: its agent is gone, no deadline"
                if stage.status is not S.WAITING_FOR_INPUT:  # else it waits for a person
                    # supervision: a working session is always watched for a stall
                    assert deadline is not None, f"{where}: a live session with no deadline"
            elif stage.status in (S.BLOCKED, S.MERGE_CONFLICT, S.NEEDS_HUMAN_REVIEW):
                assert stage.blocked_reason, where
            elif stage.status is S.WAITING_FOR_DEPS:
                assert not dependencies_done(stage, stages), where
            elif stage.status is S.QUEUED and not stage.held:
                assert dependencies_done(stage, stages), where
                finishing = sum(
                    1
                    for s in stages.values()
                    if s.status is S.COMPLETED
                    and not s.merged
                    and s.id in live_by_stage
                    and executor.merge_waits.get(s.id, 0.0) <= self.now
                )
                assert active + finishing >= self.max_parallel, f"{where}: a slot is free"
            elif stage.status is S.COMPLETED and not stage.merged:
                assert executor.merge_waits.get(stage.id, 0.0) > self.now, where
                assert deadline is not None, where
        failures = {i: n for i, (n, _m) in executor.failures.items()}
        assert all(n < START_FAILURES_LIMIT for n in failures.values()), failures

    # the end ----------------------------------------------------------------------------------
    def _settle(self) -> None:
        """People stop interfering, conflicts are resolved, agents do their work: the plan must
        complete, every stage completed and merged, or skipped."""
        self.repo.conflicts.clear()
        self.repo.waiting.clear()
        self.repo.failing.clear()
        for _ in range(200):
            for stage in self.store.stages():
                if stage.held:
                    actions.release(self.store, stage.id)
                if stage.status in (S.BLOCKED, S.NEEDS_HUMAN_REVIEW):
                    actions.retry(self.store, stage.id)
                if stage.status is S.MERGE_CONFLICT:
                    merge_now(self.store, stage.id, repo=self.repo)
            for pane in self._agents():
                self._agent(pane, "complete-exit")
            self.now += 301.0
            self._pass()
            assert self.scheduler is not None
            if self.scheduler.finished is not None and self.scheduler.finished.ok:
                break
        stages = self.store.stages()
        assert all(
            (s.status is S.COMPLETED and s.merged) or s.status is S.SKIPPED for s in stages
        ), [f"{s.id} {s.status.value}" for s in stages]
        log = os.path.join(self.store.logs_dir, "scheduler.log")
        if os.path.exists(log):
            with open(log, encoding="utf-8") as fh:
                assert f"a pass took {MAX_STEPS} decisions" not in fh.read()


def _machine(shard: int) -> type[EngineMachine]:
    """One shard of the examples: its own class, so that hypothesis derives its own seed."""
    machine = type(f"EngineMachineShard{shard}", (EngineMachine,), {})
    machine.TestCase.settings = settings(
        max_examples=max(1, EXAMPLES // SHARDS),
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        derandomize=True,
        database=None,
    )
    return machine


@pytest.mark.slow
@pytest.mark.parametrize("shard", range(SHARDS))
def test_the_engines_invariants_hold_under_random_histories(
    shard: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uuid, "uuid4", EngineMachine.next_uuid)
    _machine(shard).TestCase().runTest()


def test_a_stage_that_cannot_start_is_blocked_with_the_error_not_retried_in_a_loop() -> None:
    machine = EngineMachine()
    try:
        machine.repo.failing["s0"] = 1_000
        machine.setup(plan=[([], 0)], max_parallel=1)
        for _ in range(START_FAILURES_LIMIT + 1):
            machine.now += 61.0  # past any cool-down
            machine._pass()
        stage = machine.store.read_stage("s0")
        assert stage.status is S.BLOCKED
        assert stage.blocked_reason == (
            "cannot start: cannot create the worktree of s0 (a test's broken git)"
        )
        failed = 1_000 - machine.repo.failing["s0"]
        assert failed == START_FAILURES_LIMIT  # then no more attempts, until a person retries
    finally:
        machine.loop.close()
