"""The click application: every `loom` command, with help, completion and usage errors.

Command bodies import what they need when they run, so that `loom --help` and the commands that
agents call stay quick to start.
"""

from __future__ import annotations

import os
import sys

import click

from loom_tui import __version__
from loom_tui.cli.output import report_crash, report_error, say
from loom_tui.core.errors import LoomError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _complete_stage_ids(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    from click.shell_completion import CompletionItem

    from loom_tui.core.store import Store

    try:
        root = ctx.find_root()
        store = Store.find(root.params.get("work_dir"))
        return [
            CompletionItem(s.id, help=f"{s.status} · {s.name}")
            for s in store.stages()
            if s.id.startswith(incomplete)
        ]
    except Exception:
        return []


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@click.option(
    "--work-dir",
    metavar="DIR",
    envvar="LOOM_WORK_DIR",
    help="The project (or its .work directory). Default: $LOOM_WORK_DIR, else the nearest "
    ".work/ above the current directory, else the main worktree of this git repository.",
)
@click.version_option(__version__, "-V", "--version", prog_name="loom")
@click.pass_context
def cli(ctx: click.Context, work_dir: str | None) -> None:
    """loom: run a plan of dependent stages with Claude Code agents, each in its own git
    worktree and tmux pane, with context measured and handoffs enforced."""
    ctx.ensure_object(dict)
    ctx.obj["work_dir"] = work_dir
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@cli.command(context_settings=CONTEXT)
@click.argument("plan", type=click.Path(dir_okay=False))
@click.option("--clean", is_flag=True, help="Discard the current run's .work/ state first.")
def init(plan: str, clean: bool) -> None:
    """Validate PLAN and set up the project's .work/ state to run it."""
    from loom_tui.core.init_project import init_project
    from loom_tui.core.model import Status

    store, parsed = init_project(plan, os.getcwd(), clean=clean)
    queued = sum(1 for s in store.stages() if s.status is Status.QUEUED)
    say(
        f"initialised {parsed.name} ({len(parsed.stages)} stages, {queued} ready) "
        f"in {store.rel(store.work_dir)}/ · base branch {store.config().base_branch}"
    )


@cli.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show every stage's status."""
    import json

    from loom_tui.cli.status_view import render_plain, render_rich
    from loom_tui.core.status import status_dict
    from loom_tui.core.store import Store

    data = status_dict(Store.find(ctx.obj["work_dir"]))
    if as_json:
        say(json.dumps(data, indent=2, ensure_ascii=False))
    elif sys.stdout.isatty():
        render_rich(data)
    else:
        say(render_plain(data))


@cli.group(context_settings=CONTEXT)
def stage() -> None:
    """Change a stage: complete, block, reset, hold, release, skip, retry."""


def _stage_verb(verb: str, doc: str) -> None:
    @stage.command(name=verb, help=doc, context_settings=CONTEXT)
    @click.argument(
        "ids", nargs=-1, required=True, metavar="ID...", shell_complete=_complete_stage_ids
    )
    @click.pass_context
    def command(ctx: click.Context, ids: tuple[str, ...]) -> None:
        from loom_tui.cli.stage_commands import run_stage_verb

        ctx.exit(run_stage_verb(verb, list(ids), ctx.find_root().obj["work_dir"]))


for _verb, _doc in (
    ("complete", "Run the stage's acceptance commands; mark it completed if all pass."),
    ("reset", "Put the stage back to waiting or queued, clearing retries and sessions."),
    ("hold", "Keep the scheduler from starting or restarting the stage."),
    ("release", "Let a held stage run again."),
    ("skip", "Give up on the stage; its dependents may start."),
    ("retry", "Start a blocked stage again now."),
):
    _stage_verb(_verb, _doc)


@stage.command(name="block", context_settings=CONTEXT)
@click.argument("stage_id", metavar="ID", shell_complete=_complete_stage_ids)
@click.argument("reason", nargs=-1)
@click.pass_context
def stage_block(ctx: click.Context, stage_id: str, reason: tuple[str, ...]) -> None:
    """Mark the stage blocked, with an optional REASON."""
    from loom_tui.cli.stage_commands import run_stage_verb

    ctx.exit(run_stage_verb("block", [stage_id], ctx.find_root().obj["work_dir"], " ".join(reason)))


@cli.command(context_settings=CONTEXT)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completions(shell: str) -> None:
    """Print the shell completion script, e.g. eval "$(loom completions bash)"."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None
    say(cls(cli, {}, "loom", "_LOOM_COMPLETE").source())


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
