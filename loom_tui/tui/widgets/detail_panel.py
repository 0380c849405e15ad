"""The selected stage in detail: what it is for, its sessions, its gauge, its pane, its handoffs.

Nearly everything here was written by a plan's author or an agent (name, description, reasons,
commands, pane lines, handoff fields): it goes through `textsafe` so that a control character is
shown as an escape, and into `Text` objects, never markup, so that a ``[`` is only a bracket.
"""

from __future__ import annotations

import os
import time

from rich.console import Group, RenderableType
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from loom_tui.core.model import SessionRecord, StageRecord, Status
from loom_tui.core.textsafe import block, one_line
from loom_tui.tui.glyphs import (
    COMPONENT_CLASSES,
    COMPONENT_CSS,
    HELD,
    STALLED,
    StyleCache,
    gauge,
    short_tokens,
    status_text,
)
from loom_tui.tui.snapshot import Snapshot
from loom_tui.tui.widgets.dag_view import shows_gauge
from loom_tui.tui.widgets.pane_preview import PanePreview

AGENT_STATES = {
    "working": "working",
    "waiting-for-input": "waiting for input",
    "needs-permission": "needs permission",
    "finished-turn": "finished its turn",
    "starting": "starting",
    "dead": "dead",
}


def describe_state(session: SessionRecord, *, short: bool = False) -> str:
    """The agent's state and what decided it: hook (which event), pane, or pane text."""
    if not session.agent_state:
        return "starting" if session.live else session.status
    state = one_line(AGENT_STATES.get(session.agent_state, session.agent_state))
    source = session.agent_state_source or ""
    source = one_line(source.split(":", 1)[0] if short else source.replace("hook:", "hook "))
    return f"{state} ({source})" if source else state


#: the statuses whose reason still holds: a skipped, completed or reset stage's old reason is stale
REASON_SHOWN = frozenset(
    {Status.BLOCKED, Status.MERGE_CONFLICT, Status.NEEDS_HUMAN_REVIEW, Status.WAITING_FOR_INPUT}
)


