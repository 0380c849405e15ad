"""Every stage action in `core/actions.py`, on a project initialised from the sample plan.

The sample plan is a diamond: ``scaffold`` -> ``tokenizer``, ``counter``, ``docs``;
``tokenizer`` and ``counter`` -> ``cli``; ``cli`` and ``docs`` -> ``release``.  Statuses the
scheduler would set (a stage executing, a merge) are set here through `Store.update_stage` and
the transition table.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loom_tui.core import actions
from loom_tui.core.acceptance import TAIL_LINES, CommandResult
from loom_tui.core.errors import LoomError, NotFound, TransitionError, UsageError
from loom_tui.core.model import StageRecord, Status
from loom_tui.core.store import Store

S = Status
DEPENDENTS_OF_SCAFFOLD = ["tokenizer", "counter", "docs"]


@pytest.fixture
def store(project: Path) -> Store:
    return Store(str(project / ".work"))


def statuses(store: Store) -> dict[str, str]:
    return {s.id: s.status.value for s in store.stages()}


class Events:
    """The events appended since the mark."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.mark = len(store.read_events())

    def new(self) -> list[dict[str, object]]:
        return self.store.read_events()[self.mark :]

    def kinds(self) -> list[tuple[object, object]]:
        return [(e["kind"], e.get("stage")) for e in self.new()]


def force(store: Store, stage_id: str, *path: Status, **fields: object) -> StageRecord:
    """Walk the stage through ``path`` by the transition table, then set ``fields``."""

    def change(record: StageRecord) -> None:
        for status in path:
            record.set_status(status)
        for name, value in fields.items():
            setattr(record, name, value)

    return store.update_stage(stage_id, change)


def finish(store: Store, stage_id: str) -> None:
    """Completed and merged, as the scheduler leaves a stage that is done."""
    status = store.read_stage(stage_id).status
    path = {S.QUEUED: [S.EXECUTING], S.EXECUTING: []}.get(status, [S.QUEUED, S.EXECUTING])
    force(store, stage_id, *path, S.COMPLETED, merged=True)


def test_the_sample_plan_starts_with_only_scaffold_queued(store: Store) -> None:
    assert statuses(store) == {
        "scaffold": "queued",
        "tokenizer": "waiting-for-deps",
        "counter": "waiting-for-deps",
        "docs": "waiting-for-deps",
        "cli": "waiting-for-deps",
        "release": "waiting-for-deps",
    }


# --------------------------------------------------------------------------------------------------
# hold / release


def test_hold_and_release_are_idempotent_with_messages(store: Store) -> None:
    events = Events(store)
    result = actions.hold(store, "scaffold")
    assert result.changed
    assert result.message == "stage scaffold held"
    assert result.stage is not None
    assert result.stage.held
    assert store.read_stage("scaffold").held
    assert store.read_stage("scaffold").status is S.QUEUED

    again = actions.hold(store, "scaffold")
    assert not again.changed
    assert again.message == "stage scaffold is already held"

    released = actions.release(store, "scaffold")
    assert released.changed
    assert released.message == "stage scaffold released"
    assert not store.read_stage("scaffold").held

    again = actions.release(store, "scaffold")
    assert not again.changed
    assert again.message == "stage scaffold is not held"

    new = events.new()
    assert [(e["kind"], e["stage"]) for e in new] == [
        ("stage-held", "scaffold"),
        ("stage-released", "scaffold"),
    ]
    assert all(e["source"] == "cli" for e in new)
    assert all(e["status"] == "queued" for e in new)


def test_holding_a_running_stage_says_its_session_goes_on(store: Store) -> None:
    force(store, "scaffold", S.EXECUTING)
    result = actions.hold(store, "scaffold", source="tui")
    assert result.changed
    assert "running session goes on" in result.message
    assert store.read_stage("scaffold").status is S.EXECUTING
    assert store.read_events()[-1]["source"] == "tui"


def test_holding_a_waiting_stage_keeps_it_waiting(store: Store) -> None:
    actions.hold(store, "cli")
    record = store.read_stage("cli")
    assert record.held
    assert record.status is S.WAITING_FOR_DEPS


