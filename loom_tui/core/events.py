"""What the scheduler tells its faces: one typed event per change.

The TUI's widgets and the headless runner subscribe to these; every event is also appended to
`.work/events.jsonl`, so a read-only TUI (or a person with `tail -f`) sees the same story.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import ClassVar


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"
    stage: str | None = None
    ts: float = field(default_factory=time.time, kw_only=True)

    def describe(self) -> str:
        return self.kind

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["kind"] = self.kind
        data["message"] = self.describe()
        return data

    @property
    def needs_attention(self) -> bool:
        """Whether a person should be told (notification, bell)."""
        return False


@dataclass(frozen=True)
class SchedulerStateChanged(Event):
    kind: ClassVar[str] = "scheduler"
    state: str = "running"
    detail: str = ""

    def describe(self) -> str:
        return f"scheduler {self.state}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class StageStatusChanged(Event):
    kind: ClassVar[str] = "stage-status"
    old: str = ""
    new: str = ""
    reason: str = ""

    def describe(self) -> str:
        return f"{self.old} → {self.new}" + (f" ({self.reason})" if self.reason else "")

    @property
    def needs_attention(self) -> bool:
        return self.new in ("blocked", "waiting-for-input", "merge-conflict")


@dataclass(frozen=True)
class SessionStarted(Event):
    kind: ClassVar[str] = "session-started"
    session: str = ""
    generation: int = 1
    pane: str = ""
    agent: str = ""
    latency_ms: float | None = None

    def describe(self) -> str:
        took = f" in {self.latency_ms:.0f} ms" if self.latency_ms is not None else ""
        return (
            f"session {self.session[:8]} (generation {self.generation}, {self.agent}) "
            f"started in pane {self.pane}{took}"
        )


@dataclass(frozen=True)
class SessionAdopted(Event):
    kind: ClassVar[str] = "session-adopted"
    session: str = ""
    pane: str = ""

    def describe(self) -> str:
        return f"session {self.session[:8]} re-adopted in pane {self.pane}"


@dataclass(frozen=True)
class SessionEnded(Event):
    kind: ClassVar[str] = "session-ended"
    session: str = ""
    reason: str = ""
    exit_code: int | None = None

    def describe(self) -> str:
        code = "" if self.exit_code is None else f", exit {self.exit_code}"
        return f"session {self.session[:8]} ended ({self.reason}{code})"


@dataclass(frozen=True)
class RetryScheduled(Event):
    kind: ClassVar[str] = "retry-scheduled"
    attempt: int = 1
    of: int = 3
    delay: float = 0.0

    def describe(self) -> str:
        return f"retry {self.attempt} of {self.of} in {self.delay:.1f} s"


@dataclass(frozen=True)
class MergeDone(Event):
    kind: ClassVar[str] = "merge-done"
    commit: str | None = None
    base: str = ""

    def describe(self) -> str:
        if self.commit:
            return f"merged into {self.base} ({self.commit[:10]})"
        return f"nothing to merge into {self.base}"


@dataclass(frozen=True)
class MergeConflict(Event):
    kind: ClassVar[str] = "merge-conflict"
    files: tuple[str, ...] = ()
    base: str = ""

    def describe(self) -> str:
        return (
            f"merge into {self.base} conflicts in {', '.join(self.files[:5])}; branch and "
            "worktree kept"
        )

    @property
    def needs_attention(self) -> bool:
        return True


@dataclass(frozen=True)
class MergeWaiting(Event):
    kind: ClassVar[str] = "merge-waiting"
    message: str = ""

    def describe(self) -> str:
        return self.message


@dataclass(frozen=True)
class ContextReading(Event):
    kind: ClassVar[str] = "context"
    session: str = ""
    percent: float = 0.0
    tokens: int = 0
    window: int = 0
    level: str = "green"
    source: str = ""

    def describe(self) -> str:
        return (
            f"context {self.percent:.0f}% ({self.tokens:,} of {self.window:,} tokens, "
            f"{self.source})"
        )


@dataclass(frozen=True)
class AgentStateChanged(Event):
    kind: ClassVar[str] = "agent-state"
    session: str = ""
    state: str = ""
    source: str = ""
    detail: str = ""

    def describe(self) -> str:
        detail = f": {self.detail}" if self.detail else ""
        return f"agent {self.state} ({self.source}){detail}"

    @property
    def needs_attention(self) -> bool:
        return self.state in ("waiting-for-input", "needs-permission")


@dataclass(frozen=True)
class HandoffEvent(Event):
    kind: ClassVar[str] = "handoff"
    session: str = ""
    step: str = ""
    path: str = ""
    trigger: str = ""
    detail: str = ""
    reading_at: float | None = None

    def describe(self) -> str:
        return f"handoff {self.step}" + (f": {self.detail}" if self.detail else "")

    @property
    def needs_attention(self) -> bool:
        return self.step in ("written", "loop-guard")


@dataclass(frozen=True)
class PlanFinished(Event):
    kind: ClassVar[str] = "plan-finished"
    ok: bool = True
    summary: str = ""

    def describe(self) -> str:
        return ("plan complete: " if self.ok else "plan stuck: ") + self.summary

    @property
    def needs_attention(self) -> bool:
        return True


@dataclass(frozen=True)
class SchedulerError(Event):
    kind: ClassVar[str] = "error"
    message: str = ""

    def describe(self) -> str:
        return f"error: {self.message}"

    @property
    def needs_attention(self) -> bool:
        return True


@dataclass(frozen=True)
class Notice(Event):
    kind: ClassVar[str] = "notice"
    message: str = ""

    def describe(self) -> str:
        return self.message


def format_line(event: Event) -> str:
    """One line for a log: time, stage, what happened."""
    clock = time.strftime("%H:%M:%S", time.localtime(event.ts))
    return f"{clock}  {(event.stage or '-'):<14} {event.describe()}"
