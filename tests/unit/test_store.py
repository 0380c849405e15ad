"""The `.work/` store: atomic writes, locks, concurrent writers, broken files, finding the project.

Everything runs for real: child processes are real Python interpreters started with
`subprocess`, killed with SIGKILL, and synchronised through pipes (never by sleeping).
"""

from __future__ import annotations

import errno
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loom_tui.core import frontmatter
from loom_tui.core.config import CONFIG_NAME, ProjectConfig, read_config, write_config
from loom_tui.core.errors import NotFound, ProjectNotFound, StoreError, UsageError, WriteError
from loom_tui.core.events import Notice
from loom_tui.core.fsutil import TEMP_SUFFIX, FileLock, atomic_write
from loom_tui.core.model import StageRecord, Status
from loom_tui.core.project import find_work_dir
from loom_tui.core.quarantine import BrokenStage
from loom_tui.core.store import RecordCache, Store
from tests.conftest import REPO_ROOT, SIGNATURE, RunLoom, make_repo

SAMPLE_ORDER = ["scaffold", "tokenizer", "counter", "docs", "cli", "release"]
TEMP_NAME = re.compile(
    r"^\.(?P<target>.+)\.(?P<pid>\d+)\.(?P<n>\d+)" + re.escape(TEMP_SUFFIX) + "$"
)


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )


def run_together(code: str, arg_lists: list[list[str]]) -> list[str]:
    """Start one child per argument list, let them all go at once, return their outputs.

    Each child prints ``ready`` and waits for a line on stdin before its real work, so that all
    of them are running and loaded before any starts: the work really overlaps.
    """
    children = [spawn(code, *args) for args in arg_lists]
    try:
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline()
            if line != "ready\n":
                _out, err = child.communicate()
                raise AssertionError(f"child failed to start: {line!r}\n{err}")
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = []
        for child in children:
            out, err = child.communicate(timeout=300)
            assert child.returncode == 0, f"child exited {child.returncode}:\n{err}"
            outputs.append(out)
        return outputs
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def make_store(root: Path, *stage_ids: str) -> Store:
    store = Store(str(root / ".work"))
    store.create_layout()
    for index, stage_id in enumerate(stage_ids or ("alpha",)):
        store.write_stage(
            StageRecord(
                id=stage_id,
                name=stage_id.title(),
                status=Status.QUEUED.value,
                plan_index=index,
            )
        )
    return store


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(TEMP_SUFFIX))


# --------------------------------------------------------------------------------------------------
# Atomic writes


def test_atomic_write_replaces_the_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "record.md"
    for i in range(30):
        atomic_write(str(target), f"version {i}\n")
        assert target.read_text() == f"version {i}\n"
    atomic_write(str(target), b"\x00raw bytes\xff")
    assert target.read_bytes() == b"\x00raw bytes\xff"
    atomic_write(str(target), "unicode é 😀")
    assert target.read_text(encoding="utf-8") == "unicode é 😀"
    assert [p.name for p in tmp_path.iterdir()] == ["record.md"]


def test_atomic_write_of_a_large_file(tmp_path: Path) -> None:
    target = tmp_path / "big.md"
    data = "x" * (8 * 1024 * 1024 + 3)
    atomic_write(str(target), data)
    assert target.stat().st_size == len(data)
    assert temp_files(tmp_path) == []


def test_a_failed_atomic_write_cleans_up_and_keeps_the_old_content(tmp_path: Path) -> None:
    # The rename fails: the target is a non-empty directory.
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "inside").write_text("keep")
    with pytest.raises(OSError):
        atomic_write(str(blocker), "new content")
    assert (blocker / "inside").read_text() == "keep"
    assert temp_files(tmp_path) == []
    # The directory does not exist: nothing is created, and the error names the file.
    with pytest.raises(WriteError, match=r"^cannot write .*/missing/file\.md: No such file") as e:
        atomic_write(str(tmp_path / "missing" / "file.md"), "x")
    assert e.value.errno == errno.ENOENT
    assert not (tmp_path / "missing").exists()
    # Data that cannot be encoded never reaches the disk.
    target = tmp_path / "kept.md"
    atomic_write(str(target), "old")
    with pytest.raises(UnicodeEncodeError):
        atomic_write(str(target), "lone surrogate \ud800")
    assert target.read_text() == "old"
    assert temp_files(tmp_path) == []


_KILLED_WRITER = r"""
import sys
from loom_tui.core.fsutil import atomic_write

path = sys.argv[1]
size = int(sys.argv[2])
i = int(sys.argv[3])
bodies = {letter: letter * size for letter in "ab"}  # big, so most time is spent writing
while True:
    letter = "ab"[i % 2]
    head = f"---\nid: alpha\nname: {letter}\nstatus: queued\nretry_count: {i}\n---\n"
    atomic_write(path, head + bodies[letter])
    sys.stdout.write(f"{i}\n")
    sys.stdout.flush()
    i += 1
"""


