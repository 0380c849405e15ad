"""A deterministic loom project for the TUI tests, and the app built on it.

The project is a real git repository initialised with the bundled sample plan by the real `loom
init`; then every record is set by hand through `Store`, with fixed timestamps, so that the screen
shows each thing it can show at once:

    scaffold   completed and merged (one ended session)
    tokenizer  executing, generation 2, live session at 58 % working (hook), handoff 001 written
    counter    blocked with a reason after 2 retries (its last session crashed)
    docs       waiting for input, live session at 31 %
    cli        waiting for its dependencies, held
    release    waiting for its dependencies

The events log is rewritten with fixed timestamps too, the clock is fixed, TZ is UTC, HOME and
XDG_CONFIG_HOME point into the test's temporary folder (the TUI saves the chosen theme there), and
the scheduler is kept out (``run_scheduler=False``): what is on screen depends on nothing but
these records.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest

from loom_tui.core import frontmatter
from loom_tui.core.engine import SchedulerOptions
from loom_tui.core.model import SessionRecord, StageRecord, Status
from loom_tui.core.store import Store
from loom_tui.core.tmux import Tmux
from loom_tui.tui.app import LoomApp
from tests.conftest import SIGNATURE

#: 2026-01-01 12:00:00 UTC: "now" for the app (the sessions table's "since" column).
NOW = 1_767_268_800.0
MINUTE = 60.0

#: The sample plan's stages, in plan order.
STAGE_IDS = ("scaffold", "tokenizer", "counter", "docs", "cli", "release")
#: The stages with a live session in the fixture.
LIVE_STAGES = ("tokenizer", "docs")


class TuiProject:
    """The prepared project: its root, a store on `.work/`, and helpers to read it afresh."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.work = root / ".work"
        self.store = Store(str(self.work))
        self.socket = self.store.config().tmux_socket

    def fresh(self) -> Store:
        """A new `Store`: what another process would read from `.work/` now."""
        return Store(str(self.work))

    def stage(self, stage_id: str) -> StageRecord:
        return self.fresh().read_stage(stage_id)

    def session(self, session_id: str) -> SessionRecord:
        return self.fresh().read_session(session_id)

    def files(self) -> dict[str, bytes]:
        """Every file under `.work/` (but the lock files) with its bytes, to prove nothing
        changed."""
        out = {}
        for path in sorted(self.work.rglob("*")):
            if path.is_file() and path.suffix != ".lock":
                out[str(path.relative_to(self.work))] = path.read_bytes()
        return out

    def set_stage(self, stage_id: str, **fields: object) -> StageRecord:
        def change(record: StageRecord) -> None:
            for name, value in fields.items():
                setattr(record, name, Status(str(value)) if name == "status" else value)

        return self.store.update_stage(stage_id, change)

    def set_session(self, session_id: str, **fields: object) -> SessionRecord:
        def change(record: SessionRecord) -> None:
            for name, value in fields.items():
                setattr(record, name, value)

        return self.store.update_session(session_id, change)

    def end_live_sessions(self) -> None:
        for session in self.store.sessions():
            if session.live:
                self.set_session(session.id, status="ended", end_reason="completed")

    def commit_on_branch(self, stage_id: str, files: dict[str, str]) -> str:
        """A real commit on `loom/<stage_id>` (made from the base's tip), as an agent leaves it."""
        repo = pygit2.Repository(str(self.root))
        base = repo.branches.local["main"].peel(pygit2.Commit)
        builder = repo.TreeBuilder(base.tree)
        for name, content in files.items():
            assert "/" not in name, "top-level files only"
            builder.insert(name, repo.create_blob(content.encode()), pygit2.GIT_FILEMODE_BLOB)
        tree = builder.write()
        branch = f"loom/{stage_id}"
        if branch not in repo.branches.local:
            repo.branches.local.create(branch, base)
        commit = repo.create_commit(
            f"refs/heads/{branch}", SIGNATURE, SIGNATURE, f"{stage_id}: work", tree, [base.id]
        )
        return str(commit)


# ------------------------------------------------------------------------------------------------
# Records


