"""The permissions and sandbox parts of a session's settings (the file passed with ``--settings``).

Every stage session may use Bash, Edit, Write, Read, Glob and Grep without asking (an unattended
pane must not stop on a permission dialog), so what keeps an agent away from secrets is the deny
list: Claude Code checks deny rules before allow rules, whatever the order or the file.

Rule paths follow Claude Code's permission syntax: ``~/x`` is under the home directory, ``//x`` is
the absolute path ``/x`` (a single leading ``/`` would be relative to the settings file's folder,
here `.work/sessions/`), and ``x`` or ``./x`` is relative to the session's working directory, the
stage's worktree.  Only ``Read(…)`` and ``Edit(…)`` take paths: ``Edit`` covers every built-in tool
that writes files (Write included), and a path in ``Write(…)`` is not consulted.

The plan's ``sandbox:`` block becomes Claude Code's own ``sandbox`` settings, key for key:
``filesystem.allow_write/deny_write/deny_read`` → ``sandbox.filesystem.allowWrite/denyWrite/
denyRead`` (they confine every command Bash runs, not only the file tools), and the network's
domains → ``sandbox.network.allowedDomains``.  Its deny lists also become ``Read``/``Edit`` deny
rules, so that the file tools, which the OS sandbox does not confine, obey them too.
"""

from __future__ import annotations

#: Tools every stage session may use without a dialog.
ALLOWED_TOOLS = ("Bash(*)", "Edit(*)", "Write(*)", "Read(*)", "Glob(*)", "Grep(*)")

#: Folders under the home directory that hold credentials: SSH and GPG keys, cloud, GitHub CLI,
#: Kubernetes and password-store secrets.
SECRET_HOME_DIRS = (
    ".ssh",
    ".aws",
    ".gnupg",
    ".config/gh",
    ".kube",
    ".config/gcloud",
    ".azure",
    ".password-store",
)
#: Single credential files under the home directory.
SECRET_HOME_FILES = (".netrc", ".docker/config.json", ".pgpass", ".git-credentials")
#: Secret files anywhere in the worktree: dotenv files and private keys.
SECRET_WORKTREE_GLOBS = (
    "**/.env",
    "**/.env.*",
    "**/*.pem",
    "**/*.key",
    "**/*.p12",
    "**/*.pfx",
    "**/id_rsa",
    "**/id_dsa",
    "**/id_ecdsa",
    "**/id_ed25519",
)


def secret_patterns() -> list[str]:
    """Every path pattern of the default deny list, in permission-rule syntax."""
    return [
        *(f"~/{d}/**" for d in SECRET_HOME_DIRS),
        *(f"~/{f}" for f in SECRET_HOME_FILES),
        *SECRET_WORKTREE_GLOBS,
    ]


def secret_paths() -> list[str]:
    """The default deny list's home paths as the OS sandbox takes them: whole folders and files,
    no globs (bubblewrap on Linux confines paths, not patterns)."""
    return [*(f"~/{d}" for d in SECRET_HOME_DIRS), *(f"~/{f}" for f in SECRET_HOME_FILES)]


def secret_rules() -> list[str]:
    """``Read`` and ``Edit`` deny rules for every secret pattern."""
    return [f"{tool}({p})" for p in secret_patterns() for tool in ("Read", "Edit")]


def rule_path(path: str) -> str:
    """A plan's sandbox path as a permission-rule pattern: an absolute path gets Claude Code's
    ``//`` prefix, and a folder written ``dir/`` covers what is inside it."""
    if path.startswith("/") and not path.startswith("//"):
        path = "/" + path
    if path.endswith("/") and path not in ("/", "//"):
        path += "**"
    return path


def sandbox_path(path: str) -> str:
    """A plan's sandbox path as ``sandbox.filesystem`` takes it (same prefixes as the rules)."""
    if path.startswith("/") and not path.startswith("//"):
        path = "/" + path
    if path.endswith("/") and path.strip("/"):
        path = path.rstrip("/")
    return path


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _union(*lists: list[str]) -> list[str]:
    out: list[str] = []
    for items in lists:
        out += [i for i in items if i not in out]
    return out


def _section(sandbox: dict[str, object], key: str) -> dict[str, object]:
    value = sandbox.get(key)
    return value if isinstance(value, dict) else {}


def protects_secrets(sandbox: dict[str, object] | None) -> bool:
    """Whether the default deny list applies: always, unless the plan says
    ``protect_secrets: false`` (whether or not the sandbox itself is enabled)."""
    return not (isinstance(sandbox, dict) and sandbox.get("protect_secrets") is False)


