"""In-memory stand-ins for what the engine's property tests cannot afford thousands of times.

The property tests run the real `Scheduler` pass (world building, `decide`, the `Executor`, the
`SessionObserver`) over tens of thousands of steps, which rules out a tmux server and git per step.
What replaces them here is deliberately small:

- `MemoryStore`: the real `Store` with its stage and session records kept in memory (copies in,
  copies out).  Locking, handoff files, signals, settings and events are the real ones, on tmpfs;
  the records' file format has tests of its own (test_store.py).
- `FakePaneHost`: panes as a dict; a test decides when an agent exits and how (and whether tmux
  reports its exit status).  `on_start` lets a test check the world at the moment a pane opens.
- `FakeRepo`: worktrees are folders; a merge succeeds unless a test asked for a conflict or for
  the user's checkout to hold it back.
- `Boundary`: counts every write that changes the world (a record, a pane, a branch) and raises
  `Killed` at the Nth, then at every later one, as a SIGKILL would stop the process.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterable

from loom_tui.core.agents import Launch, LaunchContext
from loom_tui.core.errors import LoomError, NotFound
from loom_tui.core.git import MergeResult
from loom_tui.core.merge_check import MergeCheck
from loom_tui.core.model import SessionRecord, StageRecord
from loom_tui.core.store import RecordCache, Store
from loom_tui.core.tmux import PaneInfo, TmuxError, WindowSpec


class Killed(BaseException):
    """The scheduler was killed (a BaseException: nothing in the engine may catch it)."""


class Boundary:
    def __init__(self) -> None:
        self.writes = 0
        self.left: int | None = None
        self.dead = False

    def arm(self, writes: int) -> None:
        self.left = writes

    def disarm(self) -> None:
        self.left = None
        self.dead = False

    def before(self) -> None:
        if self.dead:
            raise Killed

    def after(self) -> None:
        self.writes += 1
        if self.left is not None:
            self.left -= 1
            if self.left <= 0:
                self.dead = True
                raise Killed


class MemoryStore(Store):
    def __init__(self, work_dir: str, boundary: Boundary) -> None:
        super().__init__(work_dir)
        self.boundary = boundary
        self._stages: dict[str, StageRecord] = {}
        self._sessions: dict[str, SessionRecord] = {}

    # stages
    def stage_ids(self) -> list[str]:
        return sorted(self._stages)

    def read_stage(self, stage_id: str) -> StageRecord:
        self.stage_path(stage_id)
        try:
            return self._stages[stage_id].copy()
        except KeyError:
            raise NotFound(f"no stage {stage_id!r}") from None

    def stages(self, cache: RecordCache | None = None) -> list[StageRecord]:
        """Like the real store: records from a cache are shared (read-only), others copies."""
        records = list(self._stages.values())
        records.sort(key=lambda r: (r.plan_index, r.id))
        return records if cache is not None else [r.copy() for r in records]

    def write_stage(self, record: StageRecord, *, durable: bool = True) -> None:
        self.boundary.before()
        self._stages[record.id] = record.copy()
        self.boundary.after()

    # sessions
    def read_session(self, session_id: str) -> SessionRecord:
        try:
            return self._sessions[session_id].copy()
        except KeyError:
            raise NotFound(f"no session {session_id!r}") from None

    def sessions(self, cache: RecordCache | None = None) -> list[SessionRecord]:
        records = list(self._sessions.values())
        records.sort(key=lambda r: (r.started_at or 0.0, r.id))
        return records if cache is not None else [r.copy() for r in records]

    def write_session(self, record: SessionRecord, *, durable: bool = True) -> None:
        self.boundary.before()
        self._sessions[record.id] = record.copy()
        self.boundary.after()


class FakePane:
    def __init__(self, pane_id: str, session_id: str, stage_id: str) -> None:
        self.pane_id = pane_id
        self.window_id = "@" + pane_id[1:]
        self.session_id = session_id
        self.stage_id = stage_id
        self.alive = True
        self.exit_code: int | None = None
        #: whether tmux reports the exit status (3.3a sometimes loses it until nudged)
        self.reported = True

    def info(self) -> PaneInfo:
        status = self.exit_code if (not self.alive and self.reported) else None
        return PaneInfo(
            self.pane_id,
            not self.alive,
            status,
            1000 + int(self.pane_id[1:]),
            self.window_id,
            self.stage_id,
            "sim",
            f"sh -c '...' loom-{self.session_id} loom-sim-agent",
        )


class FakePaneHost:
    socket_name = "fake-tmux"

    def __init__(self, boundary: Boundary, on_start: Callable[[str, str], None]) -> None:
        self.boundary = boundary
        self.on_start = on_start
        self.panes: dict[str, FakePane] = {}
        self.started: list[str] = []
        self.pasted: list[str] = []
        self._ids = itertools.count(1)
        self.server_up = True

    def list_panes(self) -> dict[str, PaneInfo]:
        return {p.pane_id: p.info() for p in self.panes.values()}

    def new_windows(self, specs: list[WindowSpec]) -> list[PaneInfo | TmuxError]:
        out: list[PaneInfo | TmuxError] = []
        self.server_up = True
        for spec in specs:
            self.boundary.before()
            self.on_start(spec.name, spec.session_id)
            pane = FakePane(f"%{next(self._ids)}", spec.session_id, spec.name)
            self.panes[pane.pane_id] = pane
            self.started.append(spec.session_id)
            self.boundary.after()
            out.append(pane.info())
        return out

    def capture(self, pane_id: str, lines: int = 40) -> list[str]:
        return []

    def kill_window(self, target: str) -> None:
        self.boundary.before()
        for pane in [p for p in self.panes.values() if p.window_id == target]:
            del self.panes[pane.pane_id]
        self.boundary.after()

    def paste(self, pane_id: str, text: str, *, enter: bool = True) -> None:
        self.boundary.before()
        self.pasted.append(pane_id)
        self.boundary.after()

    def nudge(self) -> None:
        for pane in self.panes.values():
            pane.reported = True

    def kill_server(self) -> None:
        self.panes.clear()
        self.server_up = False

    def server_running(self) -> bool:
        return self.server_up

    def end_if_idle(self) -> bool:
        if any(p.alive for p in self.panes.values()):
            return False
        self.kill_server()
        return True

    def alive(self) -> Iterable[FakePane]:
        return [p for p in self.panes.values() if p.alive]


class FakeBackend:
    """Launches nothing: the fake panes stand for the agents."""

    name = "sim"

    def launch(self, ctx: LaunchContext) -> Launch:
        return Launch(["loom-sim-agent", ctx.signal_path], {"LOOM_SESSION_ID": ctx.session.id})


class FakeRepo:
    def __init__(self, root: str, boundary: Boundary) -> None:
        self.root = root
        self.boundary = boundary
        self.cleared: list[str] = []
        self.conflicts: set[str] = set()
        self.waiting: set[str] = set()
        self.merges: list[str] = []
        #: stage id -> how many more worktree creations fail (git refusing, a full disk)
        self.failing: dict[str, int] = {}

    def ensure_worktree(self, stage_id: str, *, fresh: bool) -> str:
        self.boundary.before()
        if self.failing.get(stage_id, 0) > 0:
            self.failing[stage_id] -= 1
            raise LoomError(f"cannot create the worktree of {stage_id} (a test's broken git)")
        path = os.path.join(self.root, ".worktrees", stage_id)
        os.makedirs(path, exist_ok=True)
        self.boundary.after()
        return path

    def merge(self, stage_id: str) -> MergeResult:
        self.boundary.before()
        if stage_id in self.conflicts:
            return MergeResult("conflict", files=[f"{stage_id}.txt"])
        if stage_id in self.waiting:
            return MergeResult("waiting", files=["README.md"])
        self.merges.append(stage_id)
        self.boundary.after()
        return MergeResult("merged", commit=f"{len(self.merges):040x}")

    def merge_check_needed(self, stage: StageRecord) -> bool:
        return False  # the fake base never moves under a branch: see test_merge_check.py

    def check_merge(self, store: Store, stage_id: str) -> MergeCheck:
        return MergeCheck(True)

    def remove_worktree(self, stage_id: str) -> None:
        self.boundary.before()
        shutil.rmtree(os.path.join(self.root, ".worktrees", stage_id), ignore_errors=True)
        self.boundary.after()
