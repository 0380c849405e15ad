"""The diff screen (`d`): every key through Textual's Pilot, and SVG snapshots at three sizes.

The fixture project's `tokenizer` stage gets real work on a real branch: two commits made with a
fixed author and fixed dates on `loom/tokenizer` (added, modified and binary files), and
uncommitted changes in its worktree (`.worktrees/tokenizer`, made by loom's own
`ensure_worktree`).  The base branch's commit is made again with a fixed date too, so every
commit id, and so every snapshot, is the same on each run.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pygit2
import pytest
from textual.pilot import Pilot

from loom_tui.core import git
from loom_tui.tui.app import LoomApp
from loom_tui.tui.keys import KEYS
from loom_tui.tui.screens.diff_screen import DIFF_KEYS, DiffScreen
from loom_tui.tui.screens.help_screen import HelpScreen
from loom_tui.tui.screens.main_screen import MainScreen
from loom_tui.tui.screens.stage_screen import StageScreen
from loom_tui.tui.widgets.diff_view import DiffView
from tests.tui.conftest import MINUTE, NOW, AppFactory, TuiProject

SIZES = {"wide": (160, 45), "medium": (80, 24), "small": (40, 12)}
SIZE = (120, 40)
WAIT = 20.0
SnapCompare = Callable[..., bool]

TOKENIZE_PY = '''\
"""Split text into words."""

import re

WORD = re.compile(r"[a-z0-9']+")


def tokenize(text: str) -> list[str]:
    """The words of ``text``, lower-cased; apostrophes inside words are kept."""
    return WORD.findall(text.lower())
'''

TEST_TOKENIZE_PY = "".join(
    [
        "from wordcount.tokenize import tokenize\n",
        "\n\n",
        "def test_words_are_lower_cased():\n",
        '    assert tokenize("Hello World") == ["hello", "world"]\n',
        "\n\n",
        "def test_apostrophes_stay_inside_words():\n",
        '    assert tokenize("don\'t stop") == ["don\'t", "stop"]\n',
    ]
    + [
        f"\n\ndef test_number_{i}():\n    assert tokenize('{i} apples') == ['{i}', 'apples']\n"
        for i in range(12)
    ]
)


def _signature(minutes_ago: float) -> pygit2.Signature:
    return pygit2.Signature("Ada Agent", "ada@loom.invalid", int(NOW - minutes_ago * MINUTE), 0)


def _commit_in(path: Path, message: str, minutes_ago: float, files: dict[str, str | bytes]) -> None:
    """Write ``files`` in the checkout at ``path`` and commit all its changes, at a fixed date."""
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    repo = pygit2.Repository(str(path))
    repo.index.add_all()
    repo.index.write()
    tree = repo.index.write_tree()
    sig = _signature(minutes_ago)
    repo.create_commit("HEAD", sig, sig, message, tree, [repo.head.target])


def _fixed_base(root: Path) -> None:
    """`main`'s one commit made again with a fixed date (the same tree: the checkout is as it
    was), so that the stage's commits, whose ids name their parent, have fixed ids too."""
    repo = pygit2.Repository(str(root))
    main = repo.branches.local["main"]
    old = main.peel(pygit2.Commit)
    sig = _signature(3 * 24 * 60)
    commit = repo.create_commit(None, sig, sig, "initial commit\n", old.tree_id, [])
    main.set_target(commit)


def add_tokenizer_work(root: Path) -> Path:
    """Two commits on `loom/tokenizer` and uncommitted work in its worktree; the worktree."""
    _fixed_base(root)
    wt = Path(git.ensure_worktree(str(root), "tokenizer", "main"))
    _commit_in(
        wt,
        "tokenizer: split words with a regular expression",
        25,
        {"wordcount/__init__.py": "", "wordcount/tokenize.py": TOKENIZE_PY},
    )
    _commit_in(
        wt,
        "tokenizer: tests, and the README says how to run them",
        9,
        {
            "tests/test_tokenize.py": TEST_TOKENIZE_PY,
            "README.md": "# demo project\n\nRun the tests with `pytest -q`.\n",
            "docs/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10",
        },
    )
    (wt / "wordcount" / "tokenize.py").write_text(
        TOKENIZE_PY.replace('WORD = re.compile(r"[a-z0-9\']+")', 'WORD = re.compile(r"[\\w\']+")')
    )
    (wt / "NOTES.md").write_text("- strip apostrophes at the ends of words\n")
    return wt


@pytest.fixture
def diff_project(tui_project: TuiProject) -> TuiProject:
    add_tokenizer_work(tui_project.root)
    return tui_project


