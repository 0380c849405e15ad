"""The main screen: header, stage DAG beside the selected stage's details, the sessions table, the
event log and the footer.  Below 100 columns the details fold under the DAG and the sessions table
keeps only stage, state and context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input

from loom_tui.tui.keys import KEYS
from loom_tui.tui.snapshot import Snapshot
from loom_tui.tui.widgets.dag_view import DagView
from loom_tui.tui.widgets.detail_panel import DetailPanel
from loom_tui.tui.widgets.event_log import EventLog
from loom_tui.tui.widgets.header import LoomHeader
from loom_tui.tui.widgets.sessions_table import SessionsTable

if TYPE_CHECKING:
    from loom_tui.tui.app import LoomApp

NARROW_BELOW = 100


class MainScreen(Screen[None]):
    DEFAULT_CSS = """
    MainScreen { layout: vertical; }
    MainScreen #main { height: 1fr; }
    MainScreen #dag { width: 2fr; border: round $border-blurred; border-title-color: $accent; }
    MainScreen #dag:focus { border: round $border; }
    MainScreen #detail {
        width: 1fr;
        min-width: 36;
        border: round $border-blurred;
        border-title-color: $accent;
    }
    MainScreen #sessions {
        height: 8;
        border: round $border-blurred;
        border-title-color: $accent;
    }
    MainScreen #sessions:focus { border: round $border; }
    MainScreen #log { height: 7; border: round $border-blurred; border-title-color: $accent; }
    MainScreen #log:focus { border: round $border; }
    MainScreen #filter { dock: bottom; display: none; margin-bottom: 1; }
    MainScreen.-filtering #filter { display: block; }
    MainScreen.-narrow #main { layout: vertical; }
    MainScreen.-narrow #dag { width: 1fr; height: 1fr; }
    MainScreen.-narrow #detail { width: 1fr; height: 1fr; }
    MainScreen.-narrow #sessions { height: 5; }
    MainScreen.-narrow #log { display: none; }
    """
    BINDINGS = [
        *(key.binding() for key in KEYS),
        Binding("escape", "clear_filter", "clear filter", show=False),
    ]

    @property
    def loom(self) -> LoomApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield LoomHeader()
        with Horizontal(id="main"):
            yield DagView(id="dag")
            yield DetailPanel(id="detail")
        yield SessionsTable(id="sessions")
        yield EventLog(id="log")
        yield Input(placeholder="filter stages by id, name or status (esc clears)", id="filter")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#dag").border_title = "Plan"
        self.query_one("#sessions").border_title = "Sessions"
        self.query_one("#log").border_title = "Events"
        self.watch(self.app, "snapshot", self._show, init=True)
        self.watch(self.app, "scheduler_state", self._show_state, init=True)
        self.query_one(DagView).focus()
        self._unsubscribe = self.loom.subscribe_events(self.query_one(EventLog).add)
        for event in self.loom.recent_events:
            self.query_one(EventLog).add(event)

    def on_unmount(self) -> None:
        self._unsubscribe()

    def on_resize(self, event: events.Resize) -> None:
        narrow = event.size.width < NARROW_BELOW
        self.set_class(narrow, "-narrow")
        self.query_one(SessionsTable).set_narrow(narrow)
        snapshot = self.loom.snapshot
        if snapshot is not None:
            self.query_one(SessionsTable).show(snapshot, self.loom.now())

    # data -------------------------------------------------------------------------------------
    def _show(self, snapshot: Snapshot | None) -> None:
        if snapshot is None:
            return
        self.query_one(LoomHeader).show(snapshot)
        dag = self.query_one(DagView)
        dag.show(snapshot)
        self.query_one(DetailPanel).show(snapshot, dag.selected, self.loom.now())
        self.query_one(SessionsTable).show(snapshot, self.loom.now())

    def _show_state(self, state: str) -> None:
        header = self.query_one(LoomHeader)
        header.scheduler_state = state
        header.detail = self.loom.scheduler_detail

    @on(DagView.Selected)
    def _selected(self, event: DagView.Selected) -> None:
        self.loom.selected_stage = event.stage_id
        snapshot = self.loom.snapshot
        if snapshot is not None:
            self.query_one(DetailPanel).show(snapshot, event.stage_id, self.loom.now())

    @on(SessionsTable.StageChosen)
    def _chosen(self, event: SessionsTable.StageChosen) -> None:
        self.query_one(DagView).select(event.stage_id)
        self.query_one(DagView).focus()

    def show_pane(self, stage_id: str, lines: list[str]) -> None:
        self.query_one(DetailPanel).show_pane(stage_id, lines)

    @property
    def selected(self) -> str | None:
        return self.query_one(DagView).selected

    def select(self, stage_id: str) -> None:
        self.query_one(DagView).select(stage_id)

    # filter -----------------------------------------------------------------------------------
    def action_filter(self) -> None:
        self.add_class("-filtering")
        self.query_one("#filter", Input).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        self.remove_class("-filtering")
        self.query_one(DagView).dim_all_but(None)
        self.query_one(DagView).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        snapshot = self.loom.snapshot
        text = event.value.strip().lower()
        if snapshot is None or not text:
            self.query_one(DagView).dim_all_but(None)
            return
        matching = {
            s.id
            for s in snapshot.stages
            if text in s.id.lower() or text in s.name.lower() or text in s.status.value
        }
        self.query_one(DagView).dim_all_but(matching)
        first = next((s.id for s in snapshot.stages if s.id in matching), None)
        if first is not None:
            self.query_one(DagView).select(first)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.remove_class("-filtering")
        self.query_one(DagView).focus()

    # actions: each goes to the app, which runs the core function off the event loop -------------
    def action_hold(self) -> None:
        self.loom.stage_action("hold", self.selected)

    def action_release(self) -> None:
        self.loom.stage_action("release", self.selected)

    def action_retry(self) -> None:
        self.loom.stage_action("retry", self.selected)

    def action_skip(self) -> None:
        self.loom.stage_action("skip", self.selected)

    def action_reset(self) -> None:
        self.loom.confirm_reset(self.selected)

    def action_reset_hard(self) -> None:
        self.loom.confirm_reset(self.selected, hard=True)

    def action_retry_with_note(self) -> None:
        self.loom.ask_then("retry", self.selected)

    def action_skip_with_reason(self) -> None:
        self.loom.ask_then("skip", self.selected)

    def action_approve(self) -> None:
        self.loom.confirm_approve(self.selected)

    def action_reject(self) -> None:
        self.loom.ask_then("reject", self.selected)

    def action_kill_session(self) -> None:
        self.loom.confirm_kill(self.selected)

    def action_merge(self) -> None:
        self.loom.merge(self.selected)

    def action_attach(self) -> None:
        self.loom.attach(self.selected)

    def action_details(self) -> None:
        self.loom.details(self.selected)

    def action_view_handoff(self) -> None:
        self.loom.view_handoff(self.selected)

    def action_diff(self) -> None:
        from loom_tui.tui.screens.diff_screen import open_diff

        open_diff(self.loom, self.selected)

    def action_next_attention(self) -> None:
        self.loom.next_attention()

    def action_help(self) -> None:
        self.loom.action_show_help()

    def action_quit_loom(self) -> None:
        self.loom.quit_loom()