def _check_record(store: Store, size: int) -> int:
    """Read the stage; it must be whole. Returns the writer's sequence number in it."""
    store.read_stage("alpha")  # the store reads it without complaint
    text = Path(store.stage_path("alpha")).read_text()  # and one read sees one whole version
    data, body = frontmatter.parse(text, "alpha.md")
    assert StageRecord.problems(data) == []
    record = StageRecord(**data)
    assert record.name in ("a", "b")
    assert record.name == "ab"[record.retry_count % 2]
    assert len(body) == size
    assert body == record.name * size
    return record.retry_count


def test_a_writer_killed_mid_write_never_leaves_a_torn_file(tmp_path: Path) -> None:
    """SIGKILL a writer again and again while reading: every read sees a whole record."""
    size = 2_000_000
    store = make_store(tmp_path)
    path = store.stage_path("alpha")
    atomic_write(
        path, "---\nid: alpha\nname: a\nstatus: queued\nretry_count: 0\n---\n" + "a" * size
    )
    failures: list[str] = []
    reads = [0]
    stop = threading.Event()
    first_read = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                _check_record(store, size)
            except Exception as exc:
                failures.append(repr(exc)[:300])
            reads[0] += 1
            first_read.set()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert first_read.wait(60)
        rng = random.Random(1234)
        seq = 1
        for _round in range(12):
            writer = spawn(_KILLED_WRITER, path, str(size), str(seq))
            assert writer.stdout is not None
            last = seq - 1
            for _ in range(rng.randint(1, 4)):
                line = writer.stdout.readline()
                assert line, writer.communicate()[1]
                last = int(line)
                # The write it reported is durable: we see it, or a later one.
                assert _check_record(store, size) >= last
            writer.send_signal(signal.SIGKILL)  # most likely in the middle of the next write
            writer.communicate()
            assert writer.returncode == -signal.SIGKILL
            assert _check_record(store, size) >= last
            seq = last + 10_000  # next writer's numbers never collide with a half-written one
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert reads[0] > 0
    # A killed writer may leave its temporary file behind; nothing else. The store lists them.
    stages = Path(store.stages_dir)
    leftovers = [p.name for p in stages.iterdir() if p.name != "alpha.md"]
    for name in leftovers:
        match = TEMP_NAME.match(name)
        assert match is not None, name
        assert match["target"] == "alpha.md"
    assert sorted(os.path.basename(p) for p in store.stale_temp_files()) == sorted(leftovers)
    # The stage list ignores them.
    assert [s.id for s in store.stages()] == ["alpha"]


# --------------------------------------------------------------------------------------------------
# FileLock

_HOLDER = r"""
import sys
from loom_tui.core.fsutil import FileLock

lock = FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
sys.stdin.readline()
lock.release()
print("released", flush=True)
sys.stdin.readline()
"""

_TRY_LOCK = r"""
import sys
from loom_tui.core.fsutil import FileLock

lock = FileLock(sys.argv[1], blocking=False)
got = lock.acquire()
print("got" if got else "busy", flush=True)
lock.release()
"""


def test_file_lock_excludes_another_process(tmp_path: Path) -> None:
    path = str(tmp_path / "store.lock")
    with FileLock(path) as lock:
        assert lock.held
        assert lock.fd is not None
        out = subprocess.run(
            [sys.executable, "-c", _TRY_LOCK, path],
            capture_output=True,
            text=True,
            env=child_env(),
            check=True,
        ).stdout
        assert out == "busy\n"
    assert not lock.held
    out = subprocess.run(
        [sys.executable, "-c", _TRY_LOCK, path],
        capture_output=True,
        text=True,
        env=child_env(),
        check=True,
    ).stdout
    assert out == "got\n"


def test_a_lock_held_by_another_process_is_busy_until_released(tmp_path: Path) -> None:
    path = str(tmp_path / "store.lock")
    holder = spawn(_HOLDER, path)
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline() == "held\n"
        probe = FileLock(path, blocking=False)
        assert probe.acquire() is False
        assert not probe.held
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.stdout.readline() == "released\n"
        assert probe.acquire() is True
        probe.release()
    finally:
        holder.communicate("exit\n")
    assert holder.returncode == 0


def test_a_lock_is_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    path = str(tmp_path / "store.lock")
    holder = spawn(_HOLDER, path)
    assert holder.stdout is not None
    assert holder.stdout.readline() == "held\n"
    assert FileLock(path, blocking=False).acquire() is False
    holder.kill()
    holder.communicate()
    with FileLock(path) as lock:
        assert lock.held


def test_file_lock_excludes_another_thread_of_the_same_process(tmp_path: Path) -> None:
    path = str(tmp_path / "store.lock")
    first = FileLock(path)
    assert first.acquire()
    second = FileLock(path, blocking=False)
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(second.acquire()))
    thread.start()
    thread.join()
    assert result == [False]
    first.release()
    first.release()  # releasing twice is harmless
    assert second.acquire()
    second.release()


