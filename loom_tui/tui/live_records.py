"""The records the screen shows, kept in memory and changed one at a time.

The TUI used to re-read every record of `.work/` on a timer.  Now it reads them all once (at start,
and when asked to, e.g. after a theme change), and then changes only what it is told about:

- a record written by this process (the scheduler, or a key's action) arrives through the store's
  ``on_write`` hook as a `RecordWritten` message (the hook may run in an I/O thread:
  `post_message` is thread-safe);
- a record written by another process (the CLI, an agent's `loom stage complete`, another loom) is
  seen by the file watcher (`tui/disk_feed.py`), which re-reads only that file.

`LiveRecords.snapshot()` turns the current records into an immutable `Snapshot` without any I/O
(handoff front matter already read comes from a cache; a new handoff file is read in a thread and
the snapshot built again).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable

from textual.message import Message

from loom_tui.core.config import ProjectConfig
from loom_tui.core.model import GAUGE_FIELDS, Record, SessionRecord, StageRecord
from loom_tui.core.store import Store
from loom_tui.tui.snapshot import HandoffInfo, Snapshot, cached_handoff_info

#: What a gauge reading changes in a record (its figures, and the time it was written).
_GAUGE_ONLY = GAUGE_FIELDS | {"updated_at"}


class Change(enum.Enum):
    """What a record just put changed on the screen."""

    NOTHING = 0
    #: only gauge figures: shown on the app's next beat (20 agents' readings arrive every second)
    GAUGES = 1
    #: anything else (a status, a hold, a new session): shown at once
    SHOWN = 2

    def __bool__(self) -> bool:
        return self is not Change.NOTHING


class RecordWritten(Message):
    """A stage or session record as just written (a private copy: never changed again)."""

    def __init__(self, path: str, record: Record) -> None:
        super().__init__()
        self.path = path
        self.record = record


class RecordGone(Message):
    """A record file was removed (by another process)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path


class LiveRecords:
    """Stage and session records by id, plus the inodes of the files this process wrote."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.stages: dict[str, StageRecord] = {}
        self.sessions: dict[str, SessionRecord] = {}
        self.error: str | None = None
        #: handoff files asked for already (one that cannot be read is not asked for again)
        self._handoffs_asked: set[str] = set()
        #: path -> inode of the file as this process last wrote it: the watcher skips those
        self._own: dict[str, int] = {}

    # in-process writes --------------------------------------------------------------------------
    def note_own_write(self, path: str) -> None:
        """Called in the writing thread, right after the atomic rename."""
        try:
            self._own[path] = os.stat(path).st_ino
        except OSError:
            self._own.pop(path, None)

    def is_own_write(self, path: str) -> bool:
        inode = self._own.get(path)
        if inode is None:
            return False
        try:
            return os.stat(path).st_ino == inode
        except OSError:
            return False

    def replace_all(
        self, stages: Iterable[StageRecord], sessions: Iterable[SessionRecord], error: str | None
    ) -> None:
        self.stages = {s.id: s for s in stages}
        self.sessions = {s.id: s for s in sessions}
        self.error = error

    def put(self, record: Record) -> Change:
        """Apply one record; returns what it changed of what the screen shows."""
        before: Record | None
        if isinstance(record, StageRecord):
            before = self.stages.get(record.id)
            self.stages[record.id] = record
        elif isinstance(record, SessionRecord):
            before = self.sessions.get(record.id)
            self.sessions[record.id] = record
        else:
            return Change.NOTHING
        if before is not None and _beyond_gauges(before) == _beyond_gauges(record):
            return Change.GAUGES
        return Change.SHOWN

    def forget(self, path: str) -> bool:
        name = os.path.basename(path)
        if not name.endswith(".md"):
            return False
        key = name[:-3]
        folder = os.path.dirname(path)
        if folder == self.store.stages_dir:
            return self.stages.pop(key, None) is not None
        if folder == self.store.sessions_dir:
            return self.sessions.pop(key, None) is not None
        return False

    # reading one changed file (in a worker thread) ------------------------------------------
    def read_path(self, path: str) -> Record | None:
        """The record at ``path`` as it is on disk now (None: not a record, gone or unreadable:
        the screen keeps what it had, and the scheduler reports broken records itself)."""
        name = os.path.basename(path)
        if not name.endswith(".md") or name.startswith("."):
            return None
        folder = os.path.dirname(path)
        try:
            if folder == self.store.stages_dir:
                return self.store.stage_or_broken(name[:-3])
            if folder == self.store.sessions_dir:
                return self.store.read_session(name[:-3])
        except Exception:  # a half-written or hand-edited file: the next change reads it again
            return None
        return None

    # the snapshot -----------------------------------------------------------------------------
    def missing_handoffs(self) -> list[str]:
        """Handoff files named by a stage whose front matter is not read yet."""
        missing = [
            name
            for stage in self.stages.values()
            for name in stage.handoffs
            if name not in self._handoffs_asked and cached_handoff_info(self.store, name) is None
        ]
        self._handoffs_asked.update(missing)
        return missing

    def snapshot(self, config: ProjectConfig | None, now: float) -> Snapshot:
        stages = tuple(sorted(self.stages.values(), key=lambda r: (r.plan_index, r.id)))
        sessions = tuple(sorted(self.sessions.values(), key=lambda r: (r.started_at or 0.0, r.id)))
        handoffs: dict[str, tuple[HandoffInfo, ...]] = {}
        for stage in stages:
            infos = [cached_handoff_info(self.store, name) for name in stage.handoffs]
            handoffs[stage.id] = tuple(i for i in infos if i is not None)
        return Snapshot(
            plan_id=config.plan_id if config else "?",
            plan_name=config.plan_name if config else "?",
            base_branch=config.base_branch if config else "?",
            stages=stages,
            sessions=sessions,
            taken_at=now,
            error=self.error,
            auto_merge=config.auto_merge if config else True,
            by_id={s.id: s for s in stages},
            handoffs=handoffs,
        )


def _beyond_gauges(record: Record) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items() if k not in _GAUGE_ONLY}
