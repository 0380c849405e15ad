"""The simulated resolver's conflict resolution: both sides kept, no markers left."""

from __future__ import annotations

from loom_tui.core.resolved_check import marker_files
from loom_tui.simagent.resolver import keep_both


def test_both_sides_are_kept_ours_first_with_no_markers() -> None:
    text = "top\n<<<<<<< HEAD\nmine\nshared\n=======\ntheirs\nshared\n>>>>>>> main\nbottom\n"
    assert keep_both(text) == "top\nmine\nshared\ntheirs\nbottom\n"


def test_a_diff3_base_section_is_dropped() -> None:
    text = "<<<<<<< ours\na\n||||||| base\nold\n=======\nb\n>>>>>>> theirs\n"
    assert keep_both(text) == "a\nb\n"


def test_text_without_conflicts_is_unchanged() -> None:
    assert keep_both("a\n=== not a marker\n") == "a\n=== not a marker\n"


def test_marker_files_names_the_files_still_in_conflict(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "done.txt").write_text("both\n")
    (tmp_path / "left.txt").write_text("<<<<<<< HEAD\na\n=======\nb\n>>>>>>> main\n")
    assert marker_files(str(tmp_path), ["done.txt", "left.txt", "gone.txt"]) == ["left.txt"]


def test_the_resolver_signal_says_what_to_do_and_names_the_files() -> None:
    from loom_tui.core.model import SessionRecord, StageRecord
    from loom_tui.core.resolver_signal import RESOLVER_HEADING, render_resolver_signal

    stage = StageRecord(
        id="api",
        name="API",
        status="executing",
        description="Build the API.",
        acceptance=["pytest -q"],
        resolving=True,
        resolver_attempts=2,
        conflict_files=["app.py", "routes.py"],
    )
    text = render_resolver_signal(
        stage, SessionRecord(id="s9", stage_id="api", generation=3), "main", "/wt/api"
    )
    assert RESOLVER_HEADING in text
    for needed in (
        "`git merge main`",
        "`app.py`",
        "`routes.py`",
        "keeping both intents",
        "`pytest -q`",
        "`loom merge api`",
        "resolver attempt 2",
        "Build the API.",
    ):
        assert needed in text, needed