def test_threads_doing_read_modify_write_under_the_lock_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "store.lock")
    counter = tmp_path / "counter"
    counter.write_text("0")
    threads, iterations = 8, 150
    order: list[int] = []

    def work(n: int) -> None:
        for _ in range(iterations):
            with FileLock(path):
                value = int(counter.read_text())
                order.append(n)
                with open(counter, "w") as fh:
                    fh.write(str(value + 1))

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert int(counter.read_text()) == threads * iterations
    assert len(order) == threads * iterations


def test_a_blocking_lock_waits_for_the_holder(tmp_path: Path) -> None:
    path = str(tmp_path / "store.lock")
    log: list[str] = []
    holder = FileLock(path)
    holder.acquire()
    started = threading.Event()

    def waiter() -> None:
        started.set()
        with FileLock(path):
            log.append("waiter")

    thread = threading.Thread(target=waiter)
    thread.start()
    assert started.wait(60)
    log.append("holder")
    holder.release()
    thread.join()
    assert log == ["holder", "waiter"]


# --------------------------------------------------------------------------------------------------
# Many processes through the store

_UPDATER = r"""
import sys
from loom_tui.core.store import RecordCache, Store

store = Store(sys.argv[1])
marker = sys.argv[2]
iterations = int(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()

def change(record):
    record.retry_count += 1
    record.handoffs.append(marker)
    record.extra["markers"] = [*record.extra.get("markers", []), marker]

for _ in range(iterations):
    store.update_stage("alpha", change)
print("done", flush=True)
"""


