"""Stage and session records, the stage statuses and the one table of allowed transitions.

The records are plain classes rather than dataclasses or pydantic models on purpose: they are loaded
by every agent-facing command (`loom stage complete`, the hooks), and `dataclasses` alone costs as
much start-up time as the rest of such a command.  Each record declares its fields once, in
``_FIELDS``; loading checks every value's type and names the file and field that are wrong.
"""

from __future__ import annotations

from loom_tui.core.errors import TransitionError
from loom_tui.core.status import ACTIVE_VALUES, ICONS, STATUS_VALUES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import ClassVar, TypeVar

    _R = TypeVar("_R", bound="Record")


class _StatusType(type):
    """`Status`'s metaclass: ``for s in Status``, and ``Status(value)`` giving the one member.

    Not `enum.StrEnum`: `enum` (with the `functools` and `collections` it imports) costs most of
    a bare Python start, and every agent-facing command loads this module.  `Status` keeps what
    loom uses of a string enum: members that are their values as ``str`` (equal, hashed and
    printed as such, compared with ``is``), ``.value`` and ``.name``, iteration in declaration
    order, and ``Status(value)`` raising `ValueError` for an unknown value.
    """

    _members: dict[str, Status]

    def __iter__(cls) -> Iterator[Status]:
        return iter(cls._members.values())

    def __len__(cls) -> int:
        return len(cls._members)

    def __call__(cls, value: object) -> Status:
        member = cls._members.get(value) if isinstance(value, str) else None
        if member is None:
            raise ValueError(f"{value!r} is not a valid Status")
        return member


class Status(str, metaclass=_StatusType):
    """A stage's status, written in kebab-case in `.work/stages/<id>.md`."""

    __slots__ = ()

    WAITING_FOR_DEPS: ClassVar[Status]
    QUEUED: ClassVar[Status]
    EXECUTING: ClassVar[Status]
    COMPLETED: ClassVar[Status]
    BLOCKED: ClassVar[Status]
    NEEDS_HANDOFF: ClassVar[Status]
    WAITING_FOR_INPUT: ClassVar[Status]
    MERGE_CONFLICT: ClassVar[Status]
    SKIPPED: ClassVar[Status]
    #: loom gave up on its own (the same failure ran out of retries): a person decides what next
    NEEDS_HUMAN_REVIEW: ClassVar[Status]

    @property
    def value(self) -> str:
        return str.__str__(self)

    @property
    def name(self) -> str:
        return self.value.upper().replace("-", "_")

    __str__ = str.__str__
    __format__ = str.__format__

    def __repr__(self) -> str:
        return f"<Status.{self.name}: {self.value!r}>"

    def __reduce__(self) -> tuple[type[Status], tuple[str]]:
        return (Status, (self.value,))  # unpickled and copied as the one member

    def __copy__(self) -> Status:
        return self

    def __deepcopy__(self, memo: object) -> Status:
        return self


Status._members = {}
for _value in STATUS_VALUES:
    _member = str.__new__(Status, _value)
    Status._members[_value] = _member
    setattr(Status, _member.name, _member)
del _value, _member


S = Status

