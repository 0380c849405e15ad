"""loom runs the real Claude Code CLI, offline, against a fake Anthropic API (`fake_anthropic.py`).

Marked ``claude_e2e``: the normal `make test` deselects it; `make test-claude` runs it.  It installs
``@anthropic-ai/claude-code`` (the version in `claude_code.CHECKED_VERSION`, or
``$LOOM_TEST_CLAUDE_VERSION``) from the npm registry into ``~/.cache/loom-tests`` once, and skips —
never passes — when npm, ``unshare`` or a network namespace is unavailable or the install fails.

Everything runs inside ``unshare -n`` with only loopback up, so nothing leaves the machine: the fake
API serves on 127.0.0.1 and `loom run --headless --agent claude` runs a two-stage plan in a
throw-away HOME.  Stage ``s2`` depends on ``s1`` and has a 20 % context budget; the fake reports
~26 % of the window from its second reply on in s2's first session, so loom must ask for a handoff,
end that session and start a second generation from the handoff.  Then every context figure loom
recorded is checked against the transcripts Claude Code wrote, and every session against dialogs.

``LOOM_TEST_CLAUDE_WINDOW`` must name the context window the CLI reports for the plan's default
model when another version is tested (2.1.332 reports 1,000,000 for ``opus``).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from loom_tui.core import frontmatter
from loom_tui.core.agents import claude_code
from loom_tui.core.agents.permissions import secret_rules
from loom_tui.core.hook_log import normalize
from loom_tui.core.model import Status
from tests.conftest import LOOM
from tests.integration.engine import Project

pytestmark = [pytest.mark.claude_e2e, pytest.mark.slow]

VERSION = os.environ.get("LOOM_TEST_CLAUDE_VERSION") or claude_code.CHECKED_VERSION
WINDOW = int(os.environ.get("LOOM_TEST_CLAUDE_WINDOW") or claude_code.DEFAULT_WINDOW)
CACHE = Path(os.environ.get("LOOM_TEST_CACHE") or Path.home() / ".cache" / "loom-tests")
FAKE = Path(__file__).with_name("fake_anthropic.py")
API_KEY = "sk-ant-api03-loom-e2e-fake-key-not-a-secret-0123456789abcdef"
INSTALL_TIMEOUT = 100.0
RUN_TIMEOUT = 150.0
BUDGET = 20
#: Context the fake reports: 6 % of the window plus 0.2 % per reply; s2's first session jumps 20 %.
BASE, STEP, JUMP = WINDOW * 6 // 100, WINDOW // 500, WINDOW * 20 // 100
#: The fake model thinks this long before each reply after its first: the CLI redraws meanwhile
#: and runs its statusLine command, so that there are statusLine readings to check.
DELAY = 1.0
TOLERANCE = 1.0  # percentage points
STAGES: list[dict[str, Any]] = [
    {
        "id": "s1",
        "name": "First stage",
        "description": "Write s1.txt and commit it.",
        "dependencies": [],
        "acceptance": ["test -s s1.txt"],
    },
    {
        "id": "s2",
        "name": "Second stage",
        "description": "Write s2.txt on top of s1's work and commit it.",
        "dependencies": ["s1"],
        "acceptance": ["test -s s1.txt", "test -s s2.txt"],
        "context_budget": BUDGET,
        # merged over the plan's block: lists unioned, the scalars it writes override
        "sandbox": {
            "auto_allow": False,
            "filesystem": {"deny_write": ["vendor/**"], "allow_write": ["~/.cache/loom-e2e"]},
            "network": {"additional_domains": ["files.pythonhosted.org"]},
        },
    },
]
#: The plan's sandbox, mapped onto Claude Code's `sandbox` settings in every session's file.
#: (Without bubblewrap, as here, Claude Code runs Bash unsandboxed; the settings are what count.)
PLAN_SANDBOX: dict[str, Any] = {
    "enabled": True,
    "excluded_commands": ["loom", "git"],
    "filesystem": {"deny_read": ["private/"], "allow_write": ["~/.cache/loom-e2e"]},
    "network": {"allowed_domains": ["pypi.org"]},
}
#: What the user had in `~/.claude.json` before loom ran: their own answer to the API key question.
USER_CLAUDE_JSON: dict[str, Any] = {
    "numStartups": 3,
    "customApiKeyResponses": {"approved": [API_KEY[-20:]], "rejected": []},
}


# installing the CLI -----------------------------------------------------------------------------


def _skip(reason: str) -> None:
    pytest.skip(f"real Claude Code test skipped: {reason}")


def _version_of(binary: str) -> str | None:
    try:
        proc = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and "Claude Code" in out else None


def _find_binary(folder: Path) -> tuple[str, str] | None:
    """The installed `claude` that runs, and its `--version` line."""
    candidates = [str(folder / "node_modules" / ".bin" / "claude")]
    # If npm skipped the postinstall that puts the native binary in place, use it directly.
    candidates += sorted(
        glob.glob(str(folder / "node_modules" / "@anthropic-ai" / "claude-code-*" / "claude"))
    )
    for candidate in candidates:
        if os.path.isfile(candidate):
            version = _version_of(candidate)
            if version:
                return candidate, version
    return None


@pytest.fixture(scope="module")
def claude_bin() -> str:
    if shutil.which("npm") is None:
        _skip("npm is not installed (it installs @anthropic-ai/claude-code)")
    for tool in ("unshare", "ip", "tmux", "git"):
        if shutil.which(tool) is None:
            _skip(f"`{tool}` is not installed")
    probe = subprocess.run(
        ["unshare", "-n", "sh", "-c", "ip link set lo up"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        _skip(f"cannot make an offline network namespace (`unshare -n` needs root): {probe.stderr}")
    folder = CACHE / f"claude-code-{VERSION}"
    exact = VERSION[:1].isdigit()  # a tag such as `latest` is installed again to follow it
    found = _find_binary(folder) if exact else None
    if found is None:
        folder.mkdir(parents=True, exist_ok=True)
        package = f"@anthropic-ai/claude-code@{VERSION}"
        try:
            proc = subprocess.run(
                ["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund", package],
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            _skip(f"`npm install {package}` failed: {exc}")
        else:
            if proc.returncode != 0:
                _skip(f"`npm install {package}` exited {proc.returncode}: {proc.stderr[-800:]}")
        found = _find_binary(folder)
        if found is None:
            _skip(f"{package} installed in {folder}, but no `claude` there answers --version")
    assert found is not None
    binary, version = found
    if exact:
        assert version.startswith(VERSION), f"{binary} is {version!r}, expected {VERSION}"
    print(f"\nClaude Code {version} at {binary}")
    return binary


# reading what happened --------------------------------------------------------------------------


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            value = json.loads(line)
            if isinstance(value, dict):
                out.append(value)
    return out


def _timestamp(text: object) -> float:
    assert isinstance(text, str), text
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def transcript_figures(path: Path) -> list[tuple[float, int]]:
    """(time, tokens) of every assistant message with usage: input + cache creation + cache read.

    A compaction restarts the count at 0 (none is expected here).
    """
    figures: list[tuple[float, int]] = []
    for line in _jsonl(path):
        if line.get("type") == "system" and line.get("subtype") == "compact_boundary":
            figures.append((_timestamp(line.get("timestamp")), 0))
            continue
        message = line.get("message")
        if line.get("type") != "assistant" or not isinstance(message, dict):
            continue
        usage = message.get("usage")
        if not isinstance(usage, dict) or message.get("model") == "<synthetic>":
            continue
        tokens = sum(
            int(usage.get(key) or 0)
            for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        figures.append((_timestamp(line.get("timestamp")), tokens))
    return figures


def percent(tokens: int) -> float:
    return tokens * 100.0 / WINDOW


def current_figures(figures: list[tuple[float, int]], at: float, slack: float = 2.0) -> list[int]:
    """The transcript's figures that were current around ``at`` (give or take ``slack`` s)."""
    near = [tokens for ts, tokens in figures if at - slack <= ts <= at + slack]
    before = [tokens for ts, tokens in figures if ts < at - slack]
    return near + before[-1:]