def _stage_fields(root: Path) -> dict[str, dict[str, object]]:
    def worktree(stage_id: str) -> str:
        return str(root / ".worktrees" / stage_id)

    return {
        "scaffold": {
            "status": Status.COMPLETED,
            "merged": True,
            "generation": 1,
            "session_id": "s-scaffold-1",
            "context_percent": 22.0,
            "branch": "loom/scaffold",
            "merge_commit": "0123456789abcdef0123456789abcdef01234567",
            "started_at": NOW - 40 * MINUTE,
            "completed_at": NOW - 31 * MINUTE,
        },
        "tokenizer": {
            "status": Status.EXECUTING,
            "generation": 2,
            "session_id": "s-tokenizer-2",
            "context_percent": 58.0,
            "handoffs": ["tokenizer-handoff-001.md"],
            "worktree": worktree("tokenizer"),
            "branch": "loom/tokenizer",
            "started_at": NOW - 30 * MINUTE,
        },
        "counter": {
            "status": Status.BLOCKED,
            "retry_count": 2,
            "generation": 3,
            "session_id": "s-counter-3",
            "context_percent": 12.0,
            "blocked_reason": "its session crashed (exit 1) after 2 retries; t retries it",
            "worktree": worktree("counter"),
            "branch": "loom/counter",
            "started_at": NOW - 30 * MINUTE,
        },
        "docs": {
            "status": Status.WAITING_FOR_INPUT,
            "generation": 1,
            "session_id": "s-docs-1",
            "context_percent": 31.0,
            "worktree": worktree("docs"),
            "branch": "loom/docs",
            "started_at": NOW - 7 * MINUTE,
        },
        "cli": {"held": True},
        "release": {},
    }


def _sessions(root: Path, socket: str) -> list[SessionRecord]:
    def session(sid: str, stage: str, generation: int, **fields: Any) -> SessionRecord:
        return SessionRecord(
            id=sid,
            stage_id=stage,
            generation=generation,
            agent="sim",
            tmux_socket=socket,
            model="opus",
            worktree=str(root / ".worktrees" / stage),
            context_window=200_000,
            context_source="statusline",
            **fields,
        )

    return [
        session(
            "s-scaffold-1",
            "scaffold",
            1,
            status="ended",
            end_reason="completed",
            exit_code=0,
            started_at=NOW - 40 * MINUTE,
            ended_at=NOW - 31 * MINUTE,
            context_percent=22.0,
            context_tokens=44_000,
            input_tokens=44_000,
            cost_usd=0.31,
            last_lines=["● loom stage complete scaffold", "  stage scaffold completed"],
        ),
        session(
            "s-tokenizer-1",
            "tokenizer",
            1,
            status="ended",
            end_reason="handoff",
            exit_code=0,
            started_at=NOW - 30 * MINUTE,
            ended_at=NOW - 4 * MINUTE,
            context_percent=66.0,
            context_tokens=132_000,
            input_tokens=132_000,
            cost_usd=0.97,
            handoff="tokenizer-handoff-001.md",
            handoff_trigger="budget",
        ),
        session(
            "s-counter-3",
            "counter",
            3,
            status="ended",
            end_reason="crashed",
            exit_code=1,
            started_at=NOW - 12 * MINUTE,
            ended_at=NOW - 11 * MINUTE,
            context_percent=12.0,
            context_tokens=24_000,
            input_tokens=24_000,
            cost_usd=0.12,
            last_lines=["Traceback (most recent call last):", "RuntimeError: simulated crash"],
        ),
        session(
            "s-docs-1",
            "docs",
            1,
            status="running",
            pane_id="%4",
            window="docs",
            started_at=NOW - 7 * MINUTE,
            context_percent=31.0,
            context_tokens=62_000,
            input_tokens=62_000,
            output_tokens=5_000,
            cost_usd=0.41,
            agent_state="waiting-for-input",
            agent_state_source="hook:Notification",
            agent_state_at=NOW - 1 * MINUTE,
            last_lines=["Do you want to create docs/usage.md?", "❯ 1. Yes", "  2. No"],
        ),
        session(
            "s-tokenizer-2",
            "tokenizer",
            2,
            status="running",
            pane_id="%3",
            window="tokenizer",
            started_at=NOW - 4 * MINUTE,
            context_percent=58.0,
            context_tokens=116_000,
            input_tokens=116_000,
            output_tokens=9_000,
            cost_usd=0.84,
            agent_state="working",
            agent_state_source="hook:PostToolUse",
            agent_state_at=NOW - 10.0,
            last_lines=[
                "✻ Editing wordcount/tokenize.py… (41s)",
                "● Bash(pytest -q tests/test_tokenize.py)",
                "  ⎿  4 passed in 0.02s",
            ],
        ),
    ]


