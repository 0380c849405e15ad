"""The click application: every `loom` command, with help, completion and usage errors.

The commands live in `commands_*.py`, each adding to the root group of `group.py`; importing
them here registers them.  Command bodies import what they need when they run, so that `loom
--help` and the commands agents call stay quick to start.
"""

from __future__ import annotations

import click

from loom_tui.cli import (  # noqa: F401 - imported for their commands
    commands_agents,
    commands_knowledge,
    commands_maintenance,
    commands_run,
    commands_stage,
    commands_utilities,
)
from loom_tui.cli.group import cli
from loom_tui.cli.output import report_crash, report_error
from loom_tui.core.errors import LoomError

__all__ = ["cli", "run"]


def run(args: list[str]) -> int:
    """Run the click application on ``args`` and return the exit code, never a traceback."""
    try:
        result = cli.main(args, prog_name="loom", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        return 130
    except LoomError as exc:
        return report_error(exc)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return report_crash(exc)
    return result if isinstance(result, int) else 0
