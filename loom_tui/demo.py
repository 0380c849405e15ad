"""`make demo`: the sample plan, run by the simulated agent, in the TUI.

Creates a temporary git repository (under ``$TMPDIR``), copies the bundled sample plan into it,
initialises it, and opens loom on it with the simulated agent (no API key, no network).  Within
about two minutes the plan completes on screen, with a crash-and-retry (`counter`) and a context
handoff (`cli`).

The demo starts the way bare `loom` does (`cli/control_run.py`): the TUI and its scheduler run
in loom's control window, a session of the project's private tmux server, and this terminal
attaches to it.  So the demo shows what a real run shows (``a`` switches to a stage's window,
whose status line names F12 to come back), and closing the terminal leaves the run going:
`loom --work-dir <project>` attaches again, `loom stop` ends it.  Without a terminal the control
window is started detached.  If the control window cannot be opened, the demo says so in one
line and runs the TUI in this process instead, as it used to.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loom_tui.core.store import Store

SAMPLE = Path(__file__).resolve().parent / "samples" / "PLAN-0001-wordcount.md"

#: Slower than the tests, so that a person can follow it; still done in about a minute.
DEMO_SETTINGS: dict[str, object] = {
    "agent": "sim",
    "retry_backoff_seconds": 3.0,
    "retry_backoff_max_seconds": 30.0,
    "handoff_timeout_seconds": 20.0,
}
DEMO_STEP_SECONDS = 1.2


def make_demo_project(parent: str | None = None) -> Path:
    import pygit2

    from loom_tui.core.config import read_config, write_config
    from loom_tui.core.init_project import init_project

    root = Path(tempfile.mkdtemp(prefix="loom-demo-", dir=parent))
    repo = pygit2.init_repository(str(root), initial_head="main")
    (root / "README.md").write_text(
        "# wordcount\n\nA demo project built by loom's simulated agents.\n", encoding="utf-8"
    )
    repo.index.add("README.md")
    repo.index.write()
    signature = pygit2.Signature("loom demo", "demo@loom.invalid")
    repo.create_commit("HEAD", signature, signature, "initial commit", repo.index.write_tree(), [])
    plan = root / "doc" / "plans" / SAMPLE.name
    plan.parent.mkdir(parents=True)
    text = SAMPLE.read_text(encoding="utf-8")
    # pace the simulated agents for a person watching
    text = text.replace("      sim:\n", f"      sim:\n        step_seconds: {DEMO_STEP_SECONDS}\n")
    plan.write_text(text, encoding="utf-8")
    store, _plan = init_project(str(plan), str(root))
    config = read_config(store.work_dir)
    config.settings.update(DEMO_SETTINGS)
    write_config(store.work_dir, config)
    return root


def main() -> int:
    if shutil.which("tmux") is None:
        # (no fallback without tmux: loom runs every agent in a tmux pane, in-process too)
        sys.stderr.write("loom demo: tmux is needed (install it with your package manager)\n")
        return 1
    from loom_tui.core.errors import LoomError
    from loom_tui.core.store import Store

    root = make_demo_project()
    os.chdir(root)
    store = Store(str(root / ".work"))
    loom = Path(sys.executable).parent / "loom"
    print(f"loom demo: the project is {root}; the run outlives this terminal")
    try:
        code = _in_control_window(store)
    except LoomError as exc:
        print(f"loom demo: no control window ({exc.message}); the demo runs in this terminal")
        try:
            code = _in_process(store)
        except LoomError as error:
            sys.stderr.write(f"loom demo: {error.message}\n")
            return error.exit_code
    print(f"The demo project is in {root}.")
    print(f"  {loom} --work-dir {root}            # attach to the run again")
    print(f"  {loom} --work-dir {root} status     # what happened")
    print(f"  {loom} --work-dir {root} stop --kill-sessions && rm -rf {root}   # clean up")
    return code


def _in_control_window(store: Store) -> int:
    """As bare `loom --agent sim`: the control window, then this terminal attached to it."""
    from loom_tui.cli.control_run import open_control_window

    return open_control_window(store, "sim", None, None, None, detach=False)


def _in_process(store: Store) -> int:
    from loom_tui.core.engine import SchedulerOptions
    from loom_tui.tui import run_tui

    return run_tui(store, SchedulerOptions(agent="sim"))


if __name__ == "__main__":
    sys.exit(main())
