"""The main screen's keys, in one list: the bindings, the footer, the help screen and the
command palette are all made from it.  An ``app.`` action is the app's, and the app's
`check_action` decides when it is offered (``o``: only while no scheduler runs)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    key: str
    action: str
    label: str
    help: str
    show: bool = True

    @property
    def display(self) -> str:
        return {"slash": "/", "question_mark": "?", "enter": "enter"}.get(self.key, self.key)

    def binding(self) -> Binding:
        return Binding(self.key, self.action, self.label, show=self.show)


KEYS = (
    Key("h", "hold", "hold", "hold the selected stage: the scheduler will not start it"),
    Key("r", "release", "release", "release a held stage", show=False),
    Key("t", "retry", "retry", "retry a blocked stage now"),
    Key("s", "skip", "skip", "skip the stage; its dependents may start"),
    Key("x", "reset", "reset", "reset the stage to its initial state (asks first)", show=False),
    Key(
        "X",
        "reset_hard",
        "hard reset",
        "reset the stage and start it from the base in a fresh worktree (asks first)",
        show=False,
    ),
    Key("T", "retry_with_note", "retry+note", "retry with a note for its next session", show=False),
    Key("S", "skip_with_reason", "skip+reason", "skip the stage, saying why", show=False),
    Key(
        "A",
        "approve",
        "approve",
        "approve a stage that needs review: it completes and is merged (asks first)",
        show=False,
    ),
    Key(
        "R",
        "reject",
        "reject",
        "reject a stage in review: it runs again with your reason in its signal",
        show=False,
    ),
    Key("K", "kill_session", "kill", "end the stage's live session (asks first)", show=False),
    Key("a", "attach", "attach", "attach to the stage's tmux pane (detach to come back)"),
    Key(
        "n",
        "next_attention",
        "next",
        "jump to the next stage that needs you (input, stalled, blocked, review, conflict)",
    ),
    Key("m", "merge", "merge", "merge a completed stage into the base branch now"),
    Key("enter", "details", "details", "the selected stage in full"),
    Key(
        "d",
        "diff",
        "diff",
        "the selected stage's commits, files and diff against its base",
        show=False,
    ),
    Key("v", "view_handoff", "handoff", "view the selected stage's newest handoff", show=False),
    Key("slash", "filter", "filter", "show only stages whose id, name or status matches"),
    Key("question_mark", "help", "help", "this help"),
    Key(
        "o",
        "app.take_over",
        "take over",
        "take over the run: start a scheduler (offered only when none runs)",
    ),
    Key("q", "quit_loom", "quit", "quit (asks when sessions run; they keep running)"),
)

#: The actions that change a stage: a read-only view refuses them, and leaves them out of the
#: footer (at 80 columns there is no room for them and ``o`` both) and the palette.
CHANGING_ACTIONS = frozenset(
    {
        "hold",
        "release",
        "retry",
        "skip",
        "reset",
        "reset_hard",
        "retry_with_note",
        "skip_with_reason",
        "approve",
        "reject",
        "kill_session",
        "merge",
    }
)


def refusal_binding() -> Binding:
    """A hidden binding of every key that changes a stage, tried after the key's own binding when
    that one is disabled (read-only): the key still says why nothing happens."""
    keys = ",".join(key.key for key in KEYS if key.action in CHANGING_ACTIONS)
    return Binding(keys, "refuse_read_only", show=False)
