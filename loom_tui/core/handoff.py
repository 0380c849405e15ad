"""Handoffs: what a session leaves behind so that a fresh one continues the stage.

`.work/handoffs/<stage>-handoff-NNN.md` (NNN from 001 per stage) has YAML front matter (stage,
session, generation, context percent, trigger — budget, precompact, crash, stall or manual — who
wrote it, when, and the branch head) and the sections a fresh session needs: goal, completed work,
decisions, current state (branch, commits ahead, uncommitted files, diff stat), next steps, files
touched.

An agent writes one with `loom handoff write`; when it does not (it crashed, or ignored the
request), loom writes it from what it can read itself: the transcript's last messages and the
files its tools touched, and git.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

from loom_tui.core import frontmatter
from loom_tui.core.fsutil import atomic_write

if TYPE_CHECKING:
    from loom_tui.core.events import HandoffWritten
    from loom_tui.core.model import SessionRecord, StageRecord
    from loom_tui.core.store import Store

TRIGGERS = ("budget", "precompact", "crash", "stall", "manual")
TRANSCRIPT_TAIL_BYTES = 4 * 1024 * 1024


class TranscriptDigest:
    """What a transcript tells about a session's work, read from its end."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.files: list[str] = []
        self.commands: list[str] = []


def digest_transcript(path: str | None, max_messages: int = 5) -> TranscriptDigest:
    digest = TranscriptDigest()
    if not path:
        return digest
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - TRANSCRIPT_TAIL_BYTES))
            data = fh.read()
    except OSError:
        return digest
    files: dict[str, None] = {}
    commands: list[str] = []
    for raw in data.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(line, dict) or line.get("type") != "assistant":
            continue
        message = line.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                text = block["text"].strip()
                if text:
                    digest.messages.append(text)
            elif block.get("type") == "tool_use" and isinstance(block.get("input"), dict):
                tool_input = block["input"]
                for key in ("file_path", "notebook_path", "path"):
                    value = tool_input.get(key)
                    if isinstance(value, str):
                        files[value] = None
                command = tool_input.get("command")
                if isinstance(command, str):
                    commands.append(command)
    digest.messages = digest.messages[-max_messages:]
    digest.files = list(files)
    digest.commands = commands[-10:]
    return digest


def next_number(store: Store, stage_id: str) -> int:
    numbers = []
    for path in store.handoff_paths(stage_id):
        stem = os.path.basename(path)[:-3]
        try:
            numbers.append(int(stem.rsplit("-", 1)[1]))
        except (IndexError, ValueError):
            continue
    return max(numbers, default=0) + 1


def _bullets(items: list[str], empty: str) -> list[str]:
    return [f"- {item}" for item in items] if items else [empty]


def render_handoff(
    *,
    stage: StageRecord,
    session: SessionRecord | None,
    number: int,
    trigger: str,
    written_by: str,
    summary: str,
    next_steps: list[str],
    decisions: list[str],
    git_state: dict[str, object],
    digest: TranscriptDigest,
) -> str:
    front: dict[str, object] = {
        "stage": stage.id,
        "session": session.id if session else None,
        "generation": session.generation if session else stage.generation,
        "context_percent": session.context_percent if session else stage.context_percent,
        "trigger": trigger,
        "written_by": written_by,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "branch": git_state.get("branch"),
        "head": git_state.get("head"),
        "commits_ahead": git_state.get("ahead"),
    }
    who = {"agent": "the agent", "user": "hand (`loom handoff write` outside a session)"}.get(
        written_by, "loom (the agent did not write one)"
    )
    lines = [
        f"# Handoff {number:03d} — stage `{stage.id}` ({stage.name})",
        "",
        f"Written by {who}; trigger: {trigger}.",
        "",
        "## Goal",
        "",
        stage.description.strip(),
        "",
        "## Completed work",
        "",
    ]
    if summary.strip():
        lines.append(summary.strip())
    elif digest.messages:
        lines.append("The session's last messages:")
        lines.append("")
        lines.extend(f"> {m.splitlines()[0][:300]}" for m in digest.messages)
    else:
        lines.append("Nothing recorded.")
    commits = git_state.get("commits")
    if isinstance(commits, list) and commits:
        lines += ["", "Commits on the branch:", ""]
        lines.extend(f"- {c}" for c in commits)
    lines += ["", "## Decisions", ""]
    lines += _bullets(decisions, "None recorded.")
    lines += ["", "## Current state", ""]
    lines.append(
        f"- Branch: `{git_state.get('branch') or '-'}`, {git_state.get('ahead', 0)} "
        f"commit(s) ahead of `{git_state.get('base') or '-'}`"
    )
    uncommitted = git_state.get("uncommitted")
    if isinstance(uncommitted, list) and uncommitted:
        lines.append(f"- Uncommitted files: {', '.join(uncommitted[:20])}")
    else:
        lines.append("- Uncommitted files: none")
    stat = git_state.get("diffstat")
    if isinstance(stat, str) and stat.strip():
        lines += ["", "```", stat.rstrip(), "```"]
    lines += ["", "## Next steps", ""]
    if next_steps:
        lines += _bullets(next_steps, "")
    else:
        lines.append(
            "Continue the assignment from the current state above; when every acceptance "
            f"command passes, run `loom stage complete {stage.id}`."
        )
    touched = list(dict.fromkeys([*digest.files, *_list(git_state.get("changed"))]))
    lines += ["", "## Files touched", ""]
    lines += _bullets([f"`{f}`" for f in touched[:50]], "None recorded.")
    return frontmatter.render(front, "\n".join(lines) + "\n")


