"""The PreToolUse guard: what keeps a stage's agent in its lane.

A stage's agent works in its own worktree, on its own branch ``loom/<stage>``, and loom merges its
work; it must not sweep stray files into a commit, move to another branch, publish anything, touch
files outside its worktree, or act on another stage.  `check` looks at one PreToolUse payload and
answers None (go on) or the reason for refusing, written for the agent: the hook exits 2 with it,
Claude Code shows it to the model instead of running the tool, and the agent carries on.

What is refused:

- ``git add -A`` / ``--all`` / ``.`` (and ``:/``, ``*``, ``-u``): add the files by name instead;
- ``git commit`` while the worktree is on another branch than ``loom/<stage>``;
- ``git checkout <branch>``, ``git checkout -b``, ``git switch``: restoring files
  (``git checkout -- FILE``, ``git checkout HEAD FILE``) stays allowed;
- ``git push``;
- Edit, Write, MultiEdit and NotebookEdit on a path outside the worktree (relative paths resolve
  against the payload's ``cwd``; symbolic links are followed);
- ``loom stage <verb> <other stage>`` and ``loom handoff write <other stage>``.

Shell commands are split into simple commands at the operators outside quotes (``&&``, ``||``,
``;``, ``|``, new lines, ``$(``) with `shlex`; leading variable assignments and
``sudo``/``env``/``command``/``exec`` are skipped.  A command the guard cannot read is let
through: the guard is a lane marker for a cooperative agent, not a sandbox (the sandbox is
Claude Code's own).

Standard-library imports only: this runs in the hook, before a tool call.
"""

from __future__ import annotations

import os
import re
import shlex

BRANCH_PREFIX = "loom/"
PREFIXES = frozenset({"sudo", "env", "command", "exec", "nohup", "time", "xargs"})
SEPARATORS = re.compile(r"&&|\|\||[;|\n&]|\$\(|`|\(|\)")
OPERATOR_CHARS = frozenset("();<>|&")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
#: git's global options that take a value as the next word
GIT_VALUE_OPTIONS = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace"})
SWEEPING_ADDS = frozenset({"-A", "--all", ".", "./", ":/", ":", "*", "-u", "--update"})
EDIT_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})


def check(
    payload: dict[str, object], stage_id: str, worktree: str | None, branch: str | None = None
) -> str | None:
    """The reason to refuse this tool call, or None; ``branch`` is the stage's own (by default
    ``loom/<stage>``)."""
    tool = payload.get("tool_name")
    tool_input = payload.get("tool_input")
    if not isinstance(tool_input, dict):
        return None
    cwd = payload.get("cwd")
    base = cwd if isinstance(cwd, str) and cwd else (worktree or os.getcwd())
    if tool == "Bash":
        command = tool_input.get("command")
        if isinstance(command, str):
            return check_command(command, stage_id, base, branch)
        return None
    if tool in EDIT_TOOLS and worktree:
        path = tool_input.get("file_path") or tool_input.get("notebook_path")
        if isinstance(path, str) and path:
            return check_path(path, base, worktree, str(tool))
    return None


def check_path(path: str, cwd: str, worktree: str, tool: str) -> str | None:
    target = os.path.realpath(os.path.join(cwd, os.path.expanduser(path)))
    root = os.path.realpath(worktree)
    if target == root or target.startswith(root.rstrip(os.sep) + os.sep):
        return None
    return (
        f"loom guard: {tool} on {path} refused: it is outside this stage's worktree ({worktree}). "
        "Change only files inside the worktree; if the stage needs a change elsewhere, say so in "
        "your handoff or block the stage with `loom stage block <stage> <reason>`."
    )


