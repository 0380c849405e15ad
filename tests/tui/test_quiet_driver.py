"""The quiet driver's input thread, on a real pty: it reads keys (a lone escape too, after the
parser's timeout), waits without a timeout while nothing is typed, and stops when told."""

from __future__ import annotations

import os
import pty
import selectors
import threading
import time
import tty
from typing import Any

import pytest
from textual import events

from loom_tui.tui import quiet_driver
from loom_tui.tui.quiet_driver import QuietLinuxDriver

#: A generous limit for the thread to react (not a timing claim).
WAIT = 10.0


class RecordingDriver(QuietLinuxDriver):
    """Keeps the keys it would send to the app."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keys: list[str] = []
        self.lock = threading.Lock()

    def process_message(self, message: Any) -> None:
        if isinstance(message, events.Key):
            with self.lock:
                self.keys.append(message.key)


class RecordingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """The selector, noting each wait's timeout."""

    timeouts: list[float | None] = []

    def select(self, timeout: float | None = None) -> Any:
        RecordingSelector.timeouts.append(timeout)
        return super().select(timeout)


def wait_for(driver: RecordingDriver, key: str) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        with driver.lock:
            if key in driver.keys:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"no {key!r} key; got {driver.keys}")
        time.sleep(0.01)


async def test_keys_arrive_idle_waits_have_no_timeout_and_the_thread_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(quiet_driver.selectors, "DefaultSelector", RecordingSelector)
    RecordingSelector.timeouts = []
    master, slave = pty.openpty()
    tty.setraw(slave)  # as the driver's start_application_mode leaves the terminal
    driver = RecordingDriver(app=None)  # type: ignore[arg-type]
    driver.fileno = slave
    thread = threading.Thread(target=driver.run_input_thread, daemon=True)
    thread.start()
    try:
        os.write(master, b"j")
        wait_for(driver, "j")
        os.write(master, b"\x1b[A")
        wait_for(driver, "up")
        assert None in RecordingSelector.timeouts  # nothing typed: it sleeps until input
        os.write(master, b"\x1b")  # a lone escape: known as such once the parser times out
        wait_for(driver, "escape")
        assert any(t is not None for t in RecordingSelector.timeouts)
        driver.exit_event.set()
        thread.join(WAIT)
        assert not thread.is_alive()
    finally:
        os.close(master)
        os.close(slave)
