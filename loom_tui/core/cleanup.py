"""`loom clean [--all]`: remove what loom left behind that is safe to remove.

Without ``--all`` (safe while a scheduler runs; nothing a live session or a running writer uses is
touched):

- temporary files under `.work/` left by writers that were killed mid-write (a file still being
  written, by a live process or for a live session, is kept);
- the files of ended sessions that nothing reads any more: `sessions/<sid>.settings.json`,
  `sessions/<sid>.exit`, and `signals/<sid>.md` when it is older than the session's end (the
  session records themselves, handoffs, memory and hook logs are kept: they are the run's history),
  and their hook flags under `.work/flags/` (see core/hook_flags.py);
- empty files under `.work/pulse/` (wake-up marks for the scheduler);
- the project's private tmux server, when no session is live and no scheduler runs.

With ``--all`` (refused while a scheduler runs, or while a session is live unless ``force``):
also every worktree under `.worktrees/` and every `loom/*` branch, then `.work/` itself.  A worktree
with uncommitted changes, and a branch with commits the base branch does not have, are kept unless
``force``: `--all` never loses work silently.
"""

from __future__ import annotations

import os
import re
import shutil

from loom_tui.core import git
from loom_tui.core.errors import LoomError
from loom_tui.core.fsutil import TEMP_SUFFIX
from loom_tui.core.hook_flags import KINDS, flag_path
from loom_tui.core.store import Store