#: Every allowed status change, and only these.  Going back to ``waiting-for-deps`` or ``queued``
#: from a later status is what ``loom stage reset`` does; ``retry`` takes a blocked stage to queued.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.WAITING_FOR_DEPS: frozenset({S.QUEUED, S.BLOCKED, S.SKIPPED}),
    S.QUEUED: frozenset({S.EXECUTING, S.WAITING_FOR_DEPS, S.BLOCKED, S.SKIPPED}),
    S.EXECUTING: frozenset(
        {
            S.COMPLETED,
            S.BLOCKED,
            S.NEEDS_HANDOFF,
            S.WAITING_FOR_INPUT,
            S.SKIPPED,
            S.QUEUED,
            S.WAITING_FOR_DEPS,
            S.NEEDS_HUMAN_REVIEW,
            S.MERGE_CONFLICT,
        }
    ),
    S.NEEDS_HANDOFF: frozenset(
        {
            S.EXECUTING,
            S.COMPLETED,
            S.BLOCKED,
            S.SKIPPED,
            S.QUEUED,
            S.WAITING_FOR_DEPS,
            S.NEEDS_HUMAN_REVIEW,
            S.MERGE_CONFLICT,
        }
    ),
    S.WAITING_FOR_INPUT: frozenset(
        {
            S.EXECUTING,
            S.COMPLETED,
            S.BLOCKED,
            S.NEEDS_HANDOFF,
            S.SKIPPED,
            S.QUEUED,
            S.WAITING_FOR_DEPS,
            S.NEEDS_HUMAN_REVIEW,
            S.MERGE_CONFLICT,
        }
    ),
    S.BLOCKED: frozenset(
        {S.QUEUED, S.COMPLETED, S.SKIPPED, S.WAITING_FOR_DEPS, S.NEEDS_HUMAN_REVIEW}
    ),
    S.NEEDS_HUMAN_REVIEW: frozenset({S.QUEUED, S.COMPLETED, S.SKIPPED, S.WAITING_FOR_DEPS}),
    S.COMPLETED: frozenset({S.MERGE_CONFLICT, S.QUEUED, S.WAITING_FOR_DEPS}),
    S.MERGE_CONFLICT: frozenset(
        {S.COMPLETED, S.SKIPPED, S.QUEUED, S.WAITING_FOR_DEPS, S.NEEDS_HUMAN_REVIEW}
    ),
    S.SKIPPED: frozenset({S.QUEUED, S.WAITING_FOR_DEPS}),
}

#: The icon of each status, wherever a status is shown (the TUI, `loom status`).
STATUS_ICONS = {Status(value): icon for value, icon in ICONS.items()}

#: Statuses a stage never leaves on its own.
TERMINAL = frozenset({S.COMPLETED, S.SKIPPED})
#: Statuses in which the stage has (or is getting) a live agent session.
ACTIVE = frozenset(Status(value) for value in ACTIVE_VALUES)
#: Statuses that need a person: shown first by the TUI's "next needing attention" key.
NEEDS_ATTENTION = frozenset(
    {S.WAITING_FOR_INPUT, S.BLOCKED, S.MERGE_CONFLICT, S.NEEDS_HUMAN_REVIEW}
)


def can_transition(old: Status, new: Status) -> bool:
    """Whether the table allows ``old -> new``."""
    return new in TRANSITIONS[old]


def check_transition(stage_id: str, old: Status, new: Status) -> None:
    """Raise a `TransitionError` naming both statuses unless the table allows ``old -> new``."""
    if not can_transition(old, new):
        raise TransitionError(f"stage {stage_id}: cannot go from {old} to {new}")


# --------------------------------------------------------------------------------------------------
# Records


class _Field:
    """One field of a record: its name, its kind (for checking loaded values) and its default."""

    __slots__ = ("default", "kind", "name")

    def __init__(self, name: str, kind: str, default: object = None) -> None:
        self.name = name
        self.kind = kind
        self.default = default


_KIND_NAMES = {
    "str": "a string",
    "str?": "a string or null",
    "int": "an integer",
    "int?": "an integer or null",
    "num?": "a number or null",
    "bool": "true or false",
    "list": "a list",
    "strs": "a list of strings",
    "dict": "a mapping",
    "dict?": "a mapping or null",
    "status": "a stage status",
}


def _check(kind: str, value: object) -> bool:
    if kind.endswith("?") and value is None:
        return True
    base = kind.rstrip("?")
    if base in ("str", "status"):
        return isinstance(value, str)
    if base == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if base == "num":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if base == "bool":
        return isinstance(value, bool)
    if base == "list":
        return isinstance(value, list)
    if base == "strs":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if base == "dict":
        return isinstance(value, dict)
    return False  # pragma: no cover - every kind is listed above


def _copy_default(value: object) -> object:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