def test_twenty_processes_updating_one_stage_at_once_lose_nothing(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    processes, iterations = 20, 10
    outputs = run_together(
        _UPDATER, [[store.work_dir, f"p{n:02d}", str(iterations)] for n in range(processes)]
    )
    assert outputs == ["done\n"] * processes
    record = store.read_stage("alpha")
    assert record.retry_count == processes * iterations
    assert len(record.handoffs) == processes * iterations
    for n in range(processes):
        assert record.handoffs.count(f"p{n:02d}") == iterations
    assert record.extra["markers"] == record.handoffs
    assert temp_files(Path(store.stages_dir)) == []


_APPENDER = r"""
import sys
from loom_tui.core.store import RecordCache, Store

store = Store(sys.argv[1])
who = sys.argv[2]
count = int(sys.argv[3])
pad = sys.argv[4]
print("ready", flush=True)
sys.stdin.readline()
for seq in range(count):
    store.append_json({"kind": "test", "who": who, "seq": seq, "pad": pad * (1 + seq % 7)})
"""


def test_concurrent_event_lines_never_interleave(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    processes, count = 20, 100
    pad = "é-" + "x" * 500  # lines of 0.5-3.5 KB, several per pipe-buffer-sized chunk
    run_together(_APPENDER, [[store.work_dir, f"w{n}", str(count), pad] for n in range(processes)])
    raw = Path(store.events_path).read_bytes()
    assert raw.endswith(b"\n")
    lines = raw.decode("utf-8").split("\n")[:-1]
    assert len(lines) == processes * count
    seen: dict[str, list[int]] = {}
    for line in lines:
        event = json.loads(line)  # every line is one whole event
        assert event["kind"] == "test"
        assert event["pad"] == pad * (1 + event["seq"] % 7)
        seen.setdefault(event["who"], []).append(event["seq"])
    assert seen == {f"w{n}": list(range(count)) for n in range(processes)}
    assert len(store.read_events()) == processes * count
    assert [e["seq"] for e in store.read_events(limit=3)] == [
        json.loads(line)["seq"] for line in lines[-3:]
    ]


def test_read_events_skips_broken_lines(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert store.read_events() == []
    store.append_event(Notice(message="one"))
    with open(store.events_path, "a", encoding="utf-8") as fh:
        fh.write('{"torn": \n[1, 2]\n')
    store.append_json({"kind": "two", "obj": Path("x")})
    events = store.read_events()
    assert [e["kind"] for e in events] == ["notice", "two"]
    assert events[0]["message"] == "one"
    assert events[1]["obj"] == "x"


# --------------------------------------------------------------------------------------------------
# Broken stage files: reported by name and field, never as a traceback


def _replace(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert old in text
        return text.replace(old, new, 1)

    return change


CORRUPTIONS = {
    "garbage": (lambda _t: "\x00\x01 this is not a record \xff\n", [":1: expected '---'"]),
    "empty file": (lambda _t: "", [":1: expected '---'"]),
    "held not a bool": (
        _replace("held: false", "held: maybe"),
        ["held: expected true or false, got 'maybe'"],
    ),
    "held a string": (
        _replace("held: false", 'held: "false"'),
        ["held: expected true or false, got 'false'"],
    ),
    "retry_count a string": (
        _replace("retry_count: 0", "retry_count: three"),
        ["retry_count: expected an integer, got 'three'"],
    ),
    "unknown status": (
        _replace("status: waiting-for-deps", "status: finished"),
        ["status: unknown status 'finished'"],
    ),
    "id mismatch": (
        _replace("id: counter", "id: tokenizer"),
        ["id: the file is named 'counter' but says 'tokenizer'"],
    ),
    "missing name": (
        _replace("name: Counter\n", ""),
        ["name: required field is missing"],
    ),
    "never closed": (
        lambda t: t.replace("\n---\n", "\n", 1),
        ["the YAML front matter is never closed"],
    ),
    "invalid yaml": (
        _replace("model: opus", "model: [opus"),
        ["invalid YAML front matter"],
    ),
    "not a mapping": (lambda _t: "---\n- a list\n---\n", ["front matter must be a mapping"]),
}


def _corrupt(root: Path, name: str) -> Path:
    path = root / ".work" / "stages" / "counter.md"
    change, _ = CORRUPTIONS[name]
    path.write_text(change(path.read_text()), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_corrupted_stage_file_is_reported_by_file_and_field(project: Path, name: str) -> None:
    _corrupt(project, name)
    store = Store(str(project / ".work"))
    expected = CORRUPTIONS[name][1]
    with pytest.raises(StoreError) as info:
        store.read_stage("counter")
    message = str(info.value)
    assert message.startswith(".work/stages/counter.md"), message
    for part in [*expected, "`loom stage reset counter` rebuilds it from the plan"]:
        assert part in message
    assert "\n" not in message
    # The healthy stages still read on their own.
    assert store.read_stage("scaffold").status is Status.QUEUED


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_corrupted_stage_file_is_quarantined_in_the_list_of_stages(
    project: Path, name: str
) -> None:
    """`stages()` lists every stage: the broken one blocked, where the plan puts it, with its
    dependencies from the plan, a reason naming the file and the field, and no retry."""
    path = _corrupt(project, name)
    before = path.read_bytes()
    store = Store(str(project / ".work"))
    for cache in (None, RecordCache()):
        stages = store.stages(cache)
        assert [s.id for s in stages] == SAMPLE_ORDER
        broken = stages[SAMPLE_ORDER.index("counter")]
        assert isinstance(broken, BrokenStage)
        assert broken.status is Status.BLOCKED
        assert broken.next_retry_at is None
        assert broken.dependencies == ["scaffold"]
        assert broken.name == "Counter"
        assert broken.failure is not None and broken.failure["kind"] == "unreadable-record"
        assert broken.problem.startswith(".work/stages/counter.md")
        reason = broken.blocked_reason or ""
        for part in [*CORRUPTIONS[name][1], ".work/stages/counter.md", "loom stage reset counter"]:
            assert part in reason, reason
        assert not broken.done
        assert not any(isinstance(s, BrokenStage) for s in stages if s.id != "counter")
    with pytest.raises(StoreError, match="rebuilds it from the plan"):
        store.write_stage(broken)  # a stand-in is never written over the file
    assert path.read_bytes() == before


def test_a_quarantined_stage_without_a_plan_definition_sorts_last(project: Path) -> None:
    _corrupt(project, "garbage")
    (project / "doc" / "plans" / "PLAN-0001-wordcount.md").unlink()
    stages = Store(str(project / ".work")).stages()
    assert [s.id for s in stages] == [i for i in SAMPLE_ORDER if i != "counter"] + ["counter"]
    assert stages[-1].dependencies == [] and stages[-1].status is Status.BLOCKED


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_stage_commands_on_a_corrupted_stage_say_what_is_wrong_in_one_line(
    project: Path, loom: RunLoom, name: str
) -> None:
    path = _corrupt(project, name)
    before = path.read_bytes()
    proc = loom("stage", "hold", "counter")
    assert proc.returncode == 1, proc
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("loom: .work/stages/counter.md"), lines[0]
    for part in [*CORRUPTIONS[name][1], "loom stage reset counter"]:
        assert part in lines[0]
    assert proc.stdout == ""
    assert path.read_bytes() == before  # nothing was written over the broken file


@pytest.mark.parametrize("name", ["never closed", "retry_count a string", "id mismatch"])
def test_status_lists_every_stage_and_marks_the_corrupted_one(
    project: Path, loom: RunLoom, name: str
) -> None:
    path = _corrupt(project, name)
    before = path.read_bytes()
    proc = loom("status", "--json")
    assert proc.returncode == 0, proc
    data = json.loads(proc.stdout)
    assert [s["id"] for s in data["stages"]] == SAMPLE_ORDER
    by_id = {s["id"]: s for s in data["stages"]}
    assert by_id["counter"]["status"] == "blocked"
    assert by_id["counter"]["record_error"].startswith(".work/stages/counter.md")
    for part in CORRUPTIONS[name][1]:
        assert part in by_id["counter"]["record_error"]
    assert by_id["counter"]["dependencies"] == ["scaffold"]
    assert all(s["record_error"] is None for i, s in by_id.items() if i != "counter")
    plain = loom("status")
    assert plain.returncode == 0, plain
    lines = plain.stdout.splitlines()[2:]
    rows = {line.split()[0]: line for line in lines if not line.startswith("! no scheduler")}
    assert list(rows) == SAMPLE_ORDER
    assert "blocked" in rows["counter"] and "unreadable" in rows["counter"]
    assert "unreadable" not in rows["scaffold"]
    assert path.read_bytes() == before


def test_the_other_stages_commands_work_beside_a_corrupted_one(
    project: Path, loom: RunLoom
) -> None:
    """hold, skip (which reads the whole plan) and retry (which reads the dependencies) of
    other stages go through; the broken file is left as it is."""
    path = _corrupt(project, "never closed")
    before = path.read_bytes()
    assert loom("stage", "hold", "scaffold").returncode == 0
    assert loom("stage", "release", "scaffold").returncode == 0
    skipped = loom("stage", "skip", "scaffold")
    assert skipped.returncode == 0, skipped
    assert loom("stage", "block", "cli", "by hand").returncode == 0
    retried = loom("stage", "retry", "cli")
    assert retried.returncode == 0, retried
    assert "waiting for its dependencies" in retried.stdout
    store = Store(str(project / ".work"))
    assert store.read_stage("tokenizer").status is Status.QUEUED  # promoted by the skip
    assert path.read_bytes() == before


def test_a_stage_file_that_cannot_be_decoded_is_reported(project: Path, loom: RunLoom) -> None:
    path = project / ".work" / "stages" / "counter.md"
    path.write_bytes(b"---\nid: counter\nname: \xff\xfe\n---\n")
    store = Store(str(project / ".work"))
    with pytest.raises(StoreError, match=r"^\.work/stages/counter\.md: cannot read"):
        store.read_stage("counter")
    proc = loom("status")
    assert proc.returncode == 0, proc
    assert "unreadable" in proc.stdout
    proc = loom("stage", "hold", "counter")
    assert proc.returncode == 1
    assert proc.stderr.startswith("loom: .work/stages/counter.md: cannot read")
    assert "Traceback" not in proc.stderr


def test_unknown_stage_and_invalid_ids(project: Path) -> None:
    store = Store(str(project / ".work"))
    with pytest.raises(NotFound, match=r"no stage 'nope'.*scaffold"):
        store.read_stage("nope")
    for bad in ("", "Upper", "-lead", "a/b", "../x", "x" * 65, "a b"):
        with pytest.raises(UsageError):
            store.stage_path(bad)
    assert store.stage_path("a" * 64).endswith("a" * 64 + ".md")


# --------------------------------------------------------------------------------------------------
# Reading and writing stages


def test_stages_come_in_plan_order_not_file_order(project: Path) -> None:
    store = Store(str(project / ".work"))
    assert store.stage_ids() == sorted(SAMPLE_ORDER)
    assert [s.id for s in store.stages()] == SAMPLE_ORDER
    assert [s.plan_index for s in store.stages()] == list(range(6))


def test_stages_with_the_same_plan_index_are_ordered_by_id(tmp_path: Path) -> None:
    store = make_store(tmp_path, "zeta", "beta", "alpha")
    store.update_stage("zeta", lambda r: setattr(r, "plan_index", 1))
    store.update_stage("beta", lambda r: setattr(r, "plan_index", 1))
    store.update_stage("alpha", lambda r: setattr(r, "plan_index", 2))
    assert [s.id for s in store.stages()] == ["beta", "zeta", "alpha"]
    (Path(store.stages_dir) / "notes.txt").write_text("ignored")
    (Path(store.stages_dir) / ".hidden.md").write_text("ignored")
    assert [s.id for s in store.stages()] == ["beta", "zeta", "alpha"]
    assert Store(str(tmp_path / "nowhere" / ".work")).stages() == []


def test_write_then_read_gives_the_same_record(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    record = StageRecord(
        id="alpha",
        name='Quotes "and" \\ backslashes',
        description="multi\nline\n\twith tab and 😀",
        dependencies=["b", "c"],
        acceptance=["test -s x && echo 'ok: yes'", "pytest -q # comment"],
        status="blocked",
        held=True,
        blocked_reason="needs: a person",
        failure={"kind": "crash", "exit_code": -9, "lines": ["😀", "\x1b[31m"]},
        context_percent=12.5,
        wiring=[{"source": "a.py", "pattern": r"def \w+"}],
        future_key="kept",
    )
    store.write_stage(record)
    again = store.read_stage("alpha")
    assert again == record
    assert again.extra == {"future_key": "kept"}
    text = Path(store.stage_path("alpha")).read_text()
    assert "# Quotes" in text  # the readable body follows the front matter
    assert "- Blocked: needs: a person" in text
    assert frontmatter.parse(text)[0]["future_key"] == "kept"


def test_update_stage_returns_the_written_record(tmp_path: Path) -> None:
    store = make_store(tmp_path)

    def change(record: StageRecord) -> None:
        record.set_status(Status.EXECUTING)

    written = store.update_stage("alpha", change)
    assert written.status is Status.EXECUTING
    assert written.updated_at is not None
    assert store.read_stage("alpha") == written


def test_a_record_cache_rereads_only_changed_files(tmp_path: Path) -> None:
    store = make_store(tmp_path, "alpha", "beta")
    cache = RecordCache()
    first = store.stages(cache)
    second = store.stages(cache)
    assert [a is b for a, b in zip(first, second, strict=True)] == [True, True]
    for n in range(1, 6):  # the same size each time: only the file's identity changes
        store.update_stage("alpha", lambda r, n=n: setattr(r, "retry_count", n))
        alpha, beta = store.stages(cache)
        assert alpha.retry_count == n
        assert beta is second[1]
    Path(store.stage_path("beta")).write_text("garbage")
    alpha, beta = store.stages(cache)
    assert isinstance(beta, BrokenStage) and beta.problem.startswith(".work/stages/beta.md:1:")
    assert store.stages(cache)[1] is beta  # quarantined once per version of the file
    store.write_stage(StageRecord(id="beta", name="Beta", status="queued", plan_index=1))
    assert not isinstance(store.stages(cache)[1], BrokenStage)  # repaired: read again


# --------------------------------------------------------------------------------------------------
# Finding the project


def _add_worktree(repo_root: Path, name: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pygit2.Repository(str(repo_root)).add_worktree(name, str(path))
    assert (path / ".git").is_file()
    return path


def test_work_dir_from_the_nearest_ancestor(project: Path) -> None:
    work = str(project / ".work")
    deep = project / "src" / "pkg" / "deep"
    deep.mkdir(parents=True)
    assert find_work_dir(cwd=str(deep)) == work
    assert find_work_dir(cwd=str(project)) == work
    assert find_work_dir(cwd=work) == work
    # A nearer project wins over an outer one.
    inner = project / "src" / "inner"
    (inner / ".work").mkdir(parents=True)
    (inner / "x").mkdir()
    assert find_work_dir(cwd=str(inner / "x")) == str(inner / ".work")
    assert find_work_dir(cwd=str(project / "src")) == work


def test_explicit_work_dir_accepts_the_root_or_the_work_dir(project: Path, tmp_path: Path) -> None:
    work = str(project / ".work")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert find_work_dir(str(project), cwd=str(elsewhere)) == work
    assert find_work_dir(work, cwd=str(elsewhere)) == work
    assert find_work_dir(work + "/", cwd=str(elsewhere)) == work
    assert Store.find(str(project), cwd=str(elsewhere)).work_dir == work
    with pytest.raises(ProjectNotFound, match=f"--work-dir {re.escape(str(elsewhere))}"):
        find_work_dir(str(elsewhere))
    with pytest.raises(ProjectNotFound):
        find_work_dir(str(tmp_path / "does-not-exist"))


def test_explicit_beats_environment_beats_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = (tmp_path / n for n in "abc")
    for p in (a, b, c):
        (p / ".work").mkdir(parents=True)
    monkeypatch.setenv("LOOM_WORK_DIR", str(b))
    assert find_work_dir(str(a), cwd=str(c)) == str(a / ".work")
    assert find_work_dir(None, cwd=str(c)) == str(b / ".work")
    monkeypatch.setenv("LOOM_WORK_DIR", str(b / ".work"))
    assert find_work_dir(None, cwd=str(c)) == str(b / ".work")
    monkeypatch.setenv("LOOM_WORK_DIR", "")
    assert find_work_dir(None, cwd=str(c)) == str(c / ".work")
    monkeypatch.setenv("LOOM_WORK_DIR", str(tmp_path / "none"))
    with pytest.raises(ProjectNotFound, match=r"\$LOOM_WORK_DIR="):
        find_work_dir(None, cwd=str(c))  # a wrong environment is an error, not a fallback
    monkeypatch.delenv("LOOM_WORK_DIR")
    assert find_work_dir(None, cwd=str(c / ".work")) == str(c / ".work")


def test_a_work_file_is_not_a_project(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / ".work").write_text("not a directory")
    with pytest.raises(ProjectNotFound):
        find_work_dir(str(tmp_path / "p"))
    with pytest.raises(ProjectNotFound, match="loom init"):
        find_work_dir(cwd=str(tmp_path / "p"))


@pytest.mark.parametrize("where", ["outside", "inside"])
def test_a_linked_worktree_finds_the_main_worktree_project(
    project: Path, tmp_path: Path, where: str
) -> None:
    if where == "inside":
        wt = _add_worktree(project, "scaffold", project / ".worktrees" / "scaffold")
    else:
        wt = _add_worktree(project, "scaffold", tmp_path / "far" / "away" / "scaffold")
    sub = wt / "some" / "dir"
    sub.mkdir(parents=True)
    assert not (wt / ".work").exists()
    assert find_work_dir(cwd=str(sub)) == str(project / ".work")
    assert find_work_dir(cwd=str(wt)) == str(project / ".work")


def test_a_worktree_made_by_git_itself_finds_the_project(project: Path, tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    wt = tmp_path / "gitwt"
    subprocess.run(
        ["git", "worktree", "add", "-q", "-b", "side", str(wt)],
        cwd=project,
        check=True,
        capture_output=True,
    )
    assert find_work_dir(cwd=str(wt)) == str(project / ".work")


def test_the_cli_inside_a_linked_worktree_acts_on_the_main_project(
    project: Path, tmp_path: Path, loom: RunLoom
) -> None:
    wt = _add_worktree(project, "tokenizer", tmp_path / "wt" / "tokenizer")
    proc = loom("status", "--json", cwd=wt, check=True)
    data = json.loads(proc.stdout)
    assert data["plan"]["work_dir"] == str(project / ".work")
    assert [s["id"] for s in data["stages"]] == SAMPLE_ORDER
    loom("stage", "hold", "docs", cwd=wt, check=True)
    assert Store(str(project / ".work")).read_stage("docs").held


def test_the_cli_honours_work_dir_and_the_environment(
    project: Path, tmp_path: Path, loom: RunLoom
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = loom("--work-dir", str(project), "status", "--json", cwd=elsewhere, check=True)
    assert json.loads(proc.stdout)["plan"]["work_dir"] == str(project / ".work")
    proc = loom("status", "--json", cwd=elsewhere, env={"LOOM_WORK_DIR": str(project / ".work")})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["plan"]["work_dir"] == str(project / ".work")
    proc = loom("status", cwd=elsewhere)
    assert proc.returncode == 1
    assert proc.stderr.startswith("loom: no loom project here")
    assert "Traceback" not in proc.stderr


def test_no_project_in_a_plain_repository_or_directory(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ProjectNotFound):
        find_work_dir(cwd=str(plain))
    repo = make_repo(tmp_path / "repo")
    with pytest.raises(ProjectNotFound):
        find_work_dir(cwd=str(repo))
    wt = _add_worktree(repo, "side", tmp_path / "side")
    with pytest.raises(ProjectNotFound):
        find_work_dir(cwd=str(wt))
    # A .git file that is not a worktree link.
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / ".git").write_text("not a gitdir line\n")
    with pytest.raises(ProjectNotFound):
        find_work_dir(cwd=str(odd))


def test_init_commits_nothing_into_the_repository(project: Path) -> None:
    repo = pygit2.Repository(str(project))
    status = repo.status()
    assert not any(path.startswith((".work", ".worktrees")) for path in status)
    assert SIGNATURE.name == "loom tests"


# --------------------------------------------------------------------------------------------------
# config.toml

NASTY = "q\"uo'te \\ back\\slash\nnew\rline\ttab \x7fdel \x00nul \x1b esc é 😀 \u2028 \"\"\" '''"


def test_config_round_trip_with_awkward_strings(tmp_path: Path) -> None:
    config = ProjectConfig(
        plan_source=f"doc/{NASTY}.md",
        plan_id="PLAN-0001",
        plan_name=NASTY,
        base_branch="feature/x\\y",
        settings={
            "max_parallel": 7,
            "auto_merge": False,
            "tmux_socket": NASTY,
            "retry_backoff_seconds": 0.25,
            "tiny": 5e-324,
            "huge": 1e300,
            "big_int": 2**62,
            "negative": -3,
            "inf": float("inf"),
            "list": [1, "two", NASTY],
            "dropped": None,
        },
        created_at=1700000000.123456,
    )
    write_config(str(tmp_path), config)
    text = (tmp_path / CONFIG_NAME).read_text(encoding="utf-8")
    assert "\x7f" not in text
    assert "\x00" not in text
    tomllib.loads(text)  # valid TOML
    again = read_config(str(tmp_path))
    assert again.plan_source == config.plan_source
    assert again.plan_name == NASTY
    assert again.base_branch == "feature/x\\y"
    assert again.created_at == 1700000000.123456
    expected = dict(config.settings)
    del expected["dropped"]
    assert again.settings == expected
    assert again.max_parallel == 7
    assert again.auto_merge is False
    assert again.tmux_socket == NASTY
    assert again.seconds("retry_backoff_seconds") == 0.25
    assert again.settings["inf"] == math.inf
    assert again.to_dict() == {**config.to_dict(), "settings": expected}


@settings(max_examples=200, deadline=None)
@given(name=st.text(), branch=st.text(min_size=1), socket=st.text())
def test_config_round_trip_for_any_text(name: str, branch: str, socket: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        write_config(
            directory,
            ProjectConfig(
                plan_source="p.md",
                plan_id="p",
                plan_name=name,
                base_branch=branch,
                settings={"tmux_socket": socket},
            ),
        )
        again = read_config(directory)
    assert again.plan_name == name
    assert again.base_branch == branch
    assert again.settings["tmux_socket"] == socket
    assert again.created_at is None


def test_config_defaults(tmp_path: Path) -> None:
    write_config(
        str(tmp_path), ProjectConfig(plan_source="p", plan_id="p", plan_name="P", base_branch="m")
    )
    config = read_config(str(tmp_path))
    assert config.max_parallel == 4
    assert config.auto_merge is True
    assert config.agent == "claude"
    assert config.tmux_socket == ""


def test_the_project_config_written_by_init(project: Path) -> None:
    config = Store(str(project / ".work")).config()
    assert config.plan_id == "PLAN-0001-wordcount"
    assert config.plan_name == "PLAN-0001: Word-count tool"
    assert config.plan_source == "doc/plans/PLAN-0001-wordcount.md"
    assert config.base_branch == "main"
    assert config.max_parallel == 3
    assert config.tmux_socket.startswith("loom-")


def test_the_project_fixture_is_what_loom_init_writes(
    project: Path, tmp_path: Path, loom: RunLoom
) -> None:
    """`project` copies a template that `loom init` made once (tests/conftest.py): what a fresh
    `loom init` writes here must be the same, but for the times and the path-named tmux socket."""
    from loom_tui.core.init_project import tmux_socket_name

    fresh = make_repo(tmp_path / "fresh")
    plan = fresh / "doc" / "plans" / "PLAN-0001-wordcount.md"
    plan.parent.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "loom_tui" / "samples" / plan.name, plan)
    loom("init", str(plan.relative_to(fresh)), cwd=fresh, check=True)

    def written(root: Path) -> dict[str, str]:
        files = {".git/info/exclude": (root / ".git" / "info" / "exclude").read_text()}
        for path in sorted((root / ".work").rglob("*")):
            text = path.read_text() if path.is_file() else "<dir>"
            text = text.replace(tmux_socket_name(str(root)), "<socket>")
            text = re.sub(r"\b1\d{9}\.\d+\b", "<time>", text)  # created_at, updated_at, ts
            files[str(path.relative_to(root))] = re.sub(r"Updated: .*", "Updated: <time>", text)
        return files

    assert written(project) == written(fresh)


BROKEN_CONFIGS = {
    "invalid toml": ('[plan\nsource = "x"\n', "invalid TOML"),
    "unterminated string": ('[plan]\nsource = "x\n', "invalid TOML"),
    "duplicate key": ('[plan]\nid = "a"\nid = "b"\n', "invalid TOML"),
    "no plan table": ("[settings]\nmax_parallel = 2\n", "expected [plan] and [settings] tables"),
    "plan not a table": ('plan = "x"\n', "expected [plan] and [settings] tables"),
    "settings not a table": (
        'settings = 3\n[plan]\nsource = "s"\nid = "i"\nname = "n"\nbase_branch = "b"\n',
        "expected [plan] and [settings] tables",
    ),
    "missing keys": ('[plan]\nid = "x"\nname = 3\n', "[plan] lacks source, name, base_branch"),
}


@pytest.mark.parametrize("name", list(BROKEN_CONFIGS))
def test_a_hand_broken_config_is_reported_by_name(tmp_path: Path, name: str) -> None:
    text, problem = BROKEN_CONFIGS[name]
    (tmp_path / CONFIG_NAME).write_text(text)
    with pytest.raises(StoreError) as info:
        read_config(str(tmp_path))
    message = str(info.value)
    assert CONFIG_NAME in message
    assert problem in message


def test_missing_and_undecodable_configs_are_reported(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=f"{CONFIG_NAME}: missing"):
        read_config(str(tmp_path))
    (tmp_path / CONFIG_NAME).write_bytes(b'[plan]\nname = "\xff"\n')
    with pytest.raises(StoreError, match=CONFIG_NAME):
        read_config(str(tmp_path))


@pytest.mark.parametrize("value", ['"four"', "true", "[1]"])
def test_a_setting_of_the_wrong_type_is_reported_by_name(tmp_path: Path, value: str) -> None:
    (tmp_path / CONFIG_NAME).write_text(
        '[plan]\nsource = "s"\nid = "i"\nname = "n"\nbase_branch = "b"\n\n'
        f"[settings]\nmax_parallel = {value}\nretry_backoff_seconds = {value}\n"
    )
    config = read_config(str(tmp_path))
    with pytest.raises(
        StoreError, match=r"config\.toml: settings\.max_parallel: expected a number"
    ):
        _ = config.max_parallel
    with pytest.raises(StoreError, match=r"settings\.retry_backoff_seconds"):
        config.seconds("retry_backoff_seconds")


def test_loom_status_with_a_hand_broken_config(project: Path, loom: RunLoom) -> None:
    (project / ".work" / CONFIG_NAME).write_text("[plan\n")
    proc = loom("status", "--json")
    assert "Traceback" not in proc.stderr
    assert proc.returncode in (0, 1)
    if proc.returncode == 0:
        error = json.loads(proc.stdout)["plan"]["error"]
    else:
        (error,) = proc.stderr.splitlines()
    assert CONFIG_NAME in error
    assert "invalid TOML" in error
