"""The signal of a resolver session: the stage's branch conflicted with the base branch.

The agent is not asked to redo its assignment: its work is on `loom/<id>` already.  It is asked
to bring the base into its branch (so that the next merge has nothing left to conflict on),
keeping what both sides meant, then to prove it with the acceptance and hand it back with
`loom merge <id>`, which completes the stage and merges it with the normal gates.
"""

from __future__ import annotations

from loom_tui.core.model import SessionRecord, StageRecord

#: The heading that tells an agent (the simulated one too) this is a resolver's signal.
RESOLVER_HEADING = "## Resolve a merge conflict"


def render_resolver_signal(
    stage: StageRecord, session: SessionRecord, base_branch: str, worktree: str
) -> str:
    if not stage.conflict_files and stage.acceptance_failure:
        return _failed_check_signal(stage, session, base_branch, worktree)
    files = stage.conflict_files or ["(the files `git merge` reports)"]
    lines = [
        *_head(stage, session),
        f"This stage's work is done and committed on `loom/{stage.id}`, but the base branch "
        f"`{base_branch}` has moved since (other stages were merged), and merging the stage into "
        "it conflicts. loom has not touched the base branch. In the worktree "
        f"`{worktree}` (work only here):",
        "",
        f"1. Run `git merge {base_branch}` to merge the base branch into `loom/{stage.id}`.",
        "2. Resolve the conflicts in these files, keeping both intents — what this stage meant "
        "and what the base branch's new work meant; leave no conflict markers:",
        "",
        *[f"   - `{f}`" for f in files],
        "",
        "3. Run the acceptance commands below; fix what they report.",
        "4. Commit the merge (`git commit --no-edit` after `git add` of the resolved files).",
        f"5. Run `loom merge {stage.id}`: it runs the acceptance, completes the stage and merges "
        f"it into `{base_branch}`. If it reports a new conflict, go back to step 1.",
    ]
    return "\n".join(lines + _tail(stage, base_branch))


def _failed_check_signal(
    stage: StageRecord, session: SessionRecord, base_branch: str, worktree: str
) -> str:
    """The merge had no conflict, but the merged result fails the stage's checks: two changes
    that each pass break each other.  loom has already merged the base into the branch."""
    from loom_tui.core.signals import last_acceptance_failure

    lines = [
        *_head(stage, session),
        f"This stage's work is done on `loom/{stage.id}`, but the base branch `{base_branch}` "
        "has moved since (other stages were merged). loom merged it into your branch without a "
        "textual conflict, and the merged result fails the stage's checks (below): this stage's "
        "change and the base's new work break each other. loom has not touched the base branch. "
        f"In the worktree `{worktree}` (work only here):",
        "",
        "1. Read what failed, and the base's new commits (`git log -p HEAD^2 --not HEAD^1`).",
        "2. Fix it so that both intents hold — what this stage meant and what the base "
        "branch's new work meant.",
        "3. Run the acceptance commands below; fix what they report.",
        "4. Commit your fix.",
        f"5. Run `loom merge {stage.id}`: it runs the checks, completes the stage and merges "
        f"it into `{base_branch}`.",
        *last_acceptance_failure(stage),
    ]
    return "\n".join(lines + _tail(stage, base_branch))


def _head(stage: StageRecord, session: SessionRecord) -> list[str]:
    return [
        f"# Signal: stage `{stage.id}` — {stage.name} (merge-conflict resolver)",
        "",
        f"Session `{session.id}`, generation {session.generation}, resolver attempt "
        f"{stage.resolver_attempts}.",
        "",
        RESOLVER_HEADING,
        "",
    ]


def _tail(stage: StageRecord, base_branch: str) -> list[str]:
    """The stage's assignment (for what it meant), its acceptance, notes and commands."""
    lines = [
        "",
        "## The stage's assignment (for what it meant)",
        "",
        stage.description.strip() or "(no description)",
        "",
        "## Acceptance criteria",
        "",
    ]
    if stage.acceptance:
        lines.extend(f"- `{cmd}`" for cmd in stage.acceptance)
    else:
        lines.append("No acceptance commands.")
    if stage.guidance:
        lines += ["", "## Notes from a person", ""]
        lines += [f"- {note}" for note in stage.guidance]
    lines += [
        "",
        "## Commands",
        "",
        f"- `loom merge {stage.id}` — complete the stage and merge it into `{base_branch}`",
        f"- `loom stage block {stage.id} <reason>` — you cannot resolve it without a person",
        "",
    ]
    return lines
