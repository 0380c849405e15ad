"""loom's private tmux server: ended when a headless run is done with it, and its death told as
one thing rather than as a crash of every agent in it.

Real tmux (each project on its own socket, never the user's server), real git, the real `loom run
--headless --agent sim`.
"""

from __future__ import annotations

import os

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
