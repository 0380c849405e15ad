"""The `Executor` carries out `decide`'s commands with the store, the repository and the panes.

Each command is one short sequence of writes, ordered so that a scheduler killed between any two
of them leaves a world from which `decide` goes on (the scheduler's docstring walks through them).
Every record change re-checks, under the store lock, the state the command expects, so a command
that arrives late (a person held the stage, the agent completed it) changes nothing.

The work is done by small step objects, one per concern: `SessionSteps`, `StageSteps`,
`MergeSteps` and `Starter`.  Commands run in a thread each (they block on files, git and tmux);
the starts of one decision run together.  A command that fails is reported once, and its stage
cools down (1 s, 2 s, 4 s … up to a minute) before `decide` may ask again: a failure never turns
into a tight loop of one error.  A write that fails on a full disk counts against no stage: it
pauses the whole run (`write_health`).
"""

from __future__ import annotations

import asyncio
import os
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from loom_tui.core.agents import AgentBackend
from loom_tui.core.engine.commands import (
    AdoptSession,
    Block,
    Command,
    EndSession,
    FollowAgent,
    MarkStalled,
    Merge,
    NudgeTmux,
    PasteHandoffRequest,
    Promote,
    RemoveWorktree,
    RequestHandoff,
    Requeue,
    ResolverEnded,
    Retry,
    ReviewConflict,
    StartResolver,
    StartSession,
    WriteHandoff,
)
from loom_tui.core.engine.merge_steps import MergeSteps
from loom_tui.core.engine.observer import SessionObserver
from loom_tui.core.engine.panes import PaneBook
from loom_tui.core.engine.ports import PaneHost, Repository
from loom_tui.core.engine.rules_stages import START_FAILURES_LIMIT
from loom_tui.core.engine.session_steps import SessionSteps
from loom_tui.core.engine.stage_steps import StageSteps
from loom_tui.core.engine.starts import SetupFailed, Starter
from loom_tui.core.engine.supervision_steps import SupervisionSteps
from loom_tui.core.engine.world import Settings, World
from loom_tui.core.engine.write_health import WriteHealth
from loom_tui.core.errors import LoomError
from loom_tui.core.events import Event, Notice, SchedulerError
from loom_tui.core.fsutil import append_line
from loom_tui.core.store import Store

