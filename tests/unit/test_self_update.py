"""`loom self-update`: how loom-tui was installed (from the marks pipx, uv and pip leave), the
command run for each, and the one-line answer when the index cannot be reached.

Stand-in `pipx`, `uv` and `python` programs on PATH play the installers, and print what the real
ones print offline: the dev venv is never upgraded.  The real `loom self-update` runs once, on
this editable checkout, where it must only say to `git pull`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from loom_tui.core.self_update import DISTRIBUTION, Install, detect, upgrade
from tests.conftest import LOOM


def dist_info(site: Path, direct_url: dict[str, object] | None = None) -> str:
    folder = site / "loom_tui-1.0.dist-info"
    folder.mkdir(parents=True)
    if direct_url is not None:
        (folder / "direct_url.json").write_text(json.dumps(direct_url))
    return str(folder)


def test_pipx_uv_pip_and_editable_installs_are_told_apart(tmp_path: Path) -> None:
    pipx = tmp_path / "pipx" / "venvs" / DISTRIBUTION
    pipx.mkdir(parents=True)
    (pipx / "pipx_metadata.json").write_text("{}")
    found = detect(str(pipx), dist_info(pipx / "lib" / "site-packages"))
    assert found.kind == "pipx" and found.command() == ["pipx", "upgrade", DISTRIBUTION]

    uv = tmp_path / "uv" / "tools" / DISTRIBUTION
    uv.mkdir(parents=True)
    (uv / "uv-receipt.toml").write_text("[tool]\n")
    found = detect(str(uv), dist_info(uv / "lib" / "site-packages"))
    assert found.kind == "uv" and found.command() == ["uv", "tool", "upgrade", DISTRIBUTION]

    # without their marks, the installers' own layouts still tell
    assert detect("/home/u/.local/share/pipx/venvs/loom-tui", None).kind == "pipx"
    assert detect("/home/u/.local/share/uv/tools/loom-tui", None).kind == "uv"

    venv = tmp_path / "venv"
    found = detect(str(venv), dist_info(venv / "lib" / "site-packages"))
    assert found.kind == "pip" and not found.user
    assert found.command("/v/python") == [
        "/v/python",
        "-m",
        "pip",
        "install",
        "--upgrade",
        DISTRIBUTION,
    ]

    user_site = tmp_path / "home" / ".local" / "lib" / "site-packages"
    found = detect("/usr", dist_info(user_site), str(user_site))
    assert found.kind == "pip" and found.user and "--user" in found.command()

    checkout = tmp_path / "checkout"
    editable = dist_info(
        tmp_path / "ed" / "site-packages",
        {"url": f"file://{checkout}", "dir_info": {"editable": True}},
    )
    found = detect(str(pipx), editable)  # editable wins, wherever it lives
    assert found.kind == "editable" and found.location == str(checkout)


def fake(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def env_with(bin_dir: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


PIP_OFFLINE = (
    "WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) "
    "after connection broken by 'NewConnectionError(\"Failed to establish a new connection: "
    "[Errno -3] Temporary failure in name resolution\")': /simple/loom-tui/\n"
    "ERROR: Could not find a version that satisfies the requirement loom-tui\n"
)


def test_pipx_offline_is_one_clear_line(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake(
        bin_dir,
        "pipx",
        f"echo \"$@\" > {tmp_path}/argv\ncat >&2 <<'EOF'\n{PIP_OFFLINE}EOF\nexit 1\n",
    )
    code, message = upgrade(Install("pipx", "/p", "/p"), env_with(bin_dir))
    assert code == 1
    assert (tmp_path / "argv").read_text().split() == ["upgrade", DISTRIBUTION]
    assert message.startswith("cannot reach the package index: this machine looks offline")
    assert "pipx upgrade loom-tui" in message and "\n" not in message


def test_uv_offline_and_success(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake(
        bin_dir,
        "uv",
        "echo 'error: Failed to fetch: `https://pypi.org/simple/loom-tui/`' >&2\n"
        "echo '  Caused by: dns error: failed to lookup address information' >&2\nexit 2\n",
    )
    code, message = upgrade(Install("uv", "/p", "/p"), env_with(bin_dir))
    assert code == 1 and "looks offline" in message and "uv tool upgrade loom-tui" in message
    fake(bin_dir, "uv", "echo 'Updated loom-tui v1.0 -> v1.1'\n")
    code, message = upgrade(Install("uv", "/p", "/p"), env_with(bin_dir))
    assert code == 0 and "Updated loom-tui v1.0 -> v1.1" in message


def test_pip_that_only_warns_offline_is_not_a_success(tmp_path: Path) -> None:
    """pip with --upgrade keeps the installed version and exits 0 when the index is unreachable:
    loom still reports it offline, not upgraded."""
    bin_dir = tmp_path / "bin"
    fake(
        bin_dir,
        "python",
        f"cat >&2 <<'EOF'\n{PIP_OFFLINE}EOF\necho 'Requirement already satisfied: loom-tui'\n",
    )
    python = str(bin_dir / "python")
    code, message = upgrade(Install("pip", "/p", "/p"), env_with(bin_dir), python=python)
    assert code == 1 and "looks offline" in message and "python -m pip install" in message


def test_a_missing_installer_and_another_failure(tmp_path: Path) -> None:
    code, message = upgrade(Install("pipx", "/p", "/p"), {"PATH": str(tmp_path)})
    assert code == 1 and message.startswith(
        "loom-tui was installed with pipx, which is not on PATH"
    )
    bin_dir = tmp_path / "bin"
    fake(bin_dir, "pipx", "echo 'Error: loom-tui is not installed' >&2\nexit 1\n")
    local = {**env_with(bin_dir), "PIP_INDEX_URL": f"file://{tmp_path}"}  # no probe of the net
    code, message = upgrade(Install("pipx", "/p", "/p"), local)
    assert code == 1 and "failed (exit 1)" in message and "not installed" in message


def test_the_real_command_on_this_editable_checkout_says_git_pull() -> None:
    proc = subprocess.run(
        [LOOM, "self-update"], capture_output=True, text=True, timeout=60, check=False
    )
    if "editable checkout" not in proc.stdout:
        pytest.skip(f"this venv's loom-tui is not an editable install: {proc.stdout}{proc.stderr}")
    assert proc.returncode == 0 and "git pull" in proc.stdout
    assert proc.stdout.count("\n") == 1 and proc.stderr == ""


def test_pip_that_only_finds_no_distribution_is_offline_when_its_index_is_unreachable(
    tmp_path: Path,
) -> None:
    """pip with no retries prints no connection error, only "No matching distribution found":
    loom asks the index's host itself (here an unreachable one on loopback)."""
    bin_dir = tmp_path / "bin"
    fake(
        bin_dir,
        "python",
        "echo 'ERROR: Could not find a version that satisfies the requirement loom-tui "
        "(from versions: none)' >&2\n"
        "echo 'ERROR: No matching distribution found for loom-tui' >&2\nexit 1\n",
    )
    python = str(bin_dir / "python")
    env = {k: v for k, v in env_with(bin_dir).items() if "proxy" not in k.lower()}
    unreachable = {**env, "PIP_INDEX_URL": "http://127.0.0.1:9/simple"}
    code, message = upgrade(Install("pip", "/p", "/p"), unreachable, python=python)
    assert code == 1 and "looks offline" in message
    local = {**env, "PIP_INDEX_URL": f"file://{tmp_path}/simple"}  # reachable: a real failure
    code, message = upgrade(Install("pip", "/p", "/p"), local, python=python)
    assert code == 1 and "failed (exit 1)" in message and "No matching distribution" in message
