"""The `.work/` directory: every record loom keeps, as plain files.

Layout (see FORMATS.md)::

    .work/config.toml             plan and settings
    .work/stages/<id>.md          stage record (YAML front matter) + readable summary
    .work/sessions/<sid>.md       session record + summary
    .work/signals/<sid>.md        what the session's agent is asked to do
    .work/handoffs/<id>-handoff-NNN.md
    .work/memory/<id>.md          the stage's journal
    .work/events.jsonl            one JSON line per event (append-only, rotated)
    .work/loom.lock               held by the one running scheduler
    .work/store.lock              taken briefly around every read-modify-write
    .work/status.cache            what `loom status` needs from each record (see `status_cache`)

Every write is atomic (see `fsutil`); every read-modify-write runs under the store lock, so that
concurrent `loom` processes never lose each other's changes.  A broken file is reported by name;
a stage record that cannot be read is quarantined by `stages` (see `quarantine`), never written
over.  A write that fails raises `WriteError` naming the file, except the append of an event that
reports a change already made: that change stands, and the lost line is noted in `UNLOGGED`.
"""

from __future__ import annotations

import os
import time

from loom_tui.core import frontmatter, quarantine
from loom_tui.core.errors import NotFound, StoreError, UsageError
from loom_tui.core.fsutil import (
    TEMP_SUFFIX,
    FileLock,
    append_line,
    atomic_write,
    fsync_dir,
    json_line,
    read_text,
    write_error,
)
from loom_tui.core.model import Record, SessionRecord, StageRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import TypeVar

    from loom_tui.core.config import ProjectConfig
    from loom_tui.core.events import Event

    R = TypeVar("R", bound=Record)

#: Events that could not be appended by this process (a full disk), as messages naming the file:
#: the CLI mentions them once as it exits.
UNLOGGED: list[str] = []

EVENTS_NAME = "events.jsonl"
EVENTS_ROTATE_BYTES = 8 * 1024 * 1024
SUBDIRS = ("stages", "sessions", "signals", "handoffs", "memory", "hooks", "pulse", "logs")

_ID_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ID_REST = _ID_FIRST | frozenset("-_")
_SESSION_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def is_valid_stage_id(stage_id: str) -> bool:
    """1-64 characters of ``a-z 0-9 - _``, starting with a letter or digit."""
    return 0 < len(stage_id) <= 64 and stage_id[0] in _ID_FIRST and _ID_REST.issuperset(stage_id)


def _check_session_id(session_id: str) -> None:
    if not session_id or len(session_id) > 80 or not set(session_id) <= _SESSION_CHARS:
        raise UsageError(f"invalid session id {session_id!r}")


def format_time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


class RecordCache:
    """Loaded records, re-parsed only when their file changed.

    A file whose (inode, mtime, size) is unchanged and whose mtime is more than a couple of seconds
    old costs one `stat`; a recent one is read and compared with the text last parsed, because
    inodes are reused by the atomic renames and mtimes are coarse, so two versions written within
    one clock tick can share all three.  The records returned are shared: treat them as
    read-only and change records through the store."""

    SETTLED = 2.0

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple[int, int, int], str, Record]] = {}

    def put(self, path: str, text: str, record: Record) -> None:
        """Remember a record just written as ``text`` (a copy: the caller may change its own)."""
        try:
            st = os.stat(path)
        except OSError:
            return
        copy = record.copy()
        self._entries[path] = ((st.st_ino, st.st_mtime_ns, st.st_size), text, copy)

    def load(self, path: str, parse: Callable[[str, str], R]) -> R:
        st = os.stat(path)
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        entry = self._entries.get(path)
        if entry is not None and entry[0] == key and time.time() - st.st_mtime > self.SETTLED:
            return entry[2]  # type: ignore[return-value]
        text = _read_for_cache(path)
        if entry is not None and entry[1] == text:
            self._entries[path] = (key, text, entry[2])
            return entry[2]  # type: ignore[return-value]
        record = parse(path, text)
        self._entries[path] = (key, text, record)
        return record


def _read_for_cache(path: str) -> str:
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        return fh.read()


