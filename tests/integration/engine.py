"""Helpers for tests that run plans for real: a git repository, a plan, `loom init`, and
`loom run --headless --agent sim` as a subprocess on the project's private tmux server.

Every project gets its own tmux socket (named from its path), and `Project.close` kills that server
and removes its socket, so tests never touch the user's tmux.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from loom_tui.core.config import read_config, write_config
from loom_tui.core.model import SessionRecord, StageRecord
from loom_tui.core.store import Store
from loom_tui.core.tmux import Tmux
from tests.conftest import LOOM, make_repo

#: Fast settings for tests: retries after 0.2 s, 0.4 s, ...; handoffs time out after 3 s.
FAST_SETTINGS: dict[str, object] = {
    "retry_backoff_seconds": 0.2,
    "retry_backoff_max_seconds": 2.0,
    "handoff_timeout_seconds": 3.0,
    "tick_seconds": 0.5,
}
DEFAULT_TIMEOUT = 120.0


def plan_text(stages: list[dict[str, Any]], **plan: Any) -> str:
    """A plan file with ``stages`` (dicts as in the YAML) and plan-level keys."""
    import io

    yaml = YAML()
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump({"loom": {"version": 1, **plan, "stages": stages}}, buffer)
    return (
        "# PLAN-9999: Test plan\n\n<!-- loom METADATA -->\n\n```yaml\n"
        + buffer.getvalue()
        + "```\n\n<!-- END loom METADATA -->\n"
    )


def sim_stage(stage_id: str, deps: list[str] | None = None, **sim: Any) -> dict[str, Any]:
    """A stage for the simulated agent; it edits ``sim/<id>.md`` unless ``edit`` says otherwise."""
    spec: dict[str, Any] = {"steps": 2, "step_seconds": 0.05}
    spec.update(sim)
    edit = spec.setdefault("edit", f"sim/{stage_id}.md")
    budget = spec.pop("context_budget", None)
    stage: dict[str, Any] = {
        "id": stage_id,
        "name": f"Stage {stage_id}",
        "description": f"Do the work of {stage_id}.",
        "dependencies": deps or [],
        "acceptance": [f"test -s {edit}"],
        "sim": spec,
    }
    if budget is not None:
        stage["context_budget"] = budget
    if "max_retries" in spec:
        stage["max_retries"] = spec.pop("max_retries")
    return stage


class Project:
    """A git repository initialised with a plan, and the `loom` processes run on it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.work = root / ".work"
        self.store = Store(str(self.work))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOM_", "TMUX"))}
        self.env["PYTHONUNBUFFERED"] = "1"
        self.socket: str | None = None

    # setting up -------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        tmp: Path,
        stages: list[dict[str, Any]],
        settings: dict[str, object] | None = None,
        files: dict[str, str] | None = None,
        **plan: Any,
    ) -> Project:
        root = make_repo(tmp / "repo", files)
        source = plan.pop("plan_file", None)
        plan_path = root / "doc" / "plans" / (Path(source).name if source else "PLAN-9999-test.md")
        plan_path.parent.mkdir(parents=True, exist_ok=True)
        plan_path.write_text(Path(source).read_text() if source else plan_text(stages, **plan))
        project = cls(root)
        project.loom("init", str(plan_path.relative_to(root)), check=True)
        project.socket = project.store.config().tmux_socket
        project.set_settings(**{**FAST_SETTINGS, **(settings or {})})
        return project

    def set_settings(self, **values: object) -> None:
        config = read_config(str(self.work))
        config.settings.update(values)
        write_config(str(self.work), config)

    # running ----------------------------------------------------------------------------------
    def loom(
        self, *args: str, check: bool = False, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [LOOM, *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        if check and proc.returncode != 0:
            raise AssertionError(
                f"loom {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def run_headless(
        self, *extra: str, timeout: float = DEFAULT_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """`loom run --headless --agent sim` until it exits by itself."""
        return self.loom("run", "--headless", "--agent", "sim", *extra, timeout=timeout)

    def start_headless(
        self, *extra: str, log: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """`loom run --headless --agent sim` in the background; its output is piped, or appended
        to ``log`` (for runners that are killed and never read)."""
        out = open(log, "a") if log is not None else None  # noqa: SIM115 - the child holds it
        try:
            return subprocess.Popen(
                [LOOM, "run", "--headless", "--agent", "sim", *extra],
                cwd=self.root,
                env=env if env is not None else self.env,
                stdout=out if out is not None else subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        finally:
            if out is not None:
                out.close()

    # reading ----------------------------------------------------------------------------------
    def stage(self, stage_id: str) -> StageRecord:
        return self.store.read_stage(stage_id)

    def stages(self) -> dict[str, StageRecord]:
        return {s.id: s for s in self.store.stages()}

    def sessions(self, stage_id: str | None = None) -> list[SessionRecord]:
        return [s for s in self.store.sessions() if stage_id is None or s.stage_id == stage_id]

    def starts(self) -> list[dict[str, Any]]:
        """Every start of a simulated agent, as recorded by the agent itself."""
        path = self.work / "sim" / "starts.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def starts_of(self, stage_id: str) -> int:
        return sum(1 for s in self.starts() if s["stage"] == stage_id)

    def ends(self) -> list[dict[str, Any]]:
        """Every end of a simulated agent (a normal exit, or SIGHUP/SIGTERM), as it recorded it."""
        path = self.work / "sim" / "ends.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.store.read_events() if kind is None or e.get("kind") == kind]

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.root, capture_output=True, text=True, check=True
        ).stdout

    def wait_until(
        self, condition: Callable[[], bool], what: str, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """Poll ``condition`` (a correctness wait with a generous limit, not a timing claim)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)

    # tearing down -----------------------------------------------------------------------------
    def tmux(self) -> Tmux:
        return Tmux(self.store.config().tmux_socket)

    def close(self) -> None:
        """Kill the project's tmux server (by the socket noted at creation: a test may have
        removed `.work/` since)."""
        with contextlib.suppress(Exception):
            Tmux(self.socket or self.store.config().tmux_socket).kill_server()


def kill_process_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL a process started with ``start_new_session`` (and only it: agents live in tmux)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


__all__ = [
    "FAST_SETTINGS",
    "Project",
    "kill_process_group",
    "pid_alive",
    "plan_text",
    "sim_stage",
    "sys",
]