@pytest.mark.parametrize("terminal", ["completed", "skipped"])
def test_holding_a_finished_stage_is_refused(store: Store, terminal: str) -> None:
    if terminal == "completed":
        force(store, "scaffold", S.EXECUTING, S.COMPLETED)
    else:
        actions.skip(store, "scaffold")
    before = store.read_stage("scaffold")
    events = Events(store)
    with pytest.raises(TransitionError, match=f"stage scaffold is {terminal}"):
        actions.hold(store, "scaffold")
    assert store.read_stage("scaffold") == before
    assert events.new() == []
    # Releasing a stage that is not held is not an error, whatever its status.
    assert not actions.release(store, "scaffold").changed


def test_a_held_completed_stage_can_still_be_released(store: Store) -> None:
    actions.hold(store, "scaffold")
    force(store, "scaffold", S.EXECUTING, S.COMPLETED)
    assert actions.release(store, "scaffold").changed
    assert not store.read_stage("scaffold").held


# --------------------------------------------------------------------------------------------------
# skip


def test_skip_promotes_the_dependents_whose_dependencies_are_all_done(store: Store) -> None:
    events = Events(store)
    result = actions.skip(store, "scaffold")
    assert result.changed
    assert result.message == "stage scaffold skipped"
    assert statuses(store) == {
        "scaffold": "skipped",
        "tokenizer": "queued",
        "counter": "queued",
        "docs": "queued",
        "cli": "waiting-for-deps",
        "release": "waiting-for-deps",
    }
    new = events.new()
    assert (new[0]["kind"], new[0]["stage"], new[0]["status"]) == (
        "stage-skipped",
        "scaffold",
        "skipped",
    )
    promoted = new[1:]
    assert sorted(str(e["stage"]) for e in promoted) == sorted(DEPENDENTS_OF_SCAFFOLD)
    for event in promoted:
        assert event["kind"] == "stage-status"
        assert (event["old"], event["new"]) == ("waiting-for-deps", "queued")
        assert event["reason"] == "dependencies done"
        assert event["source"] == "cli"
        assert event["message"] == "waiting-for-deps → queued (dependencies done)"


def test_skip_promotes_only_when_every_dependency_is_done(store: Store) -> None:
    actions.skip(store, "scaffold")
    actions.skip(store, "tokenizer")
    assert store.read_stage("cli").status is S.WAITING_FOR_DEPS  # counter is not done
    finish(store, "counter")
    # Completing by hand does not promote: the next action's readiness pass does.
    assert actions.skip(store, "docs").changed
    assert store.read_stage("cli").status is S.QUEUED
    assert store.read_stage("release").status is S.WAITING_FOR_DEPS


def test_a_completed_but_unmerged_dependency_does_not_release_dependents(store: Store) -> None:
    force(store, "scaffold", S.EXECUTING, S.COMPLETED)
    actions.hold(store, "release")  # any action runs the readiness pass
    assert store.read_stage("tokenizer").status is S.WAITING_FOR_DEPS
    force(store, "scaffold", merged=True)
    changed = actions.promote_ready(store)
    assert sorted(s.id for s in changed) == sorted(DEPENDENTS_OF_SCAFFOLD)
    assert store.read_stage("tokenizer").status is S.QUEUED
    assert actions.promote_ready(store) == []


def test_skipping_twice_says_so(store: Store) -> None:
    actions.skip(store, "scaffold")
    events = Events(store)
    again = actions.skip(store, "scaffold")
    assert not again.changed
    assert again.message == "stage scaffold is already skipped"
    assert events.new() == []


def test_skipping_a_completed_stage_is_refused(store: Store) -> None:
    finish(store, "scaffold")
    before = statuses(store)
    events = Events(store)
    with pytest.raises(TransitionError) as info:
        actions.skip(store, "scaffold")
    assert "completed" in str(info.value)
    assert "skipped" in str(info.value)
    assert statuses(store) == before
    assert events.new() == []


