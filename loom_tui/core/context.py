"""The context gauge: how much of its context window a session uses, measured, not guessed.

Two sources, both from Claude Code itself (see CLAUDE_CODE.md):

1. the statusLine payload (primary): ``context_window.current_usage`` and
   ``context_window_size``; ``used_percentage`` is null right after a start or a compaction;
2. the transcript (fallback and cross-check, written after every assistant message): walking back
   from the end to the newest assistant line with ``message.usage`` (not ``<synthetic>``); a
   ``compact_boundary`` after it means the usage restarted.

Both give ``used = input + cache_creation + cache_read`` over the window size, which comes from the
payload when it says, else from the model id (``[1m]`` means 1,000,000), else 200,000.  The
transcript is read from its end in blocks, so a reading costs the same on a 100 MB transcript as on
a 1 MB one.  Only cheap imports: the statusLine hook runs this on every redraw.
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_WINDOW = 200_000
ONE_MILLION = 1_000_000
YELLOW_BAND = 15
BLOCK = 64 * 1024
MAX_BACKWARD_BYTES = 64 * 1024 * 1024


class Reading:
    """One measurement of a session's context use."""

    __slots__ = ("cost_usd", "model", "percent", "source", "tokens", "ts", "window")

    def __init__(
        self,
        tokens: int,
        window: int,
        source: str,
        *,
        model: str | None = None,
        cost_usd: float | None = None,
        ts: float | None = None,
        percent: float | None = None,
    ) -> None:
        self.tokens = tokens
        self.window = window
        self.source = source
        self.model = model
        self.cost_usd = cost_usd
        self.ts = ts
        self.percent = percent if percent is not None else percent_of(tokens, window)

    def to_dict(self) -> dict[str, object]:
        return {
            "tokens": self.tokens,
            "window": self.window,
            "percent": self.percent,
            "source": self.source,
            "model": self.model,
            "cost_usd": self.cost_usd,
            "ts": self.ts,
        }

    def __repr__(self) -> str:
        return f"Reading({self.percent:.1f}% = {self.tokens}/{self.window} from {self.source})"


def percent_of(tokens: int, window: int) -> float:
    return round(tokens * 100.0 / window, 2) if window > 0 else 0.0


def window_size(model_id: str | None, reported: object = None) -> int:
    """The context window: as reported, else 1M for a model id ending in `[1m]`, else 200k."""
    if isinstance(reported, int) and not isinstance(reported, bool) and reported > 0:
        return reported
    if model_id and model_id.endswith("[1m]"):
        return ONE_MILLION
    return DEFAULT_WINDOW


def level(percent: float | None, budget: int) -> str:
    """green below budget−15, yellow up to the budget, red at or above it."""
    if percent is None:
        return "unknown"
    if percent >= budget:
        return "red"
    if percent >= budget - YELLOW_BAND:
        return "yellow"
    return "green"


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def used_tokens(usage: dict[str, object]) -> int:
    return (
        _int(usage.get("input_tokens"))
        + _int(usage.get("cache_creation_input_tokens"))
        + _int(usage.get("cache_read_input_tokens"))
    )


def from_statusline(payload: dict[str, object], ts: float | None = None) -> Reading | None:
    """The reading in a statusLine payload, or None when it has no usage yet."""
    cw = payload.get("context_window")
    if not isinstance(cw, dict):
        return None
    model = payload.get("model")
    model_id = model.get("id") if isinstance(model, dict) else None
    window = window_size(
        model_id if isinstance(model_id, str) else None, cw.get("context_window_size")
    )
    cost = payload.get("cost")
    cost_usd = cost.get("total_cost_usd") if isinstance(cost, dict) else None
    current = cw.get("current_usage")
    if not isinstance(current, dict):
        return None
    tokens = used_tokens(current)
    return Reading(
        tokens,
        window,
        "statusline",
        model=model_id if isinstance(model_id, str) else None,
        cost_usd=float(cost_usd) if isinstance(cost_usd, int | float) else None,
        ts=ts,
    )


def _reverse_lines(path: str) -> Iterator[bytes]:
    """Yield the file's lines from the last to the first, reading blocks from the end."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        position = fh.tell()
        # The pieces of the line being assembled, newest first: joined once when its start is
        # found, so that a line of many blocks costs linear, not quadratic, time.
        pieces: list[bytes] = []
        read = 0
        while position > 0 and read < MAX_BACKWARD_BYTES:
            size = min(BLOCK, position)
            position -= size
            fh.seek(position)
            chunk = fh.read(size)
            read += size
            end = len(chunk)
            cut = chunk.rfind(b"\n", 0, end)
            while cut >= 0:
                pieces.append(chunk[cut + 1 : end])
                line = b"".join(reversed(pieces))
                pieces.clear()
                if line.strip():
                    yield line
                end = cut
                cut = chunk.rfind(b"\n", 0, end)
            pieces.append(chunk[:end])
        if position == 0:
            line = b"".join(reversed(pieces))
            if line.strip():
                yield line


def from_transcript(path: str, model_hint: str | None = None) -> Reading | None:
    """The newest usage in a Claude Code transcript (None if it has none yet)."""
    try:
        for raw in _reverse_lines(path):
            if b'"compact_boundary"' not in raw and b'"usage"' not in raw:
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(line, dict):
                continue
            if line.get("type") == "system" and line.get("subtype") == "compact_boundary":
                return Reading(0, window_size(model_hint), "transcript")
            if line.get("type") != "assistant":
                continue
            message = line.get("message")
            if not isinstance(message, dict):
                continue
            usage = message.get("usage")
            model = message.get("model")
            if not isinstance(usage, dict) or model == "<synthetic>":
                continue
            model_id = model if isinstance(model, str) else model_hint
            # The API's model id has no `[1m]` suffix: the session's own model may say 1M.
            window = max(window_size(model_id), window_size(model_hint))
            return Reading(used_tokens(usage), window, "transcript", model=model_id)
    except OSError:
        return None
    return None


def newest(*readings: Reading | None) -> Reading | None:
    """The most recent of several readings (by timestamp; the first when none has one)."""
    present = [r for r in readings if r is not None]
    if not present:
        return None
    return max(present, key=lambda r: r.ts or 0.0)
