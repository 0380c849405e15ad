"""Every change loom records, as one typed vocabulary of events.

Whoever changes something appends an `Event`: the scheduler, the CLI (`loom stage hold`), the hooks,
`loom init`.  Each kind has one schema; every event carries a human message, so `events.jsonl` reads
as a story (`tail -f`), and a face that reads it back (`Event.from_json`) gets the same typed event
the scheduler's subscribers got in-process.

Events are declared like frozen, keyword-only dataclasses, but built by the small `_event` decorator
below instead of `dataclasses`: the agent-facing commands (`loom stage complete`, the hooks) write
events too, and importing `dataclasses` costs as much as the rest of such a command.
"""

from __future__ import annotations

import time

from loom_tui.core.textsafe import one_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar, TypeVar, dataclass_transform

    E = TypeVar("E", bound="Event")
else:

    def dataclass_transform(**_options: object) -> Callable[[Any], Any]:
        return lambda fn: fn


_MISSING = object()
#: Every event class by its kind, for `Event.from_json`.
KINDS: dict[str, type[Event]] = {}


@dataclass_transform(kw_only_default=True, frozen_default=True)
def _event(cls: type[E]) -> type[E]:
    """Give ``cls`` a keyword-only ``__init__`` over its annotated fields (ClassVars excluded),
    with the class attributes as defaults, and register it by its ``kind``."""
    fields: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        annotations = klass.__dict__.get("__annotations__") or {}  # noqa: RUF063 - no inspect
        for name, annotation in annotations.items():
            if "ClassVar" in str(annotation):
                continue
            fields[name] = klass.__dict__.get(name, fields.get(name, _MISSING))
    cls._fields = tuple(fields)
    cls._defaults = fields
    KINDS[cls.kind] = cls
    return cls


@_event
class Event:
    """Something that happened to the plan, a stage or a session."""

    kind: ClassVar[str] = "event"
    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, object]] = {}

    stage: str | None = None
    #: who made the change: scheduler, cli, tui, agent, hook, loom
    source: str = "scheduler"
    ts: float = 0.0

    def __init__(self, **values: object) -> None:
        for name in self._fields:
            value = values.pop(name, self._defaults[name])
            if value is _MISSING:
                raise TypeError(f"{type(self).__name__}: missing field {name!r}")
            object.__setattr__(self, name, value)
        if values:
            raise TypeError(f"{type(self).__name__}: unknown field(s) {', '.join(values)}")
        if not self.ts:
            object.__setattr__(self, "ts", time.time())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values().items())
        return f"{type(self).__name__}({inner})"

    def _values(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self._fields}

    def describe(self) -> str:
        return self.kind

    def to_json(self) -> dict[str, object]:
        """The line written to events.jsonl: kind, every field, and the human message."""
        data: dict[str, object] = {"ts": round(self.ts, 6), "kind": self.kind}
        for name in self._fields:
            if name != "ts":
                value = getattr(self, name)
                data[name] = list(value) if isinstance(value, tuple) else value
        data["message"] = self.describe()
        return data

    @staticmethod
    def from_json(data: dict[str, object]) -> Event | None:
        """The typed event of an events.jsonl line (None for an unknown kind or shape)."""
        cls = KINDS.get(str(data.get("kind")))
        if cls is None:
            return None
        values: dict[str, object] = {}
        for name in cls._fields:
            if name in data:
                value = data[name]
                default = cls._defaults.get(name)
                values[name] = (
                    tuple(value)
                    if isinstance(value, list) and isinstance(default, tuple)
                    else value
                )
        try:
            return cls(**values)
        except TypeError:
            return None

    @property
    def needs_attention(self) -> bool:
        """Whether a person should be told (notification, bell)."""
        return False


# --------------------------------------------------------------------------------------------------
# The scheduler and the plan


@_event
class SchedulerStateChanged(Event):
    kind: ClassVar[str] = "scheduler"
    state: str = "running"
    detail: str = ""

    def describe(self) -> str:
        return f"scheduler {self.state}" + (f": {self.detail}" if self.detail else "")


@_event
class PlanInitialised(Event):
    kind: ClassVar[str] = "plan-initialised"
    source: str = "cli"
    plan: str = ""
    stages: int = 0
    base: str = ""

    def describe(self) -> str:
        return f"plan {self.plan} initialised: {self.stages} stage(s) on {self.base}"


