"""`loom worktree list|clean`, `loom clean [--all]` and `loom install`, through the real CLI.

Worktrees are real: made by running a stage with the simulated agent (`Project.run_headless`) or
with `loom_tui.core.git.ensure_worktree`; commits are made with pygit2 and explicit signatures
(CI has no git identity).  A running scheduler is a real `loom run --headless` whose stage stalls.
`loom install` runs with a temporary HOME.  Waits are correctness waits (`Project.wait_until`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pygit2
import pytest

from loom_tui.core import git
from loom_tui.core.control import scheduler_pid
from loom_tui.core.install import MANIFEST
from tests.conftest import LOOM, REPO_ROOT, SIGNATURE
from tests.integration.conftest import MakeProject
from tests.integration.engine import Project, kill_process_group, sim_stage

# --------------------------------------------------------------------------------------------------
# Helpers


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stdout.splitlines() if line.strip()]


def commit_file(worktree: Path, name: str, content: str) -> None:
    """Commit one file on the worktree's branch (pygit2, explicit signature)."""
    repo = pygit2.Repository(str(worktree))
    (worktree / name).write_text(content)
    repo.index.add(name)
    repo.index.write()
    tree = repo.index.write_tree()
    repo.create_commit("HEAD", SIGNATURE, SIGNATURE, f"add {name}", tree, [repo.head.target])


def branches(project: Project) -> set[str]:
    return set(pygit2.Repository(str(project.root)).branches.local)


def registered(project: Project) -> set[str]:
    return set(pygit2.Repository(str(project.root)).list_worktrees())


def worktree(project: Project, stage_id: str) -> Path:
    return Path(git.ensure_worktree(str(project.root), stage_id, "main"))


def table(proc: subprocess.CompletedProcess[str]) -> dict[str, list[str]]:
    rows = [line.split() for line in lines(proc)]
    assert rows[0] == ["stage", "path", "branch", "exists", "status", "ahead"], proc.stdout
    return {row[0]: row[1:] for row in rows[1:]}


def four_stages(make_project: MakeProject) -> Project:
    """Stages a..d, none merged automatically; stage a run by the simulated agent (its branch
    holds one commit the base does not)."""
    project = make_project([sim_stage(s) for s in "abcd"], auto_merge=False)
    ok(project.run_headless("--stage", "a"))
    assert project.stage("a").status.value == "completed"
    # The run leaves stage a's session record `running` although its agent is done (see the
    # report); end it the documented way so that nothing here depends on that.
    ok(project.loom("stop", "--kill-sessions"))
    return project


# --------------------------------------------------------------------------------------------------
# loom worktree list


def test_worktree_list_shows_worktrees_branches_and_stale_records(
    make_project: MakeProject,
) -> None:
    project = make_project([sim_stage("a"), sim_stage("b")], auto_merge=False)
    assert ok(project.loom("worktree", "list")).stdout == "no stage worktrees or loom/* branches\n"
    ok(project.run_headless("--stage", "a"))
    worktree(project, "b")
    shutil.rmtree(worktree(project, "old"))  # by hand: git's record and the branch stay

    rows = table(ok(project.loom("worktree", "list")))
    assert rows == {
        "a": [".worktrees/a", "loom/a", "yes", "completed", "1"],
        "b": [".worktrees/b", "loom/b", "yes", "queued", "0"],
        "old": [".worktrees/old", "loom/old", "no", "not", "in", "plan", "0"],
    }
    data = json.loads(ok(project.loom("worktree", "list", "--json")).stdout)
    assert data[2] == {
        "stage": "old",
        "path": ".worktrees/old",
        "branch": "loom/old",
        "exists": False,
        "registered": True,
        "status": "not in plan",
        "ahead": 0,
    }
    assert [d["stage"] for d in data] == ["a", "b", "old"]


# --------------------------------------------------------------------------------------------------
# loom worktree clean


