"""Running a stage's acceptance commands, as `loom stage complete` and `loom verify` do.

Each command runs in a shell, in the stage's worktree when it has one (else the project root), with
the stage's environment.  The result of each is reported as it finishes so that the agent watching
its pane sees progress; a stage is completed only when every command exits 0.

An entry of the original loom's object form carries expectations besides exit 0 (``exit_code``,
``stdout_contains``, ``stdout_not_contains``, ``stderr_empty``): such a command runs with stdout and
stderr apart, so that they can be matched, and passes only when every expectation holds.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

DEFAULT_TIMEOUT = 900.0
TAIL_LINES = 20


class CommandResult:
    """How one acceptance command ended."""

    __slots__ = (
        "command",
        "exit_code",
        "expected_exit",
        "output_tail",
        "seconds",
        "timed_out",
        "unmet",
    )

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
        #: the exit status that counts as success (an object-form entry may expect another)
        self.expected_exit = 0
        #: the expectations of an object-form entry that its run did not meet
        self.unmet: list[str] = []

    @property
    def passed(self) -> bool:
        return self.exit_code == self.expected_exit and not self.timed_out and not self.unmet

    def summary(self) -> str:
        if self.passed:
            return f"passed  {self.command}  ({self.seconds:.1f} s)"
        if self.timed_out:
            return f"FAILED  {self.command}  (timed out after {self.seconds:.0f} s)"
        if self.unmet:
            return f"FAILED  {self.command}  ({'; '.join(self.unmet)}, {self.seconds:.1f} s)"
        expected = f", expected {self.expected_exit}" if self.expected_exit else ""
        return f"FAILED  {self.command}  (exit {self.exit_code}{expected}, {self.seconds:.1f} s)"


def unmet_expectations(expect: Mapping[str, object], stdout: str, stderr: str) -> list[str]:
    """What of an object-form entry's output expectations the run did not meet (exit status is
    checked by `CommandResult.passed`)."""
    unmet: list[str] = []
    for text in _strings(expect.get("stdout_contains")):
        if text not in stdout:
            unmet.append(f"stdout lacks {text!r}")
    for text in _strings(expect.get("stdout_not_contains")):
        if text in stdout:
            unmet.append(f"stdout contains {text!r}")
    if expect.get("stderr_empty") is True and stderr.strip():
        unmet.append("stderr is not empty")
    return unmet


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


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
    checks: Sequence[object] = (),
) -> list[CommandResult]:
    """Run every command (all of them, even after a failure, so the report is complete).

    ``checks[i]``, when it is a non-empty mapping, holds the object-form expectations of
    ``commands[i]``."""
    import subprocess

    results = []
    full_env = dict(os.environ)
    full_env.update(env or {})
    for index, command in enumerate(commands):
        raw = checks[index] if index < len(checks) else None
        expect: dict[str, object] = dict(raw) if isinstance(raw, dict) else {}
        apart = bool(expect)  # stdout and stderr apart, to match them
        started = time.monotonic()
        timed_out = False
        err = b""
        try:
            proc = subprocess.run(
                command,
                shell=True,
                cwd=cwd,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE if apart else subprocess.STDOUT,
                timeout=_timeout(),
                check=False,
            )
            code = proc.returncode
            output = proc.stdout or b""
            err = (proc.stderr or b"") if apart else b""
        except subprocess.TimeoutExpired as exc:
            timed_out = True
            code = -1
            output = exc.output or b""
        except OSError as exc:
            code = 127
            output = str(exc).encode()
        text = output.decode("utf-8", errors="replace")
        err_text = err.decode("utf-8", errors="replace")
        shown = text + (err_text if err_text.strip() else "")
        tail = shown.rstrip("\n").splitlines()[-TAIL_LINES:] if shown.strip() else []
        result = CommandResult(command, code, time.monotonic() - started, tail, timed_out)
        exit_code = expect.get("exit_code")
        if isinstance(exit_code, int) and not isinstance(exit_code, bool):
            result.expected_exit = exit_code
        if apart and not timed_out:
            result.unmet = unmet_expectations(expect, text, err_text)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
