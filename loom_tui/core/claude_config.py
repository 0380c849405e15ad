"""Pre-accepting Claude Code's first-run dialogs for the stage worktrees, and nothing else.

An unattended pane must not sit on "Is this a project you created or one you trust?".  Claude
Code skips that dialog when `~/.claude.json` (or `$CLAUDE_CONFIG_DIR/.claude.json`) says
``projects["<path>"].hasTrustDialogAccepted: true`` for the working directory (or an ancestor,
or its main repository), so loom marks the project's folders there, and onboarding as done.

That file is the user's: loom changes only those keys, keeps every other one, and never answers
the custom API key question (``customApiKeyResponses``): a subscriber who rejected the key would be
billed through it.  Before its first change loom copies the file to `.claude.json.loom-backup`
(once: a later change never overwrites the copy of the user's own file), and the caller says what
changed, once, when something did.  `loom run --no-trust` (or the `trust_claude_folders = false`
setting) leaves the file alone altogether, for users who accept the dialog themselves.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile

from loom_tui.core.agents import claude_code
from loom_tui.core.errors import LoomError
from loom_tui.core.fsutil import FileLock, atomic_write

BACKUP_SUFFIX = ".loom-backup"


class TrustResult:
    """What `pre_accept` did: the file, the folders it newly trusted, and the backup made."""

    def __init__(self, path: str, trusted: list[str], onboarding: bool, backup: str | None):
        self.path = path
        self.trusted = trusted
        self.onboarding = onboarding
        self.backup = backup

    @property
    def changed(self) -> bool:
        return bool(self.trusted) or self.onboarding

    def message(self) -> str | None:
        """The one line to show when the file changed (None when it did not)."""
        if not self.changed:
            return None
        parts = [f"marked {' and '.join(self.trusted)} trusted"] if self.trusted else []
        if self.onboarding:
            parts.append("Claude Code's onboarding done")
        kept = f"backup at {self.backup}" if self.backup else "a new file"
        return f"{' and '.join(parts)} in {self.path} ({kept})"


def _read(target: str) -> tuple[dict[str, object], bool]:
    """The JSON object in ``target`` and whether the file exists."""
    try:
        with open(target, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}, False
    except (OSError, ValueError) as exc:
        raise LoomError(f"{target}: cannot read Claude Code's settings: {exc}") from None
    if not isinstance(data, dict):
        raise LoomError(f"{target}: expected a JSON object")
    return data, True


def _backup(target: str) -> str:
    """Copy the user's file beside it once; later runs keep that first copy."""
    backup = target + BACKUP_SUFFIX
    if not os.path.exists(backup):
        tmp = f"{backup}.{os.getpid()}.tmp"
        try:
            shutil.copy2(target, tmp)
            os.chmod(tmp, 0o600)
            os.replace(tmp, backup)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise LoomError(f"{target}: cannot keep a backup at {backup}: {exc}") from None
    return backup


def pre_accept(paths: list[str], env: dict[str, str] | None = None) -> TrustResult:
    """Mark ``paths`` trusted and onboarding done, writing the file only if that changes it."""
    env = dict(os.environ) if env is None else env
    target = claude_code.global_config_path(env)
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    # loom processes take turns; the lock file lives outside the user's home
    lock = os.path.join(tempfile.gettempdir(), f"loom-claude-json-{os.getuid()}.lock")
    with FileLock(lock):
        data, existed = _read(target)
        projects = data.get("projects")
        if not isinstance(projects, dict):
            projects = data["projects"] = {}
        trusted: list[str] = []
        for path in paths:
            key = os.path.abspath(path)
            entry = projects.get(key)
            if not isinstance(entry, dict):
                entry = projects[key] = {}
            if entry.get("hasTrustDialogAccepted") is not True:
                entry["hasTrustDialogAccepted"] = True
                entry.setdefault("hasCompletedProjectOnboarding", True)
                trusted.append(key)
        onboarding = data.get("hasCompletedOnboarding") is not True
        if onboarding:
            data["hasCompletedOnboarding"] = True
        result = TrustResult(target, trusted, onboarding, None)
        if not result.changed:
            return result
        if existed:
            result.backup = _backup(target)
        mode = 0o600
        with contextlib.suppress(OSError):
            mode = os.stat(target).st_mode & 0o777
        atomic_write(target, json.dumps(data, indent=2) + "\n", mode=mode)
    return result