@pytest.mark.parametrize("status", [S.EXECUTING, S.BLOCKED, S.MERGE_CONFLICT, S.NEEDS_HANDOFF])
def test_a_stage_can_be_skipped_from_any_unfinished_status(store: Store, status: Status) -> None:
    path = {
        S.EXECUTING: [S.EXECUTING],
        S.BLOCKED: [S.BLOCKED],
        S.MERGE_CONFLICT: [S.EXECUTING, S.COMPLETED, S.MERGE_CONFLICT],
        S.NEEDS_HANDOFF: [S.EXECUTING, S.NEEDS_HANDOFF],
    }[status]
    force(store, "scaffold", *path, next_retry_at=123.0)
    assert actions.skip(store, "scaffold").changed
    record = store.read_stage("scaffold")
    assert record.status is S.SKIPPED
    assert record.next_retry_at is None
    assert store.read_stage("docs").status is S.QUEUED


# --------------------------------------------------------------------------------------------------
# retry


def test_retry_takes_a_blocked_stage_back_to_queued(store: Store) -> None:
    force(store, "scaffold", S.EXECUTING, S.BLOCKED, blocked_reason="crashed", next_retry_at=9.0)
    events = Events(store)
    result = actions.retry(store, "scaffold")
    assert result.changed
    assert result.message == "stage scaffold queued for a retry"
    record = store.read_stage("scaffold")
    assert record.status is S.QUEUED
    assert record.blocked_reason is None
    assert record.next_retry_at is None
    assert events.kinds() == [("stage-retried", "scaffold")]


@pytest.mark.parametrize("path", [[], [S.EXECUTING], [S.EXECUTING, S.COMPLETED], [S.SKIPPED]])
def test_only_a_blocked_stage_can_be_retried(store: Store, path: list[Status]) -> None:
    force(store, "scaffold", *path)
    before = store.read_stage("scaffold")
    events = Events(store)
    with pytest.raises(
        TransitionError, match="only a blocked stage, or one that needs review, can be retried"
    ):
        actions.retry(store, "scaffold")
    assert store.read_stage("scaffold") == before
    assert events.new() == []


def test_retrying_a_merge_conflict_points_to_loom_merge(store: Store) -> None:
    force(store, "scaffold", S.EXECUTING, S.COMPLETED, S.MERGE_CONFLICT)
    with pytest.raises(TransitionError, match="loom merge"):
        actions.retry(store, "scaffold")


def test_retrying_a_stage_blocked_before_its_dependencies_were_done(store: Store) -> None:
    actions.block(store, "tokenizer", "not now")
    result = actions.retry(store, "tokenizer")
    assert result.changed
    # Its dependency is not done: it waits again rather than running too early.
    assert store.read_stage("tokenizer").status is S.WAITING_FOR_DEPS
    assert store.read_events()[-1]["status"] == "waiting-for-deps"
    assert "waiting" in result.message or "dependencies" in result.message


# --------------------------------------------------------------------------------------------------
# reset


def test_reset_clears_the_run_state_and_keeps_the_hold(store: Store) -> None:
    force(
        store,
        "scaffold",
        S.EXECUTING,
        S.BLOCKED,
        retry_count=2,
        generation=3,
        session_id="s-abc",
        context_percent=71.5,
        blocked_reason="crashed twice",
        failure={"kind": "crash", "exit_code": 1},
        next_retry_at=100.0,
        started_at=1.0,
        completed_at=2.0,
        merge_commit="abc123",
        merged=True,
        held=True,
    )
    events = Events(store)
    result = actions.reset(store, "scaffold")
    assert result.changed
    assert result.message == "stage scaffold reset to queued"
    record = store.read_stage("scaffold")
    assert record.status is S.QUEUED  # no dependencies: ready at once
    assert record.retry_count == 0
    assert record.generation == 0
    assert record.session_id is None
    assert record.context_percent is None
    assert record.blocked_reason is None
    assert record.failure is None
    assert record.next_retry_at is None
    assert record.started_at is None
    assert record.completed_at is None
    assert record.merge_commit is None
    assert record.merged is False
    assert record.held is True
    assert events.kinds() == [("stage-reset", "scaffold")]


