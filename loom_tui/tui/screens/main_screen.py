"""The main screen: header, stage DAG beside the selected stage's details, the sessions table, the
event log, the attention bar and the footer.

- The Events panel shares the height with the DAG, so it grows with the terminal.
- Below 100 columns the details fold under the DAG and the sessions table keeps only stage, state
  and context.
- Below `TINY_WIDTH`×`TINY_HEIGHT` the graph cannot be drawn usefully: a compact list of the stages
  (status and gauge) takes the whole body.
- Toasts are not drawn here (they covered the panels): notices go to the attention bar.
- The detail panel follows the stage that last changed or needs you, until you move the cursor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input

from loom_tui.tui.keys import CHANGING_ACTIONS, KEYS, refusal_binding
from loom_tui.tui.snapshot import Snapshot
from loom_tui.tui.widgets.attention_bar import AttentionBar
from loom_tui.tui.widgets.compact_list import CompactList
from loom_tui.tui.widgets.dag_view import DagView
from loom_tui.tui.widgets.detail_panel import DetailPanel
from loom_tui.tui.widgets.event_log import EventLog
from loom_tui.tui.widgets.header import LoomHeader
from loom_tui.tui.widgets.sessions_table import SessionsTable

if TYPE_CHECKING:
    from loom_tui.tui.app import LoomApp

NARROW_BELOW = 100
DETAIL_MIN, DETAIL_MAX = 36, 60
TINY_WIDTH = 60
TINY_HEIGHT = 20
#: events that move the followed stage (when the person has not picked one)
FOLLOWED_KINDS = frozenset(
    {"stage-status", "session-started", "handoff", "merge-done", "merge-conflict", "stalled"}
)


class MainScreen(Screen[None]):
    DEFAULT_CSS = """
    MainScreen { layout: vertical; }
    MainScreen ToastRack { display: none; }
    MainScreen #main { height: 3fr; min-height: 6; }
    MainScreen #dag {
        width: 1fr;
        border: round $border-blurred;
        border-title-color: $accent;
        border-subtitle-color: $warning;
    }
    MainScreen #dag:focus { border: round $border; }
    MainScreen #detail {
        width: 36;
        border: round $border-blurred;
        border-title-color: $accent;
    }
    MainScreen #sessions {
        height: 8;
        border: round $border-blurred;
        border-title-color: $accent;
    }
    MainScreen #sessions:focus { border: round $border; }
    MainScreen #log {
        height: 2fr;
        min-height: 4;
        border: round $border-blurred;
        border-title-color: $accent;
    }
    MainScreen #compact { display: none; height: 1fr; }
    MainScreen #log:focus { border: round $border; }
    MainScreen #filter { dock: bottom; display: none; margin-bottom: 1; }
    MainScreen.-filtering #filter { display: block; }
    MainScreen.-narrow #main { layout: vertical; }
    MainScreen.-narrow #dag { width: 1fr; height: 1fr; }
    MainScreen.-narrow #detail { width: 1fr; height: 1fr; }
    MainScreen.-narrow #sessions { height: 5; }
    MainScreen.-narrow #log { display: none; }
    MainScreen.-tiny #main, MainScreen.-tiny #sessions, MainScreen.-tiny #log { display: none; }
    MainScreen.-tiny #compact { display: block; }
    """
    BINDINGS = [
        *(key.binding() for key in KEYS),
        refusal_binding(),
        Binding("escape", "clear_filter", "clear filter", show=False),
    ]

    @property
    def loom(self) -> LoomApp:
        return self.app  # type: ignore[return-value]

    _detail_width: int | None = -1

    def compose(self) -> ComposeResult:
        yield LoomHeader()
        with Horizontal(id="main"):
            yield DagView(id="dag")
            yield DetailPanel(id="detail")
        yield SessionsTable(id="sessions")
        yield EventLog(id="log")
        yield CompactList(id="compact")
        yield Input(placeholder="filter stages by id, name or status (esc clears)", id="filter")
        yield AttentionBar(id="bar")
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
        tiny = event.size.width < TINY_WIDTH or event.size.height < TINY_HEIGHT
        self.set_class(narrow, "-narrow")
        was_tiny = self.has_class("-tiny")
        self.set_class(tiny, "-tiny")
        self.query_one(SessionsTable).set_narrow(narrow)
        # at 80 columns the footer cannot hold every key and the palette's: the palette is in ?
        self.query_one(Footer).show_command_palette = not narrow
        self._fit_detail()
        if tiny != was_tiny:
            (self.query_one(CompactList) if tiny else self.query_one(DagView)).focus()
        snapshot = self.loom.snapshot
        if snapshot is not None:
            self.query_one(SessionsTable).show(snapshot, self.loom.now())
            self.query_one(CompactList).show(snapshot, self.selected)

    # data -------------------------------------------------------------------------------------
    def _show(self, snapshot: Snapshot | None) -> None:
        if snapshot is None:
            return
        self.query_one(LoomHeader).show(snapshot)
        dag = self.query_one(DagView)
        dag.show(snapshot)
        self._fit_detail()
        self.query_one(DetailPanel).show(snapshot, dag.selected, self.loom.now())
        self.query_one(SessionsTable).show(snapshot, self.loom.now())
        self.query_one(AttentionBar).show(snapshot)
        if self.has_class("-tiny"):
            self.query_one(CompactList).show(snapshot, dag.selected)

    def _fit_detail(self) -> None:
        """Beside the graph, the details take what the graph leaves (36 to 60 columns): on a
        wide screen no column of the graph is cut for a panel of mostly empty lines."""
        detail = self.query_one(DetailPanel)
        if self.has_class("-narrow"):
            width = None
        else:
            needed = self.query_one(DagView).graph_width + 3  # its borders and scrollbar
            width = max(DETAIL_MIN, min(DETAIL_MAX, self.size.width - needed))
        if width != self._detail_width:  # (setting it, even unchanged, lays the screen out)
            self._detail_width = width
            detail.styles.width = width

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
            if self.has_class("-tiny"):
                self.query_one(CompactList).show(snapshot, event.stage_id)

    @on(CompactList.Picked)
    def _picked(self, event: CompactList.Picked) -> None:
        self.select(event.stage_id)

    def say(self, message: str, severity: str, timeout: float) -> None:
        """A notice, on the attention bar (toasts are not drawn on this screen)."""
        for bar in self.query(AttentionBar):
            bar.say(message, severity, timeout)

    def event_seen(self, data: dict[str, object]) -> None:
        """Follow the stage an event is about, unless the person picked one with the cursor:
        a stage that needs you wins over one that merely changed."""
        stage = data.get("stage")
        if not isinstance(stage, str) or data.get("kind") not in FOLLOWED_KINDS:
            return
        dags = self.query(DagView)  # (none yet while the screen is being put together)
        dag = dags.first() if dags else None
        if dag is None or dag.picked:
            return
        snapshot = self.loom.snapshot
        current = snapshot.stage(dag.selected) if snapshot else None
        if (
            current is not None
            and snapshot is not None
            and current.id != stage
            and snapshot.needs_you(current) is not None
            and not self.loom.attention.reason_of(data)
        ):
            return  # keep showing the one that needs you
        dag.select(stage, by_user=False)

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
        """Select ``stage_id`` for the person (the panel stops following changes)."""
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
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """In a read-only view the keys that change a stage are disabled (left out of the footer
        and the palette); pressing one still says why (`keys.refusal_binding`)."""
        return not (action in CHANGING_ACTIONS and self.loom.read_only)

    def action_refuse_read_only(self) -> None:
        self.loom._refuse_read_only()

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
