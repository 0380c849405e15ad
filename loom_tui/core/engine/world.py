"""What the scheduler knows when it decides: the recorded world, frozen for one decision.

A `World` is built by the scheduler from `.work/` (stage and session records), from tmux (one
`list-panes` and the sessions' exit files) and from a few facts kept in memory that only delay a
decision (a merge waiting for the user's checkout, a command that just failed).  `decide` reads it
and nothing else, so every rule can be tested by building a `World` by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from loom_tui.core.model import SessionRecord, StageRecord


@dataclass(frozen=True, slots=True)
class PaneView:
    """A session's tmux pane as last listed (found by its pane id or by the session marker)."""

    pane_id: str
    window_id: str
    pid: int | None = None
    dead: bool = False
    #: tmux's ``pane_dead_status`` (3.3a sometimes never fills it in: the exit file is preferred)
    dead_status: int | None = None
    #: when the pane's window last had output (tmux, whole seconds)
    activity: float | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """The run's settings, from `.work/config.toml` and the command line."""

    max_parallel: int = 4
    auto_merge: bool = True
    #: `loom run --stage ID`: start only this stage
    only_stage: str | None = None
    retry_backoff: float = 30.0
    retry_backoff_max: float = 300.0
    handoff_timeout: float = 120.0
    #: after the agent wrote its handoff, how long it may go on (to stop cleanly) before it is ended
    handoff_grace: float = 2.0
    handoff_loop_limit: int = 3
    #: passes before an exit status that tmux lost is given up on (the server is nudged each time)
    exit_status_patience: int = 3
    #: how soon a merge held back by the user's uncommitted changes is tried again
    merge_wait: float = 2.0
    #: no sign of activity for this long makes a session stalled (a stage may set its own)
    stall_seconds: float = 300.0
    #: resolver sessions for one stage's merge conflicts before it needs a person's review
    resolver_attempts: int = 2

    def wanted(self, stage_id: str) -> bool:
        return self.only_stage is None or stage_id == self.only_stage


@dataclass(frozen=True)
class World:
    """Everything `decide` may look at.  Records are shared with the store's cache: read only."""

    now: float
    stages: Mapping[str, StageRecord]
    sessions: Mapping[str, SessionRecord]
    settings: Settings = field(default_factory=Settings)
    #: each live session's pane, by session id, from the newest listing
    panes: Mapping[str, PaneView] = field(default_factory=dict)
    #: when panes were last listed (None: not yet); a session started after it is not judged
    panes_listed_at: float | None = None
    #: exit statuses written by the panes' wrapper, by session id
    exits: Mapping[str, int] = field(default_factory=dict)
    #: tmux was nudged for a dead pane's exit status: session id -> (how often, when last)
    exit_waits: Mapping[str, tuple[int, float]] = field(default_factory=dict)
    #: merges held back by the user's checkout: stage id -> when to try again
    merge_waits: Mapping[str, float] = field(default_factory=dict)
    #: stages whose last command failed: stage id -> no new command before this time
    cooldowns: Mapping[str, float] = field(default_factory=dict)
    #: stages whose commands failed in a row: stage id -> (how many times, the last error)
    failures: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    #: the newest sign of each live session's activity (a hook event, transcript growth, output
    #: in its pane), by session id; read from the files' and the pane's times, so a restarted
    #: scheduler knows it too
    activity: Mapping[str, float] = field(default_factory=dict)
    #: the newest listing found loom's tmux server gone (its panes did not vanish one by one)
    tmux_server_lost: bool = False

    def stall_seconds(self, stage: StageRecord) -> float:
        return stage.stall_seconds or self.settings.stall_seconds

    def live_sessions_of(self, stage_id: str) -> list[SessionRecord]:
        return [s for s in self.sessions.values() if s.live and s.stage_id == stage_id]
