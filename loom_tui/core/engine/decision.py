"""A `Decision`: the commands one call of `decide` asks for, when to decide again, and whether the
plan is finished.

Each stage gets at most one command per decision (a command claims its stage), so two rules can
never ask for contradictory changes to the same record; the next decision, made on the world those
commands left, takes the next step.
"""

from __future__ import annotations

from loom_tui.core.engine.commands import Command, EndSession, RemoveWorktree, StartSession


class Decision:
    def __init__(self) -> None:
        self.ends: list[Command] = []
        self.steps: list[Command] = []
        self.starts: list[Command] = []
        #: tidying up that nothing waits for (a merged stage's worktree): after the starts
        self.cleanups: list[Command] = []
        #: the earliest time a deadline is due (a retry, a handoff timeout, a nudged pane)
        self.wake_at: float | None = None
        #: (ok, summary) once every wanted stage is done, or nothing can run any more
        self.finished: tuple[bool, str] | None = None
        self.claimed: set[str] = set()

    @property
    def commands(self) -> list[Command]:
        """Sessions end first (freeing their slots and panes), then the stages' steps, then the
        starts, which the executor runs together, then the tidying up."""
        return [*self.ends, *self.steps, *self.starts, *self.cleanups]

    def add(self, *commands: Command, claim: bool = True) -> bool:
        """Add the commands for their stage unless another command claimed it already."""
        stage = commands[0].stage
        if claim and stage in self.claimed:
            return False
        if claim:
            self.claimed.add(stage)
        for command in commands:
            if isinstance(command, EndSession):
                self.ends.append(command)
            elif isinstance(command, StartSession):
                self.starts.append(command)
            elif isinstance(command, RemoveWorktree):
                self.cleanups.append(command)
            else:
                self.steps.append(command)
        return True

    def wake(self, at: float) -> None:
        if self.wake_at is None or at < self.wake_at:
            self.wake_at = at

    def __repr__(self) -> str:
        return f"Decision({self.commands!r}, wake_at={self.wake_at}, finished={self.finished})"