def test_reset_targets_waiting_when_dependencies_are_not_done(store: Store) -> None:
    force(store, "tokenizer", S.BLOCKED, retry_count=1)  # scaffold is not done
    result = actions.reset(store, "tokenizer")
    assert result.message == "stage tokenizer reset to waiting-for-deps"
    assert store.read_stage("tokenizer").status is S.WAITING_FOR_DEPS


def test_reset_targets_queued_when_dependencies_are_done(store: Store) -> None:
    finish(store, "scaffold")
    force(store, "counter", S.QUEUED, S.EXECUTING, S.BLOCKED, retry_count=3)
    result = actions.reset(store, "counter")
    assert result.message == "stage counter reset to queued"
    assert store.read_stage("counter").status is S.QUEUED


def test_resetting_a_done_stage_sends_every_unfinished_dependent_back_to_waiting(
    store: Store,
) -> None:
    finish(store, "scaffold")
    actions.promote_ready(store)
    assert [store.read_stage(i).status for i in DEPENDENTS_OF_SCAFFOLD] == [S.QUEUED] * 3
    force(
        store,
        "docs",
        S.EXECUTING,
        session_id="s-docs",
        generation=2,
        handoffs=["docs-handoff-001.md"],
        handoff_streak=1,
    )  # a running one too
    force(store, "counter", S.EXECUTING, S.BLOCKED, retry_count=1, next_retry_at=1e10)
    events = Events(store)
    result = actions.reset(store, "scaffold")
    assert result.changed
    assert statuses(store) == {
        "scaffold": "queued",
        "tokenizer": "waiting-for-deps",
        "counter": "waiting-for-deps",
        "docs": "waiting-for-deps",
        "cli": "waiting-for-deps",
        "release": "waiting-for-deps",
    }
    counter = store.read_stage("counter")
    assert (counter.next_retry_at, counter.retry_count) == (None, 0)  # its retry is cancelled
    docs = store.read_stage("docs")
    assert docs.session_id is None  # the scheduler ends that session
    # and it starts afresh from the base once scaffold is merged again, with no stale handoff
    assert (docs.generation, docs.handoffs, docs.handoff_streak) == (0, [], 0)
    new = events.new()
    assert (new[0]["kind"], new[0]["stage"]) == ("stage-reset", "scaffold")
    assert sorted(f"{e['kind']} {e['stage']} {e['old']}>{e['new']}" for e in new[1:]) == [
        "stage-status counter blocked>waiting-for-deps",
        "stage-status docs executing>waiting-for-deps",
        "stage-status tokenizer queued>waiting-for-deps",
    ]
    assert {e["reason"] for e in new[1:]} == {"its dependency scaffold was reset"}


def test_a_completed_dependent_is_kept_by_a_reset(store: Store) -> None:
    finish(store, "scaffold")
    actions.promote_ready(store)
    force(store, "docs", S.EXECUTING, S.COMPLETED)
    actions.reset(store, "scaffold")
    assert store.read_stage("docs").status is S.COMPLETED


def test_resetting_a_skipped_stage_puts_dependents_back(store: Store) -> None:
    actions.skip(store, "scaffold")
    actions.reset(store, "scaffold")
    assert store.read_stage("scaffold").status is S.QUEUED
    assert store.read_stage("tokenizer").status is S.WAITING_FOR_DEPS


def test_resetting_a_fresh_stage_changes_nothing(store: Store) -> None:
    events = Events(store)
    queued = actions.reset(store, "scaffold")
    assert not queued.changed
    assert queued.message == "stage scaffold is already queued"
    waiting = actions.reset(store, "cli")
    assert not waiting.changed
    assert waiting.message == "stage cli is already waiting-for-deps"
    assert events.new() == []


def test_reset_of_a_queued_stage_with_retries_clears_them(store: Store) -> None:
    force(store, "scaffold", retry_count=2)
    result = actions.reset(store, "scaffold")
    assert result.changed
    assert store.read_stage("scaffold").retry_count == 0


# --------------------------------------------------------------------------------------------------
# block