# ------------------------------------------------------------------------------------------------
# Helpers


async def workers_done(app: LoomApp) -> None:
    """Wait for the workers that end (the diff's, the snapshot's): not the one that follows
    other processes' changes (group "watch"), which runs until the app ends."""
    busy = [w for w in app.workers if w.group != "watch"]
    if busy:  # (an empty list would mean "every worker")
        await app.workers.wait_for_complete(busy)


def screen_text(app: LoomApp) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def diff_shown(pilot: Pilot[Any]) -> DiffScreen:
    """Wait for the diff screen to have its diff computed and its file drawn."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen), "the diff screen")
    screen = app.screen
    assert isinstance(screen, DiffScreen)
    await wait_for(pilot, lambda: screen.diff is not None or screen.error is not None, "a diff")
    await workers_done(app)
    await pilot.pause()
    return screen


async def open_diff(app: LoomApp, pilot: Pilot[Any], stage_id: str = "tokenizer") -> DiffScreen:
    await wait_for(pilot, lambda: app.snapshot is not None, "the first snapshot")
    await workers_done(app)
    assert isinstance(app.screen, MainScreen)
    app.screen.select(stage_id)
    await pilot.pause()
    await pilot.press("d")
    return await diff_shown(pilot)


def selected(screen: DiffScreen) -> str:
    section, change = screen._entries[screen._cursor]
    return f"{section}:{change.path}"


def body(screen: DiffScreen) -> list[str]:
    return [line.plain for line in screen.query_one(DiffView).lines]


# ------------------------------------------------------------------------------------------------
# Opening it: d on the main screen and on the stage screen


async def test_d_opens_the_selected_stage_s_diff(make_app: AppFactory, diff_project: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(app, pilot)
        assert screen.stage_id == "tokenizer"
        diff = screen.diff
        assert diff is not None
        assert [c.subject for c in diff.commits] == [
            "tokenizer: tests, and the README says how to run them",
            "tokenizer: split words with a regular expression",
        ]
        assert [change.path for _, change in screen._entries] == [
            "README.md",
            "docs/logo.png",
            "tests/test_tokenize.py",
            "wordcount/__init__.py",
            "wordcount/tokenize.py",
            "NOTES.md",
            "wordcount/tokenize.py",
        ]
        text = screen_text(app)
        assert "tokenizer: split words with a regular expression" in text
        assert "Ada Agent" in text and "25m" in text
        assert "5 files +69 −0" in text
        assert "2 uncommitted" in text
        assert "M README.md +2 −0" in text
        assert body(screen)[0] == "modified README.md  +2 −0"
        assert "+Run the tests with `pytest -q`." in body(screen)


async def test_d_on_the_stage_screen_opens_its_stage_s_diff(
    make_app: AppFactory, diff_project: Any
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, "the first snapshot")
        assert isinstance(app.screen, MainScreen)
        app.screen.select("tokenizer")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, StageScreen), "the stage screen")
        await pilot.press("d")
        screen = await diff_shown(pilot)
        assert screen.stage_id == "tokenizer"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, StageScreen)


async def test_a_stage_without_a_branch_says_so_until_it_has_one(
    make_app: AppFactory, diff_project: TuiProject
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(app, pilot, "release")
        text = screen_text(app)
        assert "no branch yet: loom/release is made when the stage starts" in text
        assert "Stage release has no branch yet" in text
        await pilot.press("j", "w", "space", "w")  # nothing to move through: nothing breaks
        await pilot.pause()
        assert screen.error is None
        # the stage starts: its branch and worktree are made, and its agent writes a file
        wt = Path(git.ensure_worktree(str(diff_project.root), "release", "main"))
        (wt / "RELEASE.md").write_text("v1\n")
        screen.refresh_diff()
        await wait_for(pilot, lambda: bool(screen._entries), "the new branch's diff")
        await workers_done(app)
        await pilot.pause()
        assert selected(screen) == "w:RELEASE.md"
        assert "0 commits · 0 files +0 −0 · 1 uncommitted" in screen_text(app)


async def test_a_merged_stage_whose_branch_was_removed_shows_what_its_merge_brought(
    make_app: AppFactory, diff_project: TuiProject
) -> None:
    root = str(diff_project.root)
    result = git.merge_stage(root, "tokenizer", "main")
    assert result.status == "merged"
    git.remove_worktree(root, "tokenizer", delete_branch=True)  # as loom does after a merge
    diff_project.set_stage(
        "tokenizer", status="completed", merged=True, merge_commit=result.commit, worktree=None
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_diff(app, pilot)
        text = screen_text(app)
        # the uncommitted work was committed by the merge: 3 commits, 6 files
        assert "3 commits · 6 files +70 −0 · no worktree" in text
        assert f"merged in {(result.commit or '')[:7]}" in text
        assert "loom: work left uncommitted in stage tokenizer" in text


async def test_a_started_stage_without_a_branch_says_it_is_gone(
    make_app: AppFactory, diff_project: TuiProject
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_diff(app, pilot, "counter")  # generation 3, but no branch in the fixture
        assert "loom/counter no longer exists, and no merge of it is known here" in (
            screen_text(app)
        )


async def test_files_past_the_limit_are_counted_in_the_list(
    make_app: AppFactory, diff_project: TuiProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loom_tui.core import stage_diff as module

    monkeypatch.setattr(module, "MAX_FILES", 2)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(app, pilot)
        assert len(screen._entries) == 4  # 2 committed, 2 uncommitted
        assert "… 3 more file(s) not listed" in screen_text(app)


# ------------------------------------------------------------------------------------------------
# The keys of the diff screen


@pytest.mark.parametrize(("down", "up"), [("j", "k"), ("down", "up")])
async def test_j_k_and_the_arrows_move_between_files(
    make_app: AppFactory, diff_project: Any, down: str, up: str
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(app, pilot)
        assert selected(screen) == "c:README.md"
        await pilot.press(down, down)
        await workers_done(app)
        await pilot.pause()
        assert selected(screen) == "c:tests/test_tokenize.py"
        assert body(screen)[0] == "added tests/test_tokenize.py  +57 −0"
        await pilot.press(up)
        await workers_done(app)
        await pilot.pause()
        assert selected(screen) == "c:docs/logo.png"
        assert body(screen) == ["added docs/logo.png", "binary file: its content is not shown"]
        for _ in range(10):  # past the end: it stays on the last file
            await pilot.press(down)
        await workers_done(app)
        await pilot.pause()
        assert selected(screen) == "w:wordcount/tokenize.py"
        assert '-WORD = re.compile(r"[a-z0-9\']+")' in body(screen)
        assert '+WORD = re.compile(r"[\\w\']+")' in body(screen)


@pytest.mark.parametrize(("down", "up"), [("space", "b"), ("pagedown", "pageup")])
async def test_space_and_pgdn_scroll_the_diff(
    make_app: AppFactory, diff_project: Any, down: str, up: str
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(app, pilot)
        await pilot.press("j", "j")  # tests/test_tokenize.py: longer than the view
        await workers_done(app)
        await pilot.pause()
        view = screen.query_one(DiffView)
        assert view.max_scroll_y > 0
        assert view.scroll_y == 0
        await pilot.press(down)
        await pilot.pause()
        assert view.scroll_y > 0
        first = view.scroll_y
        await pilot.press(up)
        await pilot.pause()
        assert view.scroll_y < first
        await pilot.press("j")  # another file starts at its top
        await workers_done(app)
        await pilot.press("k", down, "end")
        await workers_done(app)
        await pilot.pause()
        assert view.scroll_y == view.max_scroll_y
        await pilot.press("home")
        await pilot.pause()
        assert view.scroll_y == 0


async def test_left_and_right_scroll_a_wide_diff_sideways(
    make_app: AppFactory, diff_project: Any
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_diff(app, pilot)
        await pilot.press("j", "j", "j", "j")  # wordcount/tokenize.py: a long docstring line
        await workers_done(app)
        await pilot.pause()
        view = screen.query_one(DiffView)
        assert view.max_scroll_x > 0
        await pilot.press("right")
        await pilot.pause()
        assert view.scroll_x == min(8, view.max_scroll_x) > 0
        await pilot.press("left", "left")
        await pilot.pause()
        assert view.scroll_x == 0


async def test_w_hides_and_shows_the_uncommitted_changes(
    make_app: AppFactory, diff_project: Any
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(app, pilot)
        assert [s for s, _ in screen._entries].count("w") == 2
        await pilot.press("w")
        await workers_done(app)
        await pilot.pause()
        assert [s for s, _ in screen._entries].count("w") == 0
        assert "uncommitted hidden (w)" in screen_text(app)
        assert "NOTES.md" not in screen_text(app)
        await pilot.press("w")
        await workers_done(app)
        await pilot.pause()
        assert [s for s, _ in screen._entries].count("w") == 2
        assert "NOTES.md" in screen_text(app)


@pytest.mark.parametrize("key", ["escape", "q"])
async def test_escape_and_q_go_back(make_app: AppFactory, diff_project: Any, key: str) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_diff(app, pilot)
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert app.return_code is None  # q went back, it did not quit loom


async def test_the_footer_shows_the_diff_keys(make_app: AppFactory, diff_project: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_diff(app, pilot)
        footer = screen_text(app).splitlines()[-1]
        for label in ("j/k files", "space scroll", "w working tree", "esc back"):
            assert label in footer, footer


async def test_the_help_screen_lists_d_and_the_diff_keys(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 60)) as pilot:  # tall enough for the whole list
        await wait_for(pilot, lambda: app.snapshot is not None, "the first snapshot")
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        d = next(k for k in KEYS if k.key == "d")
        assert d.help[:30] in text
        for keys, what in DIFF_KEYS:
            assert keys in text and what[:30] in text, (keys, what)


async def test_the_palette_offers_the_diff(make_app: AppFactory, diff_project: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, "the first snapshot")
        screen = app.screen
        assert isinstance(screen, MainScreen)
        commands = {c.title: c for c in app.get_system_commands(screen)}
        screen.select("tokenizer")
        await commands["Diff (d)"].callback()
        await diff_shown(pilot)


# ------------------------------------------------------------------------------------------------
# Refreshing while the agent works, and failures


async def test_new_work_in_the_worktree_shows_on_the_next_refresh(
    make_app: AppFactory, diff_project: TuiProject
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(app, pilot)
        before = screen.diff
        screen.refresh_diff()  # nothing changed: the same diff is kept, nothing is redrawn
        await workers_done(app)
        await pilot.pause()
        assert screen.diff is before
        (diff_project.root / ".worktrees" / "tokenizer" / "CHANGELOG.md").write_text("- words\n")
        screen.refresh_diff()
        await wait_for(pilot, lambda: screen.diff is not before, "the new diff")
        await workers_done(app)
        await pilot.pause()
        assert "CHANGELOG.md" in [c.path for s, c in screen._entries if s == "w"]
        assert "3 uncommitted" in screen_text(app)
        assert selected(screen) == "c:README.md"  # the selection stays where it was


async def test_the_selected_file_stays_selected_and_scrolled_across_a_refresh(
    make_app: AppFactory, diff_project: TuiProject
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(app, pilot)
        await pilot.press("j", "j", "space")
        await workers_done(app)
        await pilot.pause()
        view = screen.query_one(DiffView)
        scrolled = view.scroll_y
        assert scrolled > 0
        (diff_project.root / ".worktrees" / "tokenizer" / "NOTES.md").write_text("- more\n")
        before = screen.diff
        screen.refresh_diff()
        await wait_for(pilot, lambda: screen.diff is not before, "the new diff")
        await workers_done(app)
        await pilot.pause()
        assert selected(screen) == "c:tests/test_tokenize.py"
        assert view.scroll_y == scrolled


async def test_a_failure_is_shown_on_the_screen(
    make_app: AppFactory, diff_project: TuiProject
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(app, pilot)
        # the worktree's link to the repository broken: pygit2 cannot open it
        (diff_project.root / ".worktrees" / "tokenizer" / ".git").write_text("gitdir: /nowhere\n")
        screen.refresh_diff()
        await wait_for(pilot, lambda: screen.error is not None, "the error")
        await pilot.pause()
        assert "cannot compute the diff" in screen_text(app)
        assert isinstance(app.screen, DiffScreen)  # the app goes on


async def test_a_theme_change_redraws_the_diff_in_the_new_theme(
    make_app: AppFactory, diff_project: Any
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(app, pilot)
        view = screen.query_one(DiffView)
        added = next(line for line in view.lines if line.plain.startswith("+"))
        dark_background = added.style
        app.theme = "loom-light"

        def first_added() -> object:
            return next(line for line in view.lines if line.plain.startswith("+")).style

        await wait_for(pilot, lambda: first_added() != dark_background, "the light theme")
        assert not view.diff_styles().dark
        assert first_added() == view.diff_styles().added


# ------------------------------------------------------------------------------------------------
# Snapshots


def after_d(stage_id: str = "tokenizer") -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, LoomApp)
        await open_diff(app, pilot, stage_id)
        await pilot.press("j", "j", "j", "j")  # wordcount/tokenize.py: highlighted Python
        await workers_done(app)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", list(SIZES))
def test_diff_screen_snapshot(
    snap_compare: SnapCompare, make_app: AppFactory, diff_project: Any, size: str
) -> None:
    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=after_d())
