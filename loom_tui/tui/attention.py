"""Which events are worth interrupting a person for, said once each.

A toast for every state change buried the panels (three stacked at a time, and one a second when
the same error repeated).  Only what needs the person makes a notice here: an agent asking for
input or permission, a stalled session, a blocked stage, a merge conflict, a stage waiting for a
manual merge, a stage in review, and the plan finished or stuck.  The same stage and reason is said
once until the stage moves on (and then not again within `QUIET_SECONDS`); everything else is in
the Events panel.  Pure logic, no Textual: `notice_for` is called by the app for every event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["information", "warning", "error"]
#: a reason said for a stage is not said again this soon, even after it cleared in between
QUIET_SECONDS = 30.0
#: stage statuses that need a person, and how loudly
STATUS_REASONS: dict[str, tuple[str, Severity]] = {
    "waiting-for-input": ("input", "warning"),
    "blocked": ("blocked", "error"),
    "merge-conflict": ("merge-conflict", "error"),
    "needs-human-review": ("review", "warning"),
}
AGENT_REASONS: dict[str, str] = {"waiting-for-input": "input", "needs-permission": "permission"}
WORDS = {
    "input": "the agent waits for your input",
    "permission": "the agent asks for permission",
    "stalled": "stalled: no activity",
    "blocked": "blocked",
    "merge-conflict": "merge conflict",
    "review": "needs your review (A approves, R rejects)",
    "merge": "completed; waits for you to merge it (m)",
    "loop-guard": "handoffs loop: loom stopped swapping sessions",
}


@dataclass(frozen=True)
class Notice:
    message: str
    severity: Severity
    timeout: float = 8.0


class Attention:
    """Remembers what was said, per (stage, reason)."""

    def __init__(self, auto_merge: bool = True) -> None:
        self.auto_merge = auto_merge
        #: (stage, reason) -> when it was said; removed when the stage moves on
        self._said: dict[tuple[str, str], float] = {}
        self._cleared: dict[tuple[str, str], float] = {}

    def reason_of(self, data: dict[str, object]) -> tuple[str, Severity] | None:
        kind = data.get("kind")
        if kind == "agent-state":
            reason = AGENT_REASONS.get(str(data.get("state")))
            return (reason, "warning") if reason else None
        if kind == "stalled":
            return ("stalled", "warning") if data.get("step") == "stalled" else None
        if kind == "stage-status":
            new = str(data.get("new"))
            if new == "completed" and not self.auto_merge:
                return ("merge", "warning")
            return STATUS_REASONS.get(new)
        if kind == "stage-blocked" and data.get("source") != "tui":
            return ("blocked", "error")
        if kind == "merge-conflict":
            return ("merge-conflict", "error")
        if kind == "handoff" and data.get("step") == "loop-guard":
            return ("loop-guard", "error")
        return None

    def notice_for(
        self, data: dict[str, object], now: float, *, all_merged: bool = True
    ) -> Notice | None:
        """The notice for ``data``, or None when it needs no one or was said already."""
        kind = data.get("kind")
        stage = str(data.get("stage") or "")
        if kind == "plan-finished":
            return self._plan_finished(data, now, all_merged)
        if kind == "stage-status" and stage:
            self._clear_stage(stage, now)  # it moved on: what it needed before is over
        found = self.reason_of(data)
        if found is None:
            return None
        reason, severity = found
        key = (stage, reason)
        if key in self._said:
            return None
        if now - self._cleared.get(key, -QUIET_SECONDS) < QUIET_SECONDS:
            self._said[key] = now
            return None
        self._said[key] = now
        return Notice(f"{stage or 'plan'}: {WORDS[reason]} (n goes there)", severity)

    def _clear_stage(self, stage: str, now: float) -> None:
        for key in [k for k in self._said if k[0] == stage]:
            del self._said[key]
            self._cleared[key] = now

    def _plan_finished(self, data: dict[str, object], now: float, all_merged: bool) -> Notice:
        ok = bool(data.get("ok"))
        key = ("", f"finished-{ok}")
        self._said[key] = now
        if ok and all_merged:
            return Notice("plan complete: every stage is merged", "information", 10.0)
        if ok:
            return Notice("every stage is done; some wait for you to merge them (m)", "warning")
        summary = str(data.get("summary") or "")
        return Notice(f"plan stuck: {summary}", "error", 15.0)