def test_block_records_the_reason(store: Store) -> None:
    force(store, "scaffold", S.EXECUTING, next_retry_at=5.0)
    events = Events(store)
    result = actions.block(store, "scaffold", "needs an API key")
    assert result.changed
    assert result.message == "stage scaffold blocked: needs an API key"
    record = store.read_stage("scaffold")
    assert record.status is S.BLOCKED
    assert record.blocked_reason == "needs an API key"
    assert record.next_retry_at is None
    (event,) = events.new()
    assert event["kind"] == "stage-blocked"
    assert event["reason"] == "needs an API key"
    assert event["status"] == "blocked"

    again = actions.block(store, "scaffold", "needs an API key")
    assert not again.changed
    assert again.message == "stage scaffold is already blocked"

    other = actions.block(store, "scaffold", "a different reason")
    assert other.changed
    assert store.read_stage("scaffold").blocked_reason == "a different reason"
    assert len(events.new()) == 2


def test_a_waiting_stage_can_be_blocked(store: Store) -> None:
    actions.block(store, "release", "waiting on legal")
    assert store.read_stage("release").status is S.BLOCKED


@pytest.mark.parametrize("finished", ["completed", "skipped"])
def test_blocking_a_finished_stage_is_refused(store: Store, finished: str) -> None:
    if finished == "completed":
        finish(store, "scaffold")
    else:
        actions.skip(store, "scaffold")
    with pytest.raises(TransitionError, match=f"from {finished} to blocked"):
        actions.block(store, "scaffold", "too late")
    assert store.read_stage("scaffold").blocked_reason is None


# --------------------------------------------------------------------------------------------------
# complete


def set_acceptance(store: Store, stage_id: str, commands: list[str], **fields: object) -> None:
    force(store, stage_id, acceptance=commands, **fields)


def test_complete_runs_the_acceptance_commands_in_the_project_root(
    store: Store, project: Path
) -> None:
    force(store, "scaffold", S.EXECUTING)
    (project / "wordcount").mkdir()
    (project / "wordcount" / "__init__.py").write_text("VERSION = 1\n")
    events = Events(store)
    seen: list[CommandResult] = []
    result, results = actions.complete(store, "scaffold", on_result=seen.append)
    assert result.changed
    assert result.message == "stage scaffold completed (1 acceptance command(s) passed)"
    assert [r.command for r in results] == ["test -s wordcount/__init__.py"]
    assert all(r.passed for r in results)
    assert seen == results
    record = store.read_stage("scaffold")
    assert record.status is S.COMPLETED
    assert record.completed_at is not None
    assert record.merged is False  # merging is the scheduler's job
    assert events.kinds() == [("stage-completed", "scaffold")]
    assert events.new()[0]["acceptance"] == 1
    # Completed but not merged: the dependents keep waiting.
    assert store.read_stage("tokenizer").status is S.WAITING_FOR_DEPS


def test_complete_runs_in_the_stage_worktree_with_the_stage_environment(
    store: Store, project: Path, tmp_path: Path
) -> None:
    worktree = tmp_path / "worktrees" / "scaffold"
    (worktree / "wordcount").mkdir(parents=True)
    (worktree / "wordcount" / "__init__.py").write_text("x = 1\n")
    real = os.path.realpath(worktree)
    set_acceptance(
        store,
        "scaffold",
        [
            "test -s wordcount/__init__.py",
            f'test "$(pwd -P)" = "{real}"',
            'test "$LOOM_STAGE_ID" = scaffold',
            f'test "$LOOM_WORK_DIR" = "{project / ".work"}"',
        ],
        worktree=str(worktree),
    )
    force(store, "scaffold", S.EXECUTING)
    assert not (project / "wordcount").exists()
    result, results = actions.complete(store, "scaffold")
    assert [r.exit_code for r in results] == [0, 0, 0, 0], [r.output_tail for r in results]
    assert result.changed
    assert store.read_stage("scaffold").status is S.COMPLETED


def test_complete_falls_back_to_the_root_when_the_worktree_is_gone(
    store: Store, project: Path, tmp_path: Path
) -> None:
    set_acceptance(
        store,
        "scaffold",
        [f'test "$(pwd -P)" = "{os.path.realpath(project)}"'],
        worktree=str(tmp_path / "removed"),
    )
    force(store, "scaffold", S.EXECUTING)
    result, results = actions.complete(store, "scaffold")
    assert results[0].passed, results[0].output_tail
    assert result.changed