@_event
class PlanFinished(Event):
    kind: ClassVar[str] = "plan-finished"
    ok: bool = True
    summary: str = ""

    def describe(self) -> str:
        return ("plan complete: " if self.ok else "plan stuck: ") + self.summary

    @property
    def needs_attention(self) -> bool:
        return True


@_event
class SchedulerError(Event):
    kind: ClassVar[str] = "error"
    message: str = ""

    def describe(self) -> str:
        return f"error: {self.message}"

    @property
    def needs_attention(self) -> bool:
        return True


@_event
class Notice(Event):
    kind: ClassVar[str] = "notice"
    message: str = ""

    def describe(self) -> str:
        return self.message


# --------------------------------------------------------------------------------------------------
# Stages


@_event
class StageStatusChanged(Event):
    """A stage's status changed, whoever changed it (a person's action has its own kind below)."""

    kind: ClassVar[str] = "stage-status"
    old: str = ""
    new: str = ""
    reason: str = ""

    def describe(self) -> str:
        return f"{self.old} → {self.new}" + (f" ({self.reason})" if self.reason else "")

    @property
    def needs_attention(self) -> bool:
        return self.new in ("blocked", "waiting-for-input", "merge-conflict", "needs-human-review")


@_event
class StageAction(Event):
    """A person (or an agent) acted on a stage: hold, release, skip, retry, reset, block, complete,
    resume.  ``status`` is the stage's status after the action; ``old`` before it."""

    kind: ClassVar[str] = "stage-action"
    source: str = "cli"
    old: str = ""
    status: str = ""
    reason: str = ""
    verb: ClassVar[str] = "changed"

    def describe(self) -> str:
        moved = f" ({self.old} → {self.status})" if self.old and self.old != self.status else ""
        why = f": {self.reason}" if self.reason else ""
        return f"{self.verb} by {self.source}{moved}{why}"


@_event
class StageHeld(StageAction):
    kind: ClassVar[str] = "stage-held"
    verb: ClassVar[str] = "held"


@_event
class StageReleased(StageAction):
    kind: ClassVar[str] = "stage-released"
    verb: ClassVar[str] = "released"


@_event
class StageSkipped(StageAction):
    kind: ClassVar[str] = "stage-skipped"
    verb: ClassVar[str] = "skipped"


@_event
class StageRetried(StageAction):
    kind: ClassVar[str] = "stage-retried"
    verb: ClassVar[str] = "retried"


@_event
class StageReset(StageAction):
    kind: ClassVar[str] = "stage-reset"
    verb: ClassVar[str] = "reset"


@_event
class StageBlocked(StageAction):
    kind: ClassVar[str] = "stage-blocked"
    verb: ClassVar[str] = "blocked"

    @property
    def needs_attention(self) -> bool:
        return True


@_event
class StageCompleted(StageAction):
    kind: ClassVar[str] = "stage-completed"
    verb: ClassVar[str] = "completed"
    acceptance: int = 0


@_event
class StageReviewed(StageAction):
    """A person decided on a stage that needed review (``reason``: the rejection's)."""

    kind: ClassVar[str] = "stage-reviewed"
    verdict: str = "approved"

    def describe(self) -> str:
        return f"{self.verdict} in review by {self.source}" + (
            f": {self.reason}" if self.reason else ""
        )


@_event
class StageResumed(StageAction):
    kind: ClassVar[str] = "stage-resumed"
    verb: ClassVar[str] = "resumed from its newest handoff"


@_event
class AcceptanceFailed(Event):
    kind: ClassVar[str] = "acceptance-failed"
    source: str = "cli"
    failed: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"acceptance failed: {', '.join(self.failed[:3])}" + (
            " …" if len(self.failed) > 3 else ""
        )


@_event
class VerifyDone(Event):
    kind: ClassVar[str] = "verify"
    source: str = "cli"
    passed: bool = True
    checks: int = 0
    failed: tuple[str, ...] = ()
    cwd: str = ""

    def describe(self) -> str:
        if self.passed:
            return f"verify: all {self.checks} check(s) pass in {self.cwd}"
        return f"verify: {len(self.failed)} of {self.checks} check(s) fail in {self.cwd}"


@_event
class RetryScheduled(Event):
    kind: ClassVar[str] = "retry-scheduled"
    attempt: int = 1
    of: int = 3
    delay: float = 0.0

    def describe(self) -> str:
        return f"retry {self.attempt} of {self.of} in {self.delay:.1f} s"


# --------------------------------------------------------------------------------------------------
# Sessions


@_event
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


