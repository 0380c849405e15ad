"""A line of text asked for in a modal box: a review's rejection, a skip's reason, a retry's note.

Enter answers (an empty answer is refused when the text is required), escape cancels (None).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class PromptScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    PromptScreen {
        align: center middle;
        background: $background 60%;
    }
    PromptScreen > Vertical {
        width: 72;
        max-width: 100%;
        height: auto;
        padding: 1 2;
        border: thick $accent;
        background: $panel;
    }
    PromptScreen Label { width: 100%; margin-bottom: 1; }
    PromptScreen .prompt--hint { color: $text-muted; margin: 1 0 0 0; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, *, placeholder: str = "", required: bool = True) -> None:
        super().__init__()
        self.question = question
        self.placeholder = placeholder
        self.required = required

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, markup=False)
            yield Input(placeholder=self.placeholder, id="answer")
            yield Label("enter to confirm · escape to cancel", classes="prompt--hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.required and not text:
            self.notify("type a few words first (escape cancels)", severity="warning")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
