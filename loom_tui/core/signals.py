"""Signal files: `.work/signals/<session-id>.md`, everything a session's agent needs to start.

loom's "signal principle": an agent reads its signal first and carries out what it assigns.  A
signal is complete on its own — target, assignment, the dependencies' state, the acceptance
criteria, the files in scope, the previous session's handoff, the stage's memory, and the exact
`loom` commands to report with — so that a fresh session after a handoff or a crash continues
without anyone re-explaining the task.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from loom_tui.core import knowledge, skills
from loom_tui.core.fsutil import atomic_write
from loom_tui.core.memory import promoted_everywhere, unpromoted_text

if TYPE_CHECKING:
    from loom_tui.core.model import SessionRecord, StageRecord
    from loom_tui.core.store import Store


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return ""


def _strip_front_matter(text: str) -> str:
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end >= 0:
            return text[end + 5 :]
    return text


def render_signal(
    store: Store,
    stage: StageRecord,
    session: SessionRecord,
    base_branch: str,
    stages: dict[str, StageRecord],
) -> str:
    worktree = session.worktree or store.root
    if stage.resolving:
        from loom_tui.core.resolver_signal import render_resolver_signal

        return render_resolver_signal(stage, session, base_branch, worktree)
    lines = [
        f"# Signal: stage `{stage.id}` — {stage.name}",
        "",
        f"Session `{session.id}`, generation {session.generation}. Read this whole file, then "
        "carry out the assignment. When it is done and every acceptance command passes, run the "
        "completion command below.",
        "",
        "## Target",
        "",
        f"- Stage: `{stage.id}` ({stage.name})",
        f"- Worktree: `{worktree}` (work only here)",
        f"- Branch: `loom/{stage.id}`, made from `{base_branch}`; commit your work on it",
        f"- Context budget: {stage.context_budget}% of the context window",
        *_type_lines(stage),
        "",
        "## Assignment",
        "",
        stage.description.strip(),
        "",
        "## Dependencies",
        "",
    ]
    if stage.dependencies:
        for dep_id in stage.dependencies:
            dep = stages.get(dep_id)
            state = (
                "unknown"
                if dep is None
                else dep.status.value + (", merged into the base" if dep.merged else "")
            )
            name = f" — {dep.name}" if dep is not None else ""
            lines.append(f"- `{dep_id}`{name}: {state}")
        lines.append("")
        lines.append("Their work is already merged into your branch's starting point.")
    else:
        lines.append("None: this stage starts from the base branch.")
    lines += ["", "## Acceptance criteria", ""]
    where = "the worktree" if stage.working_dir == "." else f"`{stage.working_dir}/`"
    if stage.acceptance:
        lines.append(f"`loom stage complete` runs each of these in {where}; all must pass:")
        lines.append("")
        lines.extend(_acceptance_lines(stage))
    if stage.stage_type == "integration-verify":
        lines += ["", "It then runs the acceptance commands of every stage this one depends on."]
    else:
        lines.append("No acceptance commands: complete the stage when the assignment is done.")
    if stage.truths or stage.artifacts or stage.wiring:
        lines += ["", "Goal checks (`loom verify`):", ""]
        lines.extend(f"- truth: `{t}`" for t in stage.truths)
        lines.extend(f"- artifact: `{a}`" for a in stage.artifacts)
        for w in stage.wiring:
            if isinstance(w, dict):
                lines.append(f"- wiring: `{w.get('pattern')}` in `{w.get('source')}`")
    lines += ["", "## Files", ""]
    if stage.files:
        lines.extend(f"- `{f}`" for f in stage.files)
    else:
        lines.append("No file scope was given.")
    lines += skills.signal_section(stage)  # the few bundled skills that fit (core/skills.py)
    lines += _knowledge_lines(store, worktree)
    handoff = stage.handoffs[-1] if stage.handoffs else None
    if handoff:
        text = _read(os.path.join(store.handoffs_dir, os.path.basename(handoff)))
        lines += [
            "",
            "## Previous handoff",
            "",
            f"A previous session of this stage handed off (`{os.path.basename(handoff)}`). "
            "Continue from where it stopped; do not redo finished work.",
            "",
            _strip_front_matter(text).strip() or "(the handoff file is empty)",
        ]
    if stage.guidance:
        lines += ["", "## Notes from a person", ""]
        lines += ["Someone watching the run left these for this stage; they take precedence:", ""]
        lines += [f"- {note}" for note in stage.guidance]
    lines += last_acceptance_failure(stage)
    # promoted entries are in a knowledge file now, shown above to every stage
    memory = unpromoted_text(_read(store.memory_path(stage.id))).strip()
    if memory:
        lines += ["", "## Stage memory", "", _strip_front_matter(memory).strip()]
    lines += [
        "",
        "## Commands",
        "",
        "Report through the `loom` CLI (it is on your PATH; `LOOM_WORK_DIR` is set):",
        "",
        f"- `loom stage complete {stage.id}` — run the acceptance commands and finish the stage",
        f"- `loom stage block {stage.id} <reason>` — you cannot go on without a person",
        f"- `loom handoff write {stage.id} --summary <text>` — record your state before stopping "
        "(loom asks for it when the context budget is reached)",
        "- `loom memory note <text>` and `loom memory decision <text>` — keep notes for later "
        "sessions",
        "- `loom knowledge update FILE <text>` — record what every later stage should know in "
        "`doc/loom/knowledge/FILE.md` (commit it with your work); `loom memory promote TYPE FILE` "
        "moves your notes or decisions there",
        "",
    ]
    return "\n".join(lines)


def _knowledge_lines(store: Store, worktree: str) -> list[str]:
    """The project's knowledge files (the stage's worktree's, else the project root's) and every
    stage's promoted memory, within `knowledge.SIGNAL_BUDGET`: every stage, not only this one's
    later sessions, starts from what the project has learnt.  A file that cannot be read is left
    out rather than costing the session its signal."""
    try:
        return knowledge.signal_section(worktree, store.root, promoted_everywhere(store))
    except OSError:
        return []


def last_acceptance_failure(stage: StageRecord) -> list[str]:
    """What failed when an earlier session ran `loom stage complete`: the commands and the tail
    of their output, so that the next session starts from the failure, not from a guess."""
    failure = stage.acceptance_failure
    failed = failure.get("failed") if failure else None
    if not isinstance(failed, list) or not failed:
        return []
    layer = str((failure or {}).get("layer") or "acceptance")
    what = (
        "these acceptance commands failed"
        if layer == "acceptance"
        else f"its acceptance passed, but these goal checks ({layer}) failed"
    )
    merged_with = (failure or {}).get("merged_with")
    how = (
        f"loom merged `{merged_with}` into this branch to check the merge, and on that merged "
        f"result {what}. Fix what they report — keeping what both sides meant — before merging"
        if merged_with
        else f"An earlier session ran `loom stage complete` and {what}. Fix what they report "
        "before completing"
    )
    lines = ["", "## Last acceptance failure", "", f"{how} again:"]
    for item in failed:
        if not isinstance(item, dict):
            continue
        code = item.get("exit_code")
        why = "timed out" if item.get("timed_out") else f"exit {code}" if code is not None else ""
        unmet = item.get("unmet")
        if isinstance(unmet, list) and unmet:
            why = "; ".join([why, *(str(u) for u in unmet)] if why else [str(u) for u in unmet])
        tail = str(item.get("tail") or "").rstrip() or "(no output)"
        lines += ["", f"- `{item.get('command')}` ({why}); the end of its output:", "", "~~~"]
        lines += [tail.replace("~~~", "~ ~ ~"), "~~~"]
    return lines


#: what each stage type asks of the agent, besides the assignment
_TYPE_NOTES = {
    "knowledge": "a knowledge stage: explore and record what later stages need to know under "
    "`doc/loom/knowledge/` (you may write there); change no code",
    "integration-verify": "an integration-verify stage: check that the work of the stages before "
    "it fits together; `loom stage complete` runs their acceptance commands as well as yours",
    "knowledge-distill": "a knowledge-distill stage: curate what the earlier stages learnt into "
    "`doc/loom/knowledge/`",
}


def _type_lines(stage: StageRecord) -> list[str]:
    note = _TYPE_NOTES.get(stage.stage_type)
    lines = [f"- Stage type: {note}"] if note else []
    if stage.working_dir != ".":
        lines.append(f"- Working directory: `{stage.working_dir}/` of the worktree")
    if stage.setup:
        lines.append("- Set up before you started: " + ", ".join(f"`{c}`" for c in stage.setup))
    return lines


def _acceptance_lines(stage: StageRecord) -> list[str]:
    out = []
    for i, cmd in enumerate(stage.acceptance):
        raw = stage.acceptance_checks[i] if i < len(stage.acceptance_checks) else None
        expect = raw if isinstance(raw, dict) else {}
        parts = []
        if isinstance(expect.get("exit_code"), int):
            parts.append(f"exit {expect['exit_code']}")
        for text in expect.get("stdout_contains") or []:
            parts.append(f"stdout has {text!r}")
        for text in expect.get("stdout_not_contains") or []:
            parts.append(f"stdout lacks {text!r}")
        if expect.get("stderr_empty") is True:
            parts.append("no stderr")
        out.append(f"- `{cmd}`" + (f" ({', '.join(parts)})" if parts else ""))
    return out


def write_signal(
    store: Store,
    stage: StageRecord,
    session: SessionRecord,
    base_branch: str,
    stages: dict[str, StageRecord],
) -> str:
    path = store.signal_path(session.id)
    atomic_write(path, render_signal(store, stage, session, base_branch, stages), durable=False)
    return path
