"""`.work/config.toml`: which plan the project runs and the settings of the run.

Written once by `loom init` (and by settings changes); read by the scheduler, the TUI and `loom
status`.  TOML is read with the standard library's `tomllib`; it is written by `dump_toml` below,
which handles the flat tables loom needs, so no TOML writer is a dependency.
"""

from __future__ import annotations

import os

from loom_tui.core.errors import StoreError
from loom_tui.core.fsutil import atomic_write

CONFIG_NAME = "config.toml"

#: Settings and their defaults; a project's config.toml may set any of them under [settings].
DEFAULT_SETTINGS: dict[str, object] = {
    "max_parallel": 4,
    "auto_merge": True,
    "tmux_socket": "",
    "agent": "claude",
    "retry_backoff_seconds": 30.0,
    "retry_backoff_max_seconds": 300.0,
    "handoff_timeout_seconds": 120.0,
    "handoff_loop_limit": 3,
    #: seconds with no hook event, transcript growth or pane change before a session is stalled
    "stall_seconds": 300.0,
    #: resolver sessions loom starts for a stage's merge conflict before a person must review it
    #: (0: none, the stage waits in merge-conflict for `loom merge ID --resolved`)
    "resolver_attempts": 2,
    "tick_seconds": 1.0,
    #: mark the project's folders trusted in `~/.claude.json` so that no stage pane stops on
    #: Claude Code's trust dialog (false, or `loom run --no-trust`: accept the dialog yourself)
    "trust_claude_folders": True,
}


class ProjectConfig:
    """The contents of `.work/config.toml`."""

    def __init__(
        self,
        *,
        plan_source: str,
        plan_id: str,
        plan_name: str,
        base_branch: str,
        settings: dict[str, object] | None = None,
        created_at: float | None = None,
    ) -> None:
        self.plan_source = plan_source
        self.plan_id = plan_id
        self.plan_name = plan_name
        self.base_branch = base_branch
        self.settings: dict[str, object] = dict(DEFAULT_SETTINGS)
        self.settings.update(settings or {})
        self.created_at = created_at

    # typed views of the settings --------------------------------------------------------------
    def _num(self, key: str) -> float:
        value = self.settings.get(key, DEFAULT_SETTINGS[key])
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise StoreError(f"{CONFIG_NAME}: settings.{key}: expected a number, got {value!r}")
        return float(value)

    @property
    def max_parallel(self) -> int:
        return int(self._num("max_parallel"))

    @property
    def auto_merge(self) -> bool:
        return bool(self.settings.get("auto_merge", True))

    @property
    def tmux_socket(self) -> str:
        return str(self.settings.get("tmux_socket") or "")

    @property
    def agent(self) -> str:
        return str(self.settings.get("agent") or "claude")

    @property
    def trust_claude_folders(self) -> bool:
        value = self.settings.get("trust_claude_folders", True)
        if not isinstance(value, bool):
            raise StoreError(
                f"{CONFIG_NAME}: settings.trust_claude_folders: expected true or false, "
                f"got {value!r}"
            )
        return value

    def seconds(self, key: str) -> float:
        return self._num(key)

    def to_dict(self) -> dict[str, dict[str, object]]:
        plan: dict[str, object] = {
            "source": self.plan_source,
            "id": self.plan_id,
            "name": self.plan_name,
            "base_branch": self.base_branch,
        }
        if self.created_at is not None:
            plan["created_at"] = self.created_at
        return {"plan": plan, "settings": dict(self.settings)}


def _toml_string(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_toml(tables: dict[str, dict[str, object]]) -> str:
    """TOML text for a mapping of table name to flat key/value pairs (None values are left out)."""
    chunks = []
    for table, values in tables.items():
        lines = [f"[{table}]"]
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None)
        chunks.append("\n".join(lines))
    return "\n\n".join(chunks) + "\n"


def write_config(work_dir: str, config: ProjectConfig) -> None:
    header = "# Written by `loom init`. Settings may be edited; see the README for each.\n\n"
    atomic_write(os.path.join(work_dir, CONFIG_NAME), header + dump_toml(config.to_dict()))


def read_config(work_dir: str) -> ProjectConfig:
    import tomllib

    path = os.path.join(work_dir, CONFIG_NAME)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise StoreError(f"{path}: missing (run `loom init PLAN`)") from None
    except tomllib.TOMLDecodeError as exc:
        raise StoreError(f"{path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: cannot read: {exc}") from None
    plan = data.get("plan")
    settings = data.get("settings", {})
    if not isinstance(plan, dict) or not isinstance(settings, dict):
        raise StoreError(f"{path}: expected [plan] and [settings] tables")
    missing = [
        k for k in ("source", "id", "name", "base_branch") if not isinstance(plan.get(k), str)
    ]
    if missing:
        raise StoreError(f"{path}: [plan] lacks {', '.join(missing)}")
    created = plan.get("created_at")
    return ProjectConfig(
        plan_source=plan["source"],
        plan_id=plan["id"],
        plan_name=plan["name"],
        base_branch=plan["base_branch"],
        settings=settings,
        created_at=float(created) if isinstance(created, int | float) else None,
    )