def assert_matches(what: str, reading: float, at: float, figures: list[tuple[float, int]]) -> None:
    candidates = current_figures(figures, at)
    assert any(abs(reading - percent(t)) <= TOLERANCE for t in candidates), (
        f"{what}: {reading:.2f}% matches no transcript figure current at that time "
        f"({[f'{percent(t):.2f}%' for t in candidates]}; all: "
        f"{[f'{percent(t):.2f}%' for _, t in figures]})"
    )


def diagnose(project: Project, output: str, log: Path) -> str:
    """What to print when the run went wrong."""
    lines = ["--- loom run output (tail) ---", *output.splitlines()[-60:]]
    lines.append("--- fake API requests ---")
    for r in _jsonl(log):
        lines.append(
            f"{r.get('method')} {r.get('path')} {r.get('kind')} {r.get('model') or ''} "
            f"stage={r.get('stage')} gen={r.get('generation')} turn={r.get('turn')} "
            f"used={r.get('used')} asked={r.get('asked')} -> {r.get('reply')}"
        )
    windows = {
        h.get("context_window_size")
        for path in sorted((project.work / "hooks").glob("*.jsonl"))
        for h in map(normalize, _jsonl(path))
        if h.get("event") == "statusline" and h.get("context_window_size")
    }
    if windows - {WINDOW}:
        lines.append(
            f"--- Claude Code reports a context window of {sorted(windows)}, the fake assumes "
            f"{WINDOW}: set LOOM_TEST_CLAUDE_WINDOW ---"
        )
    for name in ("scheduler.log", "hooks.log"):
        path = project.work / "logs" / name
        if path.exists():
            lines += [f"--- {name} ---", *path.read_text().splitlines()[-20:]]
    with contextlib.suppress(Exception):
        for session in project.sessions():
            lines.append(f"--- session {session.id} ({session.stage_id}) last lines ---")
            lines += list(session.last_lines or [])[-15:]
    return "\n".join(lines)


