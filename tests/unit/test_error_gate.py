"""An error is told once: `ErrorGate`, where the scheduler emits (tests/integration/
test_error_reporting.py runs it in a real scheduler).

The TUI turns every error event into a toast and the headless run into a line, so an error that
the scheduler meets on every pass must reach them once — again only when it changes or after it
had cleared — or a stuck run fills the screen with the same words every second.
"""

from __future__ import annotations

from loom_tui.core.engine.error_gate import ErrorGate


def test_the_same_error_is_told_once_until_it_changes_or_clears() -> None:
    gate = ErrorGate()
    assert gate.admit("a", "base branch 'main' does not exist")
    assert not gate.admit("a", "base branch 'main' does not exist")
    assert gate.admit("b", "base branch 'main' does not exist")  # another stage's own
    assert gate.admit("a", "merge failed: conflict")  # changed
    gate.clear_stages_except({"b"})
    assert gate.admit("a", "merge failed: conflict")  # cleared, then back
    assert not gate.admit("b", "base branch 'main' does not exist")
    assert gate.admit(None, "tmux is not on PATH")
    gate.clear(None)
    assert gate.admit(None, "tmux is not on PATH")