def _list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def git_state(store: Store, stage: StageRecord, base: str) -> dict[str, object]:
    """Branch, head, commits ahead, uncommitted files and diff stat of the stage's work."""
    from loom_tui.core import git

    try:
        return git.stage_state(store.root, stage.id, base)
    except Exception as exc:  # a handoff without git facts is better than none
        return {"branch": f"loom/{stage.id}", "base": base, "error": str(exc)}


def write_handoff(
    store: Store,
    stage_id: str,
    *,
    session_id: str | None,
    trigger: str,
    written_by: str,
    summary: str = "",
    next_steps: list[str] | None = None,
    decisions: list[str] | None = None,
) -> tuple[str, HandoffWritten]:
    """Write the stage's next handoff file and record it in the stage and the session.

    Returns its path and the event, for the caller to append (the CLI) or emit (the scheduler).
    The session records the handoff and its trigger: a handoff loom wrote after a crash (trigger
    ``crash``) tells the scheduler that the session crashed rather than handed off.
    """
    from loom_tui.core.errors import UsageError
    from loom_tui.core.events import HandoffWritten
    from loom_tui.core.memory import decisions as memory_decisions

    if trigger not in TRIGGERS:
        raise UsageError(f"unknown handoff trigger {trigger!r}")
    stage = store.read_stage(stage_id)
    session = None
    if session_id:
        try:
            session = store.read_session(session_id)
        except Exception:
            session = None
    config = store.config()
    state = git_state(store, stage, config.base_branch)
    digest = digest_transcript(session.transcript_path if session else None)
    all_decisions = [*memory_decisions(store, stage_id), *(decisions or [])]
    with store.lock():
        number = next_number(store, stage_id)
        name = f"{stage_id}-handoff-{number:03d}.md"
        path = os.path.join(store.handoffs_dir, name)
        os.makedirs(store.handoffs_dir, exist_ok=True)
        atomic_write(
            path,
            render_handoff(
                stage=stage,
                session=session,
                number=number,
                trigger=trigger,
                written_by=written_by,
                summary=summary,
                next_steps=next_steps or [],
                decisions=all_decisions,
                git_state=state,
                digest=digest,
            ),
        )
        fresh = store.read_stage(stage_id)
        fresh.handoffs = [*fresh.handoffs, name]
        head = state.get("head") if isinstance(state.get("head"), str) else None
        # The loop guard's count: handoffs in a row that follow no new commit.
        no_progress = head == fresh.handoff_head if fresh.handoffs[:-1] else not state.get("ahead")
        if trigger not in ("crash", "stall"):  # failures: the retries' business, not the guard's
            fresh.handoff_streak = fresh.handoff_streak + 1 if no_progress else 0
        fresh.handoff_head = head  # type: ignore[assignment]
        store.write_stage(fresh)
        if session is not None:
            current = store.read_session(session.id)
            current.handoff = name
            current.handoff_at = time.time()
            current.handoff_trigger = trigger
            store.write_session(current)
    event = HandoffWritten(
        stage=stage_id,
        session=session_id,
        path=name,
        trigger=trigger,
        written_by=written_by,
        source="scheduler" if written_by == "loom" else "cli",
    )
    return path, event


def read_handoff(store: Store, name: str) -> tuple[dict[str, object], str]:
    path = os.path.join(store.handoffs_dir, os.path.basename(name))
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    return frontmatter.parse(text, store.rel(path))