def test_worktree_clean_removes_finished_worktrees_and_never_loses_work(
    make_project: MakeProject,
) -> None:
    project = four_stages(make_project)
    for stage_id in "bcd":
        ok(project.loom("stage", "skip", stage_id))
    worktree(project, "b")  # skipped, nothing on it: removed
    commit_file(worktree(project, "c"), "c.txt", "work\n")  # skipped, one commit: kept
    (worktree(project, "d") / "notes.txt").write_text("draft\n")  # skipped, uncommitted: kept
    worktree(project, "old")  # not in the plan: removed
    a_tip = pygit2.Repository(str(project.root)).branches.local["loom/a"].target
    shutil.rmtree(project.root / ".worktrees" / "a")  # by hand: a stale record for git

    before = (branches(project), registered(project))
    dry = ok(project.loom("worktree", "clean", "--dry-run"))
    assert "would remove .worktrees/b and branch loom/b (skipped)" in dry.stdout
    assert (branches(project), registered(project)) == before

    proc = ok(project.loom("worktree", "clean"))
    assert lines(proc) == [
        "removed .worktrees/b and branch loom/b (skipped)",
        "kept .worktrees/c and branch loom/c: loom/c has 1 commit not in main (--force removes it)",
        "kept .worktrees/d and branch loom/d: uncommitted changes to notes.txt "
        "(--force removes it)",
        "removed .worktrees/old and branch loom/old (not in plan)",
        f"pruned git's record of worktree a (its folder {project.root}/.worktrees/a is gone)",
    ]
    assert branches(project) == {"main", "loom/a", "loom/c", "loom/d"}
    assert registered(project) == {"c", "d"}
    # stage a (completed, not merged) keeps its branch and commit: only git's record was pruned
    assert pygit2.Repository(str(project.root)).branches.local["loom/a"].target == a_tip

    proc = ok(project.loom("worktree", "clean", "--force"))
    assert lines(proc) == [
        "removed .worktrees/c and branch loom/c (skipped)",
        "removed .worktrees/d and branch loom/d (skipped)",
    ]
    assert branches(project) == {"main", "loom/a"}
    assert sorted(os.listdir(project.root / ".worktrees")) == []

    # A merged stage's worktree (made again after the merge) is done with too.
    ok(project.loom("merge", "a"))
    worktree(project, "a")
    proc = ok(project.loom("worktree", "clean"))
    assert lines(proc) == ["removed .worktrees/a and branch loom/a (merged)"]
    assert ok(project.loom("worktree", "clean")).stdout == "no worktree to clean\n"
    assert branches(project) == {"main"}


def test_scheduler_and_live_sessions_block_the_destructive_cleans(
    make_project: MakeProject,
) -> None:
    project = make_project([sim_stage("s", scenario="stall")])
    runner = project.start_headless()
    try:
        project.wait_until(
            lambda: any(s.status == "running" for s in project.sessions()), "the session to run"
        )
        pid = scheduler_pid(project.store)
        assert pid == runner.pid
        session = project.sessions("s")[0]
        settings = project.work / "sessions" / f"{session.id}.settings.json"
        signal = project.work / "signals" / f"{session.id}.md"
        assert settings.is_file() and signal.is_file()

        refused = f"a loom scheduler is running on this project (pid {pid}): stop it first"
        for args in (["worktree", "clean"], ["clean", "--all"], ["clean", "--all", "--force"]):
            proc = project.loom(*args)
            assert proc.returncode == 1, args
            assert refused in proc.stderr
        assert (project.root / ".worktrees" / "s").is_dir() and project.work.is_dir()

        # The plain clean goes on, and keeps what the live session and the scheduler use.
        proc = ok(project.loom("clean"))
        socket = project.tmux().socket_name
        assert f"kept the tmux server {socket}: a scheduler (pid {pid}) runs" in proc.stdout
        assert settings.is_file() and signal.is_file() and project.tmux().alive()
    finally:
        kill_process_group(runner)  # SIGKILL: the agent keeps running in its pane

    assert project.sessions("s")[0].live
    proc = ok(project.loom("clean"))
    assert "1 session is live" in proc.stdout and project.tmux().alive()
    proc = project.loom("clean", "--all")
    assert proc.returncode == 1
    assert "1 agent session is still live: end them first (`loom stop --kill-sessions`)" in (
        proc.stderr
    )
    assert project.work.is_dir()

    ok(project.loom("stop", "--kill-sessions"))
    proc = ok(project.loom("clean"))
    assert "files of 1 ended session (settings, exit and signal files)" in proc.stdout
    assert not settings.exists() and not signal.exists()
    assert (project.work / "sessions" / f"{session.id}.md").is_file()  # the record stays


