"""The records of a session's hook log, `.work/hooks/<session-id>.jsonl`, in one shape.

Two writers share the log: the `sh` fast path (core/hook.sh) appends Claude Code's payload as it
came, with loom's event name put first (``{"event": "PostToolUse", "session_id": ..., ...}``), and
the Python hook (core/hooks.py) appends a compact record (``{"ts": ..., "event": ..., ...}``).
Readers (the scheduler's `SessionMonitor`, tests, tools) pass every line through `normalize`, which
turns a payload into the compact record and leaves a compact record as it is.  A payload is told
apart by its ``session_id``, which Claude Code always sends and a compact record never holds.

Standard-library imports only: the Python hook runs this on its slow path too.
"""

from __future__ import annotations

import time

from loom_tui.core import context

TEXT_LIMIT = 300


def trim(value: object) -> object:
    if isinstance(value, str) and len(value) > TEXT_LIMIT:
        return value[:TEXT_LIMIT] + "…"
    return value


def compact(event: str, payload: dict[str, object], now: float | None) -> dict[str, object]:
    """The compact record of one hook call: what the scheduler reads, without the bulk."""
    record: dict[str, object] = {"ts": now, "event": event}
    if event == "statusline":
        reading = context.from_statusline(payload, now)
        cost = payload.get("cost")
        if isinstance(cost, dict):
            record["cost_usd"] = cost.get("total_cost_usd")
        cw = payload.get("context_window")
        if isinstance(cw, dict):
            record["total_input_tokens"] = cw.get("total_input_tokens")
            record["total_output_tokens"] = cw.get("total_output_tokens")
            record["used_percentage"] = cw.get("used_percentage")
            record["context_window_size"] = cw.get("context_window_size")
        if reading is not None:
            record.update(reading.to_dict())
            record["source"] = "statusline"
        model = payload.get("model")
        if isinstance(model, dict):
            record["model"] = model.get("id")
    elif event in ("PreToolUse", "PostToolUse"):
        record["tool"] = payload.get("tool_name")
        tool_input = payload.get("tool_input")
        if isinstance(tool_input, dict):
            record["input"] = trim(
                tool_input.get("command")
                or tool_input.get("file_path")
                or tool_input.get("notebook_path")
            )
    elif event == "Notification":
        record["type"] = payload.get("notification_type")
        record["message"] = trim(payload.get("message"))
    elif event == "Stop":
        record["active"] = bool(payload.get("stop_hook_active"))
        record["message"] = trim(payload.get("last_assistant_message"))
    elif event == "PreCompact":
        record["trigger"] = payload.get("trigger")
    elif event == "SessionStart":
        record["source"] = payload.get("source")
    elif event == "SessionEnd":
        record["reason"] = payload.get("reason")
    elif event == "UserPromptSubmit":
        record["prompt"] = trim(payload.get("prompt"))
    if payload.get("transcript_path"):
        record["transcript"] = payload.get("transcript_path")
    return record


def normalize(record: dict[str, object], written_at: float | None = None) -> dict[str, object]:
    """One line of a hook log as a compact record.  The sh fast path stamps its lines with the
    seconds since boot (``up``: a builtin can read them, a clock needs a `date` process), made a
    time here; without it, ``written_at`` (the log's modification time) stands in."""
    if "session_id" not in record:
        return record
    event = str(record.get("event") or record.get("hook_event_name") or "")
    up = record.get("up")
    boot = boot_time() if isinstance(up, int | float) else None
    ts = boot + float(up) if boot is not None and isinstance(up, int | float) else written_at
    return compact(event, record, ts)


_BOOT: list[float] = []


def boot_time() -> float | None:
    """When the machine booted, on the wall clock (from `/proc/uptime`; None elsewhere)."""
    if not _BOOT:
        try:
            with open("/proc/uptime", encoding="ascii") as fh:
                uptime = float(fh.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        _BOOT.append(time.time() - uptime)
    return _BOOT[0]
