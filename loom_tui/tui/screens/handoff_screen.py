"""The handoff viewer: a handoff file rendered as Markdown, full screen; `esc` returns."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Markdown, Static

from loom_tui.core.frontmatter import parse, split
from loom_tui.core.textsafe import block, one_line
from loom_tui.tui.screens.with_bar import NO_TOASTS_CSS, BarScreenMixin
from loom_tui.tui.widgets.attention_bar import AttentionBar


def describe_front(front: str, path: str) -> str:
    """The handoff's facts in words: trigger, context use, who wrote it, when."""
    try:
        data, _body = parse(f"---\n{front}---\n", path)
    except Exception:
        return ""
    parts = [f"{data.get('trigger', '?')} trigger"]
    percent = data.get("context_percent")
    if isinstance(percent, int | float):
        parts.append(f"context {percent:.0f}%")
    parts.append(f"written by {data.get('written_by', '?')}")
    created = str(data.get("created") or "")
    if created:
        parts.append(created.replace("T", " ").removesuffix("Z") + " UTC")
    ahead = data.get("commits_ahead")
    if isinstance(ahead, int):
        parts.append(f"{ahead} commit(s) ahead")
    return " · ".join(parts)


class HandoffScreen(BarScreenMixin, Screen[None]):
    """Notices (the ends of the list, the scheduler's news) go to the attention bar above the
    footer, not to toasts over the text."""

    DEFAULT_CSS = f"""
    HandoffScreen {{ background: $surface; }}
    HandoffScreen #handoff-meta {{
        dock: top;
        height: 1;
        background: $panel;
        color: $text-muted;
        padding: 0 1;
    }}
    HandoffScreen Markdown {{ padding: 0 2; }}
    HandoffScreen > AttentionBar {{ dock: bottom; margin-bottom: 1; }}
    HandoffScreen {NO_TOASTS_CSS}
    """
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("left,p", "step(-1)", "Older"),
        Binding("right", "step(1)", "Newer"),
    ]

    def __init__(self, paths: list[str], index: int = -1) -> None:
        super().__init__()
        self.paths = paths
        self.index = index % len(paths) if paths else 0

    def compose(self) -> ComposeResult:
        # an agent wrote the handoff: its fields are plain text, not markup
        yield Static("", id="handoff-meta", markup=False)
        yield Markdown("", id="handoff-body")
        yield AttentionBar(id="bar")
        yield Footer()

    def on_mount(self) -> None:
        self._load()
        self.watch(self.app, "snapshot", self.show_attention, init=True)

    def _load(self) -> None:
        import os

        meta = self.query_one("#handoff-meta", Static)
        body = self.query_one("#handoff-body", Markdown)
        if not self.paths:
            meta.update("no handoff")
            body.update("This stage has no handoff yet.")
            return
        path = self.paths[self.index]
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            front, markdown = split(text, path)
        except Exception as exc:
            meta.update(os.path.basename(path))
            body.update(block(f"Cannot read {path}: {exc}"))
            return
        meta.update(
            one_line(
                f"{os.path.basename(path)} ({self.index + 1} of {len(self.paths)}) · "
                + describe_front(front, path)
            )
        )
        body.update(block(markdown))

    def action_step(self, delta: int) -> None:
        """To the older or newer handoff; at either end it stays (and says so) rather than
        wrapping round, which made the newest look like it was followed by the oldest."""
        if not self.paths:
            return
        index = self.index + delta
        if not 0 <= index < len(self.paths):
            self.notify(
                "this is the newest handoff" if delta > 0 else "this is the oldest handoff",
                timeout=2,
            )
            return
        self.index = index
        self._load()
