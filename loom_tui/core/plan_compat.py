"""What a plan in the original loom's format asks for that loom-tui cannot do.

The original runs on a daemon with subagent lanes, code graphs and amendment machinery; a plan
written for it uses keys that mean nothing on one machine with one agent per stage.  loom-tui
accepts them so that such a plan loads unchanged, and `loom init` names them once, so that the
user knows which parts of the plan are ignored rather than finding out later.
"""

from __future__ import annotations

from loom_tui.core.plan_schema import PlanSpec, SandboxSpec, StageSpec

#: plan-level keys accepted with no effect
PLAN_KEYS = (
    "context_ceiling_tokens",
    "subagent_ceiling_tokens",
    "ratchet_files",
    "change_impact",
    "adjudication",
)

#: stage-level keys accepted with no effect
STAGE_KEYS = (
    "parallel_group",
    "implementers",
    "subagent_timeout_secs",
    "auto_merge",
    "context_ceiling_tokens",
    "plan_overview",
    "execution_mode",
    "bug_fix",
    "ultracode",
    "harness",
    "regression_test",
    "code_review",
    "wiring_tests",
    "dead_code_check",
    "before_stage",
    "after_stage",
    "contracts",
    "reachable",
)

#: sandbox keys accepted with no effect
SANDBOX_KEYS = ("permission_mode", "command_confinement")


def no_effect_at(kind: str) -> tuple[str, ...]:
    """The keys accepted with no effect in a mapping of ``kind`` ("plan", "stage", "sandbox")."""
    return {"plan": PLAN_KEYS, "stage": STAGE_KEYS, "sandbox": SANDBOX_KEYS}.get(kind, ())


def _sandbox(where: str, sandbox: SandboxSpec | None) -> list[str]:
    if sandbox is None:
        return []
    return [f"{where}.{k}" for k in SANDBOX_KEYS if k in sandbox.model_fields_set]


def no_effect_keys(spec: PlanSpec) -> list[str]:
    """The keys of ``spec`` that are accepted but change nothing here, each named once (a stage
    key used by several stages is listed as ``stages[].key``)."""
    found = [k for k in PLAN_KEYS if k in spec.model_fields_set]
    found += _sandbox("sandbox", spec.sandbox)
    seen: set[str] = set()
    stage: StageSpec
    for stage in spec.stages:
        for name in [k for k in STAGE_KEYS if k in stage.model_fields_set] + _sandbox(
            "sandbox", stage.sandbox
        ):
            seen.add(f"stages[].{name}")
    found += sorted(seen)
    return found
