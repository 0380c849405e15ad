"""Shared fixtures: real git repositories in temporary directories and the real `loom` CLI.

Nothing here mocks git or the CLI: repositories are made with pygit2 and `loom` runs as a
subprocess, exactly as an agent in a tmux pane runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PLAN = REPO_ROOT / "loom_tui" / "samples" / "PLAN-0001-wordcount.md"
LOOM = str(Path(sys.executable).parent / "loom")
SIGNATURE = pygit2.Signature("loom tests", "tests@loom.invalid")


def _rank(item: pytest.Item) -> int:
    """0 for the tests marked slow, 1 for the plans run for real (`make_project`), 2 otherwise."""
    if item.get_closest_marker("slow") is not None:
        return 0
    if "make_project" in getattr(item, "fixturenames", ()):
        return 1
    return 2


@pytest.hookimpl(trylast=True)  # after `-m` and `--deselect` took their tests out
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``-n N --dist worksteal``, as `make test` runs), deal the tests out.

    worksteal first splits the collection into N consecutive slices, one per worker, and later
    lets an idle worker take the back half of a busy worker's queue.  So the order is built as N
    lanes of those sizes: each lane starts with its share of the tests marked slow (dealt out in
    turn, so that no worker gets two of the longest), and holds its share of the plans run for
    real (which mostly wait on their agents) at even intervals among its share of the other tests
    (mostly busy on the CPU), each share dealt out in turn.  A serial run keeps the collected
    order; the order of the tests never matters to what they check.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if workers < 2 or len(items) < 2 * workers:
        return
    groups: list[list[pytest.Item]] = [[], [], []]
    for item in items:
        groups[_rank(item)].append(item)
    slow, runs, short = groups
    sizes = []
    left = len(items)
    for i in range(workers):  # as worksteal splits the pending tests among idle workers
        sizes.append(left // (workers - i))
        left -= sizes[-1]
    heads = [slow[i::workers] for i in range(workers)]
    spreads = [runs[i::workers] for i in range(workers)]
    # the other tests dealt out in turn too (so that each lane gets a like mix of cheap and
    # costly ones), up to each lane's size
    room = [max(0, sizes[i] - len(heads[i]) - len(spreads[i])) for i in range(workers)]
    fills: list[list[pytest.Item]] = [[] for _ in range(workers)]
    lane = 0
    for item in short:
        for _ in range(workers):
            if len(fills[lane]) < room[lane]:
                break
            lane = (lane + 1) % workers
        fills[lane].append(item)  # (all lanes full can only mean sizes were off: still kept)
        lane = (lane + 1) % workers
    ordered: list[pytest.Item] = []
    for head, spread, fill in zip(heads, spreads, fills, strict=True):
        # the plans run for real at even intervals among the short tests
        step = (len(fill) + 1) / (len(spread) + 1)
        at = 0
        ordered.extend(head)
        for n, item in enumerate(spread, start=1):
            upto = min(len(fill), round(n * step))
            ordered.extend(fill[at:upto])
            ordered.append(item)
            at = upto
        ordered.extend(fill[at:])
    assert sorted(map(id, ordered)) == sorted(map(id, items))
    items[:] = ordered


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's environment out of the tests.

    COLUMNS and LINES too: pytest-xdist's workers have COLUMNS=80 and LINES=24 in their
    environment, which every `loom` started from a test would inherit (a TUI in a 120-column tmux
    pane would draw itself 80 columns wide).
    """
    for name in (
        "LOOM_WORK_DIR",
        "LOOM_STAGE_ID",
        "LOOM_SESSION_ID",
        "TMUX",
        "TMUX_PANE",
        "COLUMNS",
        "LINES",
    ):
        monkeypatch.delenv(name, raising=False)


def make_repo(path: Path, files: dict[str, str] | None = None, branch: str = "main") -> Path:
    """A git repository at ``path`` with one commit holding ``files``."""
    path.mkdir(parents=True, exist_ok=True)
    repo = pygit2.init_repository(str(path), initial_head=branch)
    for name, content in (files or {"README.md": "# demo project\n"}).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        repo.index.add(name)
    repo.index.write()
    tree = repo.index.write_tree()
    repo.create_commit("HEAD", SIGNATURE, SIGNATURE, "initial commit", tree, [])
    return path


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """An empty-ish git repository on branch main with one commit."""
    return make_repo(tmp_path / "repo")


@pytest.fixture
def sample_plan(git_repo: Path) -> Path:
    """The bundled sample plan, copied into the repository's doc/plans/."""
    target = git_repo / "doc" / "plans" / SAMPLE_PLAN.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLE_PLAN, target)
    return target


RunLoom = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def loom(git_repo: Path) -> RunLoom:
    """Run the real `loom` console script in the repository; returns the CompletedProcess."""

    def run(
        *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
        full_env.update(env or {})
        proc = subprocess.run(
            [LOOM, *args],
            cwd=cwd or git_repo,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"loom {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    return run


def init_with_plan(root: Path, source: Path) -> None:
    """Copy the plan ``source`` into ``root``'s doc/plans/ and run the real `loom init` on it."""
    plan = root / "doc" / "plans" / source.name
    plan.parent.mkdir(parents=True)
    shutil.copy(source, plan)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOM_", "TMUX"))}
    proc = subprocess.run(
        [LOOM, "init", str(plan.relative_to(root))],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"loom init: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="session")
def initialised_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository initialised with the sample plan by the real `loom init`, once per session
    (per xdist worker): the `project` fixture copies what it wrote instead of running it again."""
    root = make_repo(tmp_path_factory.mktemp("template") / "repo")
    init_with_plan(root, SAMPLE_PLAN)
    from loom_tui.core.config import read_config
    from loom_tui.core.init_project import tmux_socket_name

    # The one thing `loom init` writes that depends on where the project is: the socket's name.
    assert read_config(str(root / ".work")).tmux_socket == tmux_socket_name(str(root))
    return root


@pytest.fixture
def project(git_repo: Path, sample_plan: Path, initialised_template: Path) -> Path:
    """A repository initialised with the sample plan; returns the repository root.

    What `loom init` writes (`.work/` and the two lines it adds to `.git/info/exclude`) is copied
    from the session's template, which the real `loom init` made; the private tmux socket, named
    from the project's path, is renamed for this repository, exactly as `loom init` here would
    name it.  Every file is written afresh (no modification times carried over).
    """
    from loom_tui.core.init_project import tmux_socket_name

    template = initialised_template
    shutil.copytree(template / ".work", git_repo / ".work", copy_function=shutil.copyfile)
    shutil.copyfile(template / ".git" / "info" / "exclude", git_repo / ".git" / "info" / "exclude")
    config = git_repo / ".work" / "config.toml"
    text = config.read_text(encoding="utf-8")
    old, new = tmux_socket_name(str(template)), tmux_socket_name(str(git_repo))
    assert text.count(old) == 1, text
    config.write_text(text.replace(old, new), encoding="utf-8")
    return git_repo
