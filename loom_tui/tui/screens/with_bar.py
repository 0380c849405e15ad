"""What a screen with an attention bar does: notices go to its bar (`notices.py`), and the bar
lists the stages that need you from each snapshot."""

from __future__ import annotations

from typing import Any, cast

from loom_tui.tui.snapshot import Snapshot
from loom_tui.tui.widgets.attention_bar import AttentionBar

#: (toasts are not drawn on a screen with a bar; this hides any that arrive another way)
NO_TOASTS_CSS = "ToastRack { display: none; }"


class BarScreenMixin:
    """For `Screen`s that compose an `AttentionBar`."""

    def _bars(self) -> list[AttentionBar]:
        return list(cast(Any, self).query(AttentionBar))

    def say(self, message: str, severity: str, timeout: float) -> None:
        """A notice, on this screen's attention bar."""
        for bar in self._bars():
            bar.say(message, severity, timeout)

    def show_attention(self, snapshot: Snapshot | None) -> None:
        if snapshot is None:
            return
        for bar in self._bars():
            bar.show(snapshot)
