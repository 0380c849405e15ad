"""`loom self-update`: upgrade loom-tui the way it was installed.

Each installer leaves a mark in the environment it made: pipx writes `pipx_metadata.json` into the
tool's virtual environment, `uv tool` writes `uv-receipt.toml`, and pip records an editable install
in the distribution's `direct_url.json`.  Upgrading with another tool than the one that installed
loom would leave two copies, or break the installer's own bookkeeping, so the command follows the
mark.  An editable checkout is upgraded with `git pull`, not from the index: loom says so and
changes nothing.

A failed upgrade is reported in one line; when the tool's output shows it could not reach the
package index, the line says the machine looks offline.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys

from loom_tui.core.errors import LoomError

DISTRIBUTION = "loom-tui"
TIMEOUT = 600.0

#: What installers print when the index cannot be reached (pip, pipx — which runs pip — and uv).
OFFLINE_SIGNS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "nodename nor servname",
    "Network is unreachable",
    "No route to host",
    "Connection refused",
    "ConnectTimeoutError",
    "Read timed out",
    "dns error",
    "error sending request",
    "tcp connect error",
    "Could not connect",
    "Failed to fetch",
    "offline",
)


class Install:
    """How loom-tui was installed: ``kind`` is pipx, uv, pip or editable."""

    def __init__(self, kind: str, prefix: str, location: str, user: bool = False) -> None:
        self.kind = kind
        self.prefix = prefix
        #: the checkout of an editable install, else the site-packages folder
        self.location = location
        #: pip installed it into the user site (``pip install --user``)
        self.user = user

    def command(self, python: str = sys.executable) -> list[str]:
        """The upgrade command (an editable checkout has none)."""
        if self.kind == "pipx":
            return ["pipx", "upgrade", DISTRIBUTION]
        if self.kind == "uv":
            return ["uv", "tool", "upgrade", DISTRIBUTION]
        if self.kind == "pip":
            extra = ["--user"] if self.user else []
            return [python, "-m", "pip", "install", "--upgrade", *extra, DISTRIBUTION]
        raise LoomError(f"a {self.kind} install has no upgrade command")


def _direct_url(dist_info: str | None) -> dict[str, object]:
    if not dist_info:
        return {}
    try:
        with open(os.path.join(dist_info, "direct_url.json"), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _editable_path(direct: dict[str, object]) -> str | None:
    info = direct.get("dir_info")
    url = direct.get("url")
    if isinstance(info, dict) and info.get("editable") is True and isinstance(url, str):
        return url.removeprefix("file://")
    return None


def detect(prefix: str, dist_info: str | None, user_site: str | None = None) -> Install:
    """How the distribution whose metadata is in ``dist_info`` (a ``.dist-info`` folder) was
    installed into the environment at ``prefix`` (``sys.prefix``)."""
    editable = _editable_path(_direct_url(dist_info))
    if editable is not None:
        return Install("editable", prefix, editable)
    site_dir = os.path.dirname(dist_info) if dist_info else prefix
    parts = os.path.normpath(os.path.abspath(prefix)).split(os.sep)
    # the installers' marks, else their layouts: `…/pipx/venvs/<name>`, `…/uv/tools/<name>`
    if os.path.isfile(os.path.join(prefix, "pipx_metadata.json")) or (
        len(parts) >= 3 and parts[-2] == "venvs" and "pipx" in parts[-3]
    ):
        return Install("pipx", prefix, site_dir)
    if os.path.isfile(os.path.join(prefix, "uv-receipt.toml")) or (
        len(parts) >= 3 and parts[-2] == "tools" and parts[-3] == "uv"
    ):
        return Install("uv", prefix, site_dir)
    user = bool(
        user_site
        and dist_info
        and os.path.realpath(dist_info).startswith(os.path.realpath(user_site) + os.sep)
    )
    return Install("pip", prefix, site_dir, user=user)


def current() -> Install:
    """How the running loom was installed."""
    from importlib import metadata

    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise LoomError(
            f"{DISTRIBUTION} is not installed as a distribution here (running from a source "
            "tree?): update that tree with `git pull`"
        ) from None
    path = getattr(dist, "_path", None)  # the .dist-info folder (no public accessor)
    user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    return detect(sys.prefix, str(path) if path else None, user_site)


def looks_offline(output: str) -> bool:
    lowered = output.lower()
    return any(sign.lower() in lowered for sign in OFFLINE_SIGNS)


#: Where each installer looks for packages when its environment names no other index.
DEFAULT_INDEX = "https://pypi.org/simple"
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def index_url(kind: str, env: dict[str, str]) -> str:
    """The index the installer of ``kind`` uses, as far as its environment says."""
    names = ("UV_DEFAULT_INDEX", "UV_INDEX_URL") if kind == "uv" else ("PIP_INDEX_URL",)
    for name in names:
        if env.get(name):
            return env[name]
    return DEFAULT_INDEX


def index_reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the index's host opens (a local ``file:`` index always is).

    pip run with no retries says only "No matching distribution found" when it cannot connect:
    the same words as for a name the index does not have, so the host is asked directly.
    """
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return True
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return True
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["no output"])[-1][:300]


def upgrade(
    install: Install, env: dict[str, str] | None = None, python: str = sys.executable
) -> tuple[int, str]:
    """Run the upgrade; returns the exit code and the one-line outcome."""
    if install.kind == "editable":
        return 0, (
            f"{DISTRIBUTION} is an editable checkout at {install.location}: update it with "
            "`git pull` there (self-update installs from the package index only)"
        )
    argv = install.command(python)
    shown = " ".join(["python", *argv[1:]] if install.kind == "pip" else argv)
    run_env = dict(os.environ) if env is None else env
    if shutil.which(argv[0], path=run_env.get("PATH")) is None and not os.path.isabs(argv[0]):
        return 1, (
            f"{DISTRIBUTION} was installed with {argv[0]}, which is not on PATH: "
            f"install {argv[0]} or run `{shown}` where it is"
        )
    try:
        proc = subprocess.run(
            argv,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return 1, f"`{shown}` did not finish in {TIMEOUT:.0f} s (offline, or a slow index?)"
    except OSError as exc:
        return 1, f"cannot run `{shown}`: {exc.strerror or exc}"
    output = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode == 0 and not looks_offline(output):
        return 0, f"ran `{shown}`: {_last_line(proc.stdout or output)}"
    offline = looks_offline(output)
    if not offline and proc.returncode != 0 and not any(v in run_env for v in PROXY_VARS):
        offline = not index_reachable(index_url(install.kind, run_env))
    if offline:
        return 1, (
            f"cannot reach the package index: this machine looks offline (`{shown}`: "
            f"{_last_line(output)})"
        )
    return 1, f"`{shown}` failed (exit {proc.returncode}): {_last_line(output)}"