def test_a_failing_acceptance_command_leaves_the_status_unchanged(store: Store) -> None:
    commands = [
        "true",
        "echo first line; echo 'to stderr' >&2; exit 3",
        "seq 1 100; exit 1",
        "true",
    ]
    set_acceptance(store, "scaffold", commands)
    force(store, "scaffold", S.EXECUTING)
    before = store.read_stage("scaffold")
    events = Events(store)
    result, results = actions.complete(store, "scaffold")
    assert not result.changed
    assert result.message == "stage scaffold not completed: 2 of 4 acceptance command(s) failed"
    assert [r.command for r in results] == commands  # every command runs, even after a failure
    assert [r.passed for r in results] == [True, False, False, True]
    assert results[1].exit_code == 3
    assert results[1].output_tail == ["first line", "to stderr"]
    assert results[2].exit_code == 1
    assert results[2].output_tail == [str(n) for n in range(101 - TAIL_LINES, 101)]
    assert "FAILED" in results[1].summary()
    assert "exit 3" in results[1].summary()
    after = store.read_stage("scaffold")
    assert after.status is before.status
    # what failed is kept for the next session's signal (the status does not change)
    assert after.acceptance_failure is not None
    assert [f["command"] for f in after.acceptance_failure["failed"]] == commands[1:3]
    after.acceptance_failure = None
    after.updated_at = before.updated_at
    assert after == before
    (event,) = events.new()
    assert event["kind"] == "acceptance-failed"
    assert event["failed"] == commands[1:3]


def test_a_stage_without_acceptance_commands_completes(store: Store) -> None:
    set_acceptance(store, "scaffold", [])
    force(store, "scaffold", S.EXECUTING)
    result, results = actions.complete(store, "scaffold")
    assert results == []
    assert result.message == "stage scaffold completed"
    assert store.read_stage("scaffold").status is S.COMPLETED


def test_completing_twice_runs_nothing_the_second_time(store: Store, project: Path) -> None:
    marker = project / "ran"
    set_acceptance(store, "scaffold", [f"echo x >> {marker}"])
    force(store, "scaffold", S.EXECUTING)
    actions.complete(store, "scaffold")
    assert marker.read_text() == "x\n"
    events = Events(store)
    result, results = actions.complete(store, "scaffold")
    assert not result.changed
    assert result.message == "stage scaffold is already completed"
    assert results == []
    assert marker.read_text() == "x\n"
    assert events.new() == []


@pytest.mark.parametrize(
    ("stage_id", "path", "status"),
    [
        ("tokenizer", [], "waiting-for-deps"),
        ("scaffold", [], "queued"),
        ("scaffold", [S.SKIPPED], "skipped"),
    ],
)
def test_complete_is_refused_before_running_anything(
    store: Store, project: Path, stage_id: str, path: list[Status], status: str
) -> None:
    marker = project / "ran"
    set_acceptance(store, stage_id, [f"touch {marker}"])
    force(store, stage_id, *path)
    before = store.read_stage(stage_id)
    events = Events(store)
    with pytest.raises(TransitionError) as info:
        actions.complete(store, stage_id)
    assert str(info.value) == f"stage {stage_id}: cannot go from {status} to completed"
    assert not marker.exists()
    assert store.read_stage(stage_id) == before
    assert events.new() == []


@pytest.mark.parametrize(
    "path",
    [
        [S.EXECUTING, S.BLOCKED],
        [S.EXECUTING, S.NEEDS_HANDOFF],
        [S.EXECUTING, S.WAITING_FOR_INPUT],
        [S.EXECUTING, S.COMPLETED, S.MERGE_CONFLICT],
    ],
    ids=lambda p: p[-1].value,
)
def test_complete_is_allowed_from_the_statuses_the_table_allows(
    store: Store, path: list[Status]
) -> None:
    set_acceptance(store, "scaffold", ["true"], blocked_reason="x", next_retry_at=3.0)
    force(store, "scaffold", *path)
    result, _ = actions.complete(store, "scaffold")
    assert result.changed
    record = store.read_stage("scaffold")
    assert record.status is S.COMPLETED
    assert record.blocked_reason is None
    assert record.next_retry_at is None