IO = Callable[..., Awaitable[Any]]
Emit = Callable[[list[Event]], None]
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
        self.repo = repo
        self.io = io
        self.clock = clock
        #: stages whose last command failed: stage id -> no new command before this time
        self.cooldowns: dict[str, float] = {}
        #: stage id -> (failures in a row, the last error)
        self.failures: dict[str, tuple[int, str]] = {}
        #: whether `.work/` can be written: a full disk is the run's condition, not a stage's
        self.write_health = WriteHealth(store.work_dir)
        self.sessions = SessionSteps(store, panes, observer, book, settings, clock)
        self.stages = StageSteps(store, panes, clock)
        self.supervision = SupervisionSteps(store, panes, clock)
        self.merges = MergeSteps(store, repo, base_branch, settings, clock)
        #: merge checks under way, by stage (see `merge_check.py`)
        self.checking: dict[str, asyncio.Task[None]] = {}
        #: asks the scheduler for a pass (set by it): a check that ends is news
        self.wake: Callable[[], None] = lambda: None
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
            EndSession: self.sessions.end,
            AdoptSession: self.sessions.adopt,
            NudgeTmux: self.sessions.nudge,
            FollowAgent: self.stages.follow,
            MarkStalled: self.supervision.mark,
            RequestHandoff: self.stages.request_handoff,
            PasteHandoffRequest: self.stages.paste,
            WriteHandoff: self.stages.write_handoff,
            Requeue: self.stages.requeue,
            Block: self.stages.block,
            Retry: self.stages.retry,
            Promote: self.stages.promote,
            Merge: self.merges.merge,
            RemoveWorktree: self.merges.remove_worktree,
            StartResolver: self.merges.start_resolver,
            ResolverEnded: self.merges.resolver_ended,
            ReviewConflict: self.merges.review_conflict,
        }

    @property
    def exit_waits(self) -> dict[str, tuple[int, float]]:
        return self.sessions.exit_waits

    @property
    def merge_waits(self) -> dict[str, float]:
        return self.merges.merge_waits

    async def execute(self, commands: list[Command], world: World, emit: Emit) -> None:
        """Carry out ``commands`` in the decision's order; its starts run together (see
        `starts.py`).  Events go to ``emit`` as each command is done."""
        starts = [c for c in commands if isinstance(c, StartSession)]
        done_starting = False
        for command in commands:
            if isinstance(command, StartSession):
                if not done_starting:
                    started = await self.starter.start_all(starts, world, emit, self._failed)
                    done_starting = True
                    for stage_id in started:
                        self.failures.pop(stage_id, None)
                    emit(self._cleared())
                continue
            if isinstance(command, Merge) and command.stage in self.checking:
                continue  # its merged result is being checked
            emit(await self._run(command, world))
            emit(self._cleared())
            self._start_checks(emit)

    def _start_checks(self, emit: Emit) -> None:
        """Run the merge checks the merges asked for, each beside the passes: a stage's gates may
        take minutes, and every other stage goes on meanwhile."""
        wanted, self.merges.checks_wanted = self.merges.checks_wanted, set()
        for stage_id in wanted:
            if stage_id not in self.checking:
                self.checking[stage_id] = asyncio.create_task(self._check(stage_id, emit))

    async def _check(self, stage_id: str, emit: Emit) -> None:
        try:
            events: list[Event] = await self.io(self.merges.check, stage_id)
        except Exception as exc:
            events = self._failed(Merge(stage=stage_id), exc)
        finally:
            self.checking.pop(stage_id, None)
        emit(events)
        self.wake()

    def _cleared(self) -> list[Event]:
        """Say which stale git locks were removed (left by a process killed mid-write)."""
        paths, self.repo.cleared[:] = list(self.repo.cleared), []
        return [
            Notice(message=f"removed {path}, a git lock left by a process killed mid-write")
            for path in paths
        ]

    async def _run(self, command: Command, world: World) -> list[Event]:
        handler = self._handlers[type(command)]
        try:
            events: list[Event] = await self.io(handler, command, world)
        except Exception as exc:
            return self._failed(command, exc)
        self.failures.pop(command.stage, None)
        return events

    def _failed(self, command: Command, exc: Exception) -> list[Event]:
        if self.write_health.hit(exc, self.clock()):
            # The disk, not the stage: no failure counted, no retry spent; the scheduler pauses
            # and says so once.  The short cool-down only keeps this pass from asking again.
            self.cooldowns[command.stage] = self.clock() + 1.0
            return []
        message = exc.message if isinstance(exc, LoomError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, LoomError):
            self.store_log("".join(traceback.format_exception(exc)))
        count = self.failures.get(command.stage, (0, ""))[0] + 1
        if isinstance(exc, SetupFailed):  # the same setup would fail again: block at once
            count = max(count, START_FAILURES_LIMIT)
        self.failures[command.stage] = (count, message)
        self.cooldowns[command.stage] = self.clock() + min(COOLDOWN_MAX, 2.0 ** (count - 1))
        what = type(command).__name__
        return [SchedulerError(stage=command.stage, message=f"{what} failed: {message}")]

    def store_log(self, text: str) -> None:
        try:
            os.makedirs(self.store.logs_dir, exist_ok=True)
            append_line(
                os.path.join(self.store.logs_dir, "scheduler.log"),
                f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text.rstrip()}",
            )
        except OSError:
            pass

    def exit_file(self, session_id: str) -> str:
        return os.path.join(self.store.sessions_dir, f"{session_id}.exit")