class Record:
    """Base of the stored records: field checking, defaults and dict conversion."""

    _FIELDS: tuple[_Field, ...] = ()
    _REQUIRED: tuple[str, ...] = ()

    #: Keys found in the file that this version of loom does not know; written back unchanged.
    extra: dict[str, object]

    def __init__(self, **values: object) -> None:
        for f in self._FIELDS:
            setattr(self, f.name, _copy_default(values.pop(f.name, f.default)))
        self.extra = values

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in cls._FIELDS]

    @classmethod
    def problems(cls, data: dict[str, object]) -> list[str]:
        """What is wrong with ``data`` as this record, one message per field."""
        out = [f"{name}: required field is missing" for name in cls._REQUIRED if name not in data]
        for f in cls._FIELDS:
            if f.name not in data:
                continue
            value = data[f.name]
            if not _check(f.kind, value):
                out.append(f"{f.name}: expected {_KIND_NAMES[f.kind]}, got {value!r}")
            elif f.kind == "status" and value not in _STATUS_VALUES:
                known = ", ".join(s.value for s in Status)
                out.append(f"{f.name}: unknown status {value!r} (known: {known})")
        return out

    def copy(self: _R) -> _R:
        """An independent copy (its lists and mappings too), without re-checking its fields."""
        clone = object.__new__(type(self))
        state = clone.__dict__
        state.update(self.__dict__)
        for name, value in state.items():
            if type(value) is list:
                state[name] = list(value)
            elif type(value) is dict:
                state[name] = dict(value)
        return clone

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in self._FIELDS:
            value = getattr(self, f.name)
            out[f.name] = value.value if isinstance(value, Status) else value
        out.update(self.extra)
        return out

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Record)
            and type(other) is type(self)
            and (self.to_dict() == other.to_dict())
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"


_STATUS_VALUES = frozenset(s.value for s in Status)


#: The fields a context reading changes (a session's figures; a stage's `context_percent` copies
#: its session's): written often and without fsync (`engine/observer.py`), and shown by the TUI on
#: its next beat rather than at once (`tui/live_records.py`).
GAUGE_FIELDS = frozenset(
    {
        "context_percent",
        "context_tokens",
        "context_window",
        "context_source",
        "context_at",
        "cost_usd",
        "input_tokens",
        "output_tokens",
    }
)


