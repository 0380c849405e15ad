"""The `Executor` carries out `decide`'s commands with the store, the repository and the panes.

Each command is one short sequence of writes, ordered so that a scheduler killed between any two
of them leaves a world from which `decide` goes on (the scheduler's docstring walks through them).
Every record change re-checks, under the store lock, the state the command expects, so a command
that arrives late (a person held the stage, the agent completed it) changes nothing.

Commands run in a thread each (they block on files, git and tmux); the starts of one decision run
together.  A command that fails is reported once, and its stage cools down (1 s, 2 s, 4 s … up to
a minute) before `decide` may ask again: a failure never turns into a tight loop of one error.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from loom_tui.core.agents import AgentBackend
from loom_tui.core.engine.commands import (
    AdoptSession,
    Block,
    Command,
    EndSession,
    FollowAgent,
    Merge,
    NudgeTmux,
    PasteHandoffRequest,
    Promote,
    RemoveWorktree,
    RequestHandoff,
    Requeue,
    Retry,
    StartSession,
    WriteHandoff,
)
from loom_tui.core.engine.observer import SessionObserver, reading_event
from loom_tui.core.engine.panes import PaneBook
from loom_tui.core.engine.ports import PaneHost, Repository
from loom_tui.core.engine.starts import Starter
from loom_tui.core.engine.world import Settings, World
from loom_tui.core.errors import LoomError
from loom_tui.core.events import (
    Event,
    HandoffEvent,
    MergeConflict,
    MergeDone,
    MergeWaiting,
    RetryScheduled,
    SchedulerError,
    SessionAdopted,
    SessionEnded,
    StageStatusChanged,
)
from loom_tui.core.hooks import handoff_request
from loom_tui.core.model import ACTIVE, SessionRecord, StageRecord, Status
from loom_tui.core.readiness import dependencies_done
from loom_tui.core.store import Store

T = TypeVar("T")
IO = Callable[..., Awaitable[Any]]
Emit = Callable[[list[Event]], None]
LAST_LINES = 40
#: Longest cool-down after repeated failures of one stage's commands.
COOLDOWN_MAX = 60.0


class Executor:
    def __init__(
        self,
        store: Store,
        panes: PaneHost,
        repo: Repository,
        backend: AgentBackend,
        observer: SessionObserver,
        book: PaneBook,
        *,
        base_branch: str,
        settings: Settings,
        io: IO,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.panes = panes
        self.repo = repo
        self.backend = backend
        self.observer = observer
        self.book = book
        self.base = base_branch
        self.settings = settings
        self.io = io
        self.clock = clock
        #: the in-memory facts of `World`: see there
        self.exit_waits: dict[str, tuple[int, float]] = {}
        self.merge_waits: dict[str, float] = {}
        self.cooldowns: dict[str, float] = {}
        self.failures: dict[str, tuple[int, str]] = {}
        self._merge_notes: dict[str, str] = {}
        self.starter = Starter(
            store,
            panes,
            repo,
            backend,
            book,
            base_branch=base_branch,
            io=io,
            clock=clock,
            exit_file=self.exit_file,
        )
        self._handlers: dict[type[Command], Callable[[Any, World], list[Event]]] = {
            EndSession: self._end,
            AdoptSession: self._adopt,
            NudgeTmux: self._nudge,
            FollowAgent: self._follow,
            RequestHandoff: self._request_handoff,
            PasteHandoffRequest: self._paste,
            WriteHandoff: self._write_handoff,
            Requeue: self._requeue,
            Block: self._block,
            Retry: self._retry,
            Merge: self._merge,
            RemoveWorktree: self._remove_worktree,
            Promote: self._promote,
        }

    async def execute(self, commands: list[Command], world: World, emit: Emit) -> None:
        """Carry out ``commands`` in the decision's order; its starts run together (see
        `starts.py`).  Events go to ``emit`` as each command is done."""
        starts = [c for c in commands if isinstance(c, StartSession)]
        done_starting = False
        for command in commands:
            if isinstance(command, StartSession):
                if not done_starting:
                    await self.starter.start_all(starts, world, emit, self._failed)
                    done_starting = True
                    for started in starts:
                        self.failures.pop(started.stage, None)
                continue
            emit(await self._run(command, world))

    async def _run(self, command: Command, world: World) -> list[Event]:
        handler = self._handlers[type(command)]
        try:
            events: list[Event] = await self.io(handler, command, world)
        except Exception as exc:
            return [self._failed(command, exc)]
        self.failures.pop(command.stage, None)
        return events

    def _failed(self, command: Command, exc: Exception) -> Event:
        message = exc.message if isinstance(exc, LoomError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, LoomError):
            self.store_log("".join(traceback.format_exception(exc)))
        count = self.failures.get(command.stage, (0, ""))[0] + 1
        self.failures[command.stage] = (count, message)
        self.cooldowns[command.stage] = self.clock() + min(COOLDOWN_MAX, 2.0 ** (count - 1))
        what = type(command).__name__
        return SchedulerError(stage=command.stage, message=f"{what} failed: {message}")

    def store_log(self, text: str) -> None:
        try:
            os.makedirs(self.store.logs_dir, exist_ok=True)
            with open(os.path.join(self.store.logs_dir, "scheduler.log"), "a") as fh:
                fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text.rstrip()}\n")
        except OSError:
            pass

    def exit_file(self, session_id: str) -> str:
        return os.path.join(self.store.sessions_dir, f"{session_id}.exit")

    # sessions ---------------------------------------------------------------------------------
    def _end(self, cmd: EndSession, world: World) -> list[Event]:
        """Capture the pane's last lines, kill its window, then record the end.  Killed between:
        the session still looks live, its pane is gone, and the next decision ends it again."""
        session = world.sessions.get(cmd.session) or self.store.read_session(cmd.session)
        lines = self.panes.capture(cmd.pane.pane_id, LAST_LINES) if cmd.pane else []
        gauge = self.observer.final(session)
        if cmd.pane is not None:
            self.panes.kill_window(cmd.pane.window_id)
            self.book.remove(cmd.pane.pane_id)
        self.exit_waits.pop(cmd.session, None)
        ended = _ender(cmd.status, cmd.reason, cmd.exit_code, lines, gauge, self.clock())
        recorded = self._update_session_if(cmd.session, ended)
        if recorded is None:
            return []  # ended meanwhile by someone else (`loom sessions kill`)
        events: list[Event] = []
        if cmd.handoff_timeout:
            events.append(
                HandoffEvent(
                    stage=cmd.stage,
                    session=cmd.session,
                    step="timeout",
                    detail=f"no handoff after {self.settings.handoff_timeout:.0f} s; "
                    "loom writes it",
                )
            )
        if "context_tokens" in gauge:
            stage = world.stages.get(cmd.stage)
            events.append(reading_event(recorded, gauge, stage.context_budget if stage else 100))
        events.append(
            SessionEnded(
                stage=cmd.stage, session=cmd.session, reason=cmd.reason, exit_code=cmd.exit_code
            )
        )
        return events

    def _adopt(self, cmd: AdoptSession, world: World) -> list[Event]:
        pane = cmd.pane
        assert pane is not None

        def adopt(record: SessionRecord) -> bool:
            if not record.live:
                return False
            record.pane_id = pane.pane_id
            record.window = pane.window_id
            record.pid = pane.pid
            record.status = "running"
            return True

        if self._update_session_if(cmd.session, adopt) is None:
            return []
        return [SessionAdopted(stage=cmd.stage, session=cmd.session, pane=pane.pane_id)]

    def _nudge(self, cmd: NudgeTmux, world: World) -> list[Event]:
        self.panes.nudge()
        nudges = self.exit_waits.get(cmd.session, (0, 0.0))[0]
        self.exit_waits[cmd.session] = (nudges + 1, self.clock())
        self.book.stale = True
        return []

    def _update_session_if(
        self, session_id: str, change: Callable[[SessionRecord], bool]
    ) -> SessionRecord | None:
        """Change the session under the lock; write (and return it) only if ``change`` did."""
        with self.store.lock():
            record = self.store.read_session(session_id)
            if not change(record):
                return None
            self.store.write_session(record)
        return record

    def _stage_if(
        self, stage_id: str, change: Callable[[StageRecord], bool]
    ) -> tuple[StageRecord, Status] | None:
        """Change the stage under the lock; returns it and its old status when ``change`` did."""
        with self.store.lock():
            record = self.store.read_stage(stage_id)
            old = record.status
            if not change(record):
                return None
            self.store.write_stage(record)
        return record, old

    # handoffs ---------------------------------------------------------------------------------
    def _follow(self, cmd: FollowAgent, world: World) -> list[Event]:
        def follow(record: StageRecord) -> bool:
            if record.session_id != cmd.session or record.status not in (
                Status.EXECUTING,
                Status.WAITING_FOR_INPUT,
            ):
                return False
            record.set_status(cmd.to)
            return True

        done = self._stage_if(cmd.stage, follow)
        if done is None:
            return []
        _stage, old = done
        return [
            StageStatusChanged(stage=cmd.stage, old=old.value, new=cmd.to.value, reason=cmd.reason)
        ]

    def _request_handoff(self, cmd: RequestHandoff, world: World) -> list[Event]:
        """The session's request first, then the stage: killed between, the session says a
        handoff was requested while the stage still executes, and `decide` asks again."""
        now = self.clock()

        def requested(record: SessionRecord) -> bool:
            if record.handoff_requested_at is not None:
                return False
            record.handoff_requested_at = now
            record.handoff_trigger = record.handoff_trigger or cmd.trigger
            return True

        session = self._update_session_if(cmd.session, requested) or self.store.read_session(
            cmd.session
        )

        def needs(record: StageRecord) -> bool:
            if record.session_id != cmd.session or record.status not in ACTIVE:
                return False
            if record.status is Status.NEEDS_HANDOFF:
                return False
            record.set_status(Status.NEEDS_HANDOFF)
            return True

        done = self._stage_if(cmd.stage, needs)
        if done is None:
            return []
        _stage, old = done
        return [
            StageStatusChanged(
                stage=cmd.stage, old=old.value, new="needs-handoff", reason=cmd.detail
            ),
            HandoffEvent(
                stage=cmd.stage,
                session=cmd.session,
                step="requested",
                trigger=session.handoff_trigger or cmd.trigger,
                detail=cmd.detail,
                reading_at=session.context_at,
            ),
        ]

    def _paste(self, cmd: PasteHandoffRequest, world: World) -> list[Event]:
        """The agent sits at its prompt, where no hook fires: type the request into its pane."""
        session = self.store.read_session(cmd.session)
        stage = world.stages[cmd.stage]
        if not session.pane_id or session.handoff_pasted_at is not None or session.handoff:
            return []
        text = handoff_request(stage.id, session.context_percent, stage.context_budget)
        self.panes.paste(session.pane_id, text)
        now = self.clock()

        def pasted(record: SessionRecord) -> bool:
            record.handoff_pasted_at = now
            return True

        self._update_session_if(cmd.session, pasted)
        return []

    def _write_handoff(self, cmd: WriteHandoff, world: World) -> list[Event]:
        from loom_tui.core.handoff import write_handoff

        if self.store.read_session(cmd.session).handoff is not None:
            return []  # written meanwhile (by the agent, or before a restart)
        _path, event = write_handoff(
            self.store, cmd.stage, session_id=cmd.session, trigger=cmd.trigger, written_by="loom"
        )
        return [event]

    def _requeue(self, cmd: Requeue, world: World) -> list[Event]:
        def requeue(record: StageRecord) -> bool:
            if record.status not in ACTIVE or record.session_id != cmd.session:
                return False
            record.set_status(Status.QUEUED)
            if cmd.undo_generation:
                record.generation = max(0, record.generation - 1)
            return True

        done = self._stage_if(cmd.stage, requeue)
        if done is None:
            return []
        stage, old = done
        events: list[Event] = [
            StageStatusChanged(stage=cmd.stage, old=old.value, new="queued", reason=cmd.reason)
        ]
        if cmd.reason.startswith("continues from"):
            events.append(
                HandoffEvent(
                    stage=cmd.stage,
                    session=cmd.session or "",
                    step="swapped",
                    detail=f"generation {stage.generation + 1} {cmd.reason}",
                )
            )
        return events

    # stages -----------------------------------------------------------------------------------
    def _block(self, cmd: Block, world: World) -> list[Event]:
        now = self.clock()

        def block(record: StageRecord) -> bool:
            if cmd.session is not None:
                if record.session_id != cmd.session or record.status not in ACTIVE:
                    return False
            elif record.status is not Status.QUEUED:
                return False
            record.set_status(Status.BLOCKED)
            record.blocked_reason = cmd.reason
            record.next_retry_at = cmd.retry_at
            record.failure = {
                "kind": cmd.failure_kind,
                "exit_code": cmd.exit_code,
                "session": cmd.session,
                "at": now,
            }
            return True

        done = self._stage_if(cmd.stage, block)
        self.failures.pop(cmd.stage, None)
        if done is None:
            return []
        stage, old = done
        events: list[Event] = [
            StageStatusChanged(stage=cmd.stage, old=old.value, new="blocked", reason=cmd.reason)
        ]
        if cmd.failure_kind == "handoff-loop":
            events.insert(
                0,
                HandoffEvent(
                    stage=cmd.stage, session=cmd.session or "", step="loop-guard", detail=cmd.reason
                ),
            )
        if cmd.retry_at is not None and cmd.attempt is not None:
            events.append(
                RetryScheduled(
                    stage=cmd.stage,
                    attempt=cmd.attempt,
                    of=stage.max_retries,
                    delay=max(0.0, cmd.retry_at - now),
                )
            )
        return events

    def _retry(self, cmd: Retry, world: World) -> list[Event]:
        def retry(record: StageRecord) -> bool:
            if record.status is not Status.BLOCKED or record.next_retry_at != cmd.due_at:
                return False
            if record.held:
                return False
            record.retry_count += 1
            record.next_retry_at = None
            record.set_status(cmd.to)
            return True

        done = self._stage_if(cmd.stage, retry)
        if done is None:
            return []
        stage, old = done
        reason = f"automatic retry {stage.retry_count} of {stage.max_retries}"
        if cmd.to is Status.WAITING_FOR_DEPS:
            reason += "; its dependencies are not done any more"
        return [StageStatusChanged(stage=cmd.stage, old=old.value, new=cmd.to.value, reason=reason)]

    def _promote(self, cmd: Promote, world: World) -> list[Event]:
        """Every readiness change of one decision under one lock, checked against fresh records
        of the stages and their dependencies."""
        wanted = dict(cmd.changes)
        context = {dep for i in wanted for dep in world.stages[i].dependencies}

        def promote(record: StageRecord, fresh: dict[str, StageRecord]) -> bool:
            to = wanted[record.id]
            ready = dependencies_done(record, fresh)
            if (to is Status.QUEUED and record.status is Status.WAITING_FOR_DEPS and ready) or (
                to is Status.WAITING_FOR_DEPS and record.status is Status.QUEUED and not ready
            ):
                record.set_status(to)
                return True
            return False

        changed = self.store.update_stages(wanted, promote, context)
        return [
            StageStatusChanged(
                stage=s.id,
                old="waiting-for-deps" if s.status is Status.QUEUED else "queued",
                new=s.status.value,
                reason="dependencies done"
                if s.status is Status.QUEUED
                else "a dependency is not done any more",
            )
            for s in changed
        ]

    def _merge(self, cmd: Merge, world: World) -> list[Event]:
        """Merge (git), then record it.  Killed between: the branch is already in the base, and
        the next merge finds nothing to merge and records the stage merged."""
        stage = world.stages[cmd.stage]
        if stage.status is not Status.COMPLETED or stage.merged:
            return []
        result = self.repo.merge(cmd.stage)
        if result.status == "waiting":
            self.merge_waits[cmd.stage] = self.clock() + self.settings.merge_wait
            note = result.describe(cmd.stage, self.base)
            if self._merge_notes.get(cmd.stage) == note:
                return []
            self._merge_notes[cmd.stage] = note
            return [MergeWaiting(stage=cmd.stage, message=note)]
        self._merge_notes.pop(cmd.stage, None)
        self.merge_waits.pop(cmd.stage, None)
        if result.status == "conflict":
            files = ", ".join(result.files[:5])

            def conflict(record: StageRecord) -> bool:
                if record.status is not Status.COMPLETED or record.merged:
                    return False
                record.set_status(Status.MERGE_CONFLICT)
                record.blocked_reason = (
                    f"merge into {self.base} conflicts in {files}; resolve on branch "
                    f"loom/{record.id}, then run `loom merge {record.id}`"
                )
                return True

            if self._stage_if(cmd.stage, conflict) is None:
                return []
            return [
                StageStatusChanged(
                    stage=cmd.stage, old="completed", new="merge-conflict", reason="merge conflict"
                ),
                MergeConflict(stage=cmd.stage, files=tuple(result.files), base=self.base),
            ]

        def merged(record: StageRecord) -> bool:
            if record.status is not Status.COMPLETED or record.merged:
                return False
            record.merged = True
            record.merge_commit = result.commit
            return True

        if self._stage_if(cmd.stage, merged) is None:
            return []
        return [MergeDone(stage=cmd.stage, commit=result.commit, base=self.base)]

    def _remove_worktree(self, cmd: RemoveWorktree, world: World) -> list[Event]:
        """Remove the worktree and branch, then forget them (killed between: removed again)."""
        self.repo.remove_worktree(cmd.stage)

        def forget(record: StageRecord) -> bool:
            if not record.merged or record.worktree is None:
                return False
            record.worktree = None
            return True

        self._stage_if(cmd.stage, forget)
        return []


def _ender(
    status: str,
    reason: str,
    exit_code: int | None,
    lines: list[str] | None = None,
    gauge: Mapping[str, object] | None = None,
    now: float | None = None,
) -> Callable[[SessionRecord], bool]:
    def end(record: SessionRecord) -> bool:
        if not record.live:
            return False
        at = now if now is not None else time.time()
        record.status = status
        record.ended_at = at
        record.exit_code = exit_code
        record.end_reason = reason
        if lines:
            record.last_lines = lines
        record.agent_state = "dead"
        record.agent_state_source = "pane"
        record.agent_state_at = at
        for key, value in (gauge or {}).items():
            setattr(record, key, value)
        return True

    return end