def simple_commands(command: str) -> list[list[str]]:
    """The words of each simple command in ``command``, split at the shell's operators outside
    quotes (a command with an unclosed quote is split on blanks)."""
    lexer = shlex.shlex(command.replace("\n", ";"), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        tokens = SEPARATORS.sub(" ; ", command).split()
    out: list[list[str]] = []
    words: list[str] = []
    for token in [*tokens, ";"]:
        if token and all(ch in OPERATOR_CHARS for ch in token):
            while words and (ASSIGNMENT.match(words[0]) or words[0] in PREFIXES):
                words = words[1:]
            if words:
                out.append(words)
            words = []
        else:
            words.append(token)
    return out


def check_command(command: str, stage_id: str, cwd: str, branch: str | None = None) -> str | None:
    for words in simple_commands(command):
        name = os.path.basename(words[0])
        if name == "git":
            reason = _check_git(words[1:], stage_id, cwd, branch or BRANCH_PREFIX + stage_id)
        elif name == "loom":
            reason = _check_loom(words[1:], stage_id)
        else:
            reason = None
        if reason:
            return reason
    return None


def _git_subcommand(args: list[str], cwd: str) -> tuple[str, list[str], str]:
    """git's sub-command, its arguments, and the folder it runs in (after ``-C``)."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in GIT_VALUE_OPTIONS and i + 1 < len(args):
            if arg == "-C":
                cwd = os.path.join(cwd, args[i + 1])
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        return arg, args[i + 1 :], cwd
    return "", [], cwd


def _check_git(args: list[str], stage_id: str, cwd: str, own: str) -> str | None:
    sub, rest, where = _git_subcommand(args, cwd)
    if sub == "add":
        swept = [a for a in rest if a in SWEEPING_ADDS or re.fullmatch(r"-[a-zA-Z]*A[a-zA-Z]*", a)]
        if swept:
            return (
                f"loom guard: `git add {swept[0]}` refused: it stages every changed file, "
                "including ones that are not this stage's work. Add the files you changed by "
                "name: `git add path/to/file ...`."
            )
    elif sub == "push":
        return (
            "loom guard: `git push` refused: loom merges each stage's branch itself. Commit on "
            f"`{own}` and run `loom stage complete {stage_id}` when the stage is done."
        )
    elif (sub == "switch" or (sub == "checkout" and _checkout_moves(rest, where))) and [
        a for a in rest if not a.startswith("-")
    ] != [own]:
        return (
            f"loom guard: `git {sub}` to another branch refused: this stage works on `{own}` "
            "only. Stay on it; to restore a file use `git checkout -- FILE` or `git restore FILE`."
        )
    elif sub == "commit":
        branch = current_branch(where)
        if branch is not None and branch != own:
            return (
                f"loom guard: `git commit` refused: the worktree is on `{branch}`, not on this "
                f"stage's branch `{own}`. Switch back with `git switch {own}` and commit there."
            )
    elif sub == "branch" and any(a in ("-D", "-d", "--delete", "-m", "-M") for a in rest):
        return (
            f"loom guard: `git branch {' '.join(rest)}` refused: loom owns the branches. "
            f"Keep working on `{own}`."
        )
    return None


def _checkout_moves(args: list[str], cwd: str) -> bool:
    """Whether ``git checkout ARGS`` changes the branch (rather than restoring files)."""
    if "--" in args:
        return any(a in ("-b", "-B", "--orphan") for a in args[: args.index("--")])
    if any(a in ("-b", "-B", "--orphan", "--detach") for a in args):
        return True
    operands = [a for a in args if not a.startswith("-")]
    if not operands:
        return False
    # `git checkout FILE...` and `git checkout REV FILE...` restore files; `git checkout REV` moves
    files = [a for a in operands if os.path.exists(os.path.join(cwd, a))]
    if len(operands) == 1:
        return not files
    return len(files) < len(operands) - 1


def _check_loom(args: list[str], stage_id: str) -> str | None:
    words = list(args)
    while words and words[0].startswith("--work-dir"):
        words = words[2:] if words[0] == "--work-dir" else words[1:]
    if len(words) < 3:
        return None
    if words[0] == "stage" or (words[0] == "handoff" and words[1] == "write"):
        operands = [w for w in words[2:] if not w.startswith("-")]
        if words[0] == "stage" and words[1] in ("block", "hold"):
            operands = operands[:1]  # the rest is the reason
        if words[0] == "handoff":
            operands = operands[:1]
        others = [w for w in operands if w != stage_id]
        if others and _looks_like_ids(words, others):
            return (
                f"loom guard: `loom {' '.join(words[:2])} {others[0]}` refused: this session "
                f"works on stage `{stage_id}` only. Act on your own stage "
                f"(`loom {words[0]} {words[1]} {stage_id}`); other stages are loom's to run."
            )
    return None


def _looks_like_ids(words: list[str], others: list[str]) -> bool:
    """Option values (``--summary TEXT``) are not stage ids: only words before the first option
    count."""
    for word in words[2:]:
        if word.startswith("-"):
            return False
        if word in others:
            return True
    return False


def current_branch(cwd: str) -> str | None:
    """The branch checked out in the repository or worktree around ``cwd`` (None when detached
    or not found), read from its ``HEAD`` file: no git process, no pygit2 import."""
    folder = os.path.abspath(cwd)
    while True:
        dot_git = os.path.join(folder, ".git")
        if os.path.isdir(dot_git):
            head = os.path.join(dot_git, "HEAD")
            break
        if os.path.isfile(dot_git):
            try:
                with open(dot_git, encoding="utf-8") as fh:
                    line = fh.read().strip()
            except OSError:
                return None
            if not line.startswith("gitdir:"):
                return None
            gitdir = line[len("gitdir:") :].strip()
            head = os.path.join(os.path.join(folder, gitdir), "HEAD")
            break
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent
    try:
        with open(head, encoding="utf-8") as fh:
            ref = fh.read().strip()
    except OSError:
        return None
    prefix = "ref: refs/heads/"
    return ref[len(prefix) :] if ref.startswith(prefix) else None
