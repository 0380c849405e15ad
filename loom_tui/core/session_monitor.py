"""Watching one session: its hook log, its transcript and (last) its pane text.

For each live session the scheduler asks `SessionMonitor.poll` what is new.  It reads only what was
appended to `.work/hooks/<sid>.jsonl` since the last call (in either writer's shape, see
`hook_log`), and the transcript only when it changed,
from its end.  It answers with the newest context reading and the agent's state, saying which source
decided: hooks first (UserPromptSubmit, Pre/PostToolUse, Stop, Notification), pane liveness second,
pane text last (a first-run dialog, or a permission prompt before its hook fires).
"""

from __future__ import annotations

import json
import os
import time

from loom_tui.core import context
from loom_tui.core.agents import claude_code
from loom_tui.core.hook_log import normalize

TYPE_CHECKING = False
if TYPE_CHECKING:
    from loom_tui.core.model import SessionRecord

WORKING = "working"
WAITING_FOR_INPUT = "waiting-for-input"
NEEDS_PERMISSION = "needs-permission"
FINISHED_TURN = "finished-turn"
STARTING = "starting"
DEAD = "dead"

#: Agent states in which the stage needs a person.
WAITING_STATES = frozenset({WAITING_FOR_INPUT, NEEDS_PERMISSION})

_STATE_OF_EVENT = {
    "SessionStart": STARTING,
    "UserPromptSubmit": WORKING,
    "PreToolUse": WORKING,
    "PostToolUse": WORKING,
    "Stop": FINISHED_TURN,
    "SessionEnd": DEAD,
}
#: How long hooks must be silent before the pane's text is consulted.
PANE_TEXT_AFTER = 4.0


class AgentState:
    __slots__ = ("at", "detail", "source", "state")

    def __init__(self, state: str, source: str, at: float, detail: str = "") -> None:
        self.state = state
        self.source = source
        self.at = at
        self.detail = detail

    def __repr__(self) -> str:
        return f"AgentState({self.state} by {self.source})"


class Update:
    """What is new about a session since the previous poll."""

    def __init__(self) -> None:
        self.reading: context.Reading | None = None
        self.state: AgentState | None = None
        self.cost_usd: float | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.precompact: bool = False
        self.stop_at: float | None = None
        self.transcript_path: str | None = None
        self.events: list[dict[str, object]] = []


class _Track:
    __slots__ = (
        "hook_offset",
        "last_hook_at",
        "last_pane_check",
        "last_write",
        "statusline",
        "transcript_key",
        "transcript_reading",
        "window",
    )

    def __init__(self) -> None:
        self.hook_offset = 0
        self.last_hook_at = 0.0
        #: the newest modification time of the hook log or the transcript, as last polled
        self.last_write = 0.0
        self.last_pane_check = 0.0
        self.statusline: context.Reading | None = None
        self.transcript_key: tuple[int, int] | None = None
        self.transcript_reading: context.Reading | None = None
        self.window: int | None = None  # the window Claude Code reports (statusLine)