class Store:
    """Reads and writes the records of one project's `.work/` directory."""

    def __init__(self, work_dir: str) -> None:
        self.work_dir = os.path.abspath(work_dir)
        self.root = os.path.dirname(self.work_dir)
        self.stages_dir = os.path.join(self.work_dir, "stages")
        self.sessions_dir = os.path.join(self.work_dir, "sessions")
        self.signals_dir = os.path.join(self.work_dir, "signals")
        self.handoffs_dir = os.path.join(self.work_dir, "handoffs")
        self.memory_dir = os.path.join(self.work_dir, "memory")
        self.hooks_dir = os.path.join(self.work_dir, "hooks")
        self.logs_dir = os.path.join(self.work_dir, "logs")
        self.events_path = os.path.join(self.work_dir, EVENTS_NAME)
        self.lock_path = os.path.join(self.work_dir, "store.lock")
        self.scheduler_lock_path = os.path.join(self.work_dir, "loom.lock")
        #: Called with every record written, its path and text (the scheduler ignores its own
        #: writes, and keeps what it wrote in its caches instead of reading it back).
        self.on_write: Callable[[str, str, Record], None] | None = None

    @classmethod
    def find(cls, explicit: str | None = None, cwd: str | None = None) -> Store:
        from loom_tui.core.project import find_work_dir

        return cls(find_work_dir(explicit, cwd))

    def create_layout(self) -> None:
        for sub in SUBDIRS:
            path = os.path.join(self.work_dir, sub)
            try:
                os.makedirs(path, exist_ok=True)
            except OSError as exc:
                raise write_error(path, exc) from None

    def rel(self, path: str) -> str:
        """``path`` relative to the project root, for messages."""
        try:
            return os.path.relpath(path, self.root)
        except ValueError:
            return path

    # locking ----------------------------------------------------------------------------------
    def lock(self) -> FileLock:
        """The store lock, to hold around a read-modify-write (not re-entrant)."""
        return FileLock(self.lock_path)

    # config -----------------------------------------------------------------------------------
    def config(self) -> ProjectConfig:
        from loom_tui.core.config import read_config

        return read_config(self.work_dir)

    # generic record I/O -----------------------------------------------------------------------
    def _read_record(self, cls: type[R], path: str, text: str | None = None) -> R:
        where = self.rel(path)
        try:
            if text is None:
                text = read_text(path)
            else:
                text.encode("utf-8")  # text read for the cache keeps bad bytes as surrogates
        except FileNotFoundError:
            raise
        except (OSError, UnicodeError) as exc:
            raise StoreError(f"{where}: cannot read: {exc}") from None
        data, _body = frontmatter.parse(text, where)
        problems = cls.problems(data)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise StoreError(f"{where}: {problems[0]}{more}")
        name = os.path.basename(path)[:-3]  # every record file is <id>.md
        if data.get("id", name) != name:
            raise StoreError(f"{where}: id: the file is named {name!r} but says {data['id']!r}")
        return cls(**data)

    def _list(self, directory: str) -> Iterator[str]:
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            return
        for name in names:
            if name.endswith(".md") and not name.startswith("."):
                yield os.path.join(directory, name)

    # stages -----------------------------------------------------------------------------------
    def stage_path(self, stage_id: str) -> str:
        if not is_valid_stage_id(stage_id):
            raise UsageError(
                f"invalid stage id {stage_id!r}: use a-z, 0-9, '-' and '_', starting with a "
                "letter or digit"
            )
        return os.path.join(self.stages_dir, f"{stage_id}.md")

    def stage_ids(self) -> list[str]:
        return [os.path.basename(p)[:-3] for p in self._list(self.stages_dir)]

    def read_stage(self, stage_id: str) -> StageRecord:
        """The stage's record; a `StoreError` naming the file and the field when it cannot be
        read (`stage_or_broken` and `stages` quarantine it instead)."""
        path = self.stage_path(stage_id)
        try:
            record = self._read_record(StageRecord, path)
        except FileNotFoundError:
            known = ", ".join(self.stage_ids()) or "none"
            raise NotFound(f"no stage {stage_id!r} in this plan (stages: {known})") from None
        except StoreError as exc:
            raise StoreError(
                f"{exc.message} (`loom stage reset {stage_id}` rebuilds it from the plan)"
            ) from None
        return record

    def stage_or_broken(self, stage_id: str) -> StageRecord:
        """The stage's record, or its quarantined stand-in when the file cannot be read."""
        path = self.stage_path(stage_id)
        try:
            return self._read_record(StageRecord, path)
        except FileNotFoundError:
            return self.read_stage(stage_id)  # raises NotFound
        except StoreError as exc:
            return self._quarantined(path, exc.message)

    def stages(self, cache: RecordCache | None = None) -> list[StageRecord]:
        """Every stage, in plan order (from ``cache`` where a file is unchanged: read-only!).

        A record that cannot be read comes as its quarantined stand-in (see `quarantine`); the
        plan is read only then, once."""
        lookup = quarantine.definitions(self)  # reads the plan only when a record is broken

        def parse(path: str, text: str | None) -> StageRecord:
            try:
                return self._read_record(StageRecord, path, text)
            except StoreError as exc:
                return self._quarantined(path, exc.message, lookup)

        records = []
        for path in self._list(self.stages_dir):
            try:
                records.append(parse(path, None) if cache is None else cache.load(path, parse))
            except FileNotFoundError:
                continue  # removed between listing and reading
            except OSError as exc:  # the cache could not open it
                problem = f"{self.rel(path)}: cannot read: {exc.strerror or exc}"
                records.append(self._quarantined(path, problem, lookup))
        records.sort(key=lambda r: (r.plan_index, r.id))
        return records

    def _quarantined(
        self,
        path: str,
        problem: str,
        lookup: Callable[[str], StageRecord | None] | None = None,
    ) -> StageRecord:
        stage_id = os.path.basename(path)[:-3]
        definition = (lookup or quarantine.definitions(self))(stage_id)
        return quarantine.broken_stage(stage_id, problem, definition)

    def write_stage(self, record: StageRecord, *, durable: bool = True) -> None:
        if quarantine.is_broken(record):  # a stand-in is never written over the broken file
            raise StoreError(f"stage {record.id}: {record.blocked_reason}")
        record.updated_at = time.time()
        body = stage_body(record)
        path = self.stage_path(record.id)
        text = frontmatter.render(record.to_dict(), body)
        atomic_write(path, text, durable=durable)
        if self.on_write is not None:
            self.on_write(path, text, record)

    def update_stage(self, stage_id: str, change: Callable[[StageRecord], None]) -> StageRecord:
        """Read, change and write one stage under the store lock; returns the written record."""
        with self.lock():
            record = self.read_stage(stage_id)
            change(record)
            self.write_stage(record)
        return record

    def update_stages(
        self,
        stage_ids: Iterable[str],
        change: Callable[[StageRecord, dict[str, StageRecord]], bool],
        context: Iterable[str] = (),
        *,
        durable: bool = True,
    ) -> list[StageRecord]:
        """Change many stages under one lock: ``change(record, fresh)`` is called for each of
        ``stage_ids`` with every record read (those and ``context``) and says whether it changed
        the record; the changed ones are written (see `atomic_write` for ``durable``)."""
        ids = list(dict.fromkeys(stage_ids))
        with self.lock():
            fresh = {i: self.read_stage(i) for i in ids}
            for i in context:  # only read: a quarantined one is a dependency not done
                if i not in fresh:
                    fresh[i] = self.stage_or_broken(i)
            changed = [fresh[i] for i in ids if change(fresh[i], fresh)]
            for record in changed:
                self.write_stage(record, durable=False)
            if changed and durable:
                fsync_dir(self.stages_dir)
        return changed

    # sessions ---------------------------------------------------------------------------------
    def session_path(self, session_id: str) -> str:
        _check_session_id(session_id)
        return os.path.join(self.sessions_dir, f"{session_id}.md")

    def read_session(self, session_id: str) -> SessionRecord:
        path = self.session_path(session_id)
        try:
            return self._read_record(SessionRecord, path)
        except FileNotFoundError:
            raise NotFound(f"no session {session_id!r}") from None

    def sessions(self, cache: RecordCache | None = None) -> list[SessionRecord]:
        records = []
        for path in self._list(self.sessions_dir):
            try:
                if cache is None:
                    records.append(self._read_record(SessionRecord, path))
                else:
                    records.append(
                        cache.load(path, lambda p, t: self._read_record(SessionRecord, p, t))
                    )
            except FileNotFoundError:
                continue
        records.sort(key=lambda r: (r.started_at or 0.0, r.id))
        return records

    def write_session(self, record: SessionRecord, *, durable: bool = True) -> None:
        body = session_body(record)
        path = self.session_path(record.id)
        text = frontmatter.render(record.to_dict(), body)
        atomic_write(path, text, durable=durable)
        if self.on_write is not None:
            self.on_write(path, text, record)

    def update_session(
        self, session_id: str, change: Callable[[SessionRecord], None], *, durable: bool = True
    ) -> SessionRecord:
        """Change one session record under the lock (see `atomic_write` for ``durable``)."""
        with self.lock():
            record = self.read_session(session_id)
            change(record)
            self.write_session(record, durable=durable)
        return record

    # signals, handoffs, memory ----------------------------------------------------------------
    def signal_path(self, session_id: str) -> str:
        _check_session_id(session_id)
        return os.path.join(self.signals_dir, f"{session_id}.md")

    def memory_path(self, stage_id: str) -> str:
        self.stage_path(stage_id)  # validates the id
        return os.path.join(self.memory_dir, f"{stage_id}.md")

    def handoff_paths(self, stage_id: str) -> list[str]:
        """The stage's handoff files, oldest first."""
        prefix = f"{stage_id}-handoff-"
        return [p for p in self._list(self.handoffs_dir) if os.path.basename(p).startswith(prefix)]

    # events -----------------------------------------------------------------------------------
    def append_event(self, event: Event, *, strict: bool = False) -> Event:
        """Append one event to events.jsonl, whole or not at all (see `fsutil.append_line`).

        An event reports a change already made, which a full disk must not undo or turn into a
        failure (an agent whose `loom stage complete` failed on its log line would be counted as
        a crash): a line that cannot be written is noted in `UNLOGGED` instead, unless
        ``strict`` (the scheduler, which pauses on a full disk) asks for the `WriteError`."""
        try:
            self.append_json(event.to_json())
        except OSError as exc:
            if strict:
                raise
            message = str(exc)
            if message not in UNLOGGED:
                UNLOGGED.append(message)
        return event

    def append_json(self, data: dict[str, object]) -> None:
        """Append one JSON line to events.jsonl; `append_event` is the way for events."""
        size = append_line(self.events_path, json_line(data))
        if size > EVENTS_ROTATE_BYTES:
            self._rotate_events()

    def _rotate_events(self) -> None:
        with self.lock():
            try:
                if os.path.getsize(self.events_path) > EVENTS_ROTATE_BYTES:
                    os.replace(self.events_path, self.events_path + ".1")
            except OSError:
                pass

    def read_events(self, limit: int | None = None) -> list[dict[str, object]]:
        """The newest ``limit`` events (all when None), oldest first; bad lines are skipped."""
        try:
            with open(self.events_path, encoding="utf-8", errors="replace") as fh:
                lines = fh.readlines()
        except FileNotFoundError:
            return []
        if limit is not None:
            lines = lines[-limit:]
        import json

        out = []
        for line in lines:
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out

    def stale_temp_files(self) -> list[str]:
        """Temporary files left by writers that were killed mid-write."""
        found: list[str] = []
        for directory, _dirs, files in os.walk(self.work_dir):
            found.extend(os.path.join(directory, f) for f in files if f.endswith(TEMP_SUFFIX))
        return found


