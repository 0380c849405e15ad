"""A stage's effective sandbox: its own ``sandbox:`` block merged over the plan's.

The original loom treats a stage's block as overrides of the plan's defaults, not as a
replacement: a stage that adds one domain keeps the plan's others, and a stage that turns
``auto_allow`` off keeps the plan's deny lists.  So the merge is: lists are unioned (the plan's
entries first, then the stage's new ones, each once), and a scalar the stage writes replaces the
plan's.  Only the keys the stage actually wrote count (pydantic's ``model_fields_set``): the
defaults of an unwritten key must not undo the plan's choice.
"""

from __future__ import annotations

from pydantic import BaseModel

from loom_tui.core.plan_schema import SandboxSpec


def _written(model: BaseModel) -> dict[str, object]:
    """The keys of ``model`` the plan wrote, nested mappings included."""
    out: dict[str, object] = {}
    for name in model.model_fields_set:
        value = getattr(model, name)
        out[name] = _written(value) if isinstance(value, BaseModel) else value
    return out


def _as_list(value: object) -> list[object]:
    # ``allow_unix_sockets: false`` is the original's shorthand for "none"
    return list(value) if isinstance(value, list) else []


def merge_over(base: dict[str, object], over: dict[str, object]) -> dict[str, object]:
    """``over`` merged onto ``base``: mappings recursively, lists unioned, scalars replaced."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            out[key] = merge_over(old, value)
        elif isinstance(value, list) or (isinstance(old, list) and value is False):
            merged = _as_list(old)
            merged += [v for v in _as_list(value) if v not in merged]
            out[key] = merged
        else:
            out[key] = value
    return out


def effective_sandbox(
    plan: SandboxSpec | None, stage: SandboxSpec | None
) -> dict[str, object] | None:
    """The sandbox a stage's sessions run with, as the stage record stores it (None: the plan
    and the stage both left ``sandbox:`` out)."""
    if plan is None and stage is None:
        return None
    if plan is None:
        assert stage is not None
        return stage.model_dump()
    base = plan.model_dump()
    if stage is None:
        return base
    return merge_over(base, _written(stage))
