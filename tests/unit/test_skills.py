"""`core/skills.py`: the index of the bundled skills and the few that fit a stage.

Most tests match against the real bundled library (`skills/*/SKILL.md`), so that a trigger added
to a skill that makes a common word suggest it shows up here; a few use skills written into a
temporary folder to pin the scoring rules down exactly.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from loom_tui.core import skills
from loom_tui.core.model import StageRecord
from loom_tui.core.skills import Skill, match_skills, signal_section, wildcard_match, words

REPO_ROOT = Path(__file__).resolve().parents[2]


def stage(
    description: str,
    name: str = "Stage",
    files: list[str] | None = None,
    acceptance: list[str] | None = None,
    stage_id: str = "s1",
) -> StageRecord:
    return StageRecord(
        id=stage_id,
        name=name,
        description=description,
        files=files or [],
        acceptance=acceptance or [],
        status="executing",
    )


def names(found: list[Skill]) -> list[str]:
    return [s.name for s in found]


def write_skill(folder: Path, name: str, front: str) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "SKILL.md").write_text(f"---\nname: {name}\n{front}---\n\n# {name}\n")


# --------------------------------------------------------------------------------------------------
# The index


def test_the_index_holds_every_bundled_skill_once() -> None:
    found = skills.load_skills()
    on_disk = sorted(p.parent.name for p in (REPO_ROOT / "skills").glob("*/SKILL.md"))
    assert [s.name for s in found] == on_disk
    python = next(s for s in found if s.name == "python")
    assert "pytest" in python.triggers and "*.py" in python.files
    assert python.path == str(REPO_ROOT / "skills" / "python" / "SKILL.md")
    assert skills.load_skills() is found  # read once per process


def test_a_broken_or_nameless_skill_is_left_out(tmp_path: Path) -> None:
    write_skill(tmp_path, "good", "description: Fine.\n")
    (tmp_path / "nameless").mkdir()
    (tmp_path / "nameless" / "SKILL.md").write_text("---\ndescription: no name\n---\n")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "SKILL.md").write_text("---\nname: [unclosed\n---\n")
    (tmp_path / "unterminated").mkdir()
    (tmp_path / "unterminated" / "SKILL.md").write_text("---\nname: x\n")
    (tmp_path / "no-skill-file").mkdir()
    assert names(list(skills.load_skills([str(tmp_path), str(tmp_path / "missing")]))) == ["good"]


def test_the_summary_is_the_descriptions_first_sentence() -> None:
    skill = Skill("x", "Does one thing well.  Use it\nwhen asked. More.", "/x")
    assert skill.summary == "Does one thing well."
    assert Skill("y", "No full stop", "/y").summary == "No full stop"


# --------------------------------------------------------------------------------------------------
# Matching the bundled library


def test_the_files_in_scope_suggest_their_language() -> None:
    assert names(match_skills(stage("Split text into words.", files=["wordcount/*.py"]))) == [
        "python"
    ]
    assert "rust" in names(match_skills(stage("Parse the header.", files=["src/**/*.rs"])))
    assert "go" in names(match_skills(stage("Add the handler.", files=["cmd/api/main.go"])))
    assert "typescript" in names(match_skills(stage("Build the page.", files=["web/App.tsx"])))


def test_words_and_phrases_in_the_description_suggest_their_skills() -> None:
    found = names(
        match_skills(
            stage(
                "Add a GitHub Actions workflow that builds the Dockerfile and runs the tests.",
                files=[".github/workflows/ci.yml", "Dockerfile"],
            )
        )
    )
    assert found[:2] == ["ci-cd", "docker"] and "testing" in found


def test_a_prefix_trigger_takes_longer_words() -> None:
    assert "refactoring" in names(match_skills(stage("Refactored modules, please.")))
    assert "debugging" in names(match_skills(stage("The importer crashes on empty rows.")))


def test_a_trigger_inside_another_word_does_not_count() -> None:
    # "token" in "tokenizer", "doc" in "docker", "pod" in "podcast", "api" in "rapid"
    found = names(match_skills(stage("A rapid tokenizer for podcast transcripts in docker.")))
    assert "secrets-management" not in found
    assert "kubernetes" not in found
    assert "api-design" not in found
    assert "documentation" not in found


def test_commands_alone_never_decide() -> None:
    assert match_skills(stage("Do the work.", acceptance=["pytest -q tests/", "npm test"])) == []


def test_commands_tip_the_balance_between_equal_skills(tmp_path: Path) -> None:
    write_skill(tmp_path, "aaa", 'description: A.\ntriggers: ["widget"]\n')
    write_skill(tmp_path, "zzz", 'description: Z.\ntriggers: ["widget", "zed"]\n')
    pool = skills.load_skills([str(tmp_path)])
    assert names(match_skills(stage("Build the widget."), pool)) == ["aaa", "zzz"]
    tipped = stage("Build the widget.", acceptance=["zed --check"])
    assert names(match_skills(tipped, pool)) == ["zzz", "aaa"]


def test_case_and_punctuation_do_not_matter() -> None:
    assert "ci-cd" in names(match_skills(stage("Set up CI/CD for the repo.")))
    assert "typescript" in names(match_skills(stage("Port it to Node.JS.")))


def test_at_most_five_best_first() -> None:
    busy = stage(
        "Add structured logging, Prometheus metrics and OpenTelemetry tracing to the Go "
        "worker, behind the REST API, with a Dockerfile, a Terraform module and tests.",
        files=["worker/*.go", "Dockerfile", "infra/*.tf"],
    )
    found = match_skills(busy)
    assert len(found) == skills.MAX_SKILLS
    text = words(f"{busy.id} {busy.name} {busy.description}")
    scores = [skills.score(s, text, words(""), [f.lower() for f in busy.files]) for s in found]
    assert scores == sorted(scores, reverse=True)
    assert scores[-1] >= skills.THRESHOLD


def test_a_stage_with_nothing_recognisable_matches_nothing() -> None:
    assert match_skills(stage("Do the work of s1.", acceptance=["test -s sim/s1.md"])) == []
    assert signal_section(stage("Do the work of s1.")) == []


def test_the_plan_writer_fits_a_stage_that_writes_a_plan() -> None:
    found = names(
        match_skills(stage("Write a loom plan for the migration.", files=["doc/plans/*.md"]))
    )
    assert found[0] == "loom-plan-writer"


# --------------------------------------------------------------------------------------------------
# The signal's section


def test_the_section_names_each_skill_with_its_summary_and_file() -> None:
    lines = signal_section(stage("Write docs/usage.md with examples.", files=["docs/**"]))
    assert lines[:3] == ["", "## Skills", ""]
    assert "Skill tool" in lines[3] and "loom install" in lines[3]
    path = REPO_ROOT / "skills" / "documentation" / "SKILL.md"
    doc = next(line for line in lines if line.startswith("- `documentation`"))
    assert doc.endswith(f"(`{path}`)")
    assert ": Writing documentation people use" in doc
    assert len([line for line in lines if line.startswith("- ")]) <= skills.MAX_SKILLS


def test_a_failure_while_matching_leaves_the_section_out(tmp_path: Path) -> None:
    class Broken(Skill):
        @property
        def needles(self) -> tuple[str, ...]:  # type: ignore[override]
            raise RuntimeError("boom")

    assert signal_section(stage("Anything."), (Broken("b", "B.", "/b"),)) == []


# --------------------------------------------------------------------------------------------------
# The wildcard matcher is fnmatch without a compiled regular expression

_ALPHABET = "ab./*"


@given(
    st.text(alphabet="ab./", max_size=8),
    st.text(alphabet=_ALPHABET, max_size=6),
)
def test_wildcard_match_agrees_with_fnmatch(name: str, pattern: str) -> None:
    assert wildcard_match(name, pattern) == fnmatch.fnmatchcase(name, pattern)


def test_wildcard_match_on_stage_globs() -> None:
    assert wildcard_match("src/**/*.py", "*.py")
    assert wildcard_match("dockerfile", "dockerfile*")
    assert wildcard_match(".github/workflows/ci.yml", ".github/workflows/*")
    assert not wildcard_match("db/**", "*.sql")
    assert wildcard_match("a[1].txt", "a[[]1].txt")  # other wildcards: fnmatch


# --------------------------------------------------------------------------------------------------
# Skills the stage names itself (`skills:`, as in the original's plans)


def test_the_skills_a_stage_names_come_first_then_the_matched_ones() -> None:
    named = stage("Add a Dockerfile.", files=["Dockerfile"])
    named.skills = ["loom-rust", "testing", "my-own-skill", "rust"]
    found = match_skills(named)
    assert names(found) == ["rust", "testing", "my-own-skill", "docker"]
    assert found[0].path == str(REPO_ROOT / "skills" / "rust" / "SKILL.md")
    lines = signal_section(named)
    assert "- `my-own-skill`: named by the plan (not one of loom's skills)" in lines
    assert lines[-1].startswith("- `docker`: ")


def test_named_skills_count_toward_the_five() -> None:
    named = stage("Add a Dockerfile and a GitHub Actions workflow.", files=["Dockerfile"])
    named.skills = ["a", "b", "c", "d"]
    assert names(match_skills(named)) == ["a", "b", "c", "d", "docker"]
    named.skills = ["a", "b", "c", "d", "e", "f"]
    assert names(match_skills(named)) == ["a", "b", "c", "d", "e"]
