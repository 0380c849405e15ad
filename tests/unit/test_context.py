"""The context gauge, checked against Claude Code's real captures (version 2.1.197).

The captures live in the shared reference folder beside the repository; a byte-identical copy is
kept in `tests/fixtures/claude-code/` for a clean clone, where the shared folder does not exist.
Every expected figure below was added up by hand from the capture's lines
(used = input + cache_creation + cache_read).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loom_tui.core import context
from loom_tui.simagent import claude_io

SHARED = Path(__file__).parents[3] / "shared" / "reference" / "claude-code"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "claude-code"
CAPTURES = SHARED if SHARED.is_dir() else FIXTURES

STATUSLINE = "statusline_sample_opus1m.json"
INTERACTIVE = "transcript_interactive_with_tool_and_compact.jsonl"
INTERRUPTED = "transcript_interrupted.jsonl"
PRINT = "transcript_print_text_plus_tool_use.jsonl"
CAPTURE_FILES = (STATUSLINE, INTERACTIVE, INTERRUPTED, PRINT)

MB = 1024 * 1024


# --------------------------------------------------------------------------------------------------
# Helpers


def capture(name: str) -> Path:
    return CAPTURES / name


def raw_lines(name: str) -> list[bytes]:
    """The capture's lines as stored (each with its newline)."""
    return capture(name).read_bytes().splitlines(keepends=True)


def records(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in raw_lines(name)]


def first_index(lines: list[dict[str, Any]], **match: object) -> int:
    return next(i for i, d in enumerate(lines) if all(d.get(k) == v for k, v in match.items()))


def statusline_payload() -> dict[str, Any]:
    payload = json.loads(capture(STATUSLINE).read_text())
    assert isinstance(payload, dict)
    return payload


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(lines))
    return path


