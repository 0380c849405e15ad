"""`~/.claude.json`: loom marks the project trusted and onboarding done, nothing else; it never
answers the API key question, keeps a backup of the user's file once, says what it changed once,
and `--no-trust` (or the `trust_claude_folders` setting) leaves the file alone."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from loom_tui.core.claude_config import BACKUP_SUFFIX, pre_accept
from loom_tui.core.errors import LoomError

KEY = "sk-ant-api03-a-fake-key-for-tests-0123456789abcdef"


def env_for(home: Path, **more: str) -> dict[str, str]:
    return {"HOME": str(home), "ANTHROPIC_API_KEY": KEY, **more}


USER_FILE = {
    "numStartups": 7,
    "customApiKeyResponses": {"approved": [], "rejected": [KEY[-20:]]},
    "projects": {"/elsewhere": {"hasTrustDialogAccepted": False, "allowedTools": ["x"]}},
}


def test_trust_and_onboarding_only_never_the_api_key(tmp_path: Path) -> None:
    target = tmp_path / ".claude.json"
    target.write_text(json.dumps(USER_FILE))
    os.chmod(target, 0o640)
    before = target.read_text()
    result = pre_accept(
        [str(tmp_path / "repo" / ".worktrees"), str(tmp_path / "repo")], env_for(tmp_path)
    )
    data = json.loads(target.read_text())
    assert data["customApiKeyResponses"] == USER_FILE["customApiKeyResponses"]  # untouched
    assert (
        data["numStartups"] == 7
        and data["projects"]["/elsewhere"] == USER_FILE["projects"]["/elsewhere"]
    )  # type: ignore[index]
    for folder in (tmp_path / "repo" / ".worktrees", tmp_path / "repo"):
        assert data["projects"][str(folder)]["hasTrustDialogAccepted"] is True
    assert data["hasCompletedOnboarding"] is True
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640  # the user's mode kept
    # the backup is the user's file as it was, private
    backup = Path(str(target) + BACKUP_SUFFIX)
    assert result.backup == str(backup) and backup.read_text() == before
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600
    message = result.message()
    assert message is not None and "\n" not in message
    assert str(tmp_path / "repo") in message and f"backup at {backup}" in message


def test_said_once_and_the_first_backup_is_kept(tmp_path: Path) -> None:
    target = tmp_path / ".claude.json"
    target.write_text(json.dumps(USER_FILE))
    first = pre_accept([str(tmp_path / "a")], env_for(tmp_path))
    assert first.changed and first.message()
    written = target.read_text()
    mtime = os.stat(target).st_mtime_ns
    again = pre_accept([str(tmp_path / "a")], env_for(tmp_path))
    assert not again.changed and again.message() is None  # nothing to say the second time
    assert target.read_text() == written and os.stat(target).st_mtime_ns == mtime  # not rewritten
    # a new folder changes the file again, but the backup still holds the user's original
    third = pre_accept([str(tmp_path / "b")], env_for(tmp_path))
    assert third.trusted == [str(tmp_path / "b")] and not third.onboarding
    backup = Path(str(target) + BACKUP_SUFFIX)
    assert json.loads(backup.read_text()) == USER_FILE


def test_a_missing_file_is_created_without_an_api_key_answer(tmp_path: Path) -> None:
    config_dir = tmp_path / "cfg"
    result = pre_accept([str(tmp_path / "r")], env_for(tmp_path, CLAUDE_CONFIG_DIR=str(config_dir)))
    data = json.loads((config_dir / ".claude.json").read_text())
    assert "customApiKeyResponses" not in data
    assert result.backup is None and "a new file" in (result.message() or "")
    assert not (tmp_path / ".claude.json").exists()


def test_an_unreadable_file_is_a_clear_error_and_left_alone(tmp_path: Path) -> None:
    target = tmp_path / ".claude.json"
    target.write_text("{not json")
    with pytest.raises(LoomError, match="cannot read Claude Code's settings"):
        pre_accept([str(tmp_path)], env_for(tmp_path))
    assert target.read_text() == "{not json"
    assert not Path(str(target) + BACKUP_SUFFIX).exists()
