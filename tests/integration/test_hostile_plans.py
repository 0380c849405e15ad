"""Plans and text a chaos tester would write, through the real `loom` CLI in real git repositories.

- a lone surrogate: `init --clean` refuses it with `PATH:LINE`, and the previous state (stages,
  memory, events) is left exactly as it was; a kill at any write of `init --clean` leaves the old
  state or the complete new one;
- escape sequences, OSC titles, CR, LF and BEL in a stage's name and reason: `status` (plain, JSON
  and the rich table on a terminal) and `diagnose` show them escaped, never raw;
- a catastrophic wiring pattern: `verify` returns within its time limit and names the pattern;
- a 70 KB description and a 50 MB plan: `PATH:LINE` errors, quickly, nothing written;
- a repository without a commit, and a base branch that does not exist: one `loom:` line.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import time
from pathlib import Path

from tests.conftest import LOOM, RunLoom

PLAN = "doc/plans/PLAN-0007-hostile.md"
RAW_CONTROLS = ("\x1b", "\x07", "\r", "\x9b")


def plan_text(stage_lines: str, title: str = "PLAN-0007: Hostile") -> str:
    """A plan whose YAML stage list is ``stage_lines``; the first of them is Markdown line 9."""
    return (
        f"# {title}\n\n<!-- loom METADATA -->\n\n```yaml\nloom:\n  version: 1\n  stages:\n"
        f"{stage_lines}```\n\n<!-- END loom METADATA -->\n"
    )


def write_plan(repo: Path, text: str, rel: str = PLAN) -> str:
    target = repo / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return rel


def good_stage(sid: str = "good", extra: str = "") -> str:
    return f"    - id: {sid}\n      name: Good stage\n      description: Fine.\n{extra}"


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc


def one_loom_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("loom: "), proc.stderr
    return lines[0]


def work_files(repo: Path) -> dict[str, bytes]:
    """Every file loom keeps under `.work/` (but the lock files), with its bytes."""
    work = repo / ".work"
    return {
        str(p.relative_to(work)): p.read_bytes()
        for p in sorted(work.rglob("*"))
        if p.is_file() and p.suffix != ".lock"
    }


def initialised_with_memory(repo: Path, loom: RunLoom) -> dict[str, bytes]:
    """`loom init` of a good plan, a note in its memory and a hold: the state to keep intact."""
    ok(loom("init", write_plan(repo, plan_text(good_stage()), "doc/plans/PLAN-0001-good.md")))
    ok(loom("memory", "note", "remember this", "--stage", "good"))
    ok(loom("stage", "hold", "good"))
    return work_files(repo)


# --------------------------------------------------------------------------------------------------
# Text that cannot be stored; init --clean is all or nothing


SURROGATE_STAGE = """\
    - id: broken
      name: "bad \\udc80 name"
      description: "json's \\ud83d\\ude00"
"""


def test_a_surrogate_plan_is_refused_by_init_clean_and_the_previous_state_is_intact(
    git_repo: Path, loom: RunLoom
) -> None:
    before = initialised_with_memory(git_repo, loom)
    rel = write_plan(git_repo, plan_text(SURROGATE_STAGE))

    proc = loom("init", rel, "--clean")

    assert proc.returncode == 2, proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(f"{rel}:10: stages[0].name: holds \\udc80, half of a UTF-16")
    assert lines[1].startswith(f"{rel}:11: stages[0].description: holds the UTF-16 pair")
    assert lines[2] == "loom: 2 problems in the plan; nothing was changed"
    assert work_files(git_repo) == before
    assert "remember this" in ok(loom("memory", "list", "--stage", "good")).stdout
    status = json.loads(ok(loom("status", "--json")).stdout)
    assert [(s["id"], s["held"]) for s in status["stages"]] == [("good", True)]


def git_status(repo: Path) -> list[str]:
    proc = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True
    )
    return proc.stdout.splitlines()


def test_init_clean_killed_at_any_write_leaves_the_old_state_or_the_whole_new_one(
    git_repo: Path, loom: RunLoom
) -> None:
    before = initialised_with_memory(git_repo, loom)
    rel = write_plan(git_repo, plan_text(good_stage("one") + good_stage("two")))
    outcomes = []
    for n in range(1, 20):
        proc = loom("init", rel, "--clean", env={"LOOM_TEST_KILL_AT_WRITE": str(n)})
        assert proc.returncode in (0, -9), proc.stderr
        if work_files(git_repo) == before:
            outcomes.append("old")
            assert "remember this" in ok(loom("memory", "list", "--stage", "good")).stdout
        else:
            outcomes.append("new")
            ids = [s["id"] for s in json.loads(ok(loom("status", "--json")).stdout)["stages"]]
            assert ids == ["one", "two"]
            assert not any(name.startswith("memory/") for name in work_files(git_repo))
        # what a killed init leaves beside `.work/` never makes the checkout look modified
        assert git_status(git_repo) == ["?? doc/"]
        if proc.returncode == 0:
            break
        # the old state again for the next kill point (a leftover `.work.init/` stays: the
        # next init must clear it away itself)
        shutil.rmtree(git_repo / ".work")
        for name, data in before.items():
            path = git_repo / ".work" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    assert proc.returncode == 0, outcomes
    assert outcomes[0] == "old" and outcomes[-1] == "new", outcomes
    assert "new" in outcomes[:-1], f"no kill after the swap: {outcomes}"
    assert sorted(p.name for p in git_repo.iterdir() if p.name.startswith(".work")) == [".work"]


# --------------------------------------------------------------------------------------------------
# Control characters are shown, not obeyed

ESCAPES_STAGE = """\
    - id: loud
      name: "red \\e[31mRED\\e[0m title \\e]0;pwned\\a cr\\rover lf\\nnext [/] [b]x[/b] \\x9b2J"
      description: "d"