# --------------------------------------------------------------------------------------------------
# loom clean


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_clean_removes_the_leftovers_of_a_finished_run(make_project: MakeProject) -> None:
    project = make_project([sim_stage("a"), sim_stage("b", ["a"])])
    ok(project.run_headless())
    sessions = project.sessions()
    assert len(sessions) == 2 and not any(s.live for s in sessions)
    assert not project.tmux().alive()  # a finished headless run ends its own server …
    project.tmux().ensure_server(str(project.root))  # … a TUI that was quit leaves it running
    stale = project.work / "stages" / f".a.md.{_dead_pid()}.1.tmp"
    stale.write_text("half a record")
    in_flight = project.work / "stages" / f".b.md.{os.getpid()}.1.tmp"  # its writer is alive
    in_flight.write_text("being written")
    (project.work / "sessions" / f"{sessions[0].id}.exit").write_text("0\n")
    leftovers = [stale, project.work / "sessions" / f"{sessions[0].id}.exit"]
    for s in sessions:
        leftovers.append(project.work / "sessions" / f"{s.id}.settings.json")
        leftovers.append(project.work / "signals" / f"{s.id}.md")
        leftovers.append(project.work / "pulse" / s.id)
    assert all(p.is_file() for p in leftovers)

    dry = ok(project.loom("clean", "--dry-run"))
    # the settings, signal and exit files of the ended sessions (the second's exit file too,
    # when its pane's wrapper wrote it after the session was recorded ended)
    removed = re.search(r"would remove (\d+) files of 2 ended sessions", dry.stdout)
    assert removed is not None and int(removed.group(1)) in (5, 6), dry.stdout
    assert "would stop the private tmux server" in dry.stdout
    assert all(p.is_file() for p in leftovers) and project.tmux().alive()

    proc = ok(project.loom("clean"))
    assert lines(proc) == [
        f"removed 1 stale temporary file: {stale.relative_to(project.root)}",
        f"removed {removed.group(1)} files of 2 ended sessions (settings, exit and signal files)",
        "removed 2 empty pulse files",
        f"stopped the private tmux server {project.tmux().socket_name} (no session was live)",
    ]
    assert not any(p.exists() for p in leftovers)
    assert in_flight.is_file()
    assert not project.tmux().alive()
    # the run's history stays: stage and session records, events; `loom status` still works
    assert {s.id for s in project.sessions()} == {s.id for s in sessions}
    status = json.loads(ok(project.loom("status", "--json")).stdout)
    assert {s["status"] for s in status["stages"]} == {"completed"}

    assert ok(project.loom("clean")).stdout == "nothing to clean\n"


def test_clean_all_removes_worktrees_branches_and_state_but_keeps_unmerged_work(
    make_project: MakeProject,
) -> None:
    project = four_stages(make_project)
    worktree(project, "b")
    (worktree(project, "c") / "notes.txt").write_text("draft\n")
    tmux = project.tmux()  # read now: .work/ (and its config) will be gone

    ok(project.loom("clean", "--all", "--dry-run"))
    assert project.work.is_dir() and branches(project) == {"main", "loom/a", "loom/b", "loom/c"}

    proc = ok(project.loom("clean", "--all"))
    assert lines(proc) == [
        "removed worktree .worktrees/a",
        "kept branch loom/a: 1 commit not in main (--force deletes it)",
        "removed worktree .worktrees/b",
        "deleted branch loom/b",
        "kept .worktrees/c and loom/c: uncommitted changes to notes.txt (--force removes it)",
        "removed .work/ (4 stage records, 1 session record)",
    ]
    assert not project.work.exists()
    assert branches(project) == {"main", "loom/a", "loom/c"}
    assert sorted(os.listdir(project.root / ".worktrees")) == ["c"]
    assert not tmux.alive()

    proc = project.loom("clean", "--all")
    assert proc.returncode == 1 and "no loom project here" in proc.stderr

    # Started again, `--all --force` removes the rest too.
    ok(project.loom("init", "doc/plans/PLAN-9999-test.md"))
    proc = ok(project.loom("clean", "--all", "--force"))
    assert "deleted branch loom/a" in proc.stdout
    assert "removed worktree .worktrees/c" in proc.stdout
    assert branches(project) == {"main"}
    assert not (project.root / ".worktrees").exists() and not project.work.exists()


