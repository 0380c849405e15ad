"""`.work/status.cache`: `loom status` from the cache prints what it prints from the records.

The cache trusts an entry only while its file's (inode, mtime, size) is unchanged, and keeps none
for a file changed within `SETTLED` seconds.  The tests make files "old" by setting their mtime
back with `os.utime` (never by sleeping), change records through the real store, and run the real
`loom status` as a subprocess for the output and the absence of tracebacks.
"""

from __future__ import annotations

import marshal
import os
import time
from pathlib import Path

import pytest

from loom_tui.cli.status_view import render_plain
from loom_tui.core import status, status_cache
from loom_tui.core.model import ACTIVE, STATUS_ICONS, SessionRecord, Status
from loom_tui.core.status import status_dict
from loom_tui.core.status_cache import CACHE_NAME, cached_status
from loom_tui.core.store import Store
from tests.conftest import RunLoom

ONE_MINUTE_AGO = 60.0


def age(work: Path, seconds: float = ONE_MINUTE_AGO) -> None:
    """Set every record's and the config's mtime ``seconds`` back: settled, for the cache."""
    past = time.time() - seconds
    for sub in ("stages", "sessions"):
        for path in (work / sub).glob("*.md"):
            os.utime(path, (past, past))
    os.utime(work / "config.toml", (past, past))


def vary(store: Store) -> None:
    """Give the sample project every kind of value the status shows."""

    def held(s: object) -> None:
        s.held = True  # type: ignore[attr-defined]

    def busy(s: object) -> None:
        s.status = Status.EXECUTING  # type: ignore[attr-defined]
        s.session_id = "sess-1"  # type: ignore[attr-defined]
        s.context_percent = 47.6  # type: ignore[attr-defined]
        s.stalled_at = 1_700_000_000.5  # type: ignore[attr-defined]
        s.handoffs = [".work/handoffs/counter-handoff-001.md"]  # type: ignore[attr-defined]
        s.generation = 2  # type: ignore[attr-defined]

    def blocked(s: object) -> None:
        s.status = Status.BLOCKED  # type: ignore[attr-defined]
        s.blocked_reason = 'acceptance "failed" — ünïcode\tand a tab'  # type: ignore[attr-defined]
        s.failure = {"kind": "acceptance", "exit_code": 1}  # type: ignore[attr-defined]
        s.failure_counts = {"acceptance": 2, "crash": 1}  # type: ignore[attr-defined]
        s.retry_count = 3  # type: ignore[attr-defined]

    store.update_stage("scaffold", held)
    store.update_stage("counter", busy)
    store.update_stage("docs", blocked)
    for n, (stage, tokens, cost, started) in enumerate(
        [("counter", 1200, 0.1, 5.0), ("counter", 800, 0.2, 3.0), ("docs", 50, 0.7, 4.0)]
    ):
        store.write_session(
            SessionRecord(
                id=f"sess-{n}",
                stage_id=stage,
                input_tokens=tokens,
                cost_usd=cost,
                started_at=started,
            )
        )


@pytest.fixture
def work(project: Path) -> Path:
    vary(Store(str(project / ".work")))
    age(project / ".work")
    return project / ".work"


