"""The project's private tmux server, through libtmux: one window per stage session.

- One server per project on its own socket (``-L loom-<hash>``), started with ``-f /dev/null``
  so the user's tmux configuration never applies, and ``remain-on-exit on`` set before any stage
  window exists, so a pane whose agent exits stays readable (its last lines and exit status).
- Every session's command is wrapped in ``sh -c`` that writes the agent's exit status to a file:
  tmux 3.3a sometimes loses ``pane_dead_status``, and the file is also an inotify event that tells
  the scheduler at once that an agent ended.  The wrapper's ``$0`` is ``loom-<session id>``, which
  tmux reports as part of ``pane_start_command``: that is how a restarted scheduler finds the panes
  of its sessions even when it died before recording their pane ids.
- All panes are read with one ``list-panes -a`` call per tick.

Every method blocks (libtmux runs the tmux binary); the scheduler calls them through
`asyncio.to_thread`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import threading

# Imported with this module, not lazily: libtmux reads sys.stdout.encoding when first imported,
# which fails once Textual has replaced sys.stdout with its print capture.
import libtmux
import libtmux.exc
from libtmux.common import tmux_cmd

from loom_tui.core.errors import LoomError
from loom_tui.core.fsutil import write_boundary
from loom_tui.core.preflight import TMUX_MISSING

SESSION_NAME = "loom"
#: What the server's first window shows: it runs as long as the server, so a server that is up
#: always lists at least this pane.
KEEPALIVE_TEXT = "loom: this window keeps the tmux server alive"
#: Said under it, for whoever lands here: tmux shows this window when the stage window a person
#: switched to closes (its session ended).  No quote characters: it goes into a shell command.
KEEPALIVE_HINT = (
    "A stage window that closed leaves you here. "
    "F12, when the status line shows it, goes back to the loom control window."
)
#: The most bytes of arguments one tmux client sends (tmux's message limit is 16 KiB).
CLIENT_COMMAND_BYTES = 12_000
MARKER_PREFIX = "loom-"
_FIELDS = (
    "pane_id",
    "pane_dead",
    "pane_dead_status",
    "pane_pid",
    "window_id",
    "window_name",
    "pane_current_command",
    "window_activity",
    "pane_start_command",
)
_FORMAT = "\t".join(f"#{{{f}}}" for f in _FIELDS)


class TmuxError(LoomError):
    """A tmux command failed."""


class PaneInfo:
    """One pane as `list-panes` reports it."""

    __slots__ = (
        "activity",
        "current_command",
        "dead",
        "dead_status",
        "pane_id",
        "pid",
        "session_id",
        "start_command",
        "window_id",
        "window_name",
    )

    def __init__(
        self,
        pane_id: str,
        dead: bool,
        dead_status: int | None,
        pid: int | None,
        window_id: str,
        window_name: str,
        current_command: str,
        start_command: str,
        activity: float | None = None,
    ) -> None:
        self.pane_id = pane_id
        self.dead = dead
        self.dead_status = dead_status
        self.pid = pid
        self.window_id = window_id
        self.window_name = window_name
        self.current_command = current_command
        self.start_command = start_command
        #: when the window last had output (tmux's ``window_activity``, whole seconds)
        self.activity = activity
        self.session_id = session_marker(start_command)

    def __repr__(self) -> str:
        state = f"dead {self.dead_status}" if self.dead else "alive"
        return f"PaneInfo({self.pane_id} {self.window_name} {state} session={self.session_id})"


_MARKER = re.compile(
    re.escape(MARKER_PREFIX) + r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b"
)


def session_marker(start_command: str) -> str | None:
    """The loom session id in a pane's start command (the wrapper's ``$0``), if any."""
    match = _MARKER.search(start_command)
    return match.group(1) if match else None


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def wrap_command(argv: list[str], session_id: str) -> str:
    """The shell command for a session's pane: run ``argv``, then record its exit status in the
    file named by ``$LOOM_EXIT_FILE`` (written to a temporary name and renamed: never half-read;
    on a full disk the temporary file is removed, and tmux's own exit status is what remains)."""
    script = (
        # tmux's new-window -e cannot set PATH (its global PATH wins): pass it as LOOM_PATH.
        'if [ -n "$LOOM_PATH" ]; then PATH="$LOOM_PATH"; export PATH; fi; '
        '"$@"; code=$?; '
        '{ printf "%s\\n" "$code" > "$LOOM_EXIT_FILE.tmp" '
        '&& mv "$LOOM_EXIT_FILE.tmp" "$LOOM_EXIT_FILE"; } 2>/dev/null '
        '|| rm -f "$LOOM_EXIT_FILE.tmp"; '
        'exit "$code"'
    )
    return shlex.join(["sh", "-c", script, f"{MARKER_PREFIX}{session_id}", *argv])


class WindowSpec:
    """What one new window runs: its name, folder, command, environment, session and exit file."""

    __slots__ = ("argv", "cwd", "env", "exit_file", "name", "session_id")

    def __init__(
        self,
        name: str,
        cwd: str,
        argv: list[str],
        env: dict[str, str],
        session_id: str,
        exit_file: str,
    ) -> None:
        self.name = name
        self.cwd = cwd
        self.argv = argv
        self.env = env
        self.session_id = session_id
        self.exit_file = exit_file


def _parse_pane(line: str) -> PaneInfo:
    pane_id, dead, status, pid, window_id, name, current, activity, start = line.split("\t", 8)
    seen = _int(activity)
    return PaneInfo(
        pane_id,
        dead == "1",
        _int(status),
        _int(pid),
        window_id,
        name,
        current,
        start,
        float(seen) if seen is not None else None,
    )


class Tmux:
    """The private tmux server of one project."""

    def __init__(self, socket_name: str) -> None:
        self.socket_name = socket_name
        self.server: libtmux.Server = libtmux.Server(
            socket_name=socket_name, config_file="/dev/null"
        )
        #: the server was seen running (or started) by this object: new windows do not ask again
        self._known_up = False
        self._up_lock = threading.Lock()  # the starts of a fan-out open windows side by side

    # plumbing ---------------------------------------------------------------------------------
    def _env(self) -> None:
        # loom may itself run inside some tmux; commands must address the private server only.
        os.environ.pop("TMUX", None)

    def _run(self, *args: str) -> tmux_cmd:
        """One tmux client; a missing tmux binary is a `TmuxError` that says so."""
        self._env()
        try:
            return self.server.cmd(*args)
        except libtmux.exc.TmuxCommandNotFound:
            raise TmuxError(TMUX_MISSING) from None

    def cmd(self, *args: str, check: bool = True) -> list[str]:
        result = self._run(*args)
        if check and result.returncode != 0:
            detail = " ".join(result.stderr) or f"exit {result.returncode}"
            raise TmuxError(f"tmux {args[0]}: {detail}")
        return list(result.stdout)

    @property
    def socket_path(self) -> str:
        base = os.environ.get("TMUX_TMPDIR") or "/tmp"
        return os.path.join(base, f"tmux-{os.getuid()}", self.socket_name)

    def alive(self) -> bool:
        self._env()
        return bool(self.server.is_alive())

    # server lifecycle -------------------------------------------------------------------------
    def ensure_server(self, cwd: str) -> None:
        """Start the server (with its options) unless it runs already."""
        if self.alive():
            return
        result = self._run(
            "new-session",
            "-d",
            "-s",
            SESSION_NAME,
            "-n",
            "loom",
            "-c",
            cwd,
            "-x",
            "200",
            "-y",
            "50",
            f'sh -c \'echo "{KEEPALIVE_TEXT}"; echo "{KEEPALIVE_HINT}"; exec tail -f /dev/null\'',
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "set-option",
            "-g",
            "history-limit",
            "20000",
            ";",
            "set-option",
            "-g",
            "status-left",
            "[loom] ",
            ";",
            "set-option",
            "-g",
            "mouse",
            "on",
        )
        if result.returncode != 0 and not self.alive():
            raise TmuxError(
                f"cannot start tmux server {self.socket_name}: {' '.join(result.stderr)}"
            )

    def kill_server(self) -> None:
        self._known_up = False
        if self.alive():
            self._run("kill-server")
        with contextlib.suppress(OSError):
            os.unlink(self.socket_path)

    def server_running(self) -> bool:
        """Whether the server is up (for the engine: its listing came back empty)."""
        return self.alive()

    def end_if_idle(self) -> bool:
        """Kill the server if nothing runs in it any more but its keep-alive window; True if it
        was killed.  Only a server of loom's own (its socket named ``loom-…``): a window someone
        opened in it keeps it, and the user's own tmux is never touched."""
        if not self.socket_name.startswith(MARKER_PREFIX) or not self.alive():
            return False
        for pane in self.list_panes().values():
            if not pane.dead and KEEPALIVE_TEXT not in pane.start_command:
                return False
        self.kill_server()
        return True

    def server_pid(self) -> int | None:
        lines = self.cmd("display-message", "-p", "#{pid}", check=False)
        return _int(lines[0]) if lines else None

    def nudge(self) -> None:
        """Send SIGCHLD to the server: tmux 3.3a sometimes misses an exit and never records it."""
        pid = self.server_pid()
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCHLD)

    # panes ------------------------------------------------------------------------------------
    def list_panes(self) -> dict[str, PaneInfo]:
        """Every pane of the server, by pane id, from one `list-panes -a` call ({} if no server)."""
        result = self._run("list-panes", "-a", "-F", _FORMAT)
        if result.returncode != 0:
            return {}
        panes = [
            _parse_pane(line) for line in result.stdout if line.count("\t") >= len(_FIELDS) - 1
        ]
        return {pane.pane_id: pane for pane in panes}

    def new_window(
        self,
        name: str,
        cwd: str,
        argv: list[str],
        env: dict[str, str],
        session_id: str,
        exit_file: str,
    ) -> PaneInfo:
        """Start ``argv`` in a new window of the server's session; returns its pane."""
        (result,) = self.new_windows([WindowSpec(name, cwd, argv, env, session_id, exit_file)])
        if isinstance(result, TmuxError):
            raise result
        return result

    def new_windows(self, specs: list[WindowSpec]) -> list[PaneInfo | TmuxError]:
        """Open a window for each spec with ONE tmux client (``new-window … ; new-window …``):
        a fan-out of 16 starts pays for one client, not 16.  tmux stops a command list at its
        first failure, so a window that fails is reported and the rest are opened again.  A
        server that cannot be started fails every window (each start fails on its own, and its
        stage takes its usual way out), never the whole batch."""
        if not specs:
            return []
        try:
            self._ensure_known_up(specs[0].cwd)
        except TmuxError as exc:
            return [exc for _spec in specs]
        results: list[PaneInfo | TmuxError] = []
        todo = list(specs)
        restarted = False
        while todo:
            args: list[str] = []
            size = 0
            batch = 0
            for spec in todo:
                more = self._new_window_args(spec)
                more_size = sum(len(a.encode()) + 1 for a in more)
                if batch and size + more_size > CLIENT_COMMAND_BYTES:
                    break  # tmux refuses a command list longer than its message size
                args += [*([";"] if args else []), *more]
                size += more_size + 2
                batch += 1
            out = self._run(*args)
            opened = [
                _parse_pane(line) for line in out.stdout if line.count("\t") >= len(_FIELDS) - 1
            ]
            for pane in opened:
                write_boundary()
                results.append(pane)
            if len(opened) == batch:
                todo = todo[batch:]
                continue
            if not opened and not restarted and not self.alive():
                restarted = True  # the server went away since: start it again, once
                try:
                    self.ensure_server(todo[0].cwd)
                except TmuxError as exc:
                    return results + [exc for _spec in todo]
                continue
            detail = " ".join(out.stderr) or f"exit {out.returncode}"
            results.append(TmuxError(f"tmux new-window: {detail}"))
            todo = todo[len(opened) + 1 :]
        return results

    def _ensure_known_up(self, cwd: str) -> None:
        if not self._known_up:
            with self._up_lock:
                if not self._known_up:
                    self.ensure_server(cwd)
                    self._known_up = True

    def _new_window_args(self, spec: WindowSpec) -> list[str]:
        env = {**spec.env, "LOOM_EXIT_FILE": spec.exit_file}
        if "PATH" in env:
            env["LOOM_PATH"] = env.pop("PATH")
        args = ["new-window", "-d", "-P", "-F", _FORMAT, "-t", f"{SESSION_NAME}:"]
        args += ["-n", spec.name, "-c", spec.cwd]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        args.append(wrap_command(spec.argv, spec.session_id))
        return args

    def capture(self, pane_id: str, lines: int = 40) -> list[str]:
        """The last ``lines`` lines of a pane, from its history too (dead panes keep theirs)."""
        out = self.cmd("capture-pane", "-p", "-J", "-t", pane_id, "-S", f"-{lines}", check=False)
        text = [line.rstrip() for line in out if not line.startswith("Pane is dead")]
        while text and not text[-1]:
            text.pop()
        return text[-lines:]

    def kill_window(self, target: str) -> None:
        self.cmd("kill-window", "-t", target, check=False)
        write_boundary()

    def kill_pane(self, target: str) -> None:
        self.cmd("kill-pane", "-t", target, check=False)

    def send_keys(self, pane_id: str, *keys: str) -> None:
        self.cmd("send-keys", "-t", pane_id, *keys)

    def paste(self, pane_id: str, text: str, *, enter: bool = True) -> None:
        """Type ``text`` into the pane as a bracketed paste (what a person pasting would do)."""
        buffer = f"loom-{pane_id.lstrip('%')}"
        self.cmd("set-buffer", "-b", buffer, "--", text)
        self.cmd("paste-buffer", "-p", "-d", "-b", buffer, "-t", pane_id)
        if enter:
            self.cmd("send-keys", "-t", pane_id, "Enter")
        write_boundary()

    def attach_command(self, target: str) -> list[str]:
        """The command a person runs to attach to a pane of this server."""
        return ["tmux", "-L", self.socket_name, "attach-session", "-t", target]