# --------------------------------------------------------------------------------------------------
# Readable bodies: regenerated from the record at every write, so they never disagree with it.


def stage_body(stage: StageRecord) -> str:
    flags = [f for f, on in (("held", stage.held), ("merged", stage.merged)) if on]
    status = stage.status.value + (f" ({', '.join(flags)})" if flags else "")
    lines = [f"# {stage.name} (`{stage.id}`)", "", stage.description.strip() or "-", ""]
    lines.append(f"- Status: {status}")
    lines.append(f"- Dependencies: {', '.join(stage.dependencies) or 'none'}")
    lines.append(f"- Retries: {stage.retry_count} of {stage.max_retries}")
    lines.append(f"- Context budget: {stage.context_budget}%")
    if stage.session_id:
        percent = "-" if stage.context_percent is None else f"{stage.context_percent:.0f}%"
        lines.append(
            f"- Session: {stage.session_id} (generation {stage.generation}, context {percent})"
        )
    if stage.worktree:
        lines.append(f"- Worktree: {stage.worktree} on branch {stage.branch or '-'}")
    if stage.blocked_reason:
        lines.append(f"- Blocked: {stage.blocked_reason}")
    if stage.handoffs:
        lines.append(f"- Handoffs: {', '.join(stage.handoffs)}")
    lines.append(f"- Updated: {format_time(stage.updated_at)}")
    if stage.acceptance:
        lines += ["", "## Acceptance", ""]
        lines.extend(f"- `{cmd}`" for cmd in stage.acceptance)
    return "\n".join(lines) + "\n"


def session_body(session: SessionRecord) -> str:
    lines = [f"# Session {session.id}", ""]
    lines.append(f"- Stage: {session.stage_id} (generation {session.generation})")
    lines.append(f"- Agent: {session.agent}; status {session.status}")
    if session.pane_id:
        lines.append(f"- tmux: -L {session.tmux_socket} pane {session.pane_id}")
    lines.append(f"- Started: {format_time(session.started_at)}")
    if session.ended_at:
        lines.append(
            f"- Ended: {format_time(session.ended_at)} ({session.end_reason or 'unknown'}, "
            f"exit {session.exit_code if session.exit_code is not None else '?'})"
        )
    if session.context_percent is not None:
        lines.append(
            f"- Context: {session.context_percent:.0f}% ({session.context_tokens or 0} tokens, "
            f"from {session.context_source or '?'})"
        )
    if session.agent_state:
        lines.append(f"- Agent state: {session.agent_state} ({session.agent_state_source})")
    if session.last_lines:
        lines += ["", "## Last lines of the pane", "", "```"]
        lines.extend(session.last_lines)
        lines.append("```")
    return "\n".join(lines) + "\n"