class StageRecord(Record):
    """A stage: its definition (copied from the plan at init) and its run state.

    The definition is kept in the record so that `loom stage complete` can run the acceptance
    commands without parsing the plan again, and so that editing the plan file after `init` does not
    change a running stage behind the scheduler's back.
    """

    _FIELDS = (
        # definition, from the plan
        _Field("id", "str", ""),
        _Field("name", "str", ""),
        _Field("description", "str", ""),
        _Field("dependencies", "strs", []),
        _Field("acceptance", "strs", []),
        _Field("files", "strs", []),
        _Field("context_budget", "int", 65),
        _Field("truths", "strs", []),
        _Field("artifacts", "strs", []),
        _Field("wiring", "list", []),
        _Field("model", "str", "opus"),
        _Field("agent", "str?", None),
        #: Claude Code's effort level for the stage's sessions (``--effort``), or its default
        _Field("reasoning_effort", "str?", None),
        _Field("skills", "strs", []),
        _Field("max_retries", "int", 3),
        _Field("sandbox", "dict?", None),
        _Field("sim", "dict?", None),
        #: what each acceptance command's run must show besides exit 0, by position (``{}``: just
        #: exit 0); the object form of the original loom's plans
        _Field("acceptance_checks", "list", []),
        #: where acceptance, truths and setup run, relative to the worktree
        _Field("working_dir", "str", "."),
        #: commands run in the worktree before each session's agent starts
        _Field("setup", "strs", []),
        #: standard, knowledge, integration-verify or knowledge-distill (the original's types)
        _Field("stage_type", "str", "standard"),
        _Field("plan_index", "int", 0),
        # run state
        _Field("status", "status", Status.WAITING_FOR_DEPS.value),
        _Field("held", "bool", False),
        _Field("merged", "bool", False),
        _Field("retry_count", "int", 0),
        _Field("generation", "int", 0),
        _Field("session_id", "str?", None),
        _Field("context_percent", "num?", None),
        _Field("handoffs", "strs", []),
        _Field("blocked_reason", "str?", None),
        _Field("failure", "dict?", None),
        #: how many failures of each kind the stage had (crash, acceptance, stalled, …)
        _Field("failure_counts", "dict?", None),
        #: the newest `loom stage complete` whose acceptance failed: which session, the failing
        #: commands and the tail of their output (shown to the next session)
        _Field("acceptance_failure", "dict?", None),
        #: when its session was found stalled (no hook, transcript or pane change for a while)
        _Field("stalled_at", "num?", None),
        #: seconds without any sign of activity before a session counts as stalled (None: the
        #: project's `stall_seconds`)
        _Field("stall_seconds", "num?", None),
        #: notes from a person for the stage's next session (`retry --context`, a review's
        #: rejection), shown in its signal until the stage completes or is reset
        _Field("guidance", "strs", []),
        #: why a person skipped it (`skip --reason`)
        _Field("skip_reason", "str?", None),
        #: the next session starts from the base in a new worktree (a hard reset, or a
        #: dependency that was reset); else it continues on the stage's branch
        _Field("fresh_start", "bool", False),
        _Field("next_retry_at", "num?", None),
        _Field("worktree", "str?", None),
        _Field("branch", "str?", None),
        _Field("merge_commit", "str?", None),
        _Field("handoff_head", "str?", None),
        _Field("handoff_streak", "int", 0),
        #: its branch conflicted with the base: its sessions resolve that (merge the base into
        #: the branch, commit, `loom merge`) instead of doing the assignment; cleared once merged
        _Field("resolving", "bool", False),
        #: resolver sessions queued for the stage's conflicts (bounded by `resolver_attempts`)
        _Field("resolver_attempts", "int", 0),
        #: the files its newest merge into the base conflicted in
        _Field("conflict_files", "strs", []),
        #: its merged result is being checked (see `merge_check.py`): set before its branch takes
        #: the base in, cleared with the result, so that a killed check is made again
        _Field("merge_check_pending", "bool", False),
        _Field("created_at", "num?", None),
        _Field("updated_at", "num?", None),
        _Field("started_at", "num?", None),
        _Field("completed_at", "num?", None),
    )
    _REQUIRED = ("id", "name", "status")

    id: str
    name: str
    description: str
    dependencies: list[str]
    acceptance: list[str]
    files: list[str]
    context_budget: int
    truths: list[str]
    artifacts: list[str]
    wiring: list[object]
    model: str
    agent: str | None
    reasoning_effort: str | None
    skills: list[str]
    max_retries: int
    sandbox: dict[str, object] | None
    sim: dict[str, object] | None
    acceptance_checks: list[object]
    working_dir: str
    setup: list[str]
    stage_type: str
    plan_index: int
    held: bool
    merged: bool
    retry_count: int
    generation: int
    session_id: str | None
    context_percent: float | None
    handoffs: list[str]
    blocked_reason: str | None
    failure: dict[str, object] | None
    failure_counts: dict[str, object] | None
    acceptance_failure: dict[str, object] | None
    stalled_at: float | None
    stall_seconds: float | None
    guidance: list[str]
    skip_reason: str | None
    fresh_start: bool
    next_retry_at: float | None
    worktree: str | None
    branch: str | None
    merge_commit: str | None
    handoff_head: str | None
    handoff_streak: int
    resolving: bool
    merge_check_pending: bool
    resolver_attempts: int
    conflict_files: list[str]
    created_at: float | None
    updated_at: float | None
    started_at: float | None
    completed_at: float | None

    def __init__(self, **values: object) -> None:
        super().__init__(**values)
        self.status = Status(self.status)

    status: Status

    @property
    def done(self) -> bool:
        """Whether dependents may start: completed and merged, or skipped."""
        if self.status is Status.SKIPPED:
            return True
        return self.status is Status.COMPLETED and self.merged

    @property
    def attention(self) -> str | None:
        """Why the stage needs a person now, in the words `status` and the TUI show (None: it
        does not).  A stalled stage is still executing, so its status alone does not say it."""
        if self.status in ACTIVE and self.stalled_at is not None:
            return "stalled"
        if self.status in NEEDS_ATTENTION:
            return self.status.value
        return None

    def set_status(self, new: Status) -> None:
        """Change the status through the transition table (no-op when unchanged)."""
        if new is self.status:
            return
        check_transition(self.id, self.status, new)
        self.status = new