def permissions(sandbox: dict[str, object] | None) -> dict[str, object]:
    """The ``permissions`` settings of a stage whose effective sandbox is ``sandbox``."""
    deny = secret_rules() if protects_secrets(sandbox) else []
    if isinstance(sandbox, dict) and sandbox.get("enabled"):
        fs = _section(sandbox, "filesystem")
        deny = _union(
            deny,
            [f"Read({rule_path(p)})" for p in _strings(fs.get("deny_read"))],
            [f"Edit({rule_path(p)})" for p in _strings(fs.get("deny_write"))],
        )
    out: dict[str, object] = {"allow": list(ALLOWED_TOOLS)}
    if deny:
        out["deny"] = deny
    return out


def sandbox_settings(
    sandbox: dict[str, object] | None, writable: list[str] | None = None
) -> dict[str, object] | None:
    """Claude Code's ``sandbox`` settings for the plan's block (None: the plan has none).

    The original loom's keys map to the settings of the same meaning: ``auto_allow`` →
    ``autoAllowBashIfSandboxed``, ``allow_unsandboxed_escape`` → ``allowUnsandboxedCommands``,
    the network's socket and binding keys → their camel-case names, ``linux.enable_weaker_nested``
    → ``enableWeakerNestedSandbox``.

    ``writable`` are absolute folders loom's own work needs beyond the worktree: a stage worktree's
    git metadata lives in the main repository's `.git` (objects, refs, its index under
    `.git/worktrees/`), so without it a sandboxed `git commit` fails.
    """
    if not isinstance(sandbox, dict):
        return None
    if not sandbox.get("enabled"):
        return {"enabled": False}
    fs = _section(sandbox, "filesystem")
    net = _section(sandbox, "network")
    out: dict[str, object] = {
        "enabled": True,
        "autoAllowBashIfSandboxed": sandbox.get("auto_allow", True) is not False,
        "allowUnsandboxedCommands": sandbox.get("allow_unsandboxed_escape") is True,
        "excludedCommands": _strings(sandbox.get("excluded_commands", ["loom"])),
    }
    filesystem: dict[str, object] = {}
    deny_read = [sandbox_path(p) for p in _strings(fs.get("deny_read"))]
    if protects_secrets(sandbox):
        deny_read = _union(secret_paths(), deny_read)
    for key, paths in (
        (
            "allowWrite",
            [sandbox_path(p) for p in [*_strings(fs.get("allow_write")), *(writable or [])]],
        ),
        ("denyWrite", [sandbox_path(p) for p in _strings(fs.get("deny_write"))]),
        ("denyRead", deny_read),
    ):
        if paths:
            filesystem[key] = _union(paths)
    if filesystem:
        out["filesystem"] = filesystem
    network: dict[str, object] = {}
    domains = _union(_strings(net.get("allowed_domains")), _strings(net.get("additional_domains")))
    if domains:
        network["allowedDomains"] = domains
    if net.get("allow_local_binding") is True:
        network["allowLocalBinding"] = True
    sockets = _strings(net.get("allow_unix_sockets"))
    if sockets:
        network["allowUnixSockets"] = sockets
    if net.get("allow_all_unix_sockets") is True:
        network["allowAllUnixSockets"] = True
    if network:
        out["network"] = network
    linux = _section(sandbox, "linux")
    if linux.get("enable_weaker_nested") is True:
        out["enableWeakerNestedSandbox"] = True
    return out


def session_permissions(
    sandbox: dict[str, object] | None, writable: list[str] | None = None
) -> dict[str, object]:
    """The ``permissions`` and (when the plan has a block) ``sandbox`` keys of the settings."""
    out: dict[str, object] = {"permissions": permissions(sandbox)}
    box = sandbox_settings(sandbox, writable)
    if box is not None:
        out["sandbox"] = box
    return out


def sandbox_missing_tools(sandboxes: list[dict[str, object] | None]) -> list[str]:
    """The programs Claude Code's sandbox needs on Linux (bubblewrap and socat) that are not on
    PATH, when some stage enables the sandbox: without them Claude Code runs Bash unsandboxed, so
    `loom init` says so rather than let the plan's sandbox silently not apply."""
    import shutil
    import sys

    if not sys.platform.startswith("linux"):
        return []
    if not any(isinstance(s, dict) and s.get("enabled") for s in sandboxes):
        return []
    return [tool for tool in ("bwrap", "socat") if shutil.which(tool) is None]
