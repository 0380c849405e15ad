"""The knowledge files (core/knowledge.py), `loom memory promote`, and their place in every signal.

Real files in temporary directories, a real `.work/` store, and the real `loom` console script for
the commands; concurrent writers are real processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loom_tui.core import knowledge, memory
from loom_tui.core.errors import LoomError, UsageError
from loom_tui.core.signals import render_signal
from loom_tui.core.store import Store
from tests.conftest import LOOM, RunLoom
from tests.unit.test_signals import BASE, session_of, stage_record

KDIR = knowledge.KNOWLEDGE_DIR


def section(text: str, heading: str) -> str:
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0].strip()


def test_init_creates_the_files_once_and_never_clobbers(tmp_path: Path) -> None:
    created = knowledge.init(str(tmp_path))
    assert created == list(knowledge.FILES)
    assert sorted(os.listdir(tmp_path / KDIR)) == sorted(knowledge.FILES)
    mine = tmp_path / KDIR / "patterns.md"
    mine.write_text("# My own patterns\n\n- everything is a file\n")
    (tmp_path / KDIR / "stack.md").unlink()

    assert knowledge.init(str(tmp_path)) == ["stack.md"]
    assert mine.read_text() == "# My own patterns\n\n- everything is a file\n"
    assert knowledge.init(str(tmp_path)) == []


def test_names_aliases_and_refusals() -> None:
    assert knowledge.resolve("patterns") == "patterns.md"
    assert knowledge.resolve("Mistakes.md") == "mistakes.md"
    assert knowledge.resolve("entry") == "entry-points.md"
    assert knowledge.resolve("deps") == "stack.md"
    for bad in ("../etc/passwd", "notes", "", "patterns/x"):
        with pytest.raises(UsageError, match="no knowledge file"):
            knowledge.resolve(bad)


def test_update_appends_a_dated_entry(tmp_path: Path) -> None:
    knowledge.init(str(tmp_path))
    knowledge.append(str(tmp_path), "mistakes", "Do not `git add -A`: it adds .work/.")
    knowledge.append(str(tmp_path), "mistake", "Second   lesson\nwith two lines.")
    text = (tmp_path / KDIR / "mistakes.md").read_text()
    assert text.startswith("# Mistakes and Lessons\n")
    assert "Nothing recorded yet" not in text  # the placeholder goes with the first entry
    first = text.index("Do not `git add -A`: it adds .work/.")
    second = text.index("Second   lesson\nwith two lines.")
    assert first < second
    assert text.count("\n### 20") == 2  # each under its own "### YYYY-MM-DD HH:MM"
    with pytest.raises(UsageError, match="empty"):
        knowledge.append(str(tmp_path), "mistakes", "   ")
    # a file that is missing is made from its template first
    knowledge.append(str(tmp_path / "fresh"), "concerns", "The scheduler is one file.")
    fresh = (tmp_path / "fresh" / KDIR / "concerns.md").read_text()
    assert fresh.startswith("# Concerns\n") and "The scheduler is one file." in fresh


def test_concurrent_updates_all_land(tmp_path: Path) -> None:
    """Eight `loom knowledge update` processes at once: the directory lock keeps every entry."""
    (tmp_path / ".git").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
    procs = [
        subprocess.Popen(
            [LOOM, "knowledge", "update", "patterns", f"entry number {i}"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(8)
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    text = (tmp_path / KDIR / "patterns.md").read_text()
    assert sorted(line for line in text.splitlines() if line.startswith("entry number")) == [
        f"entry number {i}" for i in range(8)
    ]


def test_the_knowledge_commands_end_to_end(git_repo: Path, loom: RunLoom) -> None:
    shown = loom("knowledge", "show")
    assert shown.returncode == 0 and "run `loom knowledge init`" in shown.stdout
    missing = loom("knowledge", "show", "patterns")
    assert missing.returncode == 1
    assert missing.stderr == f"loom: no {KDIR}/patterns.md yet: run `loom knowledge init`\n"

    first = loom("knowledge", "init", check=True)
    assert first.stdout.startswith(f"created 7 file(s) in {KDIR}/: architecture.md,")
    again = loom("knowledge", "init", check=True)
    assert again.stdout == f"{KDIR}/ already has every file; nothing changed\n"

    added = loom("knowledge", "update", "conventions", "Docstrings", "say", "why.", check=True)
    assert added.stdout == f"added to {KDIR}/conventions.md\n"
    listing = loom("knowledge", "show", check=True).stdout.splitlines()
    assert [line.split()[0] for line in listing] == list(knowledge.FILES)
    conventions = next(line for line in listing if line.startswith("conventions.md"))
    assert conventions.endswith("  Docstrings say why.")
    body = loom("knowledge", "show", "convention", check=True).stdout
    assert body == (git_repo / KDIR / "conventions.md").read_text()

    # from a subdirectory: the checkout's files, not the subdirectory's
    (git_repo / "src").mkdir()
    assert (
        "Docstrings say why."
        in loom("knowledge", "show", "conventions", cwd=git_repo / "src").stdout
    )

    bad = loom("knowledge", "update", "secrets", "x")
    assert bad.returncode == 2
    assert bad.stderr.startswith("loom: no knowledge file 'secrets': use one of architecture,")
    assert len(bad.stderr.splitlines()) == 1
    usage = loom("knowledge", "update", "patterns")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_outside_a_repository_is_one_clear_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [LOOM, "knowledge", "show"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1
    assert proc.stderr == (
        "loom: not inside a git repository: run this in the project, or give --work-dir\n"
    )


# -- in the signals --------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Store:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    store = Store(str(tmp_path / "repo" / ".work"))
    store.create_layout()
    return store


def signal_of(store: Store, stage_id: str, worktree: Path | None = None) -> str:
    stage = stage_record(stage_id)
    store.write_stage(stage)
    session = session_of(stage, worktree=str(worktree) if worktree else None)
    return render_signal(store, stage, session, BASE, {stage_id: stage})


def test_every_stage_signal_embeds_the_knowledge(store: Store) -> None:
    root = store.root
    knowledge.init(root)
    knowledge.append(root, "mistakes", "Never commit on main.")
    knowledge.replace_generated(root, "entry-points", "map", "## Entry points\n\n- `loom`")
    for stage_id in ("api", "docs"):
        text = signal_of(store, stage_id)
        part = section(text, "Project knowledge")
        assert "### mistakes.md" in part and "Never commit on main." in part
        # the file's own headings sit below the section's: `## Entry points` -> `#### …`
        assert "#### Entry points\n\n- `loom`" in part
        assert "loom map" not in part  # no generated-section markers
        assert "### patterns.md" not in part  # a template alone carries no knowledge
    assert "## Entry points" not in text.replace("#### Entry points", "")


def test_the_budget_cuts_each_file_with_a_pointer(store: Store) -> None:
    root = store.root
    big = "\n".join(f"- fact number {i:04d} about the architecture" for i in range(600))
    knowledge.replace_generated(root, "architecture", "map", big)
    knowledge.append(root, "mistakes", "Short lesson.")
    part = section(signal_of(store, "api"), "Project knowledge")
    assert len(part) <= knowledge.SIGNAL_BUDGET + 1000
    assert "Short lesson." in part  # the small file whole
    kept = part.count("- fact number")
    assert 0 < kept < 600
    assert f"… ({600 - kept} more lines in {KDIR}/architecture.md)" in part


def test_the_worktree_copy_comes_first_then_the_root(store: Store, tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    knowledge.append(str(worktree), "patterns", "From the worktree.")
    knowledge.append(store.root, "patterns", "From the root.")
    knowledge.append(store.root, "concerns", "Only at the root.")
    part = section(signal_of(store, "api", worktree), "Project knowledge")
    assert "From the worktree." in part and "From the root." not in part
    assert "Only at the root." in part


def test_promote_moves_entries_to_knowledge_and_every_signal(store: Store, tmp_path: Path) -> None:
    api = stage_record("api")
    store.write_stage(api)
    memory.add(store, "api", "note", "The tests need a database")
    memory.add(store, "api", "decision", "Amounts are integer cents")
    memory.add(store, "api", "decision", "Times are UTC")
    worktree = tmp_path / "wt"  # another stage's checkout, branched before the promotion
    knowledge.init(str(worktree))

    name, moved = memory.promote(store, "api", "decision", "patterns", store.root)
    assert (name, moved) == ("patterns.md", ["Amounts are integer cents", "Times are UTC"])
    patterns = (Path(store.root) / KDIR / "patterns.md").read_text()
    assert "(promoted from stage api's memory)" in patterns
    assert "- Amounts are integer cents\n- Times are UTC\n" in patterns
    assert [(k, t, to) for k, _s, t, to in memory.records(store, "api")] == [
        ("note", "The tests need a database", ""),
        ("decision", "Amounts are integer cents", "patterns.md"),
        ("decision", "Times are UTC", "patterns.md"),
    ]
    assert memory.promote(store, "api", "decision", "patterns", store.root) == ("patterns.md", [])

    # the stage's own memory keeps only what was not promoted
    own = signal_of(store, "api")
    assert "The tests need a database" in section(own, "Stage memory")
    assert "integer cents" not in section(own, "Stage memory")
    assert "- Amounts are integer cents" in section(own, "Project knowledge")
    # another stage whose worktree has an older copy still gets them, once
    other = section(signal_of(store, "docs", worktree), "Project knowledge")
    assert "### Promoted from the stages' memory" in other
    assert other.count("integer cents") == 1
    assert "- Amounts are integer cents (decision, stage `api`)" in other

    for i in range(80):  # many promoted entries: a bounded list, with a pointer
        memory.add(store, "api", "note", f"Finding number {i:02d} of the api stage")
    memory.promote(store, "api", "note", "concerns", store.root)
    crowded = section(signal_of(store, "docs", worktree), "Project knowledge")
    listed = crowded.count("Finding number")
    assert 10 < listed < 80
    assert f"… ({80 - listed} more: `loom memory list --stage ID`" in crowded
    memory.promote(store, "api", "all", "mistakes", store.root)
    assert section(signal_of(store, "api"), "Project knowledge").count("database") == 1
    assert "## Stage memory" not in signal_of(store, "api")  # nothing left but the title
    with pytest.raises(UsageError):
        memory.promote(store, "api", "question", "patterns", store.root)
    with pytest.raises(UsageError):
        memory.promote(store, "api", "note", "nowhere", store.root)
    with pytest.raises(LoomError):
        memory.promote(store, "ghost", "note", "patterns", store.root)


def test_memory_promote_cli(project: Path, loom: RunLoom) -> None:
    stage_id = Store(str(project / ".work")).stage_ids()[0]
    loom("memory", "note", "--stage", stage_id, "Use", "the", "fixtures", check=True)
    proc = loom("memory", "promote", "note", "conventions", "--stage", stage_id, check=True)
    assert proc.stdout == f"promoted 1 of stage {stage_id}'s notes to {KDIR}/conventions.md\n"
    assert "- Use the fixtures" in (project / KDIR / "conventions.md").read_text()
    listed = loom("memory", "list", "--stage", stage_id, check=True).stdout
    assert listed == "note      Use the fixtures (promoted to conventions.md)\n"
    again = loom("memory", "promote", "note", "conventions", env={"LOOM_STAGE_ID": stage_id})
    assert again.stdout == f"stage {stage_id} has no notes left to promote\n"
    bad = loom("memory", "promote", "note", "secrets", "--stage", stage_id)
    assert bad.returncode == 2 and bad.stderr.startswith("loom: no knowledge file 'secrets'")
    bad_type = loom("memory", "promote", "question", "patterns", "--stage", stage_id)
    assert bad_type.returncode == 2 and "Traceback" not in bad_type.stderr


def test_knowledge_loads_no_heavy_library() -> None:
    """Agents call `knowledge show|update` and `memory promote`: their core stays light."""
    code = (
        "import loom_tui.core.knowledge, loom_tui.core.memory, sys, json\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout.splitlines()[-1]))
    heavy = ("click", "pydantic", "ruamel", "textual", "rich", "pygit2", "typing", "pathlib")
    assert sorted(m for m in loaded if m.split(".")[0] in heavy) == []


# -- the generated section, for any text around it -------------------------------------------

_NOTE = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)


@settings(
    max_examples=150,
    deadline=None,
    database=None,  # write nothing into the working tree
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(before=_NOTE, after=_NOTE, first=_NOTE, second=_NOTE)
def test_rerunning_map_replaces_its_section_and_keeps_any_notes(
    tmp_path_factory: pytest.TempPathFactory, before: str, after: str, first: str, second: str
) -> None:
    root = tmp_path_factory.mktemp("k")
    path = root / KDIR / "stack.md"
    path.parent.mkdir(parents=True)
    path.write_bytes((before + "\n").encode())
    knowledge.replace_generated(str(root), "stack", "map", "gen " + first)
    with path.open("ab") as fh:
        fh.write((after + "\n").encode())
    knowledge.replace_generated(str(root), "stack", "map", "gen " + second)
    once = path.read_bytes().decode()
    knowledge.replace_generated(str(root), "stack", "map", "gen " + second)

    assert path.read_bytes().decode() == once  # the same run again changes nothing
    assert once.count(knowledge.GENERATED_BEGIN) == 1
    assert once.count(knowledge.GENERATED_END) == 1
    assert ("gen " + second).strip() in once
    outside = once.split(knowledge.GENERATED_BEGIN)[0] + once.split(knowledge.GENERATED_END)[1]
    assert before.strip() in once.split(knowledge.GENERATED_BEGIN)[0]
    assert after.strip() in outside


def test_inside_a_stage_worktree_the_worktrees_files_are_used(project: Path, loom: RunLoom) -> None:
    """An agent's `knowledge update` lands in its own worktree, to be committed on its branch,
    even with `$LOOM_WORK_DIR` pointing at the main checkout's `.work/`."""
    import pygit2

    repo = pygit2.Repository(str(project))
    worktree = project / ".worktrees" / "api"
    worktree.parent.mkdir()
    repo.add_worktree("api", str(worktree))
    env = {"LOOM_WORK_DIR": str(project / ".work")}
    text = "Learnt in the worktree"
    loom("knowledge", "update", "patterns", text, cwd=worktree, env=env, check=True)
    assert "Learnt in the worktree" in (worktree / KDIR / "patterns.md").read_text()
    assert not (project / KDIR).exists()
    # --work-dir names the project explicitly: its main checkout
    loom("--work-dir", str(project), "knowledge", "init", cwd=worktree, check=True)
    assert (project / KDIR / "patterns.md").exists()


