"""Utilities outside a run: `loom sandbox suggest` and `loom self-update`."""

from __future__ import annotations

import os

import click

from loom_tui.cli.group import CONTEXT, cli
from loom_tui.cli.output import say, warn


@cli.group(context_settings=CONTEXT)
def sandbox() -> None:
    """Help with the plan's `sandbox:` block."""


@sandbox.command(name="suggest", context_settings=CONTEXT)
@click.argument("directory", required=False, type=click.Path(file_okay=False), default=".")
def sandbox_suggest(directory: str) -> None:
    """Print the `sandbox:` block for the project in DIRECTORY (default: here): the package
    registries' domains and the caches of the Python, Node, Rust and Go projects found there
    (and one folder down), as YAML to put under `loom:` or under a stage."""
    from loom_tui.core.errors import LoomError
    from loom_tui.core.sandbox_suggest import suggest

    if not os.path.isdir(directory):
        raise LoomError(f"{directory}: no such directory")
    found = suggest(directory)
    if not found.found:
        raise LoomError(
            f"found no Python, Node, Rust or Go project in {os.path.abspath(directory)} "
            "(pyproject.toml, setup.py, requirements*.txt, package.json, Cargo.toml, go.mod)"
        )
    say(found.yaml().rstrip("\n"))


@cli.command(name="self-update", context_settings=CONTEXT)
@click.pass_context
def self_update(ctx: click.Context) -> None:
    """Upgrade loom-tui the way it was installed: `pipx upgrade`, `uv tool upgrade` or
    `pip install --upgrade` (an editable checkout: `git pull` it instead)."""
    from loom_tui.core.self_update import current, upgrade

    install = current()
    code, message = upgrade(install)
    if code == 0:
        say(message)
    else:
        warn(message)
    ctx.exit(code)