class SessionRecord(Record):
    """One agent session of a stage: a process in a tmux pane, from start to end.

    A stage has one session per generation: a handoff or a retry starts the next generation with a
    fresh session id.
    """

    _FIELDS = (
        _Field("id", "str", ""),
        _Field("stage_id", "str", ""),
        _Field("generation", "int", 1),
        _Field("agent", "str", "sim"),
        _Field("status", "str", "starting"),
        _Field("tmux_socket", "str?", None),
        _Field("pane_id", "str?", None),
        _Field("window", "str?", None),
        _Field("pid", "int?", None),
        _Field("worktree", "str?", None),
        _Field("model", "str?", None),
        _Field("started_at", "num?", None),
        _Field("ended_at", "num?", None),
        _Field("exit_code", "int?", None),
        _Field("end_reason", "str?", None),
        _Field("last_lines", "strs", []),
        _Field("transcript_path", "str?", None),
        _Field("context_percent", "num?", None),
        _Field("context_tokens", "int?", None),
        _Field("context_window", "int?", None),
        _Field("context_source", "str?", None),
        _Field("context_at", "num?", None),
        _Field("input_tokens", "int?", None),
        _Field("output_tokens", "int?", None),
        _Field("cost_usd", "num?", None),
        _Field("agent_state", "str?", None),
        _Field("agent_state_source", "str?", None),
        _Field("agent_state_at", "num?", None),
        _Field("handoff_requested_at", "num?", None),
        _Field("handoff", "str?", None),
        _Field("precompact_blocked_at", "num?", None),
        _Field("handoff_trigger", "str?", None),
        _Field("handoff_at", "num?", None),
        _Field("handoff_pasted_at", "num?", None),
        _Field("stop_at", "num?", None),
        #: found stalled at (None: not stalled); loom nudged it then, and ends it a while later
        _Field("stalled_at", "num?", None),
        #: ``resolve``: a resolver session (its stage's branch conflicted with the base)
        _Field("purpose", "str?", None),
    )
    _REQUIRED = ("id", "stage_id")

    id: str
    stage_id: str
    generation: int
    agent: str
    status: str
    tmux_socket: str | None
    pane_id: str | None
    window: str | None
    pid: int | None
    worktree: str | None
    model: str | None
    started_at: float | None
    ended_at: float | None
    exit_code: int | None
    end_reason: str | None
    last_lines: list[str]
    transcript_path: str | None
    context_percent: float | None
    context_tokens: int | None
    context_window: int | None
    context_source: str | None
    context_at: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    agent_state: str | None
    agent_state_source: str | None
    agent_state_at: float | None
    handoff_requested_at: float | None
    handoff: str | None
    precompact_blocked_at: float | None
    handoff_trigger: str | None
    handoff_at: float | None
    handoff_pasted_at: float | None
    stop_at: float | None
    stalled_at: float | None
    purpose: str | None

    @property
    def live(self) -> bool:
        return self.status in ("starting", "running")


def dependents_of(stage_id: str, stages: Iterable[StageRecord]) -> list[StageRecord]:
    """The stages that list ``stage_id`` among their dependencies."""
    return [s for s in stages if stage_id in s.dependencies]
