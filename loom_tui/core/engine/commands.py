"""What `decide` asks for: each command is a value, carried out by the `Executor`.

A command names the state it expects (a stage's session, a retry's due time), and the executor
re-checks that under the store lock before writing, so a command that arrives after the world moved
(a person held the stage, an agent completed it) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from loom_tui.core.engine.world import PaneView
from loom_tui.core.model import Status


@dataclass(frozen=True, slots=True)
class Command:
    stage: str


@dataclass(frozen=True, slots=True)
class Promote(Command):
    """Move many stages between waiting-for-deps and queued, under one lock.  ``stage`` is the
    first one (for messages)."""

    changes: tuple[tuple[str, Status], ...] = ()


@dataclass(frozen=True, slots=True)
class StartSession(Command):
    """Start the stage's next generation in a new pane (from the base when ``fresh``)."""

    generation: int = 1
    fresh: bool = False


@dataclass(frozen=True, slots=True)
class EndSession(Command):
    """Record a session's end: capture its last lines, kill its window, write why it ended."""

    session: str = ""
    status: str = "ended"
    reason: str = ""
    exit_code: int | None = None
    pane: PaneView | None = None
    #: ended because it did not hand off in time (loom writes its handoff)
    handoff_timeout: bool = False


@dataclass(frozen=True, slots=True)
class AdoptSession(Command):
    """Record the pane of a session that runs on (a restarted scheduler found it)."""

    session: str = ""
    pane: PaneView | None = None


@dataclass(frozen=True, slots=True)
class NudgeTmux(Command):
    """tmux lost a dead pane's exit status: send its server SIGCHLD and look again soon."""

    session: str = ""


@dataclass(frozen=True, slots=True)
class FollowAgent(Command):
    """The stage follows its agent: executing <-> waiting-for-input."""

    session: str = ""
    to: Status = Status.EXECUTING
    reason: str = ""


@dataclass(frozen=True, slots=True)
class MarkStalled(Command):
    """The session showed no activity for the stage's ``stall_seconds``: record it as stalled
    (on the session and the stage) and nudge the agent once; or, with ``stalled`` false, record
    that it came back to life."""

    session: str = ""
    stalled: bool = True
    idle_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class RequestHandoff(Command):
    """Ask the session to hand off: record the request, then make the stage needs-handoff."""

    session: str = ""
    trigger: str = "budget"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PasteHandoffRequest(Command):
    """Type the handoff request into an idle agent's pane (no hook fires at its prompt)."""

    session: str = ""


@dataclass(frozen=True, slots=True)
class WriteHandoff(Command):
    """Write the handoff the session did not write (it crashed, or ignored the request)."""

    session: str = ""
    trigger: str = "budget"


@dataclass(frozen=True, slots=True)
class Requeue(Command):
    """Queue an active stage again: its session handed off, never started, or is missing.
    ``undo_generation`` gives back the generation of a session that never ran.  A session lost
    through no fault of its stage (its tmux server died) is recorded as the stage's failure
    (``failure_kind``, the ``failure_count``-th in a row) but spends no retry."""

    session: str | None = None
    reason: str = ""
    undo_generation: bool = False
    failure_kind: str | None = None
    failure_count: int = 0


@dataclass(frozen=True, slots=True)
class Block(Command):
    """Block an active stage whose session ended without completing it, with a retry or not."""

    session: str | None = None
    reason: str = ""
    failure_kind: str = "crash"
    exit_code: int | None = None
    retry_at: float | None = None
    attempt: int | None = None
    #: BLOCKED, or NEEDS_HUMAN_REVIEW when the same kind of failure has used up the retries
    to: Status = Status.BLOCKED


@dataclass(frozen=True, slots=True)
class Retry(Command):
    """A blocked stage's retry is due: count it and queue the stage (or make it wait again)."""

    due_at: float = 0.0
    to: Status = Status.QUEUED


@dataclass(frozen=True, slots=True)
class Merge(Command):
    """Merge a completed stage's branch into the base."""


@dataclass(frozen=True, slots=True)
class RemoveWorktree(Command):
    """A merged stage's worktree and branch are no longer needed."""


@dataclass(frozen=True, slots=True)
class StartResolver(Command):
    """A stage's merge conflicted: queue it as a resolver (its next session merges the base into
    its branch instead of doing the assignment), counting the attempt.  One write, so a restart
    finds either the conflict (and decides again) or the queued resolver (and starts it)."""

    attempt: int = 1


@dataclass(frozen=True, slots=True)
class ResolverEnded(Command):
    """A resolver session ended without getting its stage merged: the stage is in conflict again
    (the next decision starts another resolver, or gives up)."""

    session: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ReviewConflict(Command):
    """The resolver attempts are used up: the stage needs a person (the base is untouched)."""

    reason: str = ""
