"""Themes: YAML files turned into Textual themes, as posting does it.

Built-in themes live in the repository's `themes/` folder (shipped inside the wheel as
`loom_tui/themes/`); a user's own go in `~/.config/loom/themes/*.yaml`.  The chosen theme comes
from `--theme`, else `~/.config/loom/config.toml` (``[tui] theme = "…"``), else `loom-dark`; a
theme picked in the command palette is saved there.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError
from textual.theme import Theme

from loom_tui.core.errors import UsageError

DEFAULT_THEME = "loom-dark"


class ThemeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    dark: bool = True
    primary: str
    secondary: str | None = None
    accent: str | None = None
    warning: str | None = None
    error: str | None = None
    success: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    boost: str | None = None
    luminosity_spread: float = 0.15
    text_alpha: float = 0.95
    variables: dict[str, str] = {}

    def to_theme(self) -> Theme:
        return Theme(**self.model_dump())


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "loom"


def builtin_dirs() -> list[Path]:
    here = Path(__file__).resolve()
    return [here.parent.parent / "themes", here.parents[2] / "themes"]


def load_themes() -> dict[str, Theme]:
    """Every theme found: built-in first, then the user's (a user's theme may replace one)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    themes: dict[str, Theme] = {}
    yaml = YAML(typ="safe", pure=True)
    for folder in [*builtin_dirs(), config_dir() / "themes"]:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yaml")):
            try:
                spec = ThemeFile.model_validate(yaml.load(path.read_text(encoding="utf-8")))
            except (OSError, YAMLError, ValidationError) as exc:
                raise UsageError(f"{path}: not a valid theme: {exc}".splitlines()[0]) from None
            themes[spec.name] = spec.to_theme()
    return themes


def saved_theme() -> str | None:
    import tomllib

    path = config_dir() / "config.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    tui = data.get("tui")
    theme = tui.get("theme") if isinstance(tui, dict) else None
    return theme if isinstance(theme, str) else None


def save_theme(name: str) -> None:
    """Remember ``name`` in ~/.config/loom/config.toml, keeping the file's other settings."""
    import tomllib

    from loom_tui.core.config import dump_toml
    from loom_tui.core.fsutil import atomic_write

    path = config_dir() / "config.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = {}
    except (OSError, tomllib.TOMLDecodeError):
        return  # never overwrite a file the user broke by hand
    existing = data.get("tui")
    tui: dict[str, object] = dict(existing) if isinstance(existing, dict) else {}
    tui["theme"] = name
    data["tui"] = tui
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(str(path), dump_toml(tables))
    except (OSError, TypeError):
        pass