def _both_paths(
    loom: RunLoom, *args: str, env: dict[str, str] | None = None
) -> tuple[tuple[int, str, str], bool]:
    proc = loom(*args, env={"PYTHONPROFILEIMPORTTIME": "1", **(env or {})})
    lines = proc.stderr.splitlines()
    report = [line for line in lines if line.startswith("import time:")]
    used_click = any(line.rsplit("|", 1)[-1].strip() == "click" for line in report)
    rest = "\n".join(line for line in lines if not line.startswith("import time:"))
    return (proc.returncode, proc.stdout, rest), used_click


def test_agents_forms_take_the_fast_path_and_match_click(project: Path, loom: RunLoom) -> None:
    """`knowledge show|update` and `memory promote` as agents type them start without click;
    the same command with a `--` (which only click reads) gives the same result."""
    stage_id = Store(str(project / ".work")).stage_ids()[0]
    pairs = [
        (("knowledge", "show"), ("knowledge", "show", "--")),
        (
            ("knowledge", "update", "mistakes", "one"),
            ("knowledge", "update", "--", "mistakes", "one"),
        ),
        (("knowledge", "show", "mistakes"), ("knowledge", "show", "--", "mistakes")),
        (("map",), ("map", "--focus", ".")),
        (("map", "--deep"), ("map", "--deep", "--focus", ".")),
        (
            ("knowledge", "update", "mistakes", "- a bullet", "--help", "-x"),
            ("knowledge", "update", "--", "mistakes", "- a bullet", "--help", "-x"),
        ),
        (("knowledge", "show", "nope"), ("knowledge", "show", "--", "nope")),
        (("knowledge", "update", "nope", "x"), ("knowledge", "update", "--", "nope", "x")),
        (
            ("memory", "promote", "note", "patterns", "--stage", stage_id),
            ("memory", "promote", "--stage", stage_id, "--", "note", "patterns"),
        ),
        (
            ("memory", "promote", "note", "nope", "--stage", stage_id),
            ("memory", "promote", "--stage", stage_id, "--", "note", "nope"),
        ),
        (
            ("memory", "promote", "note", "patterns", "--stage", "ghost"),
            ("memory", "promote", "--stage", "ghost", "--", "note", "patterns"),
        ),
        (
            ("memory", "promote", "decision", "patterns"),
            ("memory", "promote", "--", "decision", "patterns"),
        ),
    ]
    for fast_form, click_form in pairs:
        fast, fast_click = _both_paths(loom, *fast_form)
        knowledge_file = project / KDIR / "mistakes.md"
        before = knowledge_file.read_text() if knowledge_file.exists() else ""
        slow, slow_click = _both_paths(loom, *click_form)
        if fast_form[:2] == ("knowledge", "update") and fast[0] == 0:
            text = " ".join(fast_form[3:])
            assert (
                knowledge_file.read_text().count(f"\n{text}\n") == before.count(f"\n{text}\n") + 1
            )
        assert (fast_click, slow_click) == (False, True), fast_form
        assert fast == slow, fast_form
        assert "Traceback" not in fast[2]
    # inside a session, the stage comes from $LOOM_STAGE_ID
    loom("memory", "note", "--stage", stage_id, "a late note", check=True)
    (code, out, _err), used_click = _both_paths(
        loom, "memory", "promote", "all", "mistakes", env={"LOOM_STAGE_ID": stage_id}
    )
    assert (code, used_click) == (0, False)
    assert out == f"promoted 1 of stage {stage_id}'s entries to {KDIR}/mistakes.md\n"
