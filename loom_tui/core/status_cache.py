"""`.work/status.cache`: what `loom status` needs from each record, kept between runs.

Parsing a record costs about a quarter of a millisecond, and a project of 500 stages made `loom
status` ten times as slow as a bare Python start.  So `cached_status` keeps, per record file, the
part of the status it contributes (`status.stage_entry`, `status.session_entry`, the config's
`status.plan_head`), keyed by the file's (inode, mtime, size), and re-reads only the files whose
key changed.

It is a read-through cache that only the reader writes: no writer pays for it, and a record
changed by any means (another loom version, an editor) is seen.  An entry is kept only for a file
whose mtime was more than `SETTLED` seconds old when it was read: a later change then has a newer
mtime, whereas two versions written within one clock tick (inodes are reused by the atomic
renames) could share all three numbers; a recently changed file is simply read again next time.

The file is `marshal` data (built in, loaded in C: no import, no parsing in Python) and disposable:
a missing, corrupt or foreign one is ignored and rewritten; it is written atomically, not durably,
and failing to write it changes nothing.  Any record that cannot be read sends the whole status
to the slow path (`status.status_dict`), which quarantines it as before, so the output is the same
object either way (`status.build_status` makes both).
"""

from __future__ import annotations

import marshal
import os
import time

from loom_tui.core import status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from loom_tui.core.store import Store

CACHE_NAME = "status.cache"
#: Bumped whenever what an entry holds changes: an older cache is then ignored.
VERSION = 1
SETTLED = 2.0

_Key = tuple[int, int, int]


class _Slow(Exception):
    """A record the fast path does not vouch for: take the slow path for everything."""


def _list(directory: str) -> list[str]:
    """The record files of ``directory``, as `Store._list` finds them."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.endswith(".md") and not n.startswith("."))


def _load(path: str) -> dict[str, dict[str, tuple[_Key, object]]]:
    """The cache's three tables (stages, sessions, config), or empty ones."""
    empty: dict[str, dict[str, tuple[_Key, object]]] = {"stages": {}, "sessions": {}, "config": {}}
    try:
        with open(path, "rb") as fh:
            data = marshal.loads(fh.read())
    except Exception:  # missing, unreadable, truncated, not marshal data
        return empty
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return empty
    tables = data.get("tables")
    if not isinstance(tables, dict) or not all(
        isinstance(tables.get(k), dict) for k in ("stages", "sessions", "config")
    ):
        return empty
    return tables


def _valid_stage(entry: object) -> bool:
    if not (isinstance(entry, tuple) and len(entry) == 3):
        return False
    index, stage_id, data = entry
    return (
        isinstance(index, int)
        and isinstance(stage_id, str)
        and isinstance(data, dict)
        and tuple(data) == _STAGE_KEYS
        and data["status"] in _STATUS_SET
        and data["record_error"] is None
    )


def _valid_session(entry: object) -> bool:
    return (
        isinstance(entry, tuple)
        and len(entry) == 5
        and isinstance(entry[0], int | float)
        and isinstance(entry[1], str)
        and isinstance(entry[2], str)
        and isinstance(entry[3], int)
        and isinstance(entry[4], int | float)
    )


_STATUS_SET = frozenset(status.STATUS_VALUES)
_STAGE_KEYS = (
    "id",
    "name",
    "status",
    "held",
    "merged",
    "dependencies",
    "retry_count",
    "context_percent",
    "session_id",
    "handoffs",
    "generation",
    "blocked_reason",
    "attention",
    "failure_kind",
    "failure_counts",
    "stalled_at",
    "record_error",
)


class _Table:
    """One directory's entries: reused when their file's key is unchanged, else re-read."""

    def __init__(self, old: dict[str, tuple[_Key, object]], valid: Callable[[object], bool]):
        self.old = old
        self.valid = valid
        self.new: dict[str, tuple[_Key, object]] = {}
        self.changed = False

    def get(self, name: str, path: str, read: Callable[[str], object], now: float) -> object:
        """The entry for ``path`` (``read`` makes it; raises FileNotFoundError when gone)."""
        st = os.stat(path)
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self.old.get(name)
        if cached is not None and cached[0] == key and self.valid(cached[1]):
            self.new[name] = cached
            return cached[1]
        entry = read(path)
        if now - st.st_mtime > SETTLED:
            self.new[name] = (key, entry)
            self.changed = True
        return entry

    def finish(self) -> bool:
        """Whether the cache must be written (an entry added, or one dropped)."""
        return self.changed or len(self.new) != len(self.old)


