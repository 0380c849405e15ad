"""The merge's own gate: a stage's checks, run again on what the merge would produce.

`loom stage complete` checked the stage's branch as its agent left it.  When the base branch has
moved since the stage branched (other stages were merged), the merged result is a tree that nobody
has checked: two changes that each pass can break each other.  So, before the base moves, the base
is merged into `loom/<id>` in the stage's worktree (a conflict goes to the resolver, as any merge
conflict does) and the stage's gates run there again — acceptance, then truths, artifacts and
wiring.  Only a result that passes is merged; one that fails goes back to an agent (a resolver
session, whose signal shows what failed) and, after the resolver attempts, to a person.  The base
branch is not touched by any of it.

Kill-safety: ``merge_check_pending`` is written before the branch moves and cleared with the
result, so a loom killed in between checks again rather than merge an unchecked result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from loom_tui.core import git
from loom_tui.core.model import StageRecord, Status
from loom_tui.core.store import Store

#: Output kept of each failing check, for the resolver's signal (as `actions` keeps it).
TAIL_CHARS = 2000


@dataclass
class MergeCheck:
    """What the check found: ``passed``; or the ``conflicts`` of merging the base in; or the
    ``layer`` that failed (acceptance, truths, artifacts, wiring) and its ``failed`` items."""

    passed: bool
    conflicts: list[str] = field(default_factory=list)
    layer: str = ""
    failed: list[dict[str, object]] = field(default_factory=list)

    def describe(self, stage_id: str, base: str) -> str:
        if self.passed:
            return f"stage {stage_id} merged with {base} passes its checks"
        if self.conflicts:
            return (
                f"merging {base} into loom/{stage_id} conflicts in {', '.join(self.conflicts[:5])}"
            )
        what = ", ".join(f"`{item.get('command')}`" for item in self.failed[:2])
        return f"stage {stage_id} merged with {base} fails its {self.layer} layer" + (
            f" ({what})" if what else ""
        )


def has_gates(stage: StageRecord) -> bool:
    return bool(stage.acceptance or stage.truths or stage.artifacts or stage.wiring)


def needed(root: str, stage: StageRecord, base_branch: str) -> bool:
    """Whether the stage's merge must first be checked: it has gates, and either a check was cut
    short, or the base has commits the stage's branch does not (the merge would make a tree its
    agent never checked)."""
    import pygit2

    if not has_gates(stage) or stage.status is not Status.COMPLETED or stage.merged:
        return False
    if stage.merge_check_pending:
        return True
    repo = git.open_repo(root)
    branch = repo.branches.local.get(git.stage_branch(stage.id))
    base = repo.branches.local.get(base_branch)
    if branch is None or base is None:
        return False  # nothing to merge, or the merge reports the missing base
    tip = branch.peel(pygit2.Commit).id
    base_tip = base.peel(pygit2.Commit).id
    if tip == base_tip or repo.descendant_of(base_tip, tip):
        return False  # merged already (a loom killed before it recorded that): nothing to check
    return not repo.descendant_of(tip, base_tip)


def run(store: Store, stage_id: str, base_branch: str) -> MergeCheck:
    """Merge the base into the stage's branch in its worktree and run the stage's gates there."""
    _set_pending(store, stage_id, True)
    worktree = git.ensure_worktree(store.root, stage_id, base_branch)
    conflicts = integrate_base(worktree, stage_id, base_branch)
    if conflicts:
        _set_pending(store, stage_id, False)
        return MergeCheck(False, conflicts=conflicts)
    stage = store.read_stage(stage_id)
    result = gates(store, stage, worktree)
    if result.passed:
        _set_pending(store, stage_id, False)
    return result


def integrate_base(worktree: str, stage_id: str, base_branch: str) -> list[str]:
    """Merge ``base_branch`` into the branch checked out in ``worktree`` (`loom/<id>`), with a
    commit; the conflicting files instead, changing nothing.  Work left uncommitted is committed
    first, so that it is part of what is checked (and merged, as `git.merge_stage` would)."""
    import pygit2

    git.commit_all(worktree, f"loom: work left uncommitted in stage {stage_id}")
    repo = git.open_repo(worktree)
    base = repo.branches.local.get(base_branch)
    if base is None:
        return []
    base_commit = base.peel(pygit2.Commit)
    tip = repo.head.peel(pygit2.Commit)
    if tip.id == base_commit.id or repo.descendant_of(tip.id, base_commit.id):
        return []
    index = repo.merge_commits(tip, base_commit)
    if index.conflicts is not None:
        return sorted(
            {entry.path for triple in index.conflicts for entry in triple if entry is not None}
        )
    tree_id = index.write_tree(repo)
    sig = git.signature(repo)
    message = f"Merge {base_branch} into {git.stage_branch(stage_id)} to check the merged result\n"
    commit_id = repo.create_commit(None, sig, sig, message, tree_id, [tip.id, base_commit.id])
    # The worktree is clean (committed above): bring its files to the merge, then move the branch.
    repo.checkout_tree(repo.get(commit_id), strategy=pygit2.enums.CheckoutStrategy.SAFE)  # type: ignore[no-untyped-call]
    repo.head.set_target(commit_id, f"loom: merge {base_branch} to check the merged result")
    return []


def gates(store: Store, stage: StageRecord, worktree: str) -> MergeCheck:
    """The stage's gates in ``worktree``, in the order of `loom stage complete`."""
    from loom_tui.core.actions import GOAL_LAYERS
    from loom_tui.core.stage_commands import run_acceptance
    from loom_tui.core.verify import verify_stage

    env = {"LOOM_STAGE_ID": stage.id, "LOOM_WORK_DIR": store.work_dir}
    failed = [r for r in run_acceptance(store, stage, worktree, env) if not r.passed]
    if failed:
        return MergeCheck(
            False,
            layer="acceptance",
            failed=[
                {
                    "command": r.command,
                    "exit_code": r.exit_code,
                    "unmet": list(r.unmet),
                    "timed_out": r.timed_out,
                    "tail": "\n".join(r.output_tail)[-TAIL_CHARS:],
                }
                for r in failed
            ],
        )
    if stage.truths or stage.artifacts or stage.wiring:
        report = verify_stage(store, stage.id)
        if not report.passed:
            kinds = [kind for kind in GOAL_LAYERS if any(c.kind == kind for c in report.failed)]
            return MergeCheck(
                False,
                layer=GOAL_LAYERS[kinds[0]],
                failed=[
                    {
                        "command": f"{c.kind}: {c.target}",
                        "exit_code": None,
                        "unmet": [c.detail],
                        "timed_out": False,
                        "tail": "\n".join(c.output_tail)[-TAIL_CHARS:],
                    }
                    for c in report.failed
                ],
            )
    return MergeCheck(True)