HANDOFF_BODY = """\
# Handoff 001 — stage `tokenizer` (Tokenizer)

Written by the agent; trigger: budget.

## Goal

Split text into words (letters, digits and apostrophes), lower-cased.

## Completed work

The regular expression and its tests are written; apostrophes inside words are kept.

## Decisions

- Words are matched with `[a-z0-9']+` after lower-casing.

## Current state

- Branch: `loom/tokenizer`, 1 commit(s) ahead of `main`
- Uncommitted files: none

## Next steps

- Strip leading and trailing apostrophes.
- Run `loom stage complete tokenizer`.

## Files touched

- `wordcount/tokenize.py`
"""


def write_handoff_file(store: Store) -> str:
    """`tokenizer-handoff-001.md` in the format `loom handoff write` uses, with a fixed date."""
    front: dict[str, object] = {
        "stage": "tokenizer",
        "session": "s-tokenizer-1",
        "generation": 1,
        "context_percent": 66.0,
        "trigger": "budget",
        "written_by": "agent",
        "created": "2026-01-01T11:56:00Z",
        "branch": "loom/tokenizer",
        "head": "89abcdef0123456789abcdef0123456789abcdef",
        "commits_ahead": 1,
    }
    path = os.path.join(store.handoffs_dir, "tokenizer-handoff-001.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(frontmatter.render(front, HANDOFF_BODY))
    return path


#: The event log, oldest first (as the scheduler appends it).
EVENTS: list[dict[str, object]] = [
    {"ts": NOW - 41 * MINUTE, "kind": "plan-initialised", "plan": "PLAN-0001-wordcount"},
    {
        "ts": NOW - 31 * MINUTE,
        "kind": "merge-done",
        "stage": "scaffold",
        "message": "merged into main (0123456789)",
    },
    {
        "ts": NOW - 11 * MINUTE,
        "kind": "stage-status",
        "stage": "counter",
        "new": "blocked",
        "message": "executing → blocked (its session crashed)",
    },
    {
        "ts": NOW - 4 * MINUTE,
        "kind": "handoff",
        "stage": "tokenizer",
        "message": "handoff written: tokenizer-handoff-001.md (context 66% ≥ budget 65%)",
    },
    {
        "ts": NOW - 1 * MINUTE,
        "kind": "agent-state",
        "stage": "docs",
        "state": "waiting-for-input",
        "message": "agent waiting-for-input (hook): permission prompt (Write)",
    },
]


def prepare(root: Path) -> TuiProject:
    """Set every record of the initialised project at ``root`` to the fixture's state."""
    tp = TuiProject(root)
    store = tp.store
    for stage_id, fields in _stage_fields(root).items():
        tp.set_stage(stage_id, **fields)
    for record in _sessions(root, tp.socket):
        store.write_session(record)
    write_handoff_file(store)
    Path(store.events_path).write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in EVENTS), encoding="utf-8"
    )
    return tp


# ------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(autouse=True)
def _tui_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """UTC, and HOME / XDG_CONFIG_HOME in the test's folder (themes are saved there)."""
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def tui_project(project: Path) -> TuiProject:
    """The sample plan's project with every record set by hand (see the module docstring)."""
    return prepare(project)


AppFactory = Callable[..., LoomApp]


@pytest.fixture
def make_app(tui_project: TuiProject) -> AppFactory:
    """``make_app(**overrides)``: a `LoomApp` on the project, scheduler off, clock fixed."""

    def make(**overrides: Any) -> LoomApp:
        kwargs: dict[str, Any] = {
            "theme": "loom-dark",
            "run_scheduler": False,
            "clock": lambda: NOW,
        }
        kwargs.update(overrides)
        return LoomApp(tui_project.fresh(), SchedulerOptions(agent="sim"), **kwargs)

    return make


@pytest.fixture
def project_tmux(tui_project: TuiProject) -> Iterator[Tmux]:
    """The project's private tmux server (started by the test as needed), killed afterwards."""
    tmux = Tmux(tui_project.socket)
    yield tmux
    with contextlib.suppress(Exception):
        tmux.kill_server()
