"""Following each live session: its context gauge and its agent's state, recorded as they change.

Before each decision the scheduler asks the `SessionObserver` what is new: hook logs and
transcripts (through `SessionMonitor`), and, when the hooks have been silent a while, the pane's
text.  State changes, and any reading at or over the stage's budget, are written to the session
record at once, because `decide` acts on them; routine gauge figures (tokens, cost) are written at
most once a second per session, since hooks report them on every tool call of every agent.
Those routine writes skip the fsyncs (`atomic_write`'s ``durable=False``): a gauge matters only
while its session runs, and a power cut that could lose one ends the session too.  The statusLine
flag is rewritten only when its text changes.

Blocking (file reads, a tmux capture): the scheduler runs `observe` in a thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from loom_tui.core import context
from loom_tui.core.engine.ports import PaneHost
from loom_tui.core.engine.world import PaneView
from loom_tui.core.events import AgentStateChanged, ContextReading, Event
from loom_tui.core.hook_flags import clear_flag, has_flag, set_flag
from loom_tui.core.hooks import status_text
from loom_tui.core.model import GAUGE_FIELDS, SessionRecord, StageRecord
from loom_tui.core.session_monitor import SessionMonitor, Update, state_from_pane_text
from loom_tui.core.store import Store

#: A gauge that moved by GAUGE_STEP points or more is written within GAUGE_FLUSH seconds; other
#: figures (tokens below half a point, and cost) GAUGE_MINOR_FLUSH seconds after the session's
#: last write at the latest.  Each session keeps its own clock, so that 20 agents' routine writes
#: are spread out rather than made together.
GAUGE_FLUSH = 1.0
GAUGE_STEP = 0.5
GAUGE_MINOR_FLUSH = 15.0
PANE_TEXT_LINES = 30


class SessionObserver:
    def __init__(
        self, store: Store, panes: PaneHost, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.panes = panes
        self.clock = clock
        self.monitor = SessionMonitor(store.hooks_dir)
        #: gauge figures read but not written yet, by session id
        self._pending: dict[str, dict[str, object]] = {}
        self._flush_at = 0.0
        #: when each session's gauge figures were last written, by session id
        self._written_at: dict[str, float] = {}
        #: the newest sign of each live session's activity, by session id (see `World.activity`)
        self.activity: dict[str, float] = {}
        #: what each session's flag files say now: (statusLine text, near the budget)
        self._flags: dict[str, tuple[str, bool]] = {}
        #: records written so far (the scheduler reads the records again only after a write)
        self.writes = 0

    def observe(
        self,
        sessions: list[SessionRecord],
        stages: Mapping[str, StageRecord],
        panes: Mapping[str, PaneView],
    ) -> tuple[list[Event], float | None]:
        """Record what is new about ``sessions``; returns the events, and when to look again
        for gauge figures still waiting to be written (None if none wait)."""
        now = self.clock()
        events: list[Event] = []
        flushed = False
        next_look: float | None = None  # when figures that wait are next due
        stage_gauges: dict[str, tuple[str, float]] = {}
        for listed in sessions:
            session = listed
            stage = stages.get(session.stage_id)
            update = self.monitor.poll(session)
            state = update.state
            pane = panes.get(session.id)
            if (
                state is None
                and pane is not None
                and not pane.dead
                and self.monitor.wants_pane_text(session, now)
            ):
                seen = state_from_pane_text(self.panes.capture(pane.pane_id, PANE_TEXT_LINES), now)
                if seen is not None and seen.state != session.agent_state:
                    state = seen
            gauge = self._gather(session, update, now)
            changes: dict[str, Any] = {}
            if update.transcript_path and update.transcript_path != session.transcript_path:
                changes["transcript_path"] = update.transcript_path
            if update.stop_at is not None and update.stop_at != session.stop_at:
                changes["stop_at"] = update.stop_at
            if state is not None and state.state != session.agent_state:
                changes.update(
                    agent_state=state.state,
                    agent_state_source=state.source,
                    agent_state_at=state.at,
                )
            budget = stage.context_budget if stage is not None else 100
            over = update.reading is not None and update.reading.percent >= budget
            shown = session.context_percent if session.context_percent is not None else -100.0
            percent = gauge.get("context_percent", shown)
            moved = isinstance(percent, int | float) and abs(percent - shown) >= GAUGE_STEP
            written_at = self._written_at.setdefault(session.id, now - GAUGE_MINOR_FLUSH)
            due = (moved and now - self._flush_at >= GAUGE_FLUSH) or (
                now - written_at >= GAUGE_MINOR_FLUSH
            )
            if gauge and (changes or over or due):
                changes.update(gauge)
                gauge.clear()
                flushed = True
                self._written_at[session.id] = now
            elif gauge:
                wait = written_at + GAUGE_MINOR_FLUSH
                if moved:
                    wait = min(wait, self._flush_at + GAUGE_FLUSH)
                next_look = wait if next_look is None else min(next_look, wait)
            if changes:
                durable = not changes.keys() <= GAUGE_FIELDS
                session = self.store.update_session(session.id, _setter(changes), durable=durable)
                self.writes += 1
                if "context_percent" in changes or "cost_usd" in changes:
                    self._write_flags(session, budget)
            if "context_tokens" in changes:
                events.append(reading_event(session, changes, budget))
            if "agent_state" in changes and state is not None:
                events.append(
                    AgentStateChanged(
                        stage=session.stage_id,
                        session=session.id,
                        state=state.state,
                        seen_by=state.source,
                        detail=state.detail,
                    )
                )
            figure = session.context_percent
            if (
                stage is not None
                and stage.session_id == session.id
                and figure is not None
                and (stage.context_percent is None or round(stage.context_percent) != round(figure))
            ):  # the stage file follows whole points; the session record keeps the exact figure
                stage_gauges[stage.id] = (session.id, figure)
        self.activity = {s.id: self._activity(s, panes.get(s.id)) for s in sessions}
        if stage_gauges:
            self._write_stage_gauges(stage_gauges)
        if flushed:
            self._flush_at = now
        return events, (max(now + 0.05, next_look) if next_look is not None else None)

    def _activity(self, session: SessionRecord, pane: PaneView | None) -> float:
        """When the session last showed a sign of life: its hook log or transcript was written
        (as the monitor's poll just found), or its pane had output.  Times on disk and in tmux,
        so they survive a restart of loom."""
        times = [session.started_at or 0.0, self.monitor.last_write(session.id)]
        if pane is not None and pane.activity is not None:
            times.append(pane.activity)
        return max(times)

    def _write_flags(self, session: SessionRecord, budget: int) -> None:
        """What the session's sh hook answers from: its statusLine text, and whether its gauge
        is near the budget (then each statusLine call wakes the scheduler).  A failed write
        costs only a staler statusLine, never the session."""
        percent = session.context_percent
        text = status_text(session.stage_id, budget, percent, session.cost_usd)
        near = percent is not None and context.level(percent, budget) in ("yellow", "red")
        if self._flags.get(session.id) == (text, near):
            return
        try:
            set_flag(self.store.work_dir, session.id, "status", text)
            if near:
                if not has_flag(self.store.work_dir, session.id, "near"):
                    set_flag(self.store.work_dir, session.id, "near", f"{budget}")
            else:
                clear_flag(self.store.work_dir, session.id, "near")
        except Exception:
            self._flags.pop(session.id, None)  # written again at the next change
        else:
            self._flags[session.id] = (text, near)

    def _write_stage_gauges(self, gauges: dict[str, tuple[str, float]]) -> None:
        def change(record: StageRecord, _fresh: dict[str, StageRecord]) -> bool:
            session_id, percent = gauges[record.id]
            if record.session_id != session_id:
                return False
            record.context_percent = percent
            return True

        # (not durable: the stage's gauge is a copy of its session's, for the screen)
        if self.store.update_stages(gauges, change, durable=False):
            self.writes += 1

    def final(self, session: SessionRecord) -> dict[str, object]:
        """A session is ending: its last figures, read from its hooks and transcript once more,
        to be written with its end."""
        update = self.monitor.poll(session)
        gauge = self._gather(session, update, self.clock())
        self._pending.pop(session.id, None)
        self._flags.pop(session.id, None)
        self._written_at.pop(session.id, None)
        self.monitor.forget(session.id)
        return dict(gauge)

    def _gather(self, session: SessionRecord, update: Update, now: float) -> dict[str, object]:
        """Add what ``update`` says of the session's gauge to its figures waiting to be written."""
        gauge = self._pending.setdefault(session.id, {})
        reading = update.reading
        if reading is not None and (
            session.context_tokens != reading.tokens or session.context_window != reading.window
        ):
            gauge.update(
                context_percent=reading.percent,
                context_tokens=reading.tokens,
                context_window=reading.window,
                context_source=reading.source,
                context_at=reading.ts or now,
            )
        if update.cost_usd is not None and update.cost_usd != session.cost_usd:
            gauge["cost_usd"] = update.cost_usd
        if update.input_tokens is not None and update.input_tokens != session.input_tokens:
            gauge["input_tokens"] = update.input_tokens
        if update.output_tokens is not None and update.output_tokens != session.output_tokens:
            gauge["output_tokens"] = update.output_tokens
        return gauge


def reading_event(
    session: SessionRecord, figures: Mapping[str, Any], budget: int
) -> ContextReading:
    percent = float(figures["context_percent"])
    return ContextReading(
        stage=session.stage_id,
        session=session.id,
        percent=percent,
        tokens=int(figures["context_tokens"]),
        window=int(figures["context_window"]),
        reading_source=str(figures["context_source"]),
        level=context.level(percent, budget),
    )


def _setter(changes: Mapping[str, object]) -> Callable[[SessionRecord], None]:
    def apply(record: SessionRecord) -> None:
        for key, value in changes.items():
            setattr(record, key, value)

    return apply