class SessionMonitor:
    def __init__(self, hooks_dir: str) -> None:
        self.hooks_dir = hooks_dir
        self._tracks: dict[str, _Track] = {}

    def forget(self, session_id: str) -> None:
        self._tracks.pop(session_id, None)

    def _track(self, session_id: str) -> _Track:
        track = self._tracks.get(session_id)
        if track is None:
            track = self._tracks[session_id] = _Track()
        return track

    def _new_hook_records(self, session_id: str, track: _Track) -> list[dict[str, object]]:
        path = os.path.join(self.hooks_dir, f"{session_id}.jsonl")
        try:
            with open(path, "rb") as fh:
                written_at = os.fstat(fh.fileno()).st_mtime
                track.last_write = max(track.last_write, written_at)
                fh.seek(track.hook_offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        track.hook_offset += end + 1
        out = []
        for raw in data[: end + 1].splitlines():
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            if isinstance(value, dict):
                # the sh fast path's lines are Claude Code's payloads, stamped by the file's time
                out.append(normalize(value, written_at))
        return out

    def poll(self, session: SessionRecord) -> Update:
        track = self._track(session.id)
        update = Update()
        for record in self._new_hook_records(session.id, track):
            update.events.append(record)
            event = str(record.get("event"))
            ts = float(record.get("ts") or time.time())  # type: ignore[arg-type]
            track.last_hook_at = max(track.last_hook_at, ts)
            transcript = record.get("transcript")
            if isinstance(transcript, str) and transcript:
                update.transcript_path = transcript
            if event == "statusline":
                size = record.get("context_window_size") or record.get("window")
                if isinstance(size, int) and size > 0:
                    track.window = size
                tokens = record.get("tokens")
                window = record.get("window")
                if isinstance(tokens, int) and isinstance(window, int):
                    model = record.get("model")
                    track.statusline = context.Reading(
                        tokens,
                        window,
                        "statusline",
                        model=model if isinstance(model, str) else None,
                        ts=ts,
                    )
                cost = record.get("cost_usd")
                if isinstance(cost, int | float):
                    update.cost_usd = float(cost)
                tin, tout = record.get("total_input_tokens"), record.get("total_output_tokens")
                if isinstance(tin, int):
                    update.input_tokens = tin
                if isinstance(tout, int):
                    update.output_tokens = tout
                continue
            if event == "PreCompact":
                update.precompact = True
                continue
            if event == "Notification":
                kind = record.get("type")
                if kind == "permission_prompt":
                    update.state = AgentState(
                        NEEDS_PERMISSION, "hook:Notification", ts, str(record.get("message") or "")
                    )
                elif kind == "idle_prompt":
                    update.state = AgentState(
                        WAITING_FOR_INPUT, "hook:Notification", ts, str(record.get("message") or "")
                    )
                continue
            state = _STATE_OF_EVENT.get(event)
            if event == "Stop" and record.get("blocked"):
                state = WORKING  # loom's Stop hook kept the agent going (its handoff request)
            if state is not None:
                detail = str(record.get("tool") or "")
                update.state = AgentState(state, f"hook:{event}", ts, detail)
                if event == "Stop" and state == FINISHED_TURN:
                    update.stop_at = ts
        update.reading = self._best_reading(session, track, update.transcript_path)
        return update

    def _best_reading(
        self, session: SessionRecord, track: _Track, transcript: str | None
    ) -> context.Reading | None:
        path = transcript or session.transcript_path
        if path:
            st: os.stat_result | None
            try:
                st = os.stat(path)
            except OSError:
                st = None
            if st is not None:
                track.last_write = max(track.last_write, st.st_mtime)
            # A statusLine reading stamped at or after the transcript's last write wins in
            # `newest` anyway: the transcript is parsed only when it could be the newer one.
            statusline = track.statusline
            if st is not None and not (
                statusline is not None and (statusline.ts or 0.0) >= st.st_mtime
            ):
                key = (st.st_mtime_ns, st.st_size)
                if key != track.transcript_key:
                    track.transcript_key = key
                    reading = context.from_transcript(path, session.model)
                    if reading is not None:
                        reading.ts = st.st_mtime
                        track.transcript_reading = reading
        reading = track.transcript_reading
        if reading is not None and track.window and reading.window != track.window:
            # The transcript names the model, not its window: the statusLine's figure wins
            # (2.1.332 gives `claude-opus-5-5` a 1M window without a `[1m]` suffix).
            reading = track.transcript_reading = context.Reading(
                reading.tokens, track.window, "transcript", model=reading.model, ts=reading.ts
            )
        return context.newest(track.statusline, reading)

    def last_write(self, session_id: str) -> float:
        """When the session's hook log or transcript was last written, as of the last poll
        (0.0 before any)."""
        track = self._tracks.get(session_id)
        return track.last_write if track is not None else 0.0

    def hooks_quiet_for(self, session: SessionRecord, now: float) -> float:
        track = self._track(session.id)
        last = track.last_hook_at or session.started_at or now
        return now - last

    def wants_pane_text(self, session: SessionRecord, now: float) -> bool:
        """Whether to look at the pane: hooks silent for a while, not looked at just now."""
        track = self._track(session.id)
        if now - track.last_pane_check < PANE_TEXT_AFTER:
            return False
        if self.hooks_quiet_for(session, now) < PANE_TEXT_AFTER:
            return False
        track.last_pane_check = now
        return True


def state_from_pane_text(lines: list[str], now: float) -> AgentState | None:
    """The agent's state read off its screen: the last resort, for dialogs that fire no hook."""
    text = "\n".join(lines[-30:])
    if claude_code.PANE_TRUST.search(text):
        return AgentState(WAITING_FOR_INPUT, "pane-text", now, "first-run trust dialog")
    if claude_code.PANE_PERMISSION.search(text):
        return AgentState(NEEDS_PERMISSION, "pane-text", now, "permission dialog")
    if claude_code.PANE_BUSY.search(text):
        return AgentState(WORKING, "pane-text", now)
    return None