"""
SHOWN_NAME = (
    "red \\x1b[31mRED\\x1b[0m title \\x1b]0;pwned\\x07 cr\\rover lf\\nnext [/] [b]x[/b] \\x9b2J"
)


def assert_no_raw_controls(text: str) -> None:
    for ch in RAW_CONTROLS:
        assert ch not in text, f"{ch!r} in {text!r}"


def test_escape_sequences_in_names_and_reasons_are_shown_escaped(
    git_repo: Path, loom: RunLoom
) -> None:
    ok(loom("init", write_plan(git_repo, plan_text(ESCAPES_STAGE))))
    ok(loom("stage", "block", "loud", "because\x1b[2J\rsomething\x07 broke"))
    ok(loom("memory", "note", "agent says \x1b]52;c;ZXZpbA==\x07 hi", "--stage", "loud"))

    status = ok(loom("status"))  # piped: plain text
    assert_no_raw_controls(status.stdout)
    assert SHOWN_NAME in status.stdout
    assert len(status.stdout.splitlines()) == 3  # the summary, the header, one stage: no LF

    diagnose = ok(loom("diagnose", "loud"))
    assert_no_raw_controls(diagnose.stdout)
    assert f"stage loud — {SHOWN_NAME}" in diagnose.stdout
    assert "reason      because\\x1b[2J\\rsomething\\x07 broke" in diagnose.stdout

    memory = ok(loom("memory", "list", "--stage", "loud"))
    assert_no_raw_controls(memory.stdout)
    assert "agent says \\x1b]52;c;ZXZpbA==\\x07 hi" in memory.stdout

    as_json = ok(loom("status", "--json"))
    assert_no_raw_controls(as_json.stdout)
    (stage,) = json.loads(as_json.stdout)["stages"]
    assert stage["name"].startswith("red \x1b[31mRED")  # the data itself is unchanged
    assert stage["name"].endswith("\x9b2J")


def run_on_a_terminal(repo: Path, *args: str) -> str:
    """`loom ARGS` with a pseudo-terminal as stdout (so `status` draws its rich table)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
    env.update(COLUMNS="240", LINES="50", TERM="xterm-256color")
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [LOOM, *args],
            cwd=repo,
            stdout=follower,
            stderr=subprocess.PIPE,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other side is closed and drained
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.returncode == 0, proc.stderr
    return out.decode("utf-8")


def test_the_rich_status_table_shows_names_escaped_and_markup_as_typed(
    git_repo: Path, loom: RunLoom
) -> None:
    ok(loom("init", write_plan(git_repo, plan_text(ESCAPES_STAGE))))
    screen = run_on_a_terminal(git_repo, "status").replace("\r\n", "\n")
    assert SHOWN_NAME in screen
    # rich's own colours are there, but nothing of the name's: no OSC, no BEL, no CR, no C1
    for ch in ("\x1b]", "\x07", "\r", "\x9b"):
        assert ch not in screen, ch


# --------------------------------------------------------------------------------------------------
# A catastrophic wiring pattern