# --------------------------------------------------------------------------------------------------
# Unknown stages


def test_actions_on_an_unknown_stage_name_the_known_ones(store: Store) -> None:
    for action in (actions.hold, actions.release, actions.skip, actions.retry, actions.reset):
        with pytest.raises(NotFound, match="no stage 'nope'"):
            action(store, "nope")
    with pytest.raises(NotFound):
        actions.block(store, "nope", "why")
    with pytest.raises(NotFound):
        actions.complete(store, "nope")


def test_require_stage_ids(store: Store) -> None:
    actions.require_stage_ids(store, ["scaffold", "cli"])
    with pytest.raises(LoomError, match="no stage 'a', 'b' in this plan") as info:
        actions.require_stage_ids(store, ["a", "scaffold", "b"])
    assert "release" in str(info.value)
    with pytest.raises(UsageError):
        actions.require_stage_ids(store, ["Not Valid"])


def test_a_whole_run_by_hand(store: Store, project: Path) -> None:
    """Drive every stage to done with the actions alone, checking the events tell the story."""
    for stage_id in ("scaffold", "tokenizer", "counter", "docs", "cli", "release"):
        assert store.read_stage(stage_id).status is S.QUEUED, statuses(store)
        set_acceptance(store, stage_id, ["true"])
        force(store, stage_id, S.EXECUTING)
        result, _ = actions.complete(store, stage_id)
        assert result.changed
        force(store, stage_id, merged=True)
        actions.promote_ready(store)
    assert set(statuses(store).values()) == {"completed"}
    kinds = [e["kind"] for e in store.read_events()]
    assert kinds.count("stage-completed") == 6
    assert kinds[0] == "plan-initialised"


# --------------------------------------------------------------------------------------------------
# resume


@pytest.mark.parametrize(
    "path",
    [
        [S.EXECUTING],
        [S.EXECUTING, S.BLOCKED],
        [S.EXECUTING, S.NEEDS_HANDOFF],
        [S.EXECUTING, S.WAITING_FOR_INPUT],
    ],
    ids=lambda p: p[-1].value,
)
def test_resume_queues_a_fresh_session_from_the_newest_handoff(
    store: Store, path: list[Status]
) -> None:
    force(
        store,
        "scaffold",
        *path,
        handoffs=["scaffold-handoff-001.md", "scaffold-handoff-002.md"],
        session_id="old-session",
        blocked_reason="stuck",
        next_retry_at=4.0,
    )
    events = Events(store)
    result = actions.resume(store, "scaffold")
    assert result.changed
    assert "scaffold-handoff-002.md" in result.message
    record = store.read_stage("scaffold")
    assert record.status is S.QUEUED
    assert record.session_id is None
    assert record.blocked_reason is None
    assert record.next_retry_at is None
    assert record.handoffs == ["scaffold-handoff-001.md", "scaffold-handoff-002.md"]
    assert events.kinds() == [("stage-resumed", "scaffold")]


def test_resume_without_a_handoff_is_refused(store: Store) -> None:
    force(store, "scaffold", S.EXECUTING, S.BLOCKED)
    events = Events(store)
    with pytest.raises(LoomError, match="no handoff to resume from"):
        actions.resume(store, "scaffold")
    assert store.read_stage("scaffold").status is S.BLOCKED
    assert events.new() == []


@pytest.mark.parametrize(
    "path",
    [[], [S.EXECUTING, S.COMPLETED], [S.SKIPPED], [S.EXECUTING, S.COMPLETED, S.MERGE_CONFLICT]],
    ids=["queued", "completed", "skipped", "merge-conflict"],
)
def test_resume_is_refused_unless_blocked_or_running(store: Store, path: list[Status]) -> None:
    force(store, "scaffold", *path, handoffs=["scaffold-handoff-001.md"])
    before = store.read_stage("scaffold")
    with pytest.raises(TransitionError, match="only a blocked or running stage"):
        actions.resume(store, "scaffold")
    assert store.read_stage("scaffold") == before
