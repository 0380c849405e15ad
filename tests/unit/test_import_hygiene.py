"""The core never imports the UI, and the agent-facing CLI path never imports heavy libraries.

Each check imports in a fresh interpreter and inspects `sys.modules`, as harlequin's
`test_import_hygiene.py` does: an import added anywhere below the imported module is caught.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _core_modules() -> list[str]:
    """Every module under loom_tui.core (found on disk, so a new one is checked too)."""
    import pkgutil

    import loom_tui.core

    return [
        "loom_tui.core",
        *sorted(m.name for m in pkgutil.walk_packages(loom_tui.core.__path__, "loom_tui.core.")),
    ]


CORE_MODULES = _core_modules()


def _modules_after(code: str) -> set[str]:
    # the module list is taken before this check's own `import json`
    report = "import sys\n_loaded = sorted(sys.modules)\nimport json\nprint(json.dumps(_loaded))"
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\n{report}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_does_not_load_textual(module: str) -> None:
    loaded = _modules_after(f"import {module}")
    assert not {m for m in loaded if m == "textual" or m.startswith("textual.")}


def test_the_module_list_is_not_empty() -> None:
    assert "loom_tui.core.engine.scheduler" in CORE_MODULES
    assert "loom_tui.core.agents.claude" in CORE_MODULES


HEAVY = (
    "click",
    "pydantic",
    "ruamel",
    "textual",
    "rich",
    "pygit2",
    "libtmux",
    "watchfiles",
    "typing",
    "dataclasses",
    "tempfile",
    "pathlib",
    "subprocess",
)


def test_agent_facing_commands_load_no_heavy_library(tmp_path: object) -> None:
    """`loom stage hold` (the fast path) must start about as fast as bare Python."""
    loaded = _modules_after(
        "from loom_tui.cli import fast, stage_commands\n"
        "from loom_tui.core import actions, store, model, frontmatter, project"
    )
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == []


def test_loom_status_loads_no_heavy_library_nor_enum_json_or_re() -> None:
    """`loom status` (the fast path, from its cache) and `stage hold` write no JSON through `json`
    (whose decoder imports `re`); the status path does not even load the records' `enum`."""
    loaded = _modules_after(
        "from loom_tui.cli import fast, status_view\n"
        "from loom_tui.core import status, status_cache, jsontext"
    )
    heavy = sorted(m for m in loaded if m.split(".")[0] in (*HEAVY, "enum", "json", "re"))
    assert heavy == []
    loaded = _modules_after(
        "from loom_tui.cli import fast, stage_commands\n"
        "from loom_tui.core import actions, store, model, frontmatter, project, memory, events"
    )
    assert sorted(m for m in loaded if m.split(".")[0] in ("json", "re")) == []