def test_a_catastrophic_wiring_pattern_fails_its_check_within_the_time_limit(
    git_repo: Path, loom: RunLoom
) -> None:
    stage = good_stage(
        "wired",
        '      wiring:\n        - source: "src/*.txt"\n          pattern: "(a+)+$"\n',
    )
    ok(loom("init", write_plan(git_repo, plan_text(stage))))
    (git_repo / "src").mkdir()
    (git_repo / "src" / "line.txt").write_text("a" * 50_000 + "!\n")

    started = time.monotonic()
    proc = loom("verify", "wired")
    elapsed = time.monotonic() - started

    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "gave up after 2 s searching src/line.txt for /(a+)+$/" in proc.stdout
    # the limit is 2 s of searching; the rest is a `loom` process on a loaded machine (Python's
    # `re` spent 13+ s of CPU on 30 a's, and does not stop at all on 50,000)
    assert elapsed < 30, elapsed


def test_a_wiring_pattern_only_one_engine_accepts_is_a_plan_error(
    git_repo: Path, loom: RunLoom
) -> None:
    stage = good_stage(
        "wired", '      wiring:\n        - source: a.py\n          pattern: "\\\\p{L}+"\n'
    )
    rel = write_plan(git_repo, plan_text(stage))
    proc = loom("init", rel)
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        f"{rel}:14: stages[0].wiring[0].pattern: is not a valid regular expression: "
    )
    assert not (git_repo / ".work").exists()


# --------------------------------------------------------------------------------------------------
# Sizes


def test_a_description_over_64_kib_is_a_plan_error_and_nothing_is_written(
    git_repo: Path, loom: RunLoom
) -> None:
    stage = f"    - id: big\n      name: Big\n      description: {'x' * 70_000}\n"
    rel = write_plan(git_repo, plan_text(stage))
    proc = loom("init", rel)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"{rel}:11: stages[0].description: is 68 KiB long; the limit is 64 KiB: keep the "
        "assignment short and put long material in a file of the repository that it names",
        "loom: 1 problem in the plan; nothing was changed",
    ]
    assert not (git_repo / ".work").exists()


def test_a_50_mb_plan_is_refused_quickly(git_repo: Path, loom: RunLoom) -> None:
    stage = f"    - id: big\n      name: Big\n      description: {'x' * 50_000_000}\n"
    rel = write_plan(git_repo, plan_text(stage))
    started = time.monotonic()
    proc = loom("init", rel)
    elapsed = time.monotonic() - started
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == (
        f"{rel}:1: the plan is 47.7 MiB; the limit is 4 MiB (is this the right file?)"
    )
    assert not (git_repo / ".work").exists()
    assert elapsed < 15, elapsed  # (it took 33 s and 438 MB before the limit; ~0.5 s now)


# --------------------------------------------------------------------------------------------------
# Preconditions of init


def test_init_in_a_repository_without_a_commit_is_refused_with_one_line(
    tmp_path: Path, loom: RunLoom
) -> None:
    repo = tmp_path / "empty"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    rel = write_plan(repo, plan_text(good_stage()))
    line = one_loom_line(loom("init", rel, cwd=repo))
    assert line.startswith("loom: this repository has no commit yet")
    assert "git commit --allow-empty" in line
    assert not (repo / ".work").exists()
    assert one_loom_line(loom("status", cwd=repo))  # and still no project


def test_init_with_a_base_branch_that_does_not_exist_is_refused_with_one_line(
    git_repo: Path, loom: RunLoom
) -> None:
    repo = git_repo
    text = plan_text(good_stage()).replace("  version: 1\n", "  version: 1\n  base_branch: dev\n")
    rel = write_plan(repo, text)
    line = one_loom_line(loom("init", rel, cwd=repo))
    assert line == (
        f"loom: base_branch 'dev' (from the plan) does not exist in this repository: create it "
        f"(`git branch dev`) or change base_branch in {rel}"
    )
    assert not (repo / ".work").exists()


def test_init_on_an_unborn_branch_beside_others_says_to_commit_on_it(
    git_repo: Path, loom: RunLoom
) -> None:
    repo = git_repo
    subprocess.run(["git", "checkout", "-q", "--orphan", "fresh"], cwd=repo, check=True)
    line = one_loom_line(loom("init", write_plan(repo, plan_text(good_stage())), cwd=repo))
    assert line.startswith("loom: the checked-out branch 'fresh' has no commit yet")


# --------------------------------------------------------------------------------------------------
# Arguments that are not text


def test_an_argument_that_is_not_utf8_is_refused_and_nothing_changes(
    git_repo: Path, loom: RunLoom
) -> None:
    before = initialised_with_memory(git_repo, loom)
    not_text = os.fsdecode(b"bad \xff byte")  # as Python hands such bytes over: surrogates
    for args in (
        ("memory", "note", not_text, "--stage", "good"),
        ("stage", "block", "good", not_text),
    ):
        line = one_loom_line(loom(*args))
        assert line == "loom: the argument b'bad \\xff byte' is not UTF-8 text; nothing was done"
    assert work_files(git_repo) == before