def record_failure(store: Store, stage_id: str, check: MergeCheck, base_branch: str) -> bool:
    """The merged result failed: the stage goes to merge-conflict, so that a resolver session
    (or, after the attempts, a person) fixes it on its branch; what failed is kept for its
    signal.  False when the stage had moved on meanwhile (nothing written)."""
    reason = check.describe(stage_id, base_branch)
    if not check.conflicts:
        reason += f"; fix it on branch loom/{stage_id}, then run `loom merge {stage_id} --resolved`"

    def fail(record: StageRecord) -> None:
        record.merge_check_pending = False
        if record.status is not Status.COMPLETED or record.merged:
            return
        record.set_status(Status.MERGE_CONFLICT)
        record.conflict_files = list(check.conflicts)
        record.blocked_reason = reason
        if not check.conflicts:
            record.acceptance_failure = {
                "at": time.time(),
                "session": record.session_id,
                "layer": check.layer,
                "merged_with": base_branch,
                "failed": check.failed,
            }

    return store.update_stage(stage_id, fail).status is Status.MERGE_CONFLICT


def _set_pending(store: Store, stage_id: str, pending: bool) -> None:
    def mark(record: StageRecord) -> None:
        record.merge_check_pending = pending

    if store.read_stage(stage_id).merge_check_pending != pending:
        store.update_stage(stage_id, mark)