def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The record files the cache reads (it reads through `_Reader`), in order."""
    seen: list[str] = []
    for kind in ("stage", "session"):
        original = getattr(status_cache._Reader, kind)

        def counting(self: object, path: str, _original: object = original) -> object:
            seen.append(os.path.basename(path))
            return _original(self, path)  # type: ignore[operator]

        monkeypatch.setattr(status_cache._Reader, kind, counting)
    return seen


def test_the_status_names_repeat_the_model() -> None:
    assert tuple(s.value for s in Status) == status.STATUS_VALUES
    assert {s.value for s in ACTIVE} == status.ACTIVE_VALUES
    assert {s.value: icon for s, icon in STATUS_ICONS.items()} == status.ICONS


def test_cached_status_is_the_slow_status_and_reads_nothing_the_second_time(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(str(work))
    slow = status_dict(store)
    assert slow["plan"]["tokens"] == 2050  # type: ignore[index]
    assert cached_status(str(work)) == slow
    assert (work / CACHE_NAME).is_file()
    seen = reads(monkeypatch)
    assert cached_status(str(work)) == slow
    assert seen == []
    assert render_plain(cached_status(str(work))) == render_plain(slow)


def test_a_changed_record_is_read_again(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(str(work))
    cached_status(str(work))
    seen = reads(monkeypatch)

    def release(s: object) -> None:
        s.held = False  # type: ignore[attr-defined]

    store.update_stage("scaffold", release)
    fresh = cached_status(str(work))
    assert seen == ["scaffold.md"]
    assert fresh == status_dict(store)
    assert fresh["stages"][0]["held"] is False  # type: ignore[index]


def test_a_change_that_keeps_the_mtime_but_not_the_size_is_seen(work: Path) -> None:
    store = Store(str(work))
    cached_status(str(work))
    path = work / "stages" / "release.md"
    before = path.stat()
    path.write_text(path.read_text().replace("retry_count: 0", "retry_count: 17"), "utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    data = cached_status(str(work))
    assert data == status_dict(store)
    assert data["stages"][-1]["retry_count"] == 17  # type: ignore[index]


def test_a_recently_written_record_is_not_trusted_from_the_cache(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    os.utime(work / "stages" / "cli.md")  # just now: within SETTLED seconds
    cached_status(str(work))
    seen = reads(monkeypatch)
    assert cached_status(str(work)) == status_dict(Store(str(work)))
    assert seen == ["cli.md"]


def test_removed_and_added_records(work: Path) -> None:
    store = Store(str(work))
    cached_status(str(work))
    (work / "stages" / "release.md").unlink()
    (work / "sessions" / "sess-2.md").unlink()
    data = cached_status(str(work))
    assert data == status_dict(store)
    assert [s["id"] for s in data["stages"]] == [  # type: ignore[attr-defined]
        "scaffold",
        "tokenizer",
        "counter",
        "docs",
        "cli",
    ]


def test_an_unreadable_record_goes_to_the_slow_path(work: Path) -> None:
    cached_status(str(work))
    (work / "stages" / "tokenizer.md").write_text("---\nid: [unclosed\n---\n", encoding="utf-8")
    data = cached_status(str(work))
    assert data == status_dict(Store(str(work)))
    broken = [s for s in data["stages"] if s["record_error"]]  # type: ignore[attr-defined]
    assert [s["id"] for s in broken] == ["tokenizer"]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not marshal data at all \x00\xff",
        marshal.dumps({"version": status_cache.VERSION, "tables": {"stages": {}}})[:-3],
        marshal.dumps(["a", "list"]),
        marshal.dumps({"version": 999, "tables": {}}),
        marshal.dumps({"version": status_cache.VERSION, "tables": "nope"}),
    ],
    ids=["empty", "garbage", "truncated", "list", "other-version", "bad-tables"],
)
def test_a_corrupt_cache_is_ignored_and_rewritten(work: Path, content: bytes) -> None:
    (work / CACHE_NAME).write_bytes(content)
    assert cached_status(str(work)) == status_dict(Store(str(work)))
    assert (work / CACHE_NAME).read_bytes() != content


def test_entries_of_the_wrong_shape_are_read_again(work: Path) -> None:
    cached_status(str(work))
    data = marshal.loads((work / CACHE_NAME).read_bytes())
    stages = data["tables"]["stages"]
    key, entry = stages["docs.md"]
    stages["docs.md"] = (key, (entry[0], entry[1], {**entry[2], "status": "exploded"}))
    key, _entry = stages["cli.md"]
    stages["cli.md"] = (key, ("not", "a", "stage", "entry"))
    key, _entry = data["tables"]["sessions"]["sess-0.md"]
    data["tables"]["sessions"]["sess-0.md"] = (key, (1.0, "sess-0"))
    (work / CACHE_NAME).write_bytes(marshal.dumps(data))
    assert cached_status(str(work)) == status_dict(Store(str(work)))


def test_a_cache_that_cannot_be_written_changes_nothing(work: Path) -> None:
    (work / CACHE_NAME).mkdir()  # the rename over it fails
    assert cached_status(str(work)) == status_dict(Store(str(work)))


def test_a_missing_config_is_shown_as_the_slow_path_shows_it(work: Path) -> None:
    cached_status(str(work))
    (work / "config.toml").unlink()
    data = cached_status(str(work))
    assert data == status_dict(Store(str(work)))
    assert "error" in data["plan"]  # type: ignore[operator]


def test_loom_status_prints_the_same_with_and_without_the_cache(work: Path, loom: RunLoom) -> None:
    outputs = []
    for args in (("status",), ("status", "--json")):
        (work / CACHE_NAME).unlink(missing_ok=True)
        uncached = loom(*args, check=True)
        cached = loom(*args, check=True)
        assert (work / CACHE_NAME).is_file()
        assert cached.stdout == uncached.stdout
        assert cached.stderr == uncached.stderr == ""
        outputs.append(cached.stdout)
    assert outputs[0].rstrip("\n") == render_plain(status_dict(Store(str(work))))


def test_loom_status_with_a_corrupt_cache_shows_no_traceback(work: Path, loom: RunLoom) -> None:
    expected = loom("status", check=True).stdout
    (work / CACHE_NAME).write_bytes(b"\xff" * 64)
    proc = loom("status", check=True)
    assert proc.stdout == expected
    assert proc.stderr == ""
