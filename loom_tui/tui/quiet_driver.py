"""Textual's Linux driver, with an input thread that sleeps until there is input.

Textual's input thread wakes ten times a second whether or not anything was typed: to see whether
it should stop, and to time out a lone escape key.  Each wake takes the GIL from the event loop;
left alone with 20 agents, that was about 0.15% of a core of loom's 1.5% budget (P4, measured per
thread).  This driver's thread waits on the terminal and on a pipe instead: stopping writes to the
pipe, and a timeout is set only while the parser holds the start of an escape sequence.

It leans on two private parts of textual (the parser's ``_timeout_time`` and the driver's
``exit_event``); textual is pinned, and `tests/tui/test_quiet_driver.py` runs this thread on a real
pty.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
from codecs import getincrementaldecoder
from typing import Any

from textual._parser import ParseError
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver


class _WakingEvent(threading.Event):
    """The driver's exit flag: setting it also wakes the input thread's wait."""

    def __init__(self, wake_fd: int) -> None:
        super().__init__()
        self._wake_fd = wake_fd

    def set(self) -> None:
        super().set()
        with contextlib.suppress(OSError):
            os.write(self._wake_fd, b"x")


class QuietLinuxDriver(LinuxDriver):
    """See the module's docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.exit_event = _WakingEvent(self._wake_write)

    def run_input_thread(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        selector.register(self._wake_read, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode

        def read_input() -> bool:
            """Parse what the terminal has; False at its end of file."""
            text = decode(os.read(self.fileno, 1024 * 4))
            if not text:
                return False
            for event in parser.feed(text):
                self.process_message(event)
            return True

        def wait() -> float | None:
            due = parser._timeout_time  # set while an escape sequence may be unfinished
            return None if due is None else max(0.0, due - get_time())

        try:
            while not self.exit_event.is_set():
                for key, _mask in selector.select(wait()):
                    if key.fd == self._wake_read:
                        with contextlib.suppress(OSError):
                            os.read(self._wake_read, 64)
                    elif not read_input():
                        break  # (stdin piped and ended: as textual's own thread does)
                for event in parser.tick():
                    self.process_message(event)
        finally:
            selector.close()
            with contextlib.suppress(EOFError, ParseError):
                for _event in parser.feed(""):
                    pass