class DetailPanel(ScrollView, can_focus=False):
    """Everything about one stage; its pane lines are refreshed live by the app."""

    COMPONENT_CLASSES = {
        *COMPONENT_CLASSES,
        "detail--title",
        "detail--label",
        "detail--muted",
        "detail--pane",
        "detail--bad",
    }
    DEFAULT_CSS = (
        """
    DetailPanel {
        background: $surface;
        padding: 0 1;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
        & > .detail--title { text-style: bold; color: $foreground; }
        & > .detail--label { color: $text-muted; }
        & > .detail--muted { color: $text-muted; }
        & > .detail--pane { color: $foreground; background: $background; }
        & > .detail--bad { color: $error; }
    """
        + COMPONENT_CSS
        + "\n    }\n"
    )

    def __init__(self, *, id: str | None = None, verbose: bool = False) -> None:
        super().__init__(id=id)
        #: the full screen (`enter`) says more than the side panel: which hook decided, etc.
        self.verbose = verbose
        self._strips: list[Strip] = []
        #: what the body shows, in sections (head, pane preview, tail), and each laid out in lines
        self._sections: list[RenderableType] = []
        self._section_strips: list[list[Strip] | None] = []
        self._laid_width = 0
        self._snapshot: Snapshot | None = None
        self._stage_id: str | None = None
        self._pane: list[str] = []
        self._now = 0.0
        self._style_cache = StyleCache()
        self._shown: tuple[object, ...] | None = None

    @property
    def stage_id(self) -> str | None:
        return self._stage_id

    def show(self, snapshot: Snapshot, stage_id: str | None, now: float) -> None:
        if stage_id != self._stage_id:
            self._pane = []
        self._snapshot, self._stage_id, self._now = snapshot, stage_id, now
        self._render_body()

    def show_pane(self, stage_id: str, lines: list[str]) -> None:
        if stage_id == self._stage_id and lines != self._pane:
            self._pane = lines
            self._render_body()

    def _styles(self) -> dict[str, Style]:
        return self._style_cache.get(self, self.COMPONENT_CLASSES)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache.clear()
        self._shown = None
        self._section_strips = [None] * len(self._sections)

    def _render_body(self) -> None:
        snap = self._snapshot
        stage = snap.stage(self._stage_id) if snap else None
        if snap is None or stage is None:
            self._set_sections([Text("No stage selected.", self._styles()["detail--muted"])])
            self._title("stage")
            self._shown = None
            return
        self._title(stage.id)
        # what the body shows; records come from the store's cache, unchanged ones identical
        records = (stage, tuple(snap.sessions_of(stage.id)), snap.handoffs.get(stage.id))
        key = (records, tuple(self._pane))
        if key == self._shown:
            return
        only_pane = self._shown is not None and self._shown[0] == records
        self._shown = key
        styles = self._styles()
        if only_pane and len(self._sections) == 3:
            # the pane's lines changed, nothing else: the other sections stay as they were laid
            sections = list(self._sections)
            sections[1] = self.render_preview(snap, stage, styles)
        else:
            sections = self.render_sections(snap, stage, styles)
        self._set_sections(sections, only_pane=only_pane)

    def _title(self, title: str) -> None:
        """Set the border's title only when it changes: setting it redraws the whole panel."""
        if self.border_title != title:
            self.border_title = title

    # Rendered once per change into lines (the line API): updating a widget's content otherwise
    # re-lays out the whole screen, and this panel changes with every gauge reading.  The pane
    # preview is its own section: it changes every couple of seconds while an agent works, and
    # only its lines are laid out and drawn again then.
    def _set_sections(self, sections: list[RenderableType], *, only_pane: bool = False) -> None:
        self._sections = sections
        if only_pane and len(self._section_strips) == len(sections) == 3:
            self._section_strips[1] = None
        else:
            self._section_strips = [None] * len(sections)
        self._layout_lines()

    def _layout_lines(self) -> None:
        width = self.scrollable_content_region.width
        if width <= 0:
            return
        if width != self._laid_width:
            self._laid_width = width
            self._section_strips = [None] * len(self._sections)
        console = self.app.console
        options = console.options.update(width=width, height=None, highlight=False)
        # under the widget's own style: unstyled text (the description) has no colours of its own
        base = self.rich_style
        before = self._strips
        strips: list[Strip] = []
        for index, section in enumerate(self._sections):
            laid = self._section_strips[index]
            if laid is None and isinstance(section, PanePreview):
                laid = section.strips(console, width, base)
                self._section_strips[index] = laid
            elif laid is None:
                lines = console.render_lines(section, options, pad=False, new_lines=False)
                laid = [Strip(line).apply_style(base).simplify() for line in lines]
                self._section_strips[index] = laid
            strips.extend(laid)
        self._strips = strips
        size = Size(width, len(strips))
        if size != self.virtual_size or len(before) != len(strips):
            self.virtual_size = size
            self.refresh()
            return
        # only the lines that changed are drawn again
        scroll_y = int(self.scroll_offset.y)
        height = self.scrollable_content_region.height
        for index, strip in enumerate(strips):
            y = index - scroll_y
            if 0 <= y < height and strip != before[index]:
                self.refresh(Region(0, y, width, 1))

    def on_resize(self) -> None:
        self._layout_lines()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if width != self._laid_width:
            # the vertical scrollbar came or went since the lines were laid out (the widget's
            # own size, and so `on_resize`, did not change): lay them out for this width
            self._layout_lines()
        scroll_y = int(self.scroll_offset.y)
        index = y + scroll_y
        if index >= len(self._strips):
            return Strip.blank(width, self.rich_style)
        return self._strips[index].crop_extend(0, width, self.rich_style)

    def render_stage(
        self, snap: Snapshot, stage: StageRecord, styles: dict[str, Style]
    ) -> RenderableType:
        return Group(*self.render_sections(snap, stage, styles))

    def render_sections(
        self, snap: Snapshot, stage: StageRecord, styles: dict[str, Style]
    ) -> list[RenderableType]:
        """The body in three sections: the stage, its pane's lines, when it started."""
        label, muted = styles["detail--label"], styles["detail--muted"]
        parts: list[RenderableType] = []
        parts.append(Text(one_line(stage.name), styles["detail--title"]))
        state = status_text(stage.status, styles)
        if stage.generation:
            state.append(f" · gen {stage.generation}", muted)
        if stage.retry_count:
            state.append(
                f" · {stage.retry_count} retr{'y' if stage.retry_count == 1 else 'ies'}", muted
            )
        if stage.attention == "stalled":
            state.append(
                f" · {STALLED} stalled: no activity, loom nudged it", styles["gauge--yellow"]
            )
        if stage.held:
            state.append(f" · {HELD} held", styles["gauge--yellow"])
        if stage.merged:
            state.append(" · merged", styles["gauge--green"])
        parts.append(state)
        parts.append(Text(block(stage.description.strip()), no_wrap=False))
        if stage.blocked_reason and stage.status in REASON_SHOWN:
            parts.append(Text(one_line(stage.blocked_reason), styles["detail--bad"]))
        session = snap.current_session(stage)
        line = Text("context  ", label)
        line.append_text(
            gauge(
                stage.context_percent if shows_gauge(stage) else None,
                stage.context_budget,
                10,
                styles,
            )
        )
        line.append(f" / {stage.context_budget}%", muted)
        parts.append(line)
        totals = snap.totals(stage.id)
        sessions = snap.sessions_of(stage.id)
        if session is not None:
            info = Text("session  ", label)
            # its place among the stage's sessions (a reset starts generations again from 1)
            ordered = sorted(sessions, key=lambda s: s.started_at or 0.0)
            place = next((i for i, s in enumerate(ordered, 1) if s.id == session.id), 0)
            if self.verbose:
                info.append(f"{place} of {len(sessions)} · {describe_state(session)}")
            else:
                info.append(f"{place}/{len(sessions)} · {describe_state(session, short=True)}")
            parts.append(info)
            window = Text("window   ", label)
            window.append(
                f"{short_tokens(session.context_tokens)} of "
                f"{short_tokens(session.context_window)} tokens",
                muted,
            )
            parts.append(window)
        if totals.sessions:
            spent = Text("spent    ", label)
            spent.append(f"${totals.cost_usd:.2f} · {short_tokens(totals.tokens)} tokens", muted)
            parts.append(spent)
        if stage.worktree:
            where = (
                os.path.relpath(stage.worktree, os.path.dirname(os.path.dirname(stage.worktree)))
                if os.path.isabs(stage.worktree)
                else stage.worktree
            )
            parts.append(Text(one_line(f"worktree .worktrees/{os.path.basename(where)}"), muted))
            parts.append(Text(one_line(f"branch   {stage.branch or '-'}"), muted))
        if stage.dependencies:
            deps = Text("needs    ", label)
            for i, dep in enumerate(stage.dependencies):
                other = snap.stage(dep)
                if i:
                    deps.append(", ")
                if other is not None:
                    deps.append_text(status_text(other.status, styles, label=False))
                    deps.append(" ")
                deps.append(one_line(dep))
            parts.append(deps)
        if stage.acceptance:
            parts.append(Text("acceptance", label))
            done = stage.status.value == "completed"
            for command in stage.acceptance:
                parts.append(Text(f"  {'☑' if done else '☐'} {one_line(command)}"))
        if len(sessions) > 1 or (sessions and session is None):
            parts.append(Text("sessions", label))
            for s in sessions:
                pct = "-" if s.context_percent is None else f"{s.context_percent:.0f}%"
                end = one_line(s.end_reason) if s.end_reason else describe_state(s, short=True)
                parts.append(
                    Text(
                        f"  {s.generation}  {pct:>4}  {end}",
                        muted,
                        overflow="ellipsis",
                        no_wrap=True,
                    )
                )
        handoffs = snap.handoffs.get(stage.id, ())
        if handoffs:
            parts.append(Text("handoffs (v to read)", label))
            for h in handoffs:
                pct = "" if h.context_percent is None else f" {h.context_percent:.0f}%"
                number = h.name.rsplit("-", 1)[-1].removesuffix(".md")
                facts = f"  {number} {h.trigger}{pct} · {h.written_by} · {h.created[11:16]}"
                parts.append(
                    Text(
                        one_line(facts),
                        muted,
                        no_wrap=True,
                        overflow="ellipsis",
                    )
                )
        tail: list[RenderableType] = []
        if stage.started_at:
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(stage.started_at))
            tail.append(Text(f"started {started}", muted))
        return [Group(*parts), self.render_preview(snap, stage, styles), Group(*tail)]

    def render_preview(
        self, snap: Snapshot, stage: StageRecord, styles: dict[str, Style]
    ) -> RenderableType:
        """The preview section: the pane's newest lines (live), or the last session's."""
        session = snap.current_session(stage)
        pane = self._pane or (session.last_lines if session else [])
        if not pane:
            sessions = snap.sessions_of(stage.id)
            pane = sessions[-1].last_lines if sessions else []
        heading = "pane (live)" if session is not None and session.live else "pane (last lines)"
        return PanePreview(
            heading,
            [one_line(line) for line in pane[-14:]],
            styles["detail--label"],
            styles["detail--pane"],
        )
