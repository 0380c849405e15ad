"""The simulated agent's behaviour: one stage session, step by step, like an agent in its pane.

It reads its signal file, prints its progress as Claude Code would, edits and commits a file in its
worktree, writes a transcript with growing usage, runs its settings' hooks and statusLine command,
and finishes with `loom stage complete`.  The stage's ``sim`` block picks a scenario:

- ``normal``: do the work and complete;
- ``crash-once``: the first session of the stage dies mid-way (exit 3); later ones work;
- ``always-crash``: every session dies at its first step;
- ``stall``: stop making progress (no output, no exit);
- ``stall-once``: the first session of the stage stalls; later ones work;
- ``ask-input``: ask a question and wait at the prompt for an answer typed into the pane;
- ``ask-permission``: show a permission dialog and wait for a key;
- ``overrun``: the first session's context grows past the stage's budget.  When loom tells it
  (through a hook's exit 2, or text typed into the pane) to hand off, it runs
  `loom handoff write` and stops, or, with ``compliant: false``, ignores the request;
- ``handoff-loop``: every session overruns and hands off without committing anything;
- ``violations: true`` (with any scenario): before its work, the agent tries each lane violation
  loom's PreToolUse guard refuses (see `violations.py`), then carries on;
- ``compact``: the context grows past Claude Code's auto-compact point (83.5%) while staying under
  a high budget, so the PreCompact hook fires; unless a hook blocks it, the agent compacts (a
  ``compact_boundary`` in the transcript, usage restarting, SessionStart with source compact).

Started with a resolver's signal (its stage's merge conflicted), it resolves the conflict instead,
keeping both sides, whatever the scenario (``resolver: fail`` makes it give up): see `resolver.py`.

Each start is recorded in `.work/sim/starts.jsonl`, with the ``--agent`` and ``--model`` it was
given, so tests can count how often an agent ran and see what it ran as; and each end (a normal
exit, or SIGHUP/SIGTERM: tmux's kill-window hangs up the pane) in `.work/sim/ends.jsonl`, so tests
can tell whether two agents of one stage ever ran at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal as signals
import subprocess
import sys
import time
import uuid
from typing import Any

from loom_tui.core.fsutil import append_line
from loom_tui.simagent.claude_io import (
    PRICE_PER_MTOK,
    HookRunner,
    Transcript,
    Usage,
    model_id,
    statusline_payload,
)

SPINNER = "✻"
DEFAULTS: dict[str, Any] = {
    "scenario": "normal",
    "steps": 4,
    "step_seconds": 0.5,
    "tokens_per_step": 9000,
    "compliant": True,
    "edit": None,
    "fail_first": False,
}
BASE_TOKENS = 18_000
AUTO_COMPACT = 0.835


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class SimAgent:
    def __init__(
        self,
        *,
        started: float,
        stage_id: str,
        session_id: str,
        settings_path: str | None,
        model: str,
        signal_path: str,
        agent: str | None = None,
    ) -> None:
        from loom_tui.core.agents import claude_code
        from loom_tui.core.store import Store

        self.started = started
        self.stage_id = stage_id
        self.session_id = session_id
        self.signal_path = signal_path
        self.agent = agent
        self.alias = model
        self.cwd = os.getcwd()
        self.store = Store(os.environ["LOOM_WORK_DIR"])
        self.stage = self.store.read_stage(stage_id)
        self.generation = self._generation()
        spec = dict(DEFAULTS)
        spec.update(self.stage.sim or {})
        self.spec = spec
        self.settings: dict[str, Any] = {}
        if settings_path:
            with open(settings_path, encoding="utf-8") as fh:
                self.settings = json.load(fh)
        self.window = claude_code.window_size(model_id(model))
        self.transcript_path = claude_code.transcript_path(self.cwd, session_id)
        self.transcript = Transcript(self.transcript_path, session_id, self.cwd, model_id(model))
        self.hooks = HookRunner(self.settings, session_id, self.transcript_path, self.cwd)
        self.tokens = BASE_TOKENS
        self.total_input = 0
        self.total_output = 0
        self.cost = 0.0
        self.usage: Usage | None = None
        self.stop_requested = False
        self.handoff_requested = False
        #: the guard's answer to the latest tool call it refused (None when it let it through)
        self.last_refusal: str | None = None
        self._end_recorded = False

    # ------------------------------------------------------------------------------------------
    def _generation(self) -> int:
        try:
            return self.store.read_session(self.session_id).generation
        except Exception:
            return 1

    def record_start(self) -> int:
        """Append this start to `.work/sim/starts.jsonl`; returns how many came before it."""
        directory = os.path.join(self.store.work_dir, "sim")
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "starts.jsonl")
        try:
            with open(path, encoding="utf-8") as fh:
                before = sum(1 for line in fh if f'"stage": "{self.stage_id}"' in line)
        except FileNotFoundError:
            before = 0
        line = json.dumps(
            {
                "stage": self.stage_id,
                "session": self.session_id,
                "generation": self.generation,
                "agent": self.agent,
                "model": self.alias,
                "pid": os.getpid(),
                "ts": self.started,
                "attempt": before + 1,
            }
        )
        append_line(path, line)  # whole or not at all (a full disk): tests parse every line
        return before

    def record_end(self, how: str) -> None:
        """Append this agent's end to `.work/sim/ends.jsonl` (once; never raises)."""
        if self._end_recorded:
            return
        self._end_recorded = True
        try:
            line = json.dumps(
                {
                    "stage": self.stage_id,
                    "session": self.session_id,
                    "pid": os.getpid(),
                    "ts": time.time(),
                    "how": how,
                }
            )
            append_line(os.path.join(self.store.work_dir, "sim", "ends.jsonl"), line)
        except Exception:
            pass

    def _on_signal(self, signum: int, _frame: object) -> None:
        """SIGHUP/SIGTERM: record the end, then die of the signal as before."""
        self.record_end(signals.Signals(signum).name)
        signals.signal(signum, signals.SIG_DFL)
        os.kill(os.getpid(), signum)

    def _watch_end(self) -> None:
        for signum in (signals.SIGHUP, signals.SIGTERM):
            with contextlib.suppress(OSError, ValueError):
                signals.signal(signum, self._on_signal)

    # the model's side -------------------------------------------------------------------------
    def _reply(self, content: list[dict[str, Any]], stop: str, growth: int) -> None:
        self.tokens += growth
        cache_read = max(0, self.tokens - 2000 - 40)
        self.usage = Usage(40, 2000, cache_read, 120)
        self.total_input += self.usage.context_tokens
        self.total_output += self.usage.output
        price_in, price_out = PRICE_PER_MTOK.get(self.alias.removesuffix("[1m]"), (5.0, 25.0))
        self.cost += (self.usage.context_tokens * price_in + self.usage.output * price_out) / 1e6
        self.transcript.assistant(content, self.usage, stop)
        self.redraw()
        self.check_compaction()

    def redraw(self) -> None:
        """What a screen redraw does in Claude Code: run the statusLine command."""
        payload = statusline_payload(
            session_id=self.session_id,
            transcript_path=self.transcript_path,
            cwd=self.cwd,
            alias=self.alias,
            usage=self.usage,
            window=self.window,
            total_input=self.total_input,
            total_output=self.total_output,
            cost=self.cost,
            started=self.started,
        )
        line = self.hooks.statusline(payload)
        if line:
            say(f"  {line}")

    def tool(self, name: str, tool_input: dict[str, Any], run: Any, growth: int) -> str:
        """One tool call: PreToolUse, the tool, PostToolUse, with the hooks' answers obeyed."""
        tool_id = f"toolu_{uuid.uuid4().hex[:20]}"
        self._reply(
            [{"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}],
            "tool_use",
            growth,
        )
        summary = tool_input.get("command") or tool_input.get("file_path") or ""
        say(f"● {name}({summary})")
        self.last_refusal = None
        for result in self.hooks.run(
            "PreToolUse", tool_name=name, tool_input=tool_input, tool_use_id=tool_id
        ):
            if result.blocking:
                say(f"  ⎿  PreToolUse:{name} hook blocked: {result.stderr.strip()}")
                self.transcript.tool_result(tool_id, result.stderr, is_error=True)
                if result.stderr.startswith("loom guard:"):
                    self.last_refusal = result.stderr.strip()  # noted; the agent carries on
                else:
                    self.hear(result.stderr)
                return ""
        output = run()
        say(f"  ⎿  {output.splitlines()[0] if output.strip() else '(no output)'}")
        self.transcript.tool_result(tool_id, output)
        for result in self.hooks.run(
            "PostToolUse",
            tool_name=name,
            tool_input=tool_input,
            tool_response={"stdout": output, "stderr": ""},
            tool_use_id=tool_id,
        ):
            if result.blocking:
                say(f"  ⎿  PostToolUse:{name} hook blocking error: {result.stderr.strip()}")
                self.hear(result.stderr)
        return str(output)

    def hear(self, message: str) -> None:
        """A message reaches the model (hook feedback or text typed into the pane)."""
        if "handoff" in message.lower():
            self.handoff_requested = True
        if "stop" in message.lower():
            self.stop_requested = True

    # the terminal's side ----------------------------------------------------------------------
    def wait(self, seconds: float) -> None:
        """Pause for ``seconds`` while watching the pane for typed text."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            line = self.read_line(left)
            if line:
                say(f"> {line}")
                self.transcript.user(f"The user sent a new message while you were working: {line}")
                self.hooks.run("UserPromptSubmit", prompt=line)
                self.hear(line)

    def read_line(self, timeout: float | None) -> str | None:
        try:
            ready, _, _ = select.select([sys.stdin], [], [], timeout)
        except (OSError, ValueError):
            time.sleep(timeout or 0)
            return None
        if not ready:
            return None
        line = sys.stdin.readline()
        if line == "":
            time.sleep(timeout or 0.1)
            return None
        return line.strip()

    def idle(self) -> None:
        """Wait at the prompt forever, like Claude Code after its turn ends."""
        say("")
        say("❯ ")
        while True:
            line = self.read_line(None)
            if line:
                self.hooks.run("UserPromptSubmit", prompt=line)
                say(f"> {line}")
                say(f"{SPINNER} Nothing left to do in this session.")
                self.hooks.run(
                    "Stop", stop_hook_active=False, last_assistant_message="Nothing left to do."
                )
                say("❯ ")

    # the work ---------------------------------------------------------------------------------
    def edit_and_commit(self) -> str:
        rel = self.spec.get("edit") or f"sim/{self.stage_id}.md"
        path = os.path.join(self.cwd, rel)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(f"# {self.stage.name}\n\nWritten by stage {self.stage_id}.\n")
        for other in self.spec.get("also_edit") or []:
            # its line at the end: two stages that both do this change the same lines
            path = os.path.join(self.cwd, other)
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(f"# {self.stage_id}: {self.stage.name}\n")
        env = dict(os.environ)
        env.update(
            {
                "GIT_AUTHOR_NAME": "loom-sim-agent",
                "GIT_AUTHOR_EMAIL": "sim@loom.invalid",
                "GIT_COMMITTER_NAME": "loom-sim-agent",
                "GIT_COMMITTER_EMAIL": "sim@loom.invalid",
            }
        )
        subprocess.run(
            ["git", "add", "-A"], cwd=self.cwd, env=env, check=False, capture_output=True
        )
        proc = subprocess.run(
            ["git", "commit", "-q", "-m", f"{self.stage_id}: {self.stage.name}"],
            cwd=self.cwd,
            env=env,
            check=False,
            capture_output=True,
            text=True,
        )
        return f"committed {rel}" if proc.returncode == 0 else (proc.stdout + proc.stderr).strip()

    def loom(self, *args: str) -> tuple[int, str]:
        proc = subprocess.run(["loom", *args], capture_output=True, text=True, check=False)
        return proc.returncode, (proc.stdout + proc.stderr).strip()

    def write_handoff(self) -> None:
        summary = (
            f"Generation {self.generation} of {self.stage_id} reached its context budget. "
            f"Done so far: edited and committed {self.spec.get('edit') or 'its file'}. "
            "Next: finish the remaining steps and run loom stage complete."
        )
        self.tool(
            "Bash",
            {"command": f"loom handoff write {self.stage_id} --summary '...'"},
            lambda: self.loom("handoff", "write", self.stage_id, "--summary", summary)[1],
            800,
        )

    def growth_per_step(self, steps: int) -> int:
        scenario = self.spec["scenario"]
        target = None
        if (scenario == "overrun" and self.generation == 1) or scenario == "handoff-loop":
            target = self.stage.context_budget + 2
        elif scenario == "compact" and self.generation == 1:
            target = 86
        if target is None:
            return int(self.spec["tokens_per_step"])
        target_tokens = min(target, 99) / 100 * self.window
        return int((target_tokens - BASE_TOKENS - 1500) / max(1, steps // 2)) + 1

    def check_compaction(self) -> None:
        """Claude Code compacts near 83.5% of the window; PreCompact may block it (exit 2)."""
        if self.tokens < AUTO_COMPACT * self.window:
            return
        results = self.hooks.run("PreCompact", trigger="auto", custom_instructions="")
        blocked = [r for r in results if r.blocking]
        if blocked:
            say(f"  ⎿  PreCompact hook blocked compaction: {blocked[0].stderr.strip()}")
            self.hear(blocked[0].stderr)
            return
        say(f"{SPINNER} Compacting conversation…")
        self.transcript.compact_boundary()
        self.tokens = BASE_TOKENS
        self.usage = None
        self.hooks.run("SessionStart", source="compact", model=model_id(self.alias))
        self.redraw()

    def run(self) -> int:
        self._watch_end()  # before the start is recorded: every recorded start has its end
        try:
            code = self._run()
        except BaseException:
            self.record_end("exception")
            raise
        self.record_end(f"exit {code}")
        return code

    def _run(self) -> int:
        before = self.record_start()
        scenario = self.spec["scenario"]
        steps = int(self.spec["steps"])
        pause = float(self.spec["step_seconds"])
        say(
            f"{SPINNER} loom-sim-agent · stage {self.stage_id} · session {self.session_id[:8]} · "
            f"generation {self.generation} · {scenario}"
        )
        self.hooks.run("SessionStart", source="startup", model=model_id(self.alias))
        prompt = f"Read your signal file at {self.signal_path} and carry out the stage it assigns."
        self.transcript.user(prompt)
        self.hooks.run("UserPromptSubmit", prompt=prompt)
        self.redraw()
        with open(self.signal_path, encoding="utf-8") as fh:
            signal = fh.read()
        self.tool(
            "Read",
            {"file_path": self.signal_path},
            lambda: f"Read {len(signal.splitlines())} lines",
            1500,
        )
        from loom_tui.core.resolver_signal import RESOLVER_HEADING

        if RESOLVER_HEADING in signal:
            from loom_tui.simagent.resolver import resolve

            say(f"{SPINNER} Resolving a merge conflict with the base branch…")
            return resolve(self)
        if "## Previous handoff" in signal:
            say(f"{SPINNER} Continuing from the previous session's handoff…")
        if self.spec.get("violations"):
            from loom_tui.simagent.violations import attempts, try_all

            say(f"{SPINNER} Trying to leave the stage's lane (sim: violations)…")
            refused = try_all(self)
            say(f"{SPINNER} The guard refused {refused} of {len(attempts(self))}; carrying on.")
        growth = self.growth_per_step(steps)
        edit_at = max(1, (steps + 1) // 2)
        for step in range(1, steps + 1):
            if scenario == "always-crash" or (
                scenario == "crash-once" and before == 0 and step == min(2, steps)
            ):
                say("✗ Error: simulated crash (the agent process dies)")
                return 3
            if step == 1 and (scenario == "stall" or (scenario == "stall-once" and before == 0)):
                say(f"{SPINNER} Thinking…")
                while True:
                    time.sleep(3600)
            if scenario == "ask-input" and step == min(2, steps):
                self.ask(
                    "Which output format should the report use? (json/text)",
                    "idle_prompt",
                    "Claude is waiting for your input",
                )
            if scenario == "ask-permission" and step == min(2, steps):
                self.ask(
                    "Bash command\n\n  rm -rf build/\n\nDo you want to proceed?\n❯ 1. Yes\n  2. No",
                    "permission_prompt",
                    "Claude needs your permission to use Bash",
                )
            say(f"{SPINNER} Working on {self.stage.name} (step {step} of {steps})…")
            if step == edit_at and scenario != "handoff-loop":
                self.tool(
                    "Bash",
                    {"command": "git commit -am ...", "description": "Commit"},
                    self.edit_and_commit,
                    growth,
                )
            else:
                self.tool(
                    "Bash",
                    {"command": f"echo step {step}", "description": "Work"},
                    lambda: "ok",
                    growth,
                )
            if self.handoff_requested:
                return self.hand_off()
            self.wait(pause)
            if self.handoff_requested:
                return self.hand_off()
        return self.finish()

    def ask(self, question: str, kind: str, message: str) -> None:
        self._reply([{"type": "text", "text": question}], "end_turn", 200)
        say(question)
        say("❯ ")
        self.hooks.run("Stop", stop_hook_active=False, last_assistant_message=question)
        self.hooks.run("Notification", message=message, notification_type=kind)
        while True:
            answer = self.read_line(None)
            if answer is not None:
                break
        self.transcript.user(answer)
        self.hooks.run("UserPromptSubmit", prompt=answer)
        say(f"> {answer}")

    def hand_off(self) -> int:
        if not self.spec.get("compliant", True):
            say(f"{SPINNER} (ignoring the request to hand off)")
            self.handoff_requested = False
            while True:  # a silent agent: keeps "working" without progress until loom ends it
                self.wait(3600)
        self.write_handoff()
        self._reply([{"type": "text", "text": "Handoff written; stopping."}], "end_turn", 300)
        say("Handoff written; stopping so that a fresh session can continue.")
        self.hooks.run("Stop", stop_hook_active=False, last_assistant_message="Handoff written.")
        self.idle()
        return 0

    def run_loom_merge(self) -> int:
        """A resolver's last step: `loom merge ID` completes the stage and merges it."""
        code, out = 1, "(the command did not run)"

        def merge() -> str:
            nonlocal code, out
            code, out = self.loom("merge", self.stage_id)
            return out

        self.tool("Bash", {"command": f"loom merge {self.stage_id}"}, merge, 600)
        for line in out.splitlines()[-8:]:
            say(f"     {line}")
        if code != 0:
            return self.give_up("✗ The merge did not go through; stopping.")
        self._reply([{"type": "text", "text": "Resolved and merged."}], "end_turn", 200)
        self.hooks.run("Stop", stop_hook_active=False, last_assistant_message="Merged.")
        self.hooks.run("SessionEnd", reason="prompt_input_exit")
        say("✓ Conflict resolved and merged.")
        return 0

    def give_up(self, message: str) -> int:
        say(message)
        self.hooks.run("Stop", stop_hook_active=False, last_assistant_message=message)
        self.hooks.run("SessionEnd", reason="prompt_input_exit")
        return 1

    def finish(self) -> int:
        for attempt in (1, 2):
            code, out = 1, "(the command did not run)"

            def complete() -> str:
                nonlocal code, out
                code, out = self.loom("stage", "complete", self.stage_id)
                return out

            self.tool("Bash", {"command": f"loom stage complete {self.stage_id}"}, complete, 600)
            for line in out.splitlines()[-8:]:
                say(f"     {line}")
            if code == 0:
                self._reply([{"type": "text", "text": "The stage is complete."}], "end_turn", 200)
                self.hooks.run(
                    "Stop", stop_hook_active=False, last_assistant_message="The stage is complete."
                )
                self.hooks.run("SessionEnd", reason="prompt_input_exit")
                say("✓ Stage complete.")
                return 0
            if attempt == 1:
                self.tool("Bash", {"command": "git commit -am fix"}, self.edit_and_commit, 500)
        say("✗ The acceptance commands still fail; stopping.")
        self.hooks.run("Stop", stop_hook_active=False, last_assistant_message="Acceptance fails.")
        self.hooks.run("SessionEnd", reason="prompt_input_exit")
        return 1