#: `fsutil.atomic_write`'s temporary names: `.<name>.<pid>.<n>.tmp`.
_WRITER_TEMP = re.compile(r"^\..+\.(\d+)\.\d+" + re.escape(TEMP_SUFFIX) + "$")
#: The pane wrapper's exit file while it is written: `<sid>.exit.tmp`.
_EXIT_TEMP = re.compile(r"^(.+)\.exit" + re.escape(TEMP_SUFFIX) + "$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _remove(path: str, dry_run: bool) -> bool:
    if dry_run:
        return os.path.exists(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


class Cleaner:
    """Works out and removes the leftovers of one project; ``lines`` says what it did."""

    def __init__(self, store: Store, *, dry_run: bool = False) -> None:
        self.store = store
        self.dry_run = dry_run
        self.lines: list[str] = []
        self.verb = "would remove" if dry_run else "removed"

    def stale_temp_files(self, live_sessions: set[str]) -> None:
        removed = []
        for path in self.store.stale_temp_files():
            name = os.path.basename(path)
            writer = _WRITER_TEMP.match(name)
            if writer is not None and _pid_alive(int(writer.group(1))):
                continue
            exit_file = _EXIT_TEMP.match(name)
            if exit_file is not None and exit_file.group(1) in live_sessions:
                continue
            if _remove(path, self.dry_run):
                removed.append(self.store.rel(path))
        if removed:
            listed = ", ".join(removed[:5]) + (" …" if len(removed) > 5 else "")
            self.lines.append(
                f"{self.verb} {_count(len(removed), 'stale temporary file')}: {listed}"
            )

    def ended_session_files(self) -> None:
        files = 0
        sessions = 0
        flags = 0
        for session in self.store.sessions():
            if session.live:
                continue
            for kind in KINDS:  # the scheduler clears them at the end; a kill by hand may not
                flags += _remove(flag_path(self.store.work_dir, session.id, kind), self.dry_run)
            ended = session.ended_at
            if ended is None:
                try:
                    ended = os.path.getmtime(self.store.session_path(session.id))
                except OSError:
                    continue
            before = files
            base = os.path.join(self.store.sessions_dir, session.id)
            for path in (base + ".settings.json", base + ".exit"):
                files += _remove(path, self.dry_run)
            signal = self.store.signal_path(session.id)
            try:
                older = os.path.getmtime(signal) <= ended
            except OSError:
                older = False
            if older:
                files += _remove(signal, self.dry_run)
            sessions += files > before
        if files:
            self.lines.append(
                f"{self.verb} {_count(files, 'file')} of {_count(sessions, 'ended session')} "
                "(settings, exit and signal files)"
            )
        if flags:
            self.lines.append(
                f"{self.verb} {_count(flags, 'hook flag file')} of ended sessions (.work/flags/)"
            )

    def empty_pulse_files(self) -> None:
        folder = os.path.join(self.store.work_dir, "pulse")
        try:
            names = os.listdir(folder)
        except OSError:
            return
        count = 0
        for name in names:
            path = os.path.join(folder, name)
            try:
                empty = os.path.isfile(path) and os.path.getsize(path) == 0
            except OSError:
                continue
            if empty:
                count += _remove(path, self.dry_run)
        if count:
            self.lines.append(f"{self.verb} {_count(count, 'empty pulse file')}")

    def tmux_server(self, live: int, scheduler: int | None) -> None:
        from loom_tui.core.tmux import Tmux

        try:
            socket = self.store.config().tmux_socket
        except LoomError:
            return
        if not socket:
            return
        tmux = Tmux(socket)
        try:
            alive = tmux.alive()
        except Exception:  # no tmux binary, unreadable socket: nothing of ours runs there
            return
        if not alive:
            return
        if scheduler is not None:
            self.lines.append(f"kept the tmux server {socket}: a scheduler (pid {scheduler}) runs")
            return
        if live:
            self.lines.append(
                f"kept the tmux server {socket}: {_count(live, 'session')} "
                f"{'is' if live == 1 else 'are'} live (`loom sessions list`)"
            )
            return
        if not self.dry_run:
            tmux.kill_server()
        self.lines.append(
            f"{'would stop' if self.dry_run else 'stopped'} the private tmux server {socket} "
            "(no session was live)"
        )

    # --all ------------------------------------------------------------------------------------
    def worktrees_and_branches(self, force: bool) -> None:
        from loom_tui.core.worktrees import uncommitted, worktree_rows

        try:
            base: str | None = self.store.config().base_branch
        except LoomError:
            base = None
        root = self.store.root
        for row in worktree_rows(self.store):
            where = self.store.rel(row.path)
            if row.exists or row.registered:
                changes = uncommitted(row.path) if row.exists else []
                if changes and not force:
                    shown = ", ".join(changes[:3]) + (" …" if len(changes) > 3 else "")
                    self.lines.append(
                        f"kept {where}"
                        + (f" and {row.branch}" if row.branch else "")
                        + f": uncommitted changes to {shown} (--force removes it)"
                    )
                    continue
                if not self.dry_run:
                    git.remove_worktree(root, row.stage, delete_branch=False)
                if row.exists:
                    self.lines.append(f"{self.verb} worktree {where}")
            if row.branch is None:
                continue
            if not force and (row.ahead is None or row.ahead > 0):
                detail = (
                    f"{_count(row.ahead, 'commit')} not in {base}"
                    if row.ahead
                    else f"cannot compare it with {base or 'the base branch'}"
                )
                self.lines.append(f"kept branch {row.branch}: {detail} (--force deletes it)")
                continue
            if not self.dry_run and not self._delete_branch(row.branch, base):
                continue
            self.lines.append(
                f"{'would delete' if self.dry_run else 'deleted'} branch {row.branch}"
            )
        folder = os.path.join(root, git.WORKTREES_DIR)
        if not self.dry_run and os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)

    def _delete_branch(self, name: str, base: str | None) -> bool:
        repo = git.open_repo(self.store.root)
        branch = repo.branches.local.get(name)
        if branch is None:
            return False
        if name == base or branch.is_head() or branch.is_checked_out():
            self.lines.append(f"kept branch {name}: it is checked out")
            return False
        branch.delete()
        return True

    def work_dir(self) -> None:
        stages = len(self.store.stage_ids())
        sessions = len(self.store.sessions())
        if not self.dry_run:
            shutil.rmtree(self.store.work_dir)
        self.lines.append(
            f"{self.verb} {self.store.rel(self.store.work_dir)}/ "
            f"({_count(stages, 'stage record')}, {_count(sessions, 'session record')})"
        )


def clean(
    store: Store, *, everything: bool = False, force: bool = False, dry_run: bool = False
) -> list[str]:
    """`loom clean [--all]`: the messages to print (see the module's docstring)."""
    from loom_tui.core.control import scheduler_pid

    cleaner = Cleaner(store, dry_run=dry_run)
    sessions = store.sessions()
    live = {s.id for s in sessions if s.live}
    if not everything:
        cleaner.stale_temp_files(live)
        cleaner.ended_session_files()
        cleaner.empty_pulse_files()
        cleaner.tmux_server(len(live), scheduler_pid(store))
        return cleaner.lines or ["nothing to clean"]

    from loom_tui.core.worktrees import hold_scheduler_lock

    lock = hold_scheduler_lock(store, "clean everything")
    try:
        if live and not force:
            raise LoomError(
                f"{_count(len(live), 'agent session')} {'is' if len(live) == 1 else 'are'} "
                "still live: end them first (`loom stop --kill-sessions`), or add --force"
            )
        if live:
            from loom_tui.core.tmux import Tmux

            if not dry_run:
                try:
                    Tmux(store.config().tmux_socket).kill_server()
                except Exception as exc:
                    raise LoomError(f"cannot end the live sessions: {exc}") from None
            cleaner.lines.append(
                f"{'would end' if dry_run else 'ended'} {_count(len(live), 'live session')} "
                "(--force)"
            )
        else:
            cleaner.tmux_server(0, None)
        cleaner.worktrees_and_branches(force)
        cleaner.work_dir()
    finally:
        lock.release()
    return cleaner.lines
