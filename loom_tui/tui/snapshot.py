"""What the screen shows: an immutable snapshot of the stage and session records.

The app builds a new `Snapshot` from the records it keeps in memory (`live_records.py`) after each
change it hears of, and hands it to the widgets, which only render it; `read_snapshot` reads
everything from `.work/` at once (at start, in a thread).  Keeping the data plain and immutable
makes every widget a function of (snapshot, selection), which is what the snapshot tests pin down.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from loom_tui.core.config import ProjectConfig
from loom_tui.core.errors import LoomError
from loom_tui.core.model import ACTIVE, SessionRecord, StageRecord, Status
from loom_tui.core.store import RecordCache, Store


@dataclass(frozen=True)
class StageTotals:
    tokens: int = 0
    cost_usd: float = 0.0
    sessions: int = 0


@dataclass(frozen=True)
class HandoffInfo:
    """A handoff file's front matter, for lists (the viewer reads the whole file)."""

    name: str
    path: str
    stage: str
    trigger: str
    written_by: str
    context_percent: float | None
    created: str
    generation: int | None


@dataclass(frozen=True)
class Snapshot:
    plan_id: str
    plan_name: str
    base_branch: str
    stages: tuple[StageRecord, ...]
    sessions: tuple[SessionRecord, ...]
    taken_at: float
    error: str | None = None
    #: the project's `auto_merge`: without it a completed stage waits for a person's merge
    auto_merge: bool = True
    by_id: dict[str, StageRecord] = field(default_factory=dict, compare=False)
    handoffs: dict[str, tuple[HandoffInfo, ...]] = field(default_factory=dict, compare=False)
    sessions_by_id: dict[str, SessionRecord] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.by_id and self.stages:
            object.__setattr__(self, "by_id", {s.id: s for s in self.stages})
        if not self.sessions_by_id and self.sessions:
            object.__setattr__(self, "sessions_by_id", {s.id: s for s in self.sessions})

    @property
    def total(self) -> int:
        return len(self.stages)

    def count(self, *statuses: Status) -> int:
        return sum(1 for s in self.stages if s.status in statuses)

    @property
    def done(self) -> int:
        return self.count(Status.COMPLETED, Status.SKIPPED)

    @property
    def running(self) -> int:
        return sum(1 for s in self.stages if s.status in ACTIVE)

    @property
    def waiting(self) -> int:
        return self.count(Status.WAITING_FOR_INPUT)

    @property
    def blocked(self) -> int:
        return self.count(Status.BLOCKED, Status.MERGE_CONFLICT, Status.NEEDS_HUMAN_REVIEW)

    def stage(self, stage_id: str | None) -> StageRecord | None:
        if stage_id is None:
            return None
        return self.by_id.get(stage_id)

    def sessions_of(self, stage_id: str) -> list[SessionRecord]:
        return [s for s in self.sessions if s.stage_id == stage_id]

    def live_sessions(self) -> list[SessionRecord]:
        return [s for s in self.sessions if s.live]

    def current_session(self, stage: StageRecord) -> SessionRecord | None:
        if stage.session_id is None:
            return None
        return self.sessions_by_id.get(stage.session_id)

    def totals(self, stage_id: str | None = None) -> StageTotals:
        chosen = [s for s in self.sessions if stage_id is None or s.stage_id == stage_id]
        return StageTotals(
            tokens=sum((s.input_tokens or s.context_tokens or 0) for s in chosen),
            cost_usd=sum(s.cost_usd or 0.0 for s in chosen),
            sessions=len(chosen),
        )

    @property
    def to_merge(self) -> int:
        """Completed stages that wait for a person to merge them (auto-merge is off)."""
        return sum(1 for s in self.stages if self._waits_for_merge(s))

    def _waits_for_merge(self, stage: StageRecord) -> bool:
        return not self.auto_merge and stage.status is Status.COMPLETED and not stage.merged

    def needs_you(self, stage: StageRecord) -> str | None:
        """Why ``stage`` needs a person (None: it does not): its status (input, blocked, review,
        conflict), stalled, its agent asking for input or permission, or a manual merge."""
        if stage.attention is not None:
            return stage.attention
        if self._waits_for_merge(stage):
            return "waiting for merge (m)"
        session = self.current_session(stage)
        if (
            session is not None
            and session.live
            and session.agent_state in ("waiting-for-input", "needs-permission")
        ):
            return session.agent_state
        return None

    def needing_attention(self) -> list[StageRecord]:
        return [s for s in self.stages if self.needs_you(s) is not None]

    @property
    def all_merged(self) -> bool:
        """Every stage skipped, or completed and merged: only then is the plan complete."""
        return bool(self.stages) and all(s.done for s in self.stages)

    def graph(self) -> dict[str, list[str]]:
        return {s.id: list(s.dependencies) for s in self.stages}


_HANDOFF_CACHE: dict[str, HandoffInfo] = {}


def cached_handoff_info(store: Store, name: str) -> HandoffInfo | None:
    """The handoff's front matter if it was read already (no I/O: safe in the event loop)."""
    import os

    return _HANDOFF_CACHE.get(os.path.join(store.handoffs_dir, name))


def load_handoff_infos(store: Store, names: list[str]) -> None:
    """Read the front matter of ``names`` into the cache (file I/O: call it in a thread)."""
    for name in names:
        _handoff_info(store, name)


def _handoff_info(store: Store, name: str) -> HandoffInfo | None:
    """Handoff files never change once written, so each is parsed once per process."""
    import os

    path = os.path.join(store.handoffs_dir, name)
    cached = _HANDOFF_CACHE.get(path)
    if cached is not None:
        return cached
    from loom_tui.core import frontmatter

    try:
        with open(path, encoding="utf-8") as fh:
            data, _body = frontmatter.parse(fh.read(), name)
    except (OSError, LoomError, UnicodeDecodeError):
        return None
    percent = data.get("context_percent")
    generation = data.get("generation")
    info = HandoffInfo(
        name=name,
        path=path,
        stage=str(data.get("stage") or ""),
        trigger=str(data.get("trigger") or "?"),
        written_by=str(data.get("written_by") or "?"),
        context_percent=float(percent) if isinstance(percent, int | float) else None,
        created=str(data.get("created") or ""),
        generation=generation if isinstance(generation, int) else None,
    )
    _HANDOFF_CACHE[path] = info
    return info


def read_snapshot(
    store: Store,
    config: ProjectConfig | None,
    stage_cache: RecordCache | None = None,
    session_cache: RecordCache | None = None,
    clock: float | None = None,
) -> Snapshot:
    """Read every stage and session record (unchanged files come from the caches)."""
    error = None
    try:
        stages = tuple(store.stages(stage_cache))
    except LoomError as exc:
        stages, error = (), exc.message
    try:
        sessions = tuple(store.sessions(session_cache))
    except LoomError as exc:
        sessions, error = (), error or exc.message
    handoffs: dict[str, tuple[HandoffInfo, ...]] = {}
    for stage in stages:
        infos = [_handoff_info(store, name) for name in stage.handoffs]
        handoffs[stage.id] = tuple(i for i in infos if i is not None)
    return Snapshot(
        plan_id=config.plan_id if config else "?",
        plan_name=config.plan_name if config else "?",
        base_branch=config.base_branch if config else "?",
        stages=stages,
        sessions=sessions,
        taken_at=time.time() if clock is None else clock,
        error=error,
        auto_merge=config.auto_merge if config else True,
        by_id={s.id: s for s in stages},
        handoffs=handoffs,
    )