def check_session_settings(project: Project, sessions: list[Any]) -> None:
    """Every session's settings file holds the deny list for secrets and the plan's sandbox
    mapped onto Claude Code's keys; s2's block is merged over the plan's."""
    for session in sessions:
        path = project.work / "sessions" / f"{session.id}.settings.json"
        settings = json.loads(path.read_text())
        deny = settings["permissions"]["deny"]
        for rule in secret_rules():
            assert rule in deny, f"{path}: {rule} missing from {deny}"
        assert "Read(private/**)" in deny
        assert not [r for r in settings["permissions"]["allow"] if r.startswith("WebFetch")]
        sandbox = settings["sandbox"]
        filesystem, network = sandbox["filesystem"], sandbox["network"]
        assert sandbox["enabled"] is True
        assert "~/.ssh" in filesystem["denyRead"] and "private" in filesystem["denyRead"]
        assert f"/{project.root}/.git" in filesystem["allowWrite"], filesystem
        assert "~/.cache/loom-e2e" in filesystem["allowWrite"]
        if session.stage_id == "s1":
            assert sandbox["autoAllowBashIfSandboxed"] is True
            assert sandbox["excludedCommands"] == ["loom", "git"]
            assert network == {"allowedDomains": ["pypi.org"]}
            assert "denyWrite" not in filesystem
        else:
            assert sandbox["autoAllowBashIfSandboxed"] is False
            assert sandbox["excludedCommands"] == ["loom", "git"]
            assert network == {"allowedDomains": ["pypi.org", "files.pythonhosted.org"]}
            assert filesystem["denyWrite"] == ["vendor/**"] and "Edit(vendor/**)" in deny
            assert filesystem["allowWrite"].count("~/.cache/loom-e2e") == 1


# the test ---------------------------------------------------------------------------------------


