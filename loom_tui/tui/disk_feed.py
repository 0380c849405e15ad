"""What other processes change in `.work/`, read from disk by one worker of the app.

The CLI, the agents' `loom stage …` commands and another loom write stage records and append to
`events.jsonl`; the scheduler in this process is told nothing of that.  `DiskFeed` watches the
stage and session folders (inotify on the event loop, `core.dirwatch`; not recursive), skips the
files this process wrote itself (by inode, see `LiveRecords.is_own_write`) and re-reads the changed
records; the event log is looked at once a second and only its new lines are read, skipping this
process's own lines unparsed.  What it finds goes to the app as
messages: `RecordWritten`, `RecordGone` and `EventsRead`.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
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

    def read_new(
        self, skip: Callable[[str], bool] = lambda _line: False
    ) -> list[dict[str, object]]:
        """The new complete lines as dicts, but those ``skip`` recognises (this process's own,
        matched as text: most lines are, and parsing them would be wasted)."""
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
            line = raw.decode("utf-8", "surrogateescape")
            if skip is not None and skip(line):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
        return events


class DiskFeed:
    """The watcher; `run` is the app's worker (group "watch"), until the app ends."""

    def __init__(
        self,
        app: App[object],
        records: LiveRecords,
        tail: EventTail,
        own_line: Callable[[str], bool],
    ) -> None:
        self.app = app
        self.records = records
        self.tail = tail
        self.own_line = own_line
        self._polling = False

    def _read(self, paths: set[str]) -> list[Message]:
        """In a thread: the changed records, as they are now."""
        messages: list[Message] = []
        for path in sorted(paths):
            if not os.path.exists(path):
                messages.append(RecordGone(path))
                continue
            record = self.records.read_path(path)
            if record is not None:
                messages.append(RecordWritten(path, record))
        return messages

    def _read_events(self) -> list[dict[str, object]]:
        return self.tail.read_new(self.own_line)

    async def poll_events(self) -> None:
        """Read what others appended to events.jsonl, if it grew (one `stat` when it did not).

        Not watched: this process's own scheduler appends to it several times a second, and a
        wake-up for each would cost more than this look once a second."""
        try:
            size = os.stat(self.tail.path).st_size
        except OSError:
            return
        if size == self.tail.offset or self._polling:
            return
        self._polling = True
        try:
            events = await asyncio.to_thread(self._read_events)
        finally:
            self._polling = False
        if events:
            self.app.post_message(EventsRead(events))

    async def run(self) -> None:
        """Watch the stage and session folders; this process's own writes are left out by the
        filter (one `stat`), so that they wake nothing.  After the kernel's queue overflowed,
        every record in the folders is read again."""
        from loom_tui.core.dirwatch import OVERFLOW, watch_folders

        store = self.records.store
        folders = [store.stages_dir, store.sessions_dir]
        for folder in folders:
            os.makedirs(folder, exist_ok=True)
        wanted = set(folders)

        def relevant(_kind: str, path: str) -> bool:
            name = os.path.basename(path)
            return (
                name.endswith(".md")
                and not name.startswith(".")
                and os.path.dirname(path) in wanted
                and not self.records.is_own_write(path)
            )

        async for changes in watch_folders(folders, relevant):
            paths = {path for kind, path in changes if kind != OVERFLOW}
            for kind, folder in changes:
                if kind == OVERFLOW:
                    paths.update(_records_in(folder))
            for message in await asyncio.to_thread(self._read, paths):
                self.app.post_message(message)


def _records_in(folder: str) -> list[str]:
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names if n.endswith(".md") and not n.startswith(".")]
