"""loom's private tmux server: ended when a headless run is done with it, and its death told as
one thing rather than as a crash of every agent in it.

Real tmux (each project on its own socket, never the user's server), real git, the real `loom run
--headless --agent sim`.
"""

from __future__ import annotations

import os
import subprocess

from loom_tui.core.engine.rules_sessions import SERVER_LOST, SERVER_LOST_KIND
from tests.integration.conftest import MakeProject
from tests.integration.engine import Project, sim_stage


def socket_file(project: Project) -> str:
    return project.tmux().socket_path


def test_a_finished_headless_run_ends_its_tmux_server(make_project: MakeProject) -> None:
    """17 leftover servers were found on one machine: one per finished run."""
    project = make_project([sim_stage("a"), sim_stage("b", ["a"])])
    proc = project.run_headless()
    assert proc.returncode == 0, proc.stdout
    assert f"tmux server {project.socket} ended" in proc.stdout
    assert not project.tmux().alive()
    assert not os.path.exists(socket_file(project))


def test_a_window_someone_opened_in_the_server_keeps_it(make_project: MakeProject) -> None:
    project = make_project([sim_stage("a")])
    tmux = project.tmux()
    tmux.ensure_server(str(project.root))
    tmux.cmd("new-window", "-d", "-n", "mine", "sleep 600")  # a person's window, not an agent's
    proc = project.run_headless()
    assert proc.returncode == 0, proc.stdout
    assert tmux.alive()
    assert "mine" in [p.window_name for p in tmux.list_panes().values()]


def test_a_dead_server_is_one_reason_for_every_stage_and_spends_no_retry(
    make_project: MakeProject,
) -> None:
    stages = [sim_stage(s, steps=8, step_seconds=0.5) for s in ("a", "b")]
    project = make_project(stages, settings={"tick_seconds": 0.2})
    runner = project.start_headless()
    try:
        project.wait_until(
            lambda: all(any(s.live and s.pane_id for s in project.sessions(i)) for i in "ab"),
            "both agents running",
        )
        subprocess.run(
            ["tmux", "-L", str(project.socket), "kill-server"],
            env=project.env,
            check=True,
            capture_output=True,
        )
        out, _ = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert runner.returncode == 0, out  # both went on in a new server and completed
    for stage_id in "ab":
        first = project.sessions(stage_id)[0]
        assert first.end_reason == SERVER_LOST, out
        record = project.stage(stage_id)
        assert record.retry_count == 0 and record.failure is not None
        assert record.failure["kind"] == SERVER_LOST_KIND
        assert len(record.handoffs) >= 1  # the fresh session went on from what the first did
        diagnosis = project.loom("diagnose", stage_id, check=True).stdout
        assert f"the tmux server {project.socket} died" in diagnosis
    assert "pane vanished" not in out and "retry 1 of" not in out
    told = [e for e in project.events("error") if "tmux server" in str(e.get("message"))]
    assert len(told) == 1, told  # one word for the whole server, not one per stage