def test_clean_force_needs_all(make_project: MakeProject) -> None:
    project = make_project([sim_stage("a")])
    proc = project.loom("clean", "--force")
    assert proc.returncode == 2
    assert "--force goes with --all" in proc.stderr


# --------------------------------------------------------------------------------------------------
# loom install


def _run(
    *args: str, home: Path, cwd: Path, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LOOM_", "TMUX")) and k != "CLAUDE_CONFIG_DIR"
    }
    env.update({"HOME": str(home), **(extra or {})})
    proc = subprocess.run(
        [LOOM, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _shipped() -> set[str]:
    """Every file `loom install` copies: the repository's agents, and each skill folder that
    holds a SKILL.md, with all its files."""
    found = {f"agents/{p.name}" for p in (REPO_ROOT / "agents").glob("*.md")}
    for skill in (REPO_ROOT / "skills").glob("*/SKILL.md"):
        found |= {str(p.relative_to(REPO_ROOT)) for p in skill.parent.rglob("*") if p.is_file()}
    return found


SHIPPED = _shipped()
N = len(SHIPPED)


def test_install_copies_the_agents_and_skills_into_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = ok(_run("install", home=home, cwd=tmp_path))
    dest = home / ".claude"
    assert N >= 28 and "skills/loom-plan-writer/SKILL.md" in SHIPPED
    assert lines(proc) == [
        *(f"installed {dest / rel}" for rel in sorted(SHIPPED)),
        f"{N} files in {dest}: {N} installed",
    ]
    for rel in SHIPPED:
        assert (dest / rel).read_bytes() == (REPO_ROOT / rel).read_bytes()
    manifest = json.loads((dest / MANIFEST).read_text())["files"]
    assert manifest == {
        rel: hashlib.sha256((REPO_ROOT / rel).read_bytes()).hexdigest() for rel in SHIPPED
    }
    assert lines(ok(_run("install", home=home, cwd=tmp_path))) == [
        f"{N} files in {dest}: {N} unchanged"
    ]


def test_install_never_overwrites_a_file_the_user_changed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    dest = home / ".claude"
    mine = dest / "skills" / "loom-handoff" / "SKILL.md"
    mine.parent.mkdir(parents=True)
    mine.write_text("my own skill\n")  # there before loom: not loom's to replace
    ok(_run("install", home=home, cwd=tmp_path))
    reviewer = dest / "agents" / "loom-reviewer.md"
    reviewer.write_text(reviewer.read_text() + "\nAlso check the changelog.\n")
    edited = reviewer.read_text()

    proc = ok(_run("install", home=home, cwd=tmp_path))
    assert lines(proc) == [
        f"skipped {reviewer} (it differs from loom's version: changed by you; "
        "--force overwrites it)",
        f"skipped {mine} (it differs from loom's version: changed by you; --force overwrites it)",
        f"{N} files in {dest}: {N - 2} unchanged, 2 skipped",
    ]
    assert reviewer.read_text() == edited and mine.read_text() == "my own skill\n"

    dry = ok(_run("install", "--force", "--dry-run", home=home, cwd=tmp_path))
    assert f"would overwrite your changes to {reviewer}" in dry.stdout
    assert reviewer.read_text() == edited

    proc = ok(_run("install", "--force", home=home, cwd=tmp_path))
    assert f"overwrote your changes to {reviewer}" in proc.stdout
    assert f"{N} files in {dest}: 2 overwritten, {N - 2} unchanged" in proc.stdout
    for rel in SHIPPED:
        assert (dest / rel).read_bytes() == (REPO_ROOT / rel).read_bytes()


def test_install_updates_files_still_as_an_older_loom_wrote_them(tmp_path: Path) -> None:
    home = tmp_path / "home"
    dest = home / ".claude"
    ok(_run("install", home=home, cwd=tmp_path))
    # What an older version of loom would have left: its own text, recorded in the manifest.
    engineer = dest / "agents" / "loom-stage-engineer.md"
    old = b"---\nname: loom-stage-engineer\ndescription: old\n---\nOld prompt.\n"
    engineer.write_bytes(old)
    manifest_path = dest / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["agents/loom-stage-engineer.md"] = hashlib.sha256(old).hexdigest()
    manifest_path.write_text(json.dumps(manifest))

    proc = ok(_run("install", home=home, cwd=tmp_path))
    assert f"updated {engineer}" in proc.stdout
    assert engineer.read_bytes() == (REPO_ROOT / "agents" / "loom-stage-engineer.md").read_bytes()


def test_install_destination_from_claude_config_dir_or_dest(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = tmp_path / "config"
    ok(_run("install", home=home, cwd=tmp_path, extra={"CLAUDE_CONFIG_DIR": str(config)}))
    assert {str(p.relative_to(config)) for p in config.rglob("*.md")} == SHIPPED
    assert not home.exists()

    other = tmp_path / "other"
    extra = {"CLAUDE_CONFIG_DIR": str(config)}
    ok(_run("install", "--dest", str(other), home=home, cwd=tmp_path, extra=extra))
    assert {str(p.relative_to(other)) for p in other.rglob("*.md")} == SHIPPED

    afile = tmp_path / "afile"
    afile.write_text("")
    proc = _run("install", "--dest", str(afile), home=home, cwd=tmp_path)
    assert proc.returncode == 1
    assert f"loom: {afile}: not a directory" in proc.stderr


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root``, with its content."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_install_twice_into_claude_config_dir_leaves_the_same_files_as_once(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config"
    mine = config / "agents" / "my-own-agent.md"
    mine.parent.mkdir(parents=True)
    mine.write_text("---\nname: my-own-agent\ndescription: mine\n---\nMine.\n")
    extra = {"CLAUDE_CONFIG_DIR": str(config)}
    home = tmp_path / "home"
    ok(_run("install", home=home, cwd=tmp_path, extra=extra))
    once = tree(config)
    assert set(once) == SHIPPED | {MANIFEST, "agents/my-own-agent.md"}
    assert all(once[rel] == (REPO_ROOT / rel).read_bytes() for rel in SHIPPED)

    proc = ok(_run("install", home=home, cwd=tmp_path, extra=extra))
    assert lines(proc) == [f"{N} files in {config}: {N} unchanged"]
    assert tree(config) == once
    assert not home.exists()


def test_the_wheel_carries_the_agents_and_skills_where_install_finds_them(
    tmp_path: Path,
) -> None:
    """Lay the package out as the wheel does (pyproject's force-include) and ask it what it
    would install, from a directory outside the checkout."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    force = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert force["agents"] == "loom_tui/agents" and force["skills"] == "loom_tui/skills"
    site = tmp_path / "site"
    shutil.copytree(
        REPO_ROOT / "loom_tui", site / "loom_tui", ignore=shutil.ignore_patterns("__pycache__")
    )
    for source, target in force.items():
        shutil.copytree(REPO_ROOT / source, site / target)
    code = "import json; from loom_tui.core.install import bundled_files; "
    code += "print(json.dumps(bundled_files()))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = json.loads(out)
    assert set(found) == SHIPPED
    assert all(path.startswith(str(site / "loom_tui")) for path in found.values())


@pytest.mark.parametrize("command", ["verify", "worktree", "clean", "install"])
def test_the_commands_are_listed_in_help(tmp_path: Path, command: str) -> None:
    proc = ok(_run("--help", home=tmp_path, cwd=tmp_path))
    assert any(line.split()[:1] == [command] for line in proc.stdout.splitlines()), proc.stdout
    ok(_run(command, "--help", home=tmp_path, cwd=tmp_path))
