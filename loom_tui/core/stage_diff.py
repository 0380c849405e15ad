"""What a stage changed: its commits and files against the base, and its uncommitted work.

A person reviews a stage before merging it (or while its agent works) without leaving loom.  The
stage's changes are those of `loom/<id>` since it forked from the base branch: the diff from the
merge-base of the two to the branch's tip (what `git diff base...loom/<id>` shows), so commits
that reached the base meanwhile are not counted as the stage's.  Its agent works in the stage's
worktree, and much of its work is uncommitted for a while: that is a second section, the
worktree's files against its HEAD (untracked files included, as the next `commit_all` would take
them).  Once merged, the branch has nothing the base lacks: the changes are then those the merge
brought in, against the merge commit's first parent.

Everything here is plain data (frozen dataclasses) computed with pygit2, which blocks: the TUI
calls it in a worker thread.  `diff_key` is a cheap fingerprint (the two tips and the worktree's
status with each changed file's size and time) so a refresh that finds nothing new skips the diff.
Each file's diff is cut after `MAX_LINES_PER_FILE` lines (the rest is counted, not kept), binary
files carry no lines, and there are at most `MAX_FILES` files per section.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loom_tui.core.errors import LoomError
from loom_tui.core.git import _merge_commit_of, open_repo, stage_branch, worktree_path

if TYPE_CHECKING:
    import pygit2

MAX_LINES_PER_FILE = 2000
MAX_FILES = 500
MAX_COMMITS = 200

#: One line of a file's diff: its kind and its text (without the kind's prefix or the newline).
#: Kinds: ``@`` a hunk header, ``+`` added, ``-`` removed, `` `` context, ``\\`` a note from git
#: such as "No newline at end of file".
DiffLine = tuple[str, str]

#: A fingerprint of everything the diff depends on (see `diff_key`).
DiffKey = tuple[object, ...]


@dataclass(frozen=True)
class CommitInfo:
    short_id: str
    subject: str
    author: str
    #: the author's time, seconds since the epoch
    when: int


@dataclass(frozen=True)
class FileChange:
    path: str
    #: ``added``, ``modified``, ``deleted``, ``renamed``, ``copied`` or ``typechange``
    status: str
    additions: int = 0
    deletions: int = 0
    binary: bool = False
    #: the path before a rename or copy
    old_path: str | None = None
    lines: tuple[DiffLine, ...] = ()
    #: lines of the diff left out after `MAX_LINES_PER_FILE`
    omitted: int = 0

    @property
    def letter(self) -> str:
        return {"typechange": "T"}.get(self.status, self.status[:1].upper())


@dataclass(frozen=True)
class StageDiff:
    stage_id: str
    branch: str
    base_branch: str
    #: False when the stage has no branch yet (it has not started): nothing else is filled in
    has_branch: bool = True
    #: the short id of the commit the changes are counted from (the merge-base)
    fork_point: str = ""
    #: the short id of the merge commit, when the branch is merged into the base already
    merged_in: str = ""
    commits: tuple[CommitInfo, ...] = ()
    commits_omitted: int = 0
    committed: tuple[FileChange, ...] = ()
    #: uncommitted changes in the stage's worktree; None when it has no worktree
    working: tuple[FileChange, ...] | None = None
    files_omitted: int = 0
    key: DiffKey = field(default=(), compare=False)

    @property
    def totals(self) -> tuple[int, int]:
        """Lines added and removed by the committed changes."""
        return (
            sum(f.additions for f in self.committed),
            sum(f.deletions for f in self.committed),
        )


def diff_key(
    root: str,
    stage_id: str,
    base_branch: str,
    worktree: str | None = None,
    *,
    merge_commit: str | None = None,
) -> DiffKey:
    """What `stage_diff` depends on, cheaply: the branch's and the base's tips, and each path the
    worktree's status lists, with its flags, size and modification time.  The same key means the
    same diff (a file changed twice keeps its status flags but not its size and time)."""
    import pygit2

    repo = open_repo(root)
    branch = repo.branches.local.get(stage_branch(stage_id))
    if branch is None:
        return ("no-branch", merge_commit)
    base = repo.branches.local.get(base_branch)
    key: list[object] = [str(branch.target), str(base.target) if base is not None else None]
    path = _worktree(root, stage_id, worktree)
    if path is not None:
        wrepo = open_repo(path)
        ignored = pygit2.enums.FileStatus.IGNORED
        for name, flags in sorted(wrepo.status(untracked_files="all").items()):
            if flags & ignored:
                continue
            try:
                st = os.lstat(os.path.join(path, name))
                stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
            except OSError:
                stamp = None
            key.append((name, int(flags), stamp))
    return tuple(key)


def stage_diff(
    root: str,
    stage_id: str,
    base_branch: str,
    worktree: str | None = None,
    *,
    merge_commit: str | None = None,
    max_lines: int = MAX_LINES_PER_FILE,
) -> StageDiff:
    """The stage's commits and changed files against ``base_branch``, and its worktree's
    uncommitted changes.  ``worktree`` defaults to `.worktrees/<id>` under ``root``.

    ``merge_commit`` (the stage record's) is where the changes are found once the stage is merged
    and its branch removed, as loom does after a merge: its two parents are the base before the
    merge and the branch's tip."""
    import pygit2

    key = diff_key(root, stage_id, base_branch, worktree, merge_commit=merge_commit)
    name = stage_branch(stage_id)
    repo = open_repo(root)
    branch = repo.branches.local.get(name)
    if branch is None:
        merged = _merge_parents(repo, merge_commit)
        if merged is None:
            return StageDiff(stage_id, name, base_branch, has_branch=False, key=key)
        against, tip = merged
        merged_in = str(merge_commit)[:7]
    else:
        base_ref = repo.branches.local.get(base_branch)
        if base_ref is None:
            raise LoomError(f"base branch {base_branch!r} does not exist")
        tip = branch.peel(pygit2.Commit)
        base = base_ref.peel(pygit2.Commit)
        against, merged_in = base, ""
        if tip.id == base.id or repo.descendant_of(base.id, tip.id):
            merge = _merge_commit_of(repo, base, tip.id)
            if merge is not None:
                found = _merge_parents(repo, merge)
                if found is not None:
                    against, merged_in = found[0], merge[:7]
    fork = repo.merge_base(tip.id, against.id)
    if fork is None:
        raise LoomError(f"{name} and {base_branch} have no commit in common")
    commits, commits_omitted = _commits(repo, tip, against)
    diff = repo.diff(fork, tip.id, context_lines=3)
    diff.find_similar(flags=pygit2.enums.DiffFind.FIND_RENAMES)
    committed, omitted = _files(diff, max_lines)
    working: tuple[FileChange, ...] | None = None
    path = _worktree(root, stage_id, worktree)
    if path is not None:
        working, more = _working_changes(path, max_lines)
        omitted += more
    return StageDiff(
        stage_id,
        name,
        base_branch,
        fork_point=str(fork)[:7],
        merged_in=merged_in,
        commits=commits,
        commits_omitted=commits_omitted,
        committed=committed,
        working=working,
        files_omitted=omitted,
        key=key,
    )


def _merge_parents(
    repo: pygit2.Repository, merge_commit: str | None
) -> tuple[pygit2.Commit, pygit2.Commit] | None:
    """The base before the merge and the merged tip, if ``merge_commit`` is a merge here."""
    import pygit2

    if not merge_commit:
        return None
    try:
        commit = repo.get(merge_commit)
    except (ValueError, KeyError, pygit2.GitError):
        return None
    if not isinstance(commit, pygit2.Commit) or len(commit.parent_ids) != 2:
        return None
    return commit.parents[0], commit.parents[1]


def _worktree(root: str, stage_id: str, worktree: str | None) -> str | None:
    path = worktree or worktree_path(root, stage_id)
    return path if os.path.exists(os.path.join(path, ".git")) else None


def _commits(
    repo: pygit2.Repository, tip: pygit2.Commit, against: pygit2.Commit
) -> tuple[tuple[CommitInfo, ...], int]:
    """The commits of ``tip`` that ``against`` lacks, newest first (at most `MAX_COMMITS`)."""
    import pygit2

    walker = repo.walk(tip.id, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME)
    walker.hide(against.id)
    kept: list[CommitInfo] = []
    omitted = 0
    for commit in walker:
        if len(kept) >= MAX_COMMITS:
            omitted += 1
            continue
        message = commit.message or ""
        kept.append(
            CommitInfo(
                short_id=str(commit.id)[:7],
                subject=message.strip().splitlines()[0] if message.strip() else "",
                author=commit.author.name,
                when=int(commit.author.time),
            )
        )
    return tuple(kept), omitted


def _working_changes(path: str, max_lines: int) -> tuple[tuple[FileChange, ...], int]:
    """The worktree's files against its HEAD, untracked ones included (as `commit_all` would
    commit them); ignored files are left out."""
    import pygit2

    wrepo = open_repo(path)
    if wrepo.head_is_unborn:
        return (), 0
    options = pygit2.enums.DiffOption
    flags = (
        options.INCLUDE_UNTRACKED
        | options.RECURSE_UNTRACKED_DIRS
        | options.SHOW_UNTRACKED_CONTENT
        | options.INCLUDE_TYPECHANGE
    )
    diff = wrepo.diff("HEAD", None, flags=flags, context_lines=3)
    diff.find_similar(
        flags=pygit2.enums.DiffFind.FIND_RENAMES | pygit2.enums.DiffFind.FIND_FOR_UNTRACKED
    )
    return _files(diff, max_lines)


_STATUS = {
    "ADDED": "added",
    "UNTRACKED": "added",
    "DELETED": "deleted",
    "MODIFIED": "modified",
    "RENAMED": "renamed",
    "COPIED": "copied",
    "TYPECHANGE": "typechange",
}


def _files(diff: pygit2.Diff, max_lines: int) -> tuple[tuple[FileChange, ...], int]:
    out: list[FileChange] = []
    omitted = 0
    for patch in diff:
        if patch is None:
            continue
        if len(out) >= MAX_FILES:
            omitted += 1
            continue
        change = _file(patch, max_lines)
        if change is not None:
            out.append(change)
    return tuple(out), omitted


def _file(patch: pygit2.Patch, max_lines: int) -> FileChange | None:
    delta = patch.delta
    status = _STATUS.get(delta.status.name)
    if status is None:  # unmodified, ignored, unreadable, conflicted
        return None
    path = delta.new_file.path if status != "deleted" else delta.old_file.path
    old_path = delta.old_file.path if status in ("renamed", "copied") else None
    if delta.is_binary:
        return FileChange(path, status, binary=True, old_path=old_path)
    _context, additions, deletions = patch.line_stats
    lines: list[DiffLine] = []
    omitted = 0
    for hunk in patch.hunks:
        if len(lines) >= max_lines:
            omitted += 1 + len(hunk.lines)
            continue
        lines.append(("@", hunk.header.rstrip("\r\n")))
        for line in hunk.lines:
            if len(lines) >= max_lines:
                omitted += 1
                continue
            lines.append(_line(line.origin, line.raw_content))
    return FileChange(
        path,
        status,
        additions=additions,
        deletions=deletions,
        old_path=old_path,
        lines=tuple(lines),
        omitted=omitted,
    )


def _line(origin: str, raw: bytes) -> DiffLine:
    text = raw.decode("utf-8", "replace").rstrip("\r\n")
    if origin in "=<>":  # the "no newline at end of file" marks git shows as a note
        return ("\\", text.lstrip("\n").removeprefix("\\ ").strip() or "No newline at end of file")
    return (origin if origin in "+- " else " ", text)
