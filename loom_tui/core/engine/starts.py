"""Starting the sessions of one decision together: a wide fan-out starts as one batch.

Four phases, so that 16 starts take the store lock twice rather than 32 times, and open their
panes side by side:

1. each stage's worktree (git, in parallel threads);
2. under one lock: every new session record (``starting``), then every stage queued -> executing
   (not fsynced: see `fsutil.atomic_write`);
3. in parallel: each session's signal and settings; then every pane, with one tmux client;
4. under one lock: every session that got its pane is recorded ``running`` with its pane id (and
   one that did not, ended: a crash, retried after its backoff).

A scheduler killed in between resumes: a session recorded without a pane never started (`decide`
ends it and queues its stage again); a pane whose session is not yet ``running`` is found by the
session id in its command and adopted.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from loom_tui.core.acceptance import run_commands
from loom_tui.core.agents import AgentBackend, LaunchContext
from loom_tui.core.agents.claude_code import transcript_path
from loom_tui.core.engine.commands import StartSession
from loom_tui.core.engine.panes import PaneBook
from loom_tui.core.engine.ports import PaneHost, Repository
from loom_tui.core.engine.world import World
from loom_tui.core.errors import LoomError
from loom_tui.core.events import Event, SessionEnded, SessionStarted, StageStatusChanged
from loom_tui.core.model import SessionRecord, StageRecord, Status
from loom_tui.core.signals import write_signal
from loom_tui.core.store import Store
from loom_tui.core.tmux import PaneInfo, WindowSpec

IO = Callable[..., Awaitable[Any]]
SETUP_TAIL_LINES = 10
Emit = Callable[[list[Event]], None]
Failed = Callable[[StartSession, Exception], list[Event]]


class SetupFailed(LoomError):
    """A stage's setup command failed: retrying it the same way would fail again, so the stage
    is blocked at once (failure kind ``setup``) for a person to look at."""


def run_setup(store: Store, stage: StageRecord, worktree: str) -> None:
    """Run the stage's ``setup`` commands in its worktree before the agent starts; the first
    that fails makes the start fail (`SetupFailed`, naming it, with the end of its output), and the
    stage is blocked with that as its reason."""
    from loom_tui.core.stage_commands import in_working_dir

    env = {"LOOM_STAGE_ID": stage.id, "LOOM_WORK_DIR": store.work_dir}
    for command in stage.setup:
        result = run_commands([command], in_working_dir(worktree, stage), env)[0]
        if not result.passed:
            tail = "\n".join(result.output_tail[-SETUP_TAIL_LINES:]) or "(no output)"
            why = "timed out" if result.timed_out else f"exit {result.exit_code}"
            raise SetupFailed(f"setup command `{command}` failed ({why}):\n{tail}")


class _Start:
    """One start on its way: what phase 1 prepared, and what the later phases add."""

    def __init__(self, cmd: StartSession, session: SessionRecord, t0: float) -> None:
        self.cmd = cmd
        self.session = session
        self.t0 = t0
        self.stage: StageRecord | None = None
        self.pane: PaneInfo | None = None
        self.transcript: str | None = None
        self.error: str | None = None


class Starter:
    def __init__(
        self,
        store: Store,
        panes: PaneHost,
        repo: Repository,
        backend: AgentBackend,
        book: PaneBook,
        *,
        base_branch: str,
        io: IO,
        clock: Callable[[], float],
        exit_file: Callable[[str], str],
    ) -> None:
        self.store = store
        self.panes = panes
        self.repo = repo
        self.backend = backend
        self.book = book
        self.base = base_branch
        self.io = io
        self.clock = clock
        self.exit_file = exit_file

    async def start_all(
        self, commands: list[StartSession], world: World, emit: Emit, failed: Failed
    ) -> set[str]:
        """Start them; returns the stages that got their pane (the others failed, and said so,
        or were not needed any more)."""
        t0 = time.monotonic()
        prepared: list[_Start] = []
        results = await asyncio.gather(
            *(self.io(self._prepare, c, world, t0) for c in commands), return_exceptions=True
        )
        for command, result in zip(commands, results, strict=True):
            if isinstance(result, Exception):
                emit(failed(command, result))
            elif isinstance(result, BaseException):
                raise result
            else:
                prepared.append(result)
        if not prepared:
            return set()
        begun: list[_Start] = await self.io(self._begin, prepared)
        launched = await asyncio.gather(
            *(self.io(self._launch, start, world) for start in begun), return_exceptions=True
        )
        ready: list[tuple[_Start, WindowSpec]] = []
        for start, spec in zip(begun, launched, strict=True):
            if isinstance(spec, Exception):  # the stage cools down; decide ends the session
                emit(failed(start.cmd, spec))
            elif isinstance(spec, BaseException):
                raise spec
            else:
                ready.append((start, spec))
        if not ready:
            return set()
        panes = await self.io(self.panes.new_windows, [spec for _start, spec in ready])
        events: list[Event] = []
        for (start, _spec), pane in zip(ready, panes, strict=True):
            if isinstance(pane, LoomError):
                start.error = f"could not start: {pane.message}"
                events.append(
                    SessionEnded(
                        stage=start.cmd.stage, session=start.session.id, reason=start.error
                    )
                )
                continue
            self.book.add(pane)
            start.pane = pane
            events += self._started(start, pane)
        emit(events)
        await self.io(self._running, [start for start, _spec in ready])
        return {start.cmd.stage for start, _spec in ready if start.pane is not None}

    def _prepare(self, cmd: StartSession, world: World, t0: float) -> _Start:
        stage = world.stages[cmd.stage]
        worktree = self.repo.ensure_worktree(stage.id, fresh=cmd.fresh)
        if stage.setup:
            run_setup(self.store, stage, worktree)
        session = SessionRecord(
            id=str(uuid.uuid4()),
            stage_id=stage.id,
            generation=cmd.generation,
            agent=self.backend.name,
            status="starting",
            tmux_socket=self.panes.socket_name,
            worktree=worktree,
            model=stage.model,
            started_at=self.clock(),
            purpose="resolve" if stage.resolving else None,
        )
        return _Start(cmd, session, t0)

    def _begin(self, starts: list[_Start]) -> list[_Start]:
        """The session records first, then the stages, under one lock; a stage that moved
        meanwhile (held, completed) does not begin, and its session is not needed."""
        now = self.clock()
        begun = []
        with self.store.lock():
            for start in starts:
                self.store.write_session(start.session, durable=False)
            for start in starts:
                record = self.store.read_stage(start.cmd.stage)
                if (
                    record.status is not Status.QUEUED
                    or record.held
                    or record.generation + 1 != start.cmd.generation
                ):
                    start.session.status = "ended"
                    start.session.end_reason = "not needed"
                    start.session.ended_at = now
                    self.store.write_session(start.session)
                    continue
                record.set_status(Status.EXECUTING)
                record.session_id = start.session.id
                record.stalled_at = None
                record.fresh_start = False
                record.generation = start.cmd.generation
                record.worktree = start.session.worktree
                record.branch = f"loom/{record.id}"
                record.started_at = record.started_at or now
                record.context_percent = None
                record.blocked_reason = None
                self.store.write_stage(record, durable=False)
                start.stage = record
                begun.append(start)
        return begun

    def _launch(self, start: _Start, world: World) -> WindowSpec:
        """The session's signal and settings, and what its pane runs."""
        stage, session = start.stage, start.session
        assert stage is not None and session.worktree is not None
        stages = {**world.stages, stage.id: stage}
        signal = write_signal(self.store, stage, session, self.base, stages)
        settings_path = os.path.join(self.store.sessions_dir, f"{session.id}.settings.json")
        launch = self.backend.launch(
            LaunchContext(self.store, stage, session, session.worktree, signal, settings_path)
        )
        start.transcript = transcript_path(
            session.worktree, session.id, {**os.environ, **launch.env}
        )
        return WindowSpec(
            stage.id,
            session.worktree,
            launch.argv,
            launch.env,
            session.id,
            self.exit_file(session.id),
        )

    def _started(self, start: _Start, pane: PaneInfo) -> list[Event]:
        return [
            StageStatusChanged(
                stage=start.cmd.stage,
                old="queued",
                new="executing",
                reason=f"generation {start.cmd.generation}",
            ),
            SessionStarted(
                stage=start.cmd.stage,
                session=start.session.id,
                generation=start.cmd.generation,
                pane=pane.pane_id,
                agent=self.backend.name,
                latency_ms=(time.monotonic() - start.t0) * 1000,
            ),
        ]

    def _running(self, starts: list[_Start]) -> None:
        """Each session with its pane, running; one whose pane did not open, crashed."""
        now = self.clock()
        with self.store.lock():
            for start in starts:
                record = self.store.read_session(start.session.id)
                if not record.live:
                    continue
                pane = start.pane
                if pane is None:
                    record.status = "crashed"
                    record.end_reason = start.error
                    record.ended_at = now
                else:
                    record.status = "running"
                    record.pane_id = pane.pane_id
                    record.window = pane.window_id
                    record.pid = pane.pid
                    record.transcript_path = start.transcript
                self.store.write_session(record, durable=False)
