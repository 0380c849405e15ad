"""`signals.render_signal`: the file every session's agent reads first.

The stages, sessions, memory and handoffs are real records in a real `.work/` store in a temporary
directory: memory is added with `memory.add` and handoffs are rendered by `handoff.render_handoff`,
exactly as loom writes them.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from loom_tui.core import memory
from loom_tui.core.fsutil import atomic_write
from loom_tui.core.handoff import TranscriptDigest, render_handoff
from loom_tui.core.model import SessionRecord, StageRecord, Status
from loom_tui.core.signals import render_signal, write_signal
from loom_tui.core.store import Store

BASE = "main"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(str(tmp_path / "repo" / ".work"))
    store.create_layout()
    return store


def stage_record(stage_id: str, **fields: object) -> StageRecord:
    values: dict[str, object] = {
        "id": stage_id,
        "name": f"Stage {stage_id}",
        "description": f"Do the work of {stage_id}.",
        "status": Status.EXECUTING.value,
    }
    values.update(fields)
    return StageRecord(**values)


def session_of(
    stage: StageRecord, generation: int = 1, worktree: str | None = None
) -> SessionRecord:
    return SessionRecord(
        id=str(uuid.uuid4()),
        stage_id=stage.id,
        generation=generation,
        status="starting",
        worktree=worktree,
    )


#: The signal's own sections, in order (an embedded handoff brings headings of its own).
SIGNAL_SECTIONS = (
    "Target",
    "Assignment",
    "Dependencies",
    "Acceptance criteria",
    "Files",
    "Skills",
    "Previous handoff",
    "Stage memory",
    "Commands",
)


def headings(text: str) -> list[str]:
    """The signal's own section headings, in order."""
    return [line[3:] for line in text.splitlines() if line[3:] in SIGNAL_SECTIONS]


def section(text: str, title: str) -> str:
    """The body of the signal's section ``## title``, up to its next own section."""
    lines = text.splitlines()
    assert f"## {title}" in lines, f"no section {title!r} in:\n{text}"
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i][3:] in SIGNAL_SECTIONS), len(lines))
    return "\n".join(lines[start:end]).strip()


def add_handoff(store: Store, stage: StageRecord, number: int, summary: str) -> str:
    """Write handoff ``number`` of the stage as loom renders it; returns its body (no front
    matter)."""
    text = render_handoff(
        stage=stage,
        session=None,
        number=number,
        trigger="crash",
        written_by="loom",
        summary=summary,
        next_steps=["Finish the parser"],
        decisions=["Keep the CLI flags"],
        git_state={"branch": f"loom/{stage.id}", "base": BASE, "ahead": 1, "head": "abc123"},
        digest=TranscriptDigest(),
    )
    name = f"{stage.id}-handoff-{number:03d}.md"
    atomic_write(os.path.join(store.handoffs_dir, name), text)
    stage.handoffs = [*stage.handoffs, name]
    assert text.startswith("---\n")
    return text.split("\n---\n", 1)[1]


# --------------------------------------------------------------------------------------------------


def test_a_stage_with_everything(store: Store, tmp_path: Path) -> None:
    stages = {
        "schema": stage_record(
            "schema", name="Database schema", status=Status.COMPLETED.value, merged=True
        ),
        "docs": stage_record("docs", name="Docs", status=Status.SKIPPED.value),
    }
    stage = stage_record(
        "api",
        name="REST layer",
        description="Expose the payments endpoints on the new schema.",
        dependencies=["schema", "docs", "ghost"],
        acceptance=["pytest -q tests/api", "ruff check api"],
        files=["api/**", "tests/api/*.py"],
        context_budget=60,
        truths=["curl -sf localhost:8080/health"],
        artifacts=["api/routes/*.py"],
        wiring=[{"source": "api/app.py", "pattern": "include_router\\(payments"}],
    )
    store.write_stage(stage)
    memory.add(store, "api", "note", "The tests need   a database")
    memory.add(store, "api", "decision", "Amounts are integer cents")
    add_handoff(store, stage, 1, "First session: nothing committed.")
    newest = add_handoff(store, stage, 2, "Second session: the routes are written.")
    worktree = str(tmp_path / "repo" / ".worktrees" / "api")
    session = session_of(stage, generation=3, worktree=worktree)
    stages["api"] = stage

    text = render_signal(store, stage, session, BASE, stages)

    assert text.startswith("# Signal: stage `api` — REST layer\n")
    assert f"Session `{session.id}`, generation 3." in text
    assert headings(text) == [
        "Target",
        "Assignment",
        "Dependencies",
        "Acceptance criteria",
        "Files",
        "Skills",
        "Previous handoff",
        "Stage memory",
        "Commands",
    ]
    target = section(text, "Target").splitlines()
    assert target == [
        "- Stage: `api` (REST layer)",
        f"- Worktree: `{worktree}` (work only here)",
        "- Branch: `loom/api`, made from `main`; commit your work on it",
        "- Context budget: 60% of the context window",
    ]
    assert section(text, "Assignment") == "Expose the payments endpoints on the new schema."
    # every dependency with its status
    deps = section(text, "Dependencies").splitlines()
    assert deps[:3] == [
        "- `schema` — Database schema: completed, merged into the base",
        "- `docs` — Docs: skipped",
        "- `ghost`: unknown",
    ]
    # the acceptance commands, then the goal checks
    acceptance = section(text, "Acceptance criteria")
    assert "- `pytest -q tests/api`\n- `ruff check api`" in acceptance
    assert "Goal checks (`loom verify`):" in acceptance
    assert "- truth: `curl -sf localhost:8080/health`" in acceptance
    assert "- artifact: `api/routes/*.py`" in acceptance
    assert "- wiring: `include_router\\(payments` in `api/app.py`" in acceptance
    assert section(text, "Files").splitlines() == ["- `api/**`", "- `tests/api/*.py`"]
    # the skills that fit: "REST", "endpoints" -> api-design first; then the files' python and
    # testing (tied, so by name)
    listed = section(text, "Skills").splitlines()
    skills = [line.split("`")[1] for line in listed if line.startswith("- ")]
    assert skills[:3] == ["api-design", "python", "testing"]
    # the newest handoff, its body only
    previous = section(text, "Previous handoff")
    assert "(`api-handoff-002.md`)" in previous
    assert newest.strip() in text
    assert "Second session: the routes are written." in previous
    assert "First session" not in text
    assert "---" not in text.splitlines()
    for key in ("stage:", "session:", "written_by:", "trigger:", "head:", "commits_ahead:"):
        assert not [line for line in text.splitlines() if line.startswith(key)], key
    # the stage's memory
    journal = section(text, "Stage memory")
    assert "# Memory of stage api" in journal
    assert "- **note** (" in journal and "): The tests need a database" in journal
    assert "- **decision** (" in journal and "): Amounts are integer cents" in journal