def dumps(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()


def with_usage(line: dict[str, Any], tokens: int, text: str | None = None) -> dict[str, Any]:
    """A copy of a real assistant line with other usage (and optionally one text block)."""
    out = json.loads(json.dumps(line))
    usage = out["message"]["usage"]
    usage.update(input_tokens=tokens, cache_creation_input_tokens=0, cache_read_input_tokens=0)
    if text is not None:
        out["message"]["content"] = [{"type": "text", "text": text}]
    return out


def tool_result_line(size: int) -> bytes:
    """A user line carrying a tool result of ``size`` bytes (written without building a str)."""
    head = b'{"type":"user","message":{"role":"user","content":[{"type":"tool_result","content":"'
    return head + b"y" * size + b'"}]}}\n'


def key_paths(value: object, prefix: str = "") -> set[str]:
    """Every dictionary key path in ``value`` (lists are not entered)."""
    if not isinstance(value, dict):
        return set()
    out: set[str] = set()
    for key, sub in value.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        out.add(path)
        out |= key_paths(sub, path)
    return out


# --------------------------------------------------------------------------------------------------
# The captures themselves


def test_the_captures_are_found() -> None:
    for name in CAPTURE_FILES:
        assert capture(name).is_file(), f"missing capture {capture(name)}"


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared reference folder is not here")
@pytest.mark.parametrize("name", CAPTURE_FILES)
def test_the_fixture_copies_are_the_captures_byte_for_byte(name: str) -> None:
    assert (FIXTURES / name).read_bytes() == (SHARED / name).read_bytes()


# --------------------------------------------------------------------------------------------------
# statusLine


def test_statusline_sample_gives_22025_tokens_of_one_million() -> None:
    payload = statusline_payload()
    reading = context.from_statusline(payload, ts=123.0)
    assert reading is not None
    assert reading.tokens == 23 + 2002 + 20000 == 22025
    assert reading.window == 1_000_000
    assert reading.percent == pytest.approx(2.2025, abs=0.01)
    assert round(reading.percent) == payload["context_window"]["used_percentage"] == 2
    assert reading.tokens == payload["context_window"]["total_input_tokens"]
    assert reading.source == "statusline"
    assert reading.model == "claude-opus-4-8[1m]"
    assert reading.cost_usd == pytest.approx(0.0236775)
    assert reading.ts == 123.0
    assert context.level(reading.percent, 65) == "green"


def test_statusline_reading_serialises_every_field() -> None:
    reading = context.from_statusline(statusline_payload(), ts=5.0)
    assert reading is not None
    assert reading.to_dict() == {
        "tokens": 22025,
        "window": 1_000_000,
        "percent": reading.percent,
        "source": "statusline",
        "model": "claude-opus-4-8[1m]",
        "cost_usd": reading.cost_usd,
        "ts": 5.0,
    }


def test_statusline_without_usage_yet_gives_no_reading() -> None:
    payload = statusline_payload()
    payload["context_window"]["current_usage"] = None
    payload["context_window"]["used_percentage"] = None
    assert context.from_statusline(payload) is None
    del payload["context_window"]
    assert context.from_statusline(payload) is None
    assert context.from_statusline({}) is None


def test_statusline_reported_window_wins_over_the_model_id() -> None:
    payload = statusline_payload()
    payload["context_window"]["context_window_size"] = 200_000
    reading = context.from_statusline(payload)
    assert reading is not None
    assert reading.window == 200_000  # although the id ends in [1m]
    assert reading.percent == pytest.approx(11.01, abs=0.01)


def test_statusline_without_a_reported_window_falls_back_to_the_model_id() -> None:
    payload = statusline_payload()
    del payload["context_window"]["context_window_size"]
    reading = context.from_statusline(payload)
    assert reading is not None
    assert reading.window == 1_000_000  # from the [1m] suffix
    payload["model"]["id"] = "claude-opus-4-8"
    reading = context.from_statusline(payload)
    assert reading is not None
    assert reading.window == 200_000


# --------------------------------------------------------------------------------------------------
# Window size and levels


@pytest.mark.parametrize(
    ("model_id", "reported", "expected"),
    [
        ("claude-opus-4-8[1m]", None, 1_000_000),
        ("opus[1m]", None, 1_000_000),
        ("claude-opus-4-8", None, 200_000),
        ("claude-sonnet-5", None, 200_000),
        (None, None, 200_000),
        ("", None, 200_000),
        ("claude-opus-4-8[1m]", 200_000, 200_000),
        ("claude-opus-4-8", 1_000_000, 1_000_000),
        ("claude-opus-4-8", 0, 200_000),
        ("claude-opus-4-8", -5, 200_000),
        ("claude-opus-4-8", True, 200_000),
        ("claude-opus-4-8", "1000000", 200_000),
        ("claude-opus-4-8[1m]", None, context.ONE_MILLION),
    ],
)
def test_window_size(model_id: str | None, reported: object, expected: int) -> None:
    assert context.window_size(model_id, reported) == expected


@pytest.mark.parametrize(
    ("percent", "budget", "expected"),
    [
        (0.0, 65, "green"),
        (49.99, 65, "green"),
        (50.0, 65, "yellow"),
        (64.99, 65, "yellow"),
        (65.0, 65, "red"),
        (99.0, 65, "red"),
        (None, 65, "unknown"),
        (34.99, 50, "green"),
        (35.0, 50, "yellow"),
        (50.0, 50, "red"),
        (79.9, 95, "green"),
        (80.0, 95, "yellow"),
        (95.0, 95, "red"),
    ],
)
def test_levels_turn_yellow_at_budget_minus_15_and_red_at_budget(
    percent: float | None, budget: int, expected: str
) -> None:
    assert context.level(percent, budget) == expected


def test_percent_of_rounds_to_two_places_and_survives_a_zero_window() -> None:
    assert context.percent_of(22045, 200_000) == 11.02
    assert context.percent_of(1, 3) == 33.33
    assert context.percent_of(5, 0) == 0.0


# --------------------------------------------------------------------------------------------------
# Transcripts: the real captures


def test_print_transcript_gives_its_last_assistant_usage() -> None:
    reading = context.from_transcript(str(capture(PRINT)))
    assert reading is not None
    assert reading.tokens == 43 + 2002 + 20000 == 22045
    assert reading.window == 200_000
    assert reading.percent == 11.02
    assert reading.model == "claude-opus-4-8"
    assert reading.source == "transcript"


def test_interactive_transcript_after_its_compaction_reads_zero() -> None:
    reading = context.from_transcript(str(capture(INTERACTIVE)))
    assert reading is not None
    assert reading.tokens == 0
    assert reading.percent == 0.0
    assert reading.window == 200_000


def test_interactive_transcript_before_its_compaction(tmp_path: Path) -> None:
    lines = records(INTERACTIVE)
    boundary = first_index(lines, type="system", subtype="compact_boundary")
    path = write_lines(tmp_path / "t.jsonl", raw_lines(INTERACTIVE)[:boundary])
    reading = context.from_transcript(str(path))
    assert reading is not None
    assert reading.tokens == 73 + 2005 + 50000 == 52078
    assert reading.model == "claude-sonnet-5"
    assert reading.percent == 26.04


def test_interactive_transcript_after_its_first_reply(tmp_path: Path) -> None:
    """The first reply of that session used 22,025 tokens: the statusLine sample's figure."""
    lines = records(INTERACTIVE)
    first_reply = first_index(lines, type="assistant")
    path = write_lines(tmp_path / "t.jsonl", raw_lines(INTERACTIVE)[: first_reply + 1])
    reading = context.from_transcript(str(path))
    statusline = context.from_statusline(statusline_payload())
    assert reading is not None and statusline is not None
    assert reading.tokens == statusline.tokens == 22025


def test_interactive_transcript_after_its_tool_round(tmp_path: Path) -> None:
    lines = records(INTERACTIVE)
    cut = first_index(lines, type="system", subtype="stop_hook_summary")
    path = write_lines(tmp_path / "t.jsonl", raw_lines(INTERACTIVE)[:cut])
    reading = context.from_transcript(str(path))
    assert reading is not None
    assert reading.tokens == 43 + 2003 + 30000 == 32046


def test_interrupted_transcript_has_only_a_synthetic_zero_usage_line_so_no_reading() -> None:
    lines = records(INTERRUPTED)
    synthetic = [d for d in lines if d.get("type") == "assistant"]
    assert len(synthetic) == 1
    assert synthetic[0]["message"]["model"] == "<synthetic>"
    assert context.used_tokens(synthetic[0]["message"]["usage"]) == 0
    assert context.from_transcript(str(capture(INTERRUPTED))) is None


def test_a_synthetic_api_error_line_does_not_reset_the_gauge(tmp_path: Path) -> None:
    lines = records(INTERRUPTED)
    synthetic = raw_lines(INTERRUPTED)[first_index(lines, type="assistant")]
    path = write_lines(tmp_path / "t.jsonl", [*raw_lines(PRINT), synthetic])
    reading = context.from_transcript(str(path))
    assert reading is not None
    assert reading.tokens == 22045


def test_a_reply_after_the_compaction_counts_again(tmp_path: Path) -> None:
    reply = records(PRINT)[-2]
    assert reply["type"] == "assistant"
    path = write_lines(tmp_path / "t.jsonl", [*raw_lines(INTERACTIVE), dumps(reply)])
    reading = context.from_transcript(str(path))
    assert reading is not None
    assert reading.tokens == 22045


def test_the_session_model_hint_says_one_million_when_the_api_id_does_not(
    tmp_path: Path,
) -> None:
    """The API's model id has no `[1m]` suffix; the session's own model alias does."""
    big = with_usage(records(PRINT)[-2], 300_000)
    assert big["message"]["model"] == "claude-opus-4-8"
    path = write_lines(tmp_path / "t.jsonl", [*raw_lines(PRINT), dumps(big)])
    reading = context.from_transcript(str(path), model_hint="opus[1m]")
    assert reading is not None
    assert reading.window == 1_000_000
    assert reading.percent == 30.0
    plain = context.from_transcript(str(path), model_hint="opus")
    assert plain is not None and plain.window == 200_000


def test_the_model_hint_sizes_the_window_after_a_compaction() -> None:
    reading = context.from_transcript(str(capture(INTERACTIVE)), model_hint="sonnet[1m]")
    assert reading is not None
    assert (reading.tokens, reading.window) == (0, 1_000_000)


def test_missing_empty_and_usage_less_transcripts(tmp_path: Path) -> None:
    assert context.from_transcript(str(tmp_path / "missing.jsonl")) is None
    assert context.from_transcript(str(write_lines(tmp_path / "empty.jsonl", []))) is None
    pairs = zip(raw_lines(PRINT), records(PRINT), strict=True)
    only_users = [line for line, d in pairs if d["type"] == "user"]
    assert context.from_transcript(str(write_lines(tmp_path / "u.jsonl", only_users))) is None


def test_a_half_written_last_line_is_skipped(tmp_path: Path) -> None:
    """Claude Code appends while loom reads: a partial last line must not hide the reading."""
    newer = dumps(with_usage(records(PRINT)[-2], 99_000))
    path = write_lines(tmp_path / "t.jsonl", [*raw_lines(PRINT), newer[: len(newer) // 2]])
    reading = context.from_transcript(str(path))
    assert reading is not None
    assert reading.tokens == 22045


def test_a_last_line_without_a_newline_is_read(tmp_path: Path) -> None:
    lines = raw_lines(PRINT)
    reply = next(i for i, d in enumerate(records(PRINT)) if d["type"] == "assistant")
    path = write_lines(tmp_path / "t.jsonl", [*lines[:reply], lines[reply].rstrip(b"\n")])
    reading = context.from_transcript(str(path))
    assert reading is not None
    assert reading.tokens == 23 + 2001 + 10000


# --------------------------------------------------------------------------------------------------
# Transcripts: size


def test_a_huge_last_tool_result_line_is_walked_past(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.jsonl", [*raw_lines(PRINT), tool_result_line(6 * MB)])
    assert path.stat().st_size > 6 * MB
    reading = context.from_transcript(str(path))
    assert reading is not None
    assert reading.tokens == 22045


def test_a_huge_last_assistant_line_is_read(tmp_path: Path) -> None:
    huge = with_usage(records(PRINT)[-2], 77_777, text="z" * (7 * MB))
    path = write_lines(tmp_path / "t.jsonl", [*raw_lines(PRINT), dumps(huge)])
    reading = context.from_transcript(str(path))
    assert reading is not None
    assert reading.tokens == 77_777


def test_a_100_mb_transcript_of_a_few_large_lines(tmp_path: Path) -> None:
    reply = records(PRINT)[-2]
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as fh:
        fh.write(dumps(with_usage(reply, 1_000)))
        for _ in range(3):
            fh.write(tool_result_line(31 * MB))
        fh.write(dumps(with_usage(reply, 123_456)))
        fh.write(tool_result_line(6 * MB))  # the newest line: a big tool result after the reply
    assert path.stat().st_size >= 100 * 1000 * 1000
    reading = context.from_transcript(str(path))
    assert reading is not None
    assert reading.tokens == 123_456
    assert reading.percent == pytest.approx(61.73, abs=0.01)


def test_reverse_lines_across_block_boundaries(tmp_path: Path) -> None:
    """Lines shorter than, equal to and several times one read block, blank lines, no final
    newline: the reader yields exactly the non-blank lines, newest first."""
    block = context.BLOCK
    sizes = [1, block - 1, block, block + 1, 0, 3 * block + 7, 2, 0, 0, block * 2, 5]
    lines = [bytes([97 + i % 26]) * n for i, n in enumerate(sizes)]
    data = b"\n".join(lines)  # no trailing newline
    path = tmp_path / "lines.bin"
    path.write_bytes(data)
    expected = [line for line in reversed(lines) if line.strip()]
    assert list(context._reverse_lines(str(path))) == expected
    path.write_bytes(data + b"\n\n")
    assert list(context._reverse_lines(str(path))) == expected


def test_newest_reading_wins() -> None:
    old = context.Reading(10, 100, "statusline", ts=1.0)
    new = context.Reading(20, 100, "transcript", ts=2.0)
    assert context.newest(old, None, new) is new
    assert context.newest(None, None) is None
    first = context.Reading(1, 100, "statusline")
    assert context.newest(first, context.Reading(2, 100, "transcript")) is first


# --------------------------------------------------------------------------------------------------
# The simulated agent writes what Claude Code writes


def sim_payload(usage: claude_io.Usage | None) -> dict[str, Any]:
    return claude_io.statusline_payload(
        session_id="11111111-2222-3333-4444-555555555555",
        transcript_path="/tmp/demo/t.jsonl",
        cwd="/tmp/demo",
        alias="opus[1m]",
        usage=usage,
        window=1_000_000,
        total_input=22025,
        total_output=42,
        cost=0.02,
        started=0.0,
    )


def test_sim_statusline_payload_has_the_captures_keys_at_the_same_places() -> None:
    payload = sim_payload(claude_io.Usage(23, 2002, 20000, 42))
    assert key_paths(payload) == key_paths(statusline_payload())


def test_sim_statusline_payload_agrees_with_the_capture_on_the_figures() -> None:
    payload = sim_payload(claude_io.Usage(23, 2002, 20000, 42))
    mine = context.from_statusline(payload)
    real = context.from_statusline(statusline_payload())
    assert mine is not None and real is not None
    assert (mine.tokens, mine.window, mine.model) == (real.tokens, real.window, real.model)
    captured = statusline_payload()
    for key in ("used_percentage", "remaining_percentage", "context_window_size"):
        assert payload["context_window"][key] == captured["context_window"][key]
    assert payload["model"] == captured["model"]


def test_sim_statusline_payload_without_usage_is_like_right_after_a_start() -> None:
    payload = sim_payload(None)
    assert payload["context_window"]["current_usage"] is None
    assert payload["context_window"]["used_percentage"] is None
    assert context.from_statusline(payload) is None


@pytest.fixture
def sim_transcript(tmp_path: Path) -> list[dict[str, Any]]:
    """A transcript written by the simulated agent's writer: prompt, tool round, reply."""
    path = tmp_path / "projects" / "-tmp-demo" / "s.jsonl"
    transcript = claude_io.Transcript(str(path), "s-1", "/tmp/demo", "claude-opus-4-8")
    transcript.user("Read your signal file and carry out the stage it assigns.")
    tool = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
    transcript.assistant([tool], claude_io.Usage(23, 2002, 20000, 42), "tool_use")
    transcript.tool_result("toolu_1", "")
    transcript.assistant(
        [{"type": "text", "text": "Done."}], claude_io.Usage(43, 2003, 30000, 42), "end_turn"
    )
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sim_assistant_lines_have_the_captures_keys(sim_transcript: list[dict[str, Any]]) -> None:
    real = records(INTERACTIVE)
    real_assistant = real[first_index(real, type="assistant")]
    mine = [d for d in sim_transcript if d["type"] == "assistant"]
    assert len(mine) == 2
    for line in mine:
        assert set(line) == set(real_assistant)
        assert set(line["message"]) == set(real_assistant["message"])
        assert set(line["message"]["usage"]) == set(real_assistant["message"]["usage"])
        assert key_paths(line["message"]["usage"]) == key_paths(real_assistant["message"]["usage"])


def test_sim_user_lines_have_the_captures_keys(sim_transcript: list[dict[str, Any]]) -> None:
    real = records(INTERACTIVE)
    typed = real[first_index(real, type="user", promptSource="typed")]
    result = next(d for d in real if d["type"] == "user" and "toolUseResult" in d)
    mine_typed = sim_transcript[0]
    mine_result = next(d for d in sim_transcript if "toolUseResult" in d)
    assert set(mine_typed) == set(typed)
    assert set(mine_typed["message"]) == set(typed["message"])
    assert set(mine_result) == set(result)
    assert set(mine_result["message"]["content"][0]) == set(result["message"]["content"][0])
    assert set(mine_result["toolUseResult"]) == set(result["toolUseResult"])


def test_sim_transcript_links_its_lines_like_claude_code(
    sim_transcript: list[dict[str, Any]],
) -> None:
    prompt, call, result, reply = sim_transcript
    assert prompt["parentUuid"] is None
    assert call["parentUuid"] == prompt["uuid"]
    assert result["parentUuid"] == call["uuid"]
    assert result["sourceToolAssistantUUID"] == call["uuid"]
    assert result["message"]["content"][0]["tool_use_id"] == "toolu_1"
    assert reply["parentUuid"] == result["uuid"]


def test_sim_transcript_reads_like_the_real_one(tmp_path: Path) -> None:
    """The same usage gives the same reading from the sim's transcript as from the capture's."""
    path = tmp_path / "s.jsonl"
    transcript = claude_io.Transcript(str(path), "s-1", "/tmp/demo", "claude-sonnet-5")
    transcript.user("go")
    transcript.assistant([{"type": "text", "text": "x"}], claude_io.Usage(73, 2005, 50000, 42), "x")
    mine = context.from_transcript(str(path))
    lines = records(INTERACTIVE)
    boundary = first_index(lines, type="system", subtype="compact_boundary")
    real_path = write_lines(tmp_path / "real.jsonl", raw_lines(INTERACTIVE)[:boundary])
    real = context.from_transcript(str(real_path))
    assert mine is not None and real is not None
    assert (mine.tokens, mine.window, mine.model) == (real.tokens, real.window, real.model)
    transcript.compact_boundary()
    after = context.from_transcript(str(path))
    assert after is not None and after.tokens == 0


def test_sim_compact_boundary_matches_the_capture_where_loom_looks(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    transcript = claude_io.Transcript(str(path), "s-1", "/tmp/demo", "claude-opus-4-8")
    transcript.compact_boundary()
    mine = json.loads(path.read_text())
    real = records(INTERACTIVE)
    boundary = real[first_index(real, type="system", subtype="compact_boundary")]
    assert (mine["type"], mine["subtype"]) == (boundary["type"], boundary["subtype"])
    assert set(mine) <= set(boundary)
    assert set(mine["compactMetadata"]) <= set(boundary["compactMetadata"])