def test_real_claude_runs_a_plan_and_hands_off_at_the_budget(
    tmp_path: Path, claude_bin: str
) -> None:
    t0 = time.monotonic()
    project = Project.create(
        tmp_path, STAGES, settings={"handoff_timeout_seconds": 60.0}, sandbox=PLAN_SANDBOX
    )
    home = tmp_path / "home"
    home.mkdir()
    claude_json = home / ".claude.json"
    claude_json.write_text(json.dumps(USER_CLAUDE_JSON, indent=2) + "\n")
    user_text = claude_json.read_text()
    log = tmp_path / "api-requests.jsonl"
    config = tmp_path / "fake-api.json"
    config.write_text(
        json.dumps(
            {
                "window": WINDOW,
                "default": {"base": BASE, "step": STEP, "delay": DELAY},
                "stages": {
                    "s1": {"base": BASE, "step": STEP, "delay": DELAY, "lane": 1},
                    "s2": {"base": BASE, "step": STEP, "jump": JUMP, "jump_at": 1, "delay": DELAY},
                },
            }
        )
    )
    env = {
        k: v
        for k, v in project.env.items()
        if not k.startswith(("ANTHROPIC_", "CLAUDE", "XDG_", "LOOM_"))
    }
    env.update(
        HOME=str(home),
        ANTHROPIC_API_KEY=API_KEY,
        LOOM_CLAUDE_BIN=claude_bin,
        DISABLE_AUTOUPDATER="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
    )
    inner = [sys.executable, str(FAKE), "--config", str(config), "--log", str(log), "--"]
    inner += [LOOM, "run", "--headless", "--agent", "claude"]
    command = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *inner]
    proc = subprocess.Popen(
        command,
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        try:
            output, _ = proc.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            project.close()
            output, _ = proc.communicate(timeout=30)
            pytest.fail(
                f"loom did not finish in {RUN_TIMEOUT:.0f} s\n{diagnose(project, output, log)}"
            )
    finally:
        project.close()  # the project's private tmux server, and the agents in it
    run_seconds = time.monotonic() - t0
    report = diagnose(project, output, log)
    assert proc.returncode == 0, f"loom run exited {proc.returncode}\n{report}"
    assert "Traceback" not in output, report

    # Both stages completed and merged; s2's work sits on top of s1's on main.
    stages = project.stages()
    for stage_id in ("s1", "s2"):
        assert stages[stage_id].status is Status.COMPLETED, report
        assert stages[stage_id].merged, report
    assert "stage s1 generation 1" in project.git("show", "main:s1.txt")
    s2_text = project.git("show", "main:s2.txt")
    assert "stage s2 generation 1" in s2_text and "stage s2 generation 2" in s2_text, s2_text

    # One session for s1; two generations for s2, the first ended by loom once it handed off.
    sessions = sorted(project.sessions(), key=lambda s: (s.stage_id, s.generation))
    assert [(s.stage_id, s.generation) for s in sessions] == [("s1", 1), ("s2", 1), ("s2", 2)]
    s1, s2a, s2b = sessions
    assert s1.end_reason == "completed" and s2b.end_reason == "completed", report
    assert s2a.end_reason == "handed off", report
    handoff_name = "s2-handoff-001.md"
    assert s2a.handoff == handoff_name and s2a.handoff_trigger == "budget", report
    assert stages["s2"].handoffs == [handoff_name]
    handoff = project.work / "handoffs" / handoff_name
    assert handoff.exists(), report
    assert sorted(os.listdir(project.work / "handoffs")) == [handoff_name], "one handoff only"
    front, body = frontmatter.parse(handoff.read_text(), str(handoff))
    assert front["written_by"] == "agent" and front["trigger"] == "budget", front
    assert "I committed my work for s2." in body
    signal_text = (project.work / "signals" / f"{s2b.id}.md").read_text()
    assert "## Previous handoff" in signal_text and handoff_name in signal_text
    assert body.strip() in signal_text, "the second generation's signal embeds the handoff"

    # The fake saw each conversation through; loom's request reached s2's first session once.
    requests = _jsonl(log)
    main = [r for r in requests if r.get("kind") == "main"]
    assert not [r for r in main if r.get("reply") in ("no-signal", "no-stage", "complete-failed")]
    by_session: dict[str, list[dict[str, Any]]] = {}
    for r in main:
        by_session.setdefault(Path(str(r["signal"])).stem, []).append(r)
    assert set(by_session) == {s.id for s in sessions}, report
    asked = [r["asked"] for r in by_session[s2a.id] if r.get("asked")]
    assert len(asked) == 1, f"loom's handoff request reached the agent {len(asked)} times: {asked}"
    for session in (s1, s2b):
        assert not [r for r in by_session[session.id] if r.get("asked")], "asked a handoff"

    # s1's model tried `git add -A`: loom's guard refused it (PreToolUse, exit 2), the refusal
    # came back as the tool's result, and the model carried on to complete the stage.
    lane = {str(r.get("lane")) for r in by_session[s1.id] if r.get("lane")}
    assert lane and all("loom guard: `git add -A` refused" in text for text in lane), lane
    s1_hooks = [normalize(h) for h in _jsonl(project.work / "hooks" / f"{s1.id}.jsonl")]
    refused = [h for h in s1_hooks if h.get("refused")]
    assert [h["event"] for h in refused] == ["PreToolUse"], s1_hooks

    # Every context figure loom recorded is the transcript's, within a point.
    events = project.events()
    context_events = [e for e in events if e.get("kind") == "context"]
    statusline_readings = 0
    for session in sessions:
        expected_path = claude_code.transcript_path(
            session.worktree or "", session.id, {"HOME": str(home)}
        )
        assert session.transcript_path == expected_path
        transcript = Path(expected_path)
        assert transcript.is_relative_to(home) and transcript.exists(), expected_path
        figures = transcript_figures(transcript)
        assert figures, f"no usage in {transcript}"
        what = f"{session.stage_id} generation {session.generation}"
        assert session.context_window == WINDOW, f"{what}: window {session.context_window}"
        assert session.context_percent is not None, what
        assert abs(session.context_percent - percent(figures[-1][1])) <= TOLERANCE, (
            f"{what}: the session record's {session.context_percent}% is not the transcript's "
            f"last figure {percent(figures[-1][1]):.2f}%"
        )
        assert session.context_tokens is not None
        assert abs(percent(session.context_tokens) - session.context_percent) < 0.01
        mine = [e for e in context_events if e.get("session") == session.id]
        assert mine, f"{what}: no context event"
        for event in mine:
            assert event["window"] == WINDOW, event
            assert_matches(f"{what} context event", float(event["percent"]), event["ts"], figures)
        hooks = [normalize(h) for h in _jsonl(project.work / "hooks" / f"{session.id}.jsonl")]
        statuslines = [h for h in hooks if h.get("event") == "statusline"]
        assert statuslines, f"{what}: the statusLine command never ran"
        for line in statuslines:
            assert line.get("context_window_size") in (None, WINDOW), line
            if isinstance(line.get("tokens"), int):
                statusline_readings += 1
                assert line["window"] == WINDOW, line
                assert_matches(f"{what} statusline", float(line["percent"]), line["ts"], figures)
        # Every session started and got its prompt through the hooks: no dialog in between.
        starts = [h for h in hooks if h.get("event") == "SessionStart"]
        assert [h.get("source") for h in starts] == ["startup"], f"{what}: {starts}"
        prompts = [h for h in hooks if h.get("event") == "UserPromptSubmit"]
        assert prompts and f"{session.id}.md" in str(prompts[0].get("prompt")), what
        for line in session.last_lines or []:
            assert not claude_code.PANE_TRUST.search(line), f"{what}: trust dialog: {line}"
            assert not claude_code.PANE_PERMISSION.search(line), f"{what}: permission: {line}"
        if session is s2a:
            assert max(percent(t) for _, t in figures) >= BUDGET, "s2 never crossed its budget"
        else:
            assert max(percent(t) for _, t in figures) < BUDGET, f"{what} crossed the budget"
    # The stage's gauge follows its current session (rewritten only when the rounded figure
    # changes), if loom kept it once the stage was done.
    last = percent(transcript_figures(Path(s2b.transcript_path or ""))[-1][1])
    gauge = stages["s2"].context_percent
    assert gauge is None or abs(gauge - last) <= TOLERANCE, stages["s2"]

    # No pane ever sat on a dialog or waited for a person.
    states = [e for e in events if e.get("kind") == "agent-state"]
    assert states, "no agent state was recorded"
    stuck = [e for e in states if e.get("source") == "pane-text" or "waiting" in str(e["state"])]
    assert not stuck, f"a session waited for input: {stuck}"
    assert not [e for e in states if e.get("state") == "needs-permission"]

    # ~/.claude.json: loom marked the project trusted, kept a backup of the user's file, said so
    # once, and left the API key answer exactly as the user wrote it.
    config = json.loads(claude_json.read_text())
    assert config["customApiKeyResponses"] == USER_CLAUDE_JSON["customApiKeyResponses"], config
    assert config["numStartups"] >= USER_CLAUDE_JSON["numStartups"]
    assert config["projects"][str(project.root)]["hasTrustDialogAccepted"] is True
    assert Path(str(claude_json) + ".loom-backup").read_text() == user_text
    said = [line for line in output.splitlines() if "trusted" in line and ".claude.json" in line]
    assert len(said) == 1, report
    check_session_settings(project, sessions)

    deliveries = [str(a) for a in asked]
    side = sorted({str(r.get("reply")) for r in requests if r.get("kind") == "side"})
    paths = sorted({str(r.get("path")).split("?")[0] for r in requests})
    print(
        f"run: {run_seconds:.1f} s; {len(requests)} API requests ({len(main)} of the stage "
        f"sessions; side: {side}; paths: {paths}); handoff request delivered by {deliveries}; "
        f"{len(context_events)} context events and {statusline_readings} statusLine readings "
        "matched the transcripts"
    )
