"""Text from plans and agents on the TUI: control characters shown escaped, markup shown as typed.

A stage name with an SGR sequence, an OSC title, a CR and an LF, a reason that would clear the
screen, and an event message with a C1 CSI: the screen shows each as an escape (``\\x1b[31m``)
and never holds the raw character; Rich markup look-alikes (``[b]…[/b]``, a stray ``[/]``) are
shown as typed, in the panels and in the notices.
"""

from __future__ import annotations

import json
from typing import Any

from textual.app import App

from loom_tui.tui.app import LoomApp
from tests.tui.conftest import NOW, AppFactory, TuiProject
from tests.tui.test_keys import SIZE, notices, screen_text, select, settle, started

HOSTILE_NAME = "T\x1b[31mR\x1b]0;p\x07\rX\nY [b]b[/b] [/]"
WIDE = (200, 40)  # the side panel wide enough for the whole name on one line
RAW = ("\x1b", "\x07", "\r", "\x9b")


def assert_no_raw_controls(app: App[Any]) -> str:
    text = screen_text(app)
    for ch in RAW:
        assert ch not in text, f"{ch!r} reached the screen"
    return text


async def test_a_stage_name_with_escape_sequences_is_shown_escaped(
    make_app: AppFactory, tui_project: TuiProject
) -> None:
    tui_project.set_stage("tokenizer", name=HOSTILE_NAME)
    tui_project.set_stage("counter", blocked_reason="\x1b[2Jwiped [/] \x9b31m")
    with open(tui_project.store.events_path, "a", encoding="utf-8") as fh:
        event = {"ts": NOW, "kind": "error", "stage": "counter", "message": "boom\x1b[5m\x9b1m"}
        fh.write(json.dumps(event) + "\n")
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await started(app, pilot)
        await select(app, pilot, "tokenizer")
        await settle(app, pilot)
        text = assert_no_raw_controls(app)
        assert "T\\x1b[31mR\\x1b]0;p\\x07\\rX\\nY [b]b[/b] [/]" in text
        assert "boom\\x1b[5m\\x9b1m" in text  # the event log

        await select(app, pilot, "counter")
        await settle(app, pilot)
        text = assert_no_raw_controls(app)
        assert "\\x1b[2Jwiped [/] \\x9b31m" in text

        await pilot.press("enter")  # the full stage screen
        await settle(app, pilot)
        assert "\\x1b[2Jwiped [/] \\x9b31m" in assert_no_raw_controls(app)


async def test_notices_quoting_agents_are_plain_text(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        assert isinstance(app, LoomApp)
        app.notify("stage x: [/] closes nothing \x1b]0;t\x07", severity="error")
        app.screen.notify("[b]not bold[/b]\nsecond line")
        await pilot.pause()
        assert "stage x: [/] closes nothing \\x1b]0;t\\x07" in notices(app)
        assert "[b]not bold[/b]\\nsecond line" in notices(app)
