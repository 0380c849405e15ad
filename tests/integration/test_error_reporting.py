"""A scheduler tells an error once, backs off, and a headless run that cannot progress gives up.

Before, a run whose every pass failed printed the same `error:` line every second forever (and the
TUI, which hears the same events, added a toast every second).  The deduplication sits in the
core, where the scheduler emits, so the headless log, the TUI and `events.jsonl` all hear an error
once; a suppressed repeat goes to `.work/logs/scheduler.log` only.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from loom_tui.core.engine.scheduler import Scheduler
from loom_tui.core.events import Event, SchedulerError
from tests.integration.conftest import MakeProject
from tests.integration.engine import sim_stage


def test_a_subscriber_hears_a_repeated_error_once(make_project: MakeProject) -> None:
    project = make_project([sim_stage("a")])
    scheduler = Scheduler(project.store)
    heard: list[Event] = []
    scheduler.subscribe(heard.append)  # as the TUI does: one toast per error event
    for _pass in range(5):
        scheduler.emit(SchedulerError(stage="a", message="Merge failed: no branch"))
    scheduler.emit(SchedulerError(stage="a", message="Merge failed: a conflict"))
    assert [e.message for e in heard if isinstance(e, SchedulerError)] == [
        "Merge failed: no branch",
        "Merge failed: a conflict",
    ]
    assert len(project.events("error")) == 2  # events.jsonl tells the same story


def path_without_tmux(tmp_path: Path) -> tuple[str, Path]:
    """A PATH with every tool of this one but tmux, plus a folder that holds only tmux (the
    returned link: unlink it and tmux is gone)."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            link = tools / name
            if name != "tmux" and not link.exists() and not link.is_symlink():
                link.symlink_to(os.path.join(folder, name))
    only_tmux = tmp_path / "tmux-only"
    only_tmux.mkdir()
    real = subprocess.run(["which", "tmux"], capture_output=True, text=True, check=True)
    link = only_tmux / "tmux"
    link.symlink_to(real.stdout.strip())
    return f"{only_tmux}{os.pathsep}{tools}", link


def test_tmux_gone_mid_run_is_told_once_and_the_headless_run_gives_up(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = make_project(
        [sim_stage("a", steps=40, step_seconds=0.5)], settings={"tick_seconds": 0.1}
    )
    path, tmux = path_without_tmux(tmp_path)
    runner = project.start_headless(env={**project.env, "PATH": path})
    try:
        project.wait_until(
            lambda: any(s.live and s.pane_id for s in project.sessions("a")), "a's agent running"
        )
        tmux.unlink()  # every pass now fails on its first tmux call
        out, _ = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    errors = [line for line in out.splitlines() if " error: " in line]
    assert len(errors) == 1, out
    assert "tmux is not on PATH" in errors[0] and "TmuxCommandNotFound" not in out
    assert runner.returncode == 1, out
    assert "plan stuck: nothing can progress: tmux is not on PATH" in out
    assert len(project.events("error")) == 1
    log = (project.work / "logs" / "scheduler.log").read_text(encoding="utf-8")
    assert "again: error: tmux is not on PATH" in log  # it did fail again, and was not told
