"""`d`: what a stage changed against its base — its commits, its files with +/− counts, and each
file's diff, highlighted and scrollable — so a person can review it without leaving loom.

The diff is computed by `core.stage_diff` in a worker thread (pygit2 blocks), once on opening
and then every `REFRESH_EVERY` seconds while this screen is open, because the agent keeps working
in the stage's worktree: a cheap fingerprint (`diff_key`) is checked first, and nothing is
recomputed or redrawn when the branch and the worktree are as they were.  A failure is shown in
the summary line; the next refresh tries again.  The selected file's lines are highlighted in
another worker, so a long file never holds up the keys.

Keys: j/k or ↑/↓ move between files, space/pgdn and b/pgup scroll the diff, ←/→ scroll it
sideways, w shows or hides the worktree's uncommitted changes, esc or q goes back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from loom_tui.core.stage_diff import MAX_FILES, FileChange, StageDiff, diff_key, stage_diff
from loom_tui.core.textsafe import one_line
from loom_tui.tui.diff_render import DiffStyles, age, counts, render_file
from loom_tui.tui.widgets.diff_view import DiffView

if TYPE_CHECKING:
    from loom_tui.tui.app import LoomApp

REFRESH_EVERY = 2.0
#: Below these sizes the panels stack (narrow) and the commits panel folds away (short).
NARROW_BELOW = 100
SHORT_BELOW = 20

#: The keys of this screen, for the help screen: (keys, what they do).
DIFF_KEYS = (
    ("j k ↑ ↓", "diff: the next or previous changed file"),
    ("space b", "diff: scroll the file's diff down or up a page (also pgdn, pgup; ← → sideways)"),
    ("w", "diff: show or hide the uncommitted changes in the stage's worktree"),
    ("esc q", "diff: back"),
)

#: A file in the list: its section (``c`` committed, ``w`` worktree) and the change.
Entry = tuple[str, FileChange]


class DiffScreen(Screen[None]):
    CSS_PATH = "diff_screen.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "file(1)", "files", key_display="j/k"),
        Binding("k,up", "file(-1)", "previous file", show=False),
        Binding("space,pagedown", "page(1)", "scroll", key_display="space"),
        Binding("b,pageup", "page(-1)", "page up", show=False),
        Binding("left", "sideways(-1)", "left", show=False),
        Binding("right", "sideways(1)", "right", show=False),
        Binding("home", "top", "top", show=False),
        Binding("end", "bottom", "bottom", show=False),
        Binding("w", "toggle_working", "working tree"),
        Binding("escape,q", "app.pop_screen", "back", key_display="esc"),
    ]

    def __init__(self, stage_id: str) -> None:
        super().__init__()
        self.stage_id = stage_id
        self.diff: StageDiff | None = None
        self.error: str | None = None
        self.show_working = True
        self._entries: list[Entry] = []
        self._cursor = 0
        self._busy = False
        #: what the diff view shows: (section, path) and the diff's key when it was rendered
        self._rendered: tuple[object, ...] | None = None
        self._keep_scroll = False

    @property
    def loom(self) -> LoomApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static("", id="diff-summary", markup=False)
        yield Static("", id="diff-commits")
        files = OptionList(id="diff-files")
        files.can_focus = False
        yield files
        yield DiffView(id="diff-body")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#diff-commits").border_title = "Commits"
        self.query_one("#diff-files").border_title = "Files"
        self._show_summary()
        self.refresh_diff()
        self.set_interval(REFRESH_EVERY, self.refresh_diff)
        self.watch(self.app, "theme", self._theme_changed, init=False)

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW_BELOW, "-narrow")
        self.set_class(event.size.height < SHORT_BELOW, "-short")

    # computing the diff -----------------------------------------------------------------------
    def _where(self) -> tuple[str, str, str | None, str | None]:
        """The project's root, the base branch, the stage's worktree and its merge commit."""
        snapshot = self.loom.snapshot
        base = snapshot.base_branch if snapshot else self.loom.config.base_branch
        stage = snapshot.stage(self.stage_id) if snapshot else None
        if stage is None:
            return self.loom.store.root, base, None, None
        return self.loom.store.root, base, stage.worktree, stage.merge_commit

    def refresh_diff(self) -> None:
        """Compute the diff again in a worker, unless one is at it already."""
        if self._busy:
            return
        self._busy = True
        self._compute(*self._where(), self.diff.key if self.diff else None)

    @work(thread=True, exit_on_error=False, group="diff")
    def _compute(
        self, root: str, base: str, worktree: str | None, merged: str | None, last_key: object
    ) -> StageDiff | None:
        stage = self.stage_id
        if last_key == diff_key(root, stage, base, worktree, merge_commit=merged):
            return None  # nothing changed: keep what is shown
        return stage_diff(root, stage, base, worktree, merge_commit=merged)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        event.stop()
        worker = event.worker
        if worker.group == "diff":
            if worker.state is WorkerState.SUCCESS:
                self._busy = False
                self.error = None
                if isinstance(worker.result, StageDiff):
                    self._show_diff(worker.result)
                self._show_summary()
            elif worker.state in (WorkerState.ERROR, WorkerState.CANCELLED):
                self._busy = False
                error = worker.error
                self.error = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
                self._show_summary()
        elif worker.group == "diff-render" and worker.state is WorkerState.SUCCESS:
            token, lines = cast(tuple[object, list[Text]], worker.result)
            if token == self._rendered:
                self.query_one(DiffView).set_lines(lines, keep_scroll=self._keep_scroll)

    # showing it -------------------------------------------------------------------------------
    def _show_diff(self, diff: StageDiff) -> None:
        self.diff = diff
        self._show_commits()
        self._fill_files()

    def _show_summary(self) -> None:
        self.query_one("#diff-summary", Static).update(one_line(self._summary()))

    def _summary(self) -> str:
        """One line, the most telling first (a narrow terminal cuts its end)."""
        diff = self.diff
        head = f"diff {self.stage_id}"
        if self.error:
            return f"{head} · cannot compute the diff: {self.error}"
        if diff is None:
            return f"{head} · reading the stage's changes…"
        if not diff.has_branch:
            return f"{head} · {self._no_branch()}"
        added, removed = diff.totals
        commits = len(diff.commits) + diff.commits_omitted
        files = len(diff.committed)
        parts = [
            head,
            f"{commits} commit{'s' * (commits != 1)}",
            f"{files} file{'s' * (files != 1)} +{added} −{removed}",
        ]
        if diff.working is None:
            parts.append("no worktree")
        elif not self.show_working:
            parts.append("uncommitted hidden (w)")
        else:
            parts.append(f"{len(diff.working)} uncommitted")
        parts.append(f"{diff.branch} vs {diff.base_branch} since {diff.fork_point}")
        if diff.merged_in:
            parts.append(f"merged in {diff.merged_in}")
        return " · ".join(parts)

    def _show_commits(self) -> None:
        diff = self.diff
        box = self.query_one("#diff-commits", Static)
        if diff is None:
            box.update("")
            return
        if not diff.has_branch:
            box.update(Text("no branch, no commits yet", style="italic"))
            return
        if not diff.commits:
            box.update(Text(f"no commits ahead of {diff.base_branch} yet", style="italic"))
            return
        table = Table(box=None, show_header=False, padding=(0, 1, 0, 0), expand=True)
        table.add_column(style="bold", no_wrap=True)
        table.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        table.add_column(style="dim", no_wrap=True, overflow="ellipsis", max_width=16)
        table.add_column(style="dim", no_wrap=True, justify="right")
        now = self.loom.now()
        for commit in diff.commits:
            table.add_row(
                commit.short_id,
                Text(one_line(commit.subject)),
                Text(one_line(commit.author)),
                age(commit.when, now),
            )
        if diff.commits_omitted:
            table.add_row("…", f"and {diff.commits_omitted} older", "", "")
        box.update(table)

    def _fill_files(self) -> None:
        """The list of files, keeping the selected one selected if it is still there."""
        diff = self.diff
        was = self._entries[self._cursor] if self._entries else None
        entries: list[Entry] = []
        options: list[Option] = []
        styles = self.query_one(DiffView).diff_styles()
        if diff is not None and diff.has_branch:
            sections = [("c", f"committed · vs {diff.base_branch}", diff.committed)]
            if self.show_working and diff.working is not None:
                sections.append(("w", "uncommitted · in the worktree", diff.working))
            for section, title, files in sections:
                options.append(Option(Text(title, style="bold"), disabled=True))
                if not files:
                    options.append(Option(Text("  (none)", style="dim italic"), disabled=True))
                for change in files:
                    entries.append((section, change))
                    options.append(Option(_file_row(change, styles), id=f"{len(entries) - 1}"))
            if diff.files_omitted:
                more = f"… {diff.files_omitted} more file(s) not listed (at most {MAX_FILES} each)"
                options.append(Option(Text(more, style="dim italic"), disabled=True))
        files_list = self.query_one("#diff-files", OptionList)
        files_list.set_options(options)
        self._entries = entries
        same = [
            i for i, (s, c) in enumerate(entries) if was and (s, c.path) == (was[0], was[1].path)
        ]
        self._cursor = same[0] if same else 0
        self._select(keep_scroll=bool(same))

    def _select(self, *, keep_scroll: bool = False) -> None:
        """Highlight the cursor's file in the list and show its diff."""
        files_list = self.query_one("#diff-files", OptionList)
        view = self.query_one(DiffView)
        if not self._entries:
            files_list.highlighted = None
            self._rendered = None
            view.set_lines([Text(line, style="italic") for line in self._empty_note().split("\n")])
            return
        self._cursor = max(0, min(self._cursor, len(self._entries) - 1))
        files_list.highlighted = files_list.get_option_index(str(self._cursor))
        section, change = self._entries[self._cursor]
        token = (section, change.path, self.diff.key if self.diff else None, self.app.theme)
        if token == self._rendered:
            return
        self._rendered = token
        self._keep_scroll = keep_scroll
        self._highlight_file(token, change, view.diff_styles())

    @work(thread=True, exclusive=True, exit_on_error=False, group="diff-render")
    def _highlight_file(
        self, token: tuple[object, ...], change: FileChange, styles: DiffStyles
    ) -> tuple[object, list[Text]]:
        return token, render_file(change, styles)

    def _empty_note(self) -> str:
        diff = self.diff
        if self.error:
            return f"cannot compute the diff: {self.error}"
        if diff is None:
            return "reading the stage's changes…"
        if not diff.has_branch and not self._started():
            return (
                f"Stage {self.stage_id} has no branch yet.\n"
                f"It is made from {diff.base_branch} when the stage starts;\n"
                "its changes show here as its agent works."
            )
        if not diff.has_branch:
            return f"Stage {self.stage_id}: {self._no_branch()}."
        return f"No changes against {diff.base_branch} yet."

    def _started(self) -> bool:
        snapshot = self.loom.snapshot
        stage = snapshot.stage(self.stage_id) if snapshot else None
        return stage is not None and (stage.generation > 0 or stage.merged)

    def _no_branch(self) -> str:
        branch = f"loom/{self.stage_id}"
        if self._started():
            return f"{branch} no longer exists, and no merge of it is known here"
        return f"no branch yet: {branch} is made when the stage starts"

    def _theme_changed(self) -> None:
        # the new theme's CSS applies on the next refresh: read its colours after that
        self.call_after_refresh(self._redraw_in_theme)

    def _redraw_in_theme(self) -> None:
        self._rendered = None
        if self.diff is not None:
            self._fill_files()  # the files' colours, then the selected file's lines

    # keys -------------------------------------------------------------------------------------
    def action_file(self, delta: int) -> None:
        if not self._entries:
            return
        self._cursor = max(0, min(self._cursor + delta, len(self._entries) - 1))
        self._select()

    def action_page(self, direction: int) -> None:
        view = self.query_one(DiffView)
        if direction > 0:
            view.scroll_page_down(animate=False)
        else:
            view.scroll_page_up(animate=False)

    def action_sideways(self, direction: int) -> None:
        view = self.query_one(DiffView)
        view.scroll_to(x=view.scroll_x + direction * 8, animate=False)

    def action_top(self) -> None:
        self.query_one(DiffView).scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.query_one(DiffView).scroll_end(animate=False)

    def action_toggle_working(self) -> None:
        self.show_working = not self.show_working
        self._fill_files()
        self._show_summary()

    @on(OptionList.OptionHighlighted, "#diff-files")
    def _clicked(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None and int(event.option.id) != self._cursor:
            self._cursor = int(event.option.id)
            self._select()


def open_diff(app: LoomApp, stage_id: str | None) -> None:
    """Open the diff screen on ``stage_id`` (the `d` key of the main and stage screens)."""
    if stage_id is not None:
        app.push_screen(DiffScreen(stage_id))


def _file_row(change: FileChange, styles: DiffStyles) -> Text:
    """One file in the list: its status letter, its path and its +/− counts."""
    letter_style = {"A": styles.plus, "D": styles.minus, "R": styles.moved, "C": styles.moved}
    row = Text.assemble(
        (change.letter, letter_style.get(change.letter, styles.modified) + Style(bold=True)),
        " ",
        one_line(change.path),
        " ",
    )
    if change.binary:
        row.append("binary", style=styles.note)
    else:
        row.append_text(counts(change.additions, change.deletions, styles))
    return row
