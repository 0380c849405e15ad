"""Running a stage's acceptance commands, as `loom stage complete` and `loom verify` do.

Each command runs in a shell, in the stage's worktree when it has one (else the project root), with
the stage's environment.  The result of each is reported as it finishes so that the agent watching
its pane sees progress; a stage is completed only when every command exits 0.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

DEFAULT_TIMEOUT = 900.0
TAIL_LINES = 20


class CommandResult:
    """How one acceptance command ended."""

    __slots__ = ("command", "exit_code", "output_tail", "seconds", "timed_out")

    def __init__(
        self,
        command: str,
        exit_code: int,
        seconds: float,
        output_tail: list[str],
        timed_out: bool = False,
    ) -> None:
        self.command = command
        self.exit_code = exit_code
        self.seconds = seconds
        self.output_tail = output_tail
        self.timed_out = timed_out

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def summary(self) -> str:
        if self.passed:
            return f"passed  {self.command}  ({self.seconds:.1f} s)"
        if self.timed_out:
            return f"FAILED  {self.command}  (timed out after {self.seconds:.0f} s)"
        return f"FAILED  {self.command}  (exit {self.exit_code}, {self.seconds:.1f} s)"


def _timeout() -> float:
    raw = os.environ.get("LOOM_ACCEPTANCE_TIMEOUT", "")
    try:
        return float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT


def run_commands(
    commands: Sequence[str],
    cwd: str,
    env: dict[str, str] | None = None,
    on_result: Callable[[CommandResult], None] | None = None,
) -> list[CommandResult]:
    """Run every command (all of them, even after a failure, so the report is complete)."""
    import subprocess

    results = []
    full_env = dict(os.environ)
    full_env.update(env or {})
    for command in commands:
        started = time.monotonic()
        timed_out = False
        try:
            proc = subprocess.run(
                command,
                shell=True,
                cwd=cwd,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=_timeout(),
                check=False,
            )
            code = proc.returncode
            output = proc.stdout or b""
        except subprocess.TimeoutExpired as exc:
            timed_out = True
            code = -1
            output = exc.output or b""
        except OSError as exc:
            code = 127
            output = str(exc).encode()
        text = output.decode("utf-8", errors="replace")
        tail = text.rstrip("\n").splitlines()[-TAIL_LINES:] if text.strip() else []
        result = CommandResult(command, code, time.monotonic() - started, tail, timed_out)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