def test_a_stage_without_dependencies_acceptance_files_handoff_or_memory(store: Store) -> None:
    stage = stage_record("solo", description="  Write the README.  \n")
    session = session_of(stage)
    text = render_signal(store, stage, session, BASE, {"solo": stage})

    assert headings(text) == [
        "Target",
        "Assignment",
        "Dependencies",
        "Acceptance criteria",
        "Files",
        "Skills",
        "Commands",
    ]
    assert section(text, "Assignment") == "Write the README."
    assert section(text, "Skills").splitlines()[-1].startswith("- `documentation`: ")
    assert section(text, "Dependencies") == "None: this stage starts from the base branch."
    assert section(text, "Acceptance criteria") == (
        "No acceptance commands: complete the stage when the assignment is done."
    )
    assert "Goal checks" not in text
    assert section(text, "Files") == "No file scope was given."
    assert "Previous handoff" not in text
    assert "Stage memory" not in text
    # a session without a worktree works in the project root
    assert f"- Worktree: `{store.root}` (work only here)" in section(text, "Target")
    assert "- Context budget: 65% of the context window" in section(text, "Target")


def test_the_commands_name_the_stage(store: Store) -> None:
    stage = stage_record("tokenizer")
    text = render_signal(store, stage, session_of(stage), BASE, {"tokenizer": stage})
    commands = section(text, "Commands")
    bullets = [line for line in commands.splitlines() if line.startswith("- `loom ")]
    assert [line.split("`")[1] for line in bullets] == [
        "loom stage complete tokenizer",
        "loom stage block tokenizer <reason>",
        "loom handoff write tokenizer --summary <text>",
        "loom memory note <text>",
        "loom knowledge update FILE <text>",
    ]
    # every command that acts on a stage names it; the memory commands take it from
    # $LOOM_STAGE_ID, which every session has
    for line in bullets[:3]:
        assert " tokenizer" in line.split("`")[1]
    assert "`loom memory decision <text>`" in bullets[3]
    assert "LOOM_WORK_DIR" in commands


def test_a_dependency_that_is_completed_but_not_merged_says_so(store: Store) -> None:
    dep = stage_record("dep", status=Status.COMPLETED.value, merged=False)
    stage = stage_record("next", dependencies=["dep"])
    text = render_signal(store, stage, session_of(stage), BASE, {"dep": dep, "next": stage})
    assert section(text, "Dependencies").splitlines()[0] == "- `dep` — Stage dep: completed"


def test_an_empty_or_missing_handoff_file_is_said_plainly(store: Store) -> None:
    atomic_write(os.path.join(store.handoffs_dir, "a-handoff-001.md"), "")
    for name in ("a-handoff-001.md", "a-handoff-002.md"):  # empty; never written
        stage = stage_record("a", handoffs=[name])
        text = render_signal(store, stage, session_of(stage), BASE, {"a": stage})
        previous = section(text, "Previous handoff")
        assert f"(`{name}`)" in previous
        assert previous.endswith("(the handoff file is empty)")


def test_write_signal_writes_the_rendered_text_under_the_session_id(store: Store) -> None:
    stage = stage_record("a", acceptance=["true"])
    session = session_of(stage)
    path = write_signal(store, stage, session, BASE, {"a": stage})
    assert path == os.path.join(store.signals_dir, f"{session.id}.md")
    expected = render_signal(store, stage, session, BASE, {"a": stage})
    assert Path(path).read_text(encoding="utf-8") == expected