def cached_status(work_dir: str) -> dict[str, object]:
    """`status.status_dict` of the project in ``work_dir``, from the cache where it is fresh."""
    try:
        return _cached(work_dir)
    except _Slow:
        from loom_tui.core.store import Store

        return status.status_dict(Store(work_dir))


def _cached(work_dir: str) -> dict[str, object]:
    work_dir = os.path.abspath(work_dir)
    cache_path = os.path.join(work_dir, CACHE_NAME)
    tables = _load(cache_path)
    now = time.time()
    stage_table = _Table(tables["stages"], _valid_stage)
    session_table = _Table(tables["sessions"], _valid_session)
    config_table = _Table(tables["config"], lambda e: isinstance(e, dict))
    reader = _Reader(work_dir)

    stages: list[status.StageEntry] = []
    stages_dir = os.path.join(work_dir, "stages")
    for name in _list(stages_dir):
        try:
            entry = stage_table.get(name, stages_dir + os.sep + name, reader.stage, now)
        except FileNotFoundError:
            continue  # removed between listing and reading, as `Store.stages` does
        except OSError:
            raise _Slow from None  # the slow path quarantines it
        stages.append(entry)  # type: ignore[arg-type]

    sessions: list[status.SessionEntry] = []
    sessions_dir = os.path.join(work_dir, "sessions")
    for name in _list(sessions_dir):
        try:
            entry = session_table.get(name, sessions_dir + os.sep + name, reader.session, now)
        except FileNotFoundError:
            continue
        except OSError:
            raise _Slow from None  # the slow path reports it
        sessions.append(entry)  # type: ignore[arg-type]

    try:
        head = config_table.get(
            "config.toml", os.path.join(work_dir, "config.toml"), reader.head, now
        )
    except OSError:
        raise _Slow from None  # missing or unreadable: the slow path words the error
    if any(t.finish() for t in (stage_table, session_table, config_table)):
        _write(cache_path, stage_table.new, session_table.new, config_table.new)
    return status.build_status(head, stages, sessions, work_dir)  # type: ignore[arg-type]


class _Reader:
    """Reads one record the way the slow path does (the store, loaded only when needed)."""

    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir

    def _store(self) -> Store:
        from loom_tui.core.store import Store

        return Store(self.work_dir)

    def stage(self, path: str) -> object:
        from loom_tui.core.errors import StoreError
        from loom_tui.core.model import StageRecord

        try:
            record = self._store()._read_record(StageRecord, path)
        except StoreError:
            raise _Slow from None  # quarantined by the slow path
        return status.stage_entry(record)

    def session(self, path: str) -> object:
        from loom_tui.core.errors import StoreError
        from loom_tui.core.model import SessionRecord

        try:
            record = self._store()._read_record(SessionRecord, path)
        except StoreError:
            raise _Slow from None  # the slow path reports it
        return status.session_entry(record)

    def head(self, path: str) -> object:
        from loom_tui.core.errors import LoomError

        try:
            return status.plan_head(self._store().config())
        except LoomError:
            raise _Slow from None  # the slow path shows the error in the plan's place


def _write(
    path: str,
    stages: dict[str, tuple[_Key, object]],
    sessions: dict[str, tuple[_Key, object]],
    config: dict[str, tuple[_Key, object]],
) -> None:
    from loom_tui.core.fsutil import atomic_write

    data = {
        "version": VERSION,
        "tables": {"stages": stages, "sessions": sessions, "config": config},
    }
    try:  # noqa: SIM105 - contextlib costs an import on this fast path
        atomic_write(path, marshal.dumps(data), durable=False)
    except (OSError, ValueError):
        pass  # a cache that cannot be written is read from the records next time
