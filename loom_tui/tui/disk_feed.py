"""What other processes change in `.work/`, read from disk by one worker of the app.

The CLI, the agents' `loom stage …` commands and another loom write stage records and append to
`events.jsonl`; the scheduler in this process is told nothing of that.  `DiskFeed` watches the
stage and session folders and the event log (inotify through watchfiles, not recursive), skips the
files this process wrote itself (by inode, see `LiveRecords.is_own_write`), re-reads only the
changed records, and reads only the new lines of the log.  What it finds goes to the app as
messages: `RecordWritten`, `RecordGone` and `EventsRead`.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import TYPE_CHECKING

from textual.message import Message

from loom_tui.tui.live_records import LiveRecords, RecordGone, RecordWritten

if TYPE_CHECKING:
    from textual.app import App


class EventsRead(Message):
    """New lines of events.jsonl (as dicts), in order."""

    def __init__(self, events: list[dict[str, object]]) -> None:
        super().__init__()
        self.events = events


class EventTail:
    """Reads events.jsonl from where it last stopped (from the start again after a rotation)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0

    def skip_to_end(self) -> None:
        try:
            self.offset = os.path.getsize(self.path)
        except OSError:
            self.offset = 0

    def read_new(self) -> list[dict[str, object]]:
        try:
            with open(self.path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < self.offset:  # rotated: the new file starts afresh
                    self.offset = 0
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        events = []
        for raw in data[: end + 1].splitlines():
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
        return events


class DiskFeed:
    """The watcher; `run` is the app's worker (group "watch"), until the app ends."""

    def __init__(self, app: App[object], records: LiveRecords, tail: EventTail) -> None:
        self.app = app
        self.records = records
        self.tail = tail

    def _read(self, paths: set[str]) -> tuple[list[Message], list[dict[str, object]]]:
        """In a thread: the changed records (not this process's own writes) and new events."""
        messages: list[Message] = []
        store = self.records.store
        for path in sorted(paths):
            folder = os.path.dirname(path)
            if folder not in (store.stages_dir, store.sessions_dir):
                continue
            if self.records.is_own_write(path):
                continue
            if not os.path.exists(path):
                messages.append(RecordGone(path))
                continue
            record = self.records.read_path(path)
            if record is not None:
                messages.append(RecordWritten(path, record))
        events = self.tail.read_new() if self.tail.path in paths else []
        return messages, events

    async def run(self) -> None:
        from watchfiles import awatch

        store = self.records.store
        folders = [store.stages_dir, store.sessions_dir, store.work_dir]
        for folder in folders:
            os.makedirs(folder, exist_ok=True)
        wanted = {store.stages_dir, store.sessions_dir}
        events_path = self.tail.path

        def relevant(_change: object, path: str) -> bool:
            if path == events_path:
                return True
            name = os.path.basename(path)
            return (
                name.endswith(".md")
                and not name.startswith(".")
                and os.path.dirname(path) in wanted
            )

        async for changes in awatch(
            *folders, watch_filter=relevant, debounce=100, step=20, recursive=False
        ):
            paths = {path for _change, path in changes}
            messages, events = await asyncio.to_thread(self._read, paths)
            for message in messages:
                self.app.post_message(message)
            if events:
                self.app.post_message(EventsRead(events))