@_event
class SessionAdopted(Event):
    kind: ClassVar[str] = "session-adopted"
    session: str = ""
    pane: str = ""

    def describe(self) -> str:
        return f"session {self.session[:8]} re-adopted in pane {self.pane}"


@_event
class SessionEnded(Event):
    kind: ClassVar[str] = "session-ended"
    session: str = ""
    reason: str = ""
    exit_code: int | None = None

    def describe(self) -> str:
        code = "" if self.exit_code is None else f", exit {self.exit_code}"
        return f"session {self.session[:8]} ended ({self.reason}{code})"


@_event
class ContextReading(Event):
    kind: ClassVar[str] = "context"
    session: str = ""
    percent: float = 0.0
    tokens: int = 0
    window: int = 0
    level: str = "green"
    #: where the figure comes from (statusline, transcript); not who wrote the event
    reading_source: str = ""

    def describe(self) -> str:
        return (
            f"context {self.percent:.0f}% ({self.tokens:,} of {self.window:,} tokens, "
            f"{self.reading_source})"
        )


@_event
class AgentStateChanged(Event):
    kind: ClassVar[str] = "agent-state"
    session: str = ""
    state: str = ""
    #: what told loom (a hook, the pane's text)
    seen_by: str = ""
    detail: str = ""

    def describe(self) -> str:
        detail = f": {self.detail}" if self.detail else ""
        return f"agent {self.state} ({self.seen_by}){detail}"

    @property
    def needs_attention(self) -> bool:
        return self.state in ("waiting-for-input", "needs-permission")


# --------------------------------------------------------------------------------------------------
# Handoffs, memory, merges


@_event
class SessionStalled(Event):
    """A session showed no sign of activity for a while (step ``stalled``, when loom nudged it),
    came back to life (``resumed``), or was ended for it (``ended``)."""

    kind: ClassVar[str] = "stalled"
    session: str = ""
    step: str = "stalled"
    idle_seconds: float = 0.0
    nudged: bool = False

    def describe(self) -> str:
        if self.step == "resumed":
            return "the stalled session shows activity again"
        quiet = f"no activity for {self.idle_seconds:.0f} s"
        if self.step == "ended":
            return f"stalled session ended ({quiet}); the stage resumes from a handoff"
        return f"stalled: {quiet}" + ("; loom nudged the agent" if self.nudged else "")

    @property
    def needs_attention(self) -> bool:
        return self.step == "stalled"


@_event
class HandoffEvent(Event):
    """A step of an enforced handoff: requested, timeout, swapped, loop-guard."""

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
        return self.step == "loop-guard"


@_event
class HandoffWritten(Event):
    kind: ClassVar[str] = "handoff-written"
    session: str | None = None
    path: str = ""
    trigger: str = ""
    written_by: str = ""

    def describe(self) -> str:
        who = {"agent": "the agent", "user": "hand"}.get(self.written_by, "loom")
        return f"handoff {self.path} written by {who} ({self.trigger})"

    @property
    def needs_attention(self) -> bool:
        return True


@_event
class MemoryRecorded(Event):
    kind: ClassVar[str] = "memory"
    source: str = "cli"
    entry: str = "note"
    text: str = ""

    def describe(self) -> str:
        return f"memory {self.entry}: {self.text}"


@_event
class MergeDone(Event):
    kind: ClassVar[str] = "merge-done"
    commit: str | None = None
    base: str = ""

    def describe(self) -> str:
        if self.commit:
            return f"merged into {self.base} ({self.commit[:10]})"
        return f"nothing to merge into {self.base}"


@_event
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


@_event
class MergeWaiting(Event):
    kind: ClassVar[str] = "merge-waiting"
    message: str = ""

    def describe(self) -> str:
        return self.message


@_event
class MergeFailed(Event):
    kind: ClassVar[str] = "merge-failed"
    source: str = "cli"
    message: str = ""

    def describe(self) -> str:
        return self.message

    @property
    def needs_attention(self) -> bool:
        return True


def format_line(event: Event) -> str:
    """One line for a log: time, stage, what happened (control characters escaped: the message
    may quote an agent or a plan)."""
    clock = time.strftime("%H:%M:%S", time.localtime(event.ts))
    return one_line(f"{clock}  {(event.stage or '-'):<14} {event.describe()}")


@_event
class MergeChecked(Event):
    """The stage's gates ran on its merge with the base (see `merge_check.py`)."""

    kind: ClassVar[str] = "merge-checked"
    source: str = "scheduler"
    passed: bool = False
    message: str = ""

    def describe(self) -> str:
        return self.message
