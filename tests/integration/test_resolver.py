"""The merge-conflict resolver with the real CLI, git, tmux and the simulated agent.

Two stages write different text to the same new file: whichever merges second conflicts.  loom
starts a resolver session on the loser's branch; the simulated resolver merges the base in,
keeps both sides, commits and runs `loom merge`; both stages end merged with no human step.  With
the resolver failing every time, the stage ends in needs-human-review after the attempts, and the
base branch never moved past the winner's merge.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from loom_tui.core.model import Status
from tests.integration.conftest import MakeProject
from tests.integration.engine import sim_stage

FILES = {"README.md": "# conflict demo\n"}


def conflicting(**sim: object) -> list[dict[str, object]]:
    return [
        sim_stage("left", edit="shared.txt", **sim),
        sim_stage("right", edit="shared.txt", **sim),
        sim_stage("after", ["left", "right"]),
    ]


def test_the_sim_resolver_resolves_and_both_stages_merge(make_project: MakeProject) -> None:
    project = make_project(conflicting(), files=FILES)
    result = project.run_headless()
    assert result.returncode == 0, result.stdout + result.stderr
    stages = project.stages()
    assert all(s.status is Status.COMPLETED and s.merged for s in stages.values())
    conflicts = project.events("merge-conflict")
    assert len(conflicts) == 1, conflicts
    loser = conflicts[0]["stage"]
    winner = "right" if loser == "left" else "left"
    # one working session, then one resolver (a new generation on the same branch)
    assert project.starts_of(loser) == 2
    resolver = max(project.sessions(loser), key=lambda s: s.generation)
    assert resolver.purpose == "resolve" and resolver.generation == 2
    record = stages[loser]
    assert record.resolver_attempts == 1 and not record.resolving and record.conflict_files == []
    # both intents kept, no markers
    text = (project.root / "shared.txt").read_text()
    assert f"Written by stage {winner}." in text and f"Written by stage {loser}." in text
    assert "<<<<<<<" not in text and ">>>>>>>" not in text
    # the loser's merge went on top of the winner's
    loser_merge = stages[loser].merge_commit or ""
    assert project.git("log", "-1", "--format=%s", loser_merge).strip() == (
        f"Merge loom/{loser} into main"
    )
    assert stages[winner].merge_commit in project.git("rev-list", loser_merge)


def test_a_failing_resolver_ends_in_review_and_the_base_is_untouched(
    make_project: MakeProject,
) -> None:
    project = make_project(conflicting(resolver="fail"), files=FILES)
    result = project.run_headless()
    assert result.returncode == 1  # nothing can run: the stage needs a person
    stages = project.stages()
    (loser,) = [s for s in stages.values() if s.status is Status.NEEDS_HUMAN_REVIEW]
    winner = next(s for s in stages.values() if s.id in ("left", "right") and s.id != loser.id)
    assert winner.merged and not loser.merged
    # the base is exactly the winner's merge: no resolver moved it
    assert project.git("rev-parse", "main").strip() == winner.merge_commit
    assert loser.resolver_attempts == 2
    assert project.starts_of(loser.id) == 3  # its work, then two resolvers
    assert "shared.txt" in (loser.blocked_reason or "")
    assert f"loom merge {loser.id} --resolved" in (loser.blocked_reason or "")
    assert (loser.failure or {}).get("kind") == "merge-conflict"
    assert stages["after"].status is Status.WAITING_FOR_DEPS

    # a person resolves it by hand; `--resolved` checks, then merges
    worktree = project.root / ".worktrees" / loser.id
    refused = project.loom("merge", loser.id, "--resolved")
    assert refused.returncode == 1 and "does not contain main" in refused.stderr
    merge = _git(worktree, "merge", "main")
    assert merge.returncode != 0
    refused = project.loom("merge", loser.id, "--resolved")
    assert refused.returncode == 1 and "not resolved" in refused.stderr
    (worktree / "shared.txt").write_text("both\n")
    _git(worktree, "add", "shared.txt")
    _git(worktree, "commit", "--no-edit")
    merged = project.loom("merge", loser.id, "--resolved")
    assert merged.returncode == 0, merged.stderr
    record = project.stage(loser.id)
    assert record.status is Status.COMPLETED and record.merged and not record.resolving
    assert project.run_headless().returncode == 0
    assert project.stage("after").merged


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_a_scheduler_killed_after_every_write_still_resolves_and_merges(
    make_project: MakeProject,
) -> None:
    """The kill-at-every-write loop of `test_kill_storm` on a conflict: every write boundary of
    the conflict, the resolver's queueing and start, and its merge is a kill point, and the run
    still ends with both stages merged and the conflict resolved by one resolver session."""
    from tests.integration.test_kill_storm import describe, kill_after_every_write

    project = make_project(conflicting()[:2], files=FILES)
    result, kills_at, _seen = kill_after_every_write(project)
    kills = sum(kills_at.values())
    assert result is not None and result.returncode == 0, (
        f"after {kills} kills: {result and result.stdout}\n" + describe(project)
    )
    assert kills > 10
    stages = project.stages()
    assert all(s.merged for s in stages.values()), describe(project)
    (loser,) = [s for s in stages.values() if s.resolver_attempts]
    assert loser.resolver_attempts == 1 and not loser.resolving
    text = (project.root / "shared.txt").read_text()
    assert "Written by stage left." in text and "Written by stage right." in text
