"""The plan's schema: the pydantic models that validate the ``loom:`` mapping of a plan.

Strict types and ``extra="forbid"``: a wrong type or an unknown key is an error that `plan.py`
maps back to its line in the Markdown file.  Checks that span stages (unique ids, known
dependencies, cycles) are not here: pydantic skips model validators once a field has failed, so
`plan.py` runs them in a pass of its own.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from loom_tui.core.wiring_patterns import pattern_problem

ID_RULE = "must be 1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _no_control(text: str) -> bool:
    return not any((ord(c) < 32 and c not in "\t\n") or ord(c) == 127 for c in text)


def _command(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    if not _no_control(value):
        raise ValueError("must not contain control characters (other than tab and newline)")
    return value


def _relative_glob(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    if value.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", value):
        raise ValueError(f"{value!r} must be relative to the project root")
    if ".." in re.split(r"[\\/]", value):
        raise ValueError(f"{value!r} must not use '..'")
    if not _no_control(value):
        raise ValueError("must not contain control characters")
    return value


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class WiringSpec(_Model):
    """A connection that must exist: ``pattern`` (a regex) found in the file ``source``."""

    source: str
    pattern: str
    description: str | None = None

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return _relative_glob(value)

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        problem = pattern_problem(value)  # by both engines: `re`'s dialect, `regex` runs it
        if problem is not None:
            raise ValueError(problem)
        return value


class FilesystemSandbox(_Model):
    deny_read: list[str] = []
    deny_write: list[str] = []
    allow_write: list[str] = []


class NetworkSandbox(_Model):
    allowed_domains: list[str] = []


class SandboxSpec(_Model):
    """Claude Code sandbox settings for the stage's sessions (see the README's Sandbox section)."""

    enabled: bool = True
    filesystem: FilesystemSandbox = FilesystemSandbox()
    network: NetworkSandbox = NetworkSandbox()
    excluded_commands: list[str] = ["loom"]


SimScenario = Literal[
    "normal",
    "crash-once",
    "stall-once",
    "always-crash",
    "stall",
    "ask-input",
    "ask-permission",
    "overrun",
    "handoff-loop",
    "compact",
]


class SimSpec(_Model):
    """How the simulated agent behaves in this stage (ignored by the real agent).

    ``overrun`` grows the context past the budget so that loom enforces a handoff; ``compliant``
    says whether the simulated agent then writes the handoff itself or stays silent.
    """

    scenario: SimScenario = "normal"
    steps: Annotated[int, Field(ge=1, le=1000)] = 4
    step_seconds: Annotated[float, Field(ge=0, le=3600)] = 0.5
    tokens_per_step: Annotated[int, Field(ge=0, le=10_000_000)] = 9000
    compliant: bool = True
    edit: str | None = None
    fail_first: bool = False

    @field_validator("step_seconds", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:  # an int beyond float's range: let the upper bound reject it
                return float("inf")
        return value

    @field_validator("edit")
    @classmethod
    def _edit(cls, value: str | None) -> str | None:
        return None if value is None else _relative_glob(value)


# Validated item by item, so that every bad item of a list is reported on its own line.
_Command = Annotated[str, AfterValidator(_command)]
_Glob = Annotated[str, AfterValidator(_relative_glob)]


class StageSpec(_Model):
    """One stage of the plan, as written in the metadata block."""

    id: str
    name: str
    description: str
    dependencies: list[str] = []
    acceptance: list[_Command] = []
    files: list[_Glob] = []
    context_budget: Annotated[int, Field(ge=1, le=100)] = 65
    truths: list[_Command] = []
    artifacts: list[_Glob] = []
    wiring: list[WiringSpec] = []
    model: str = "opus"
    max_retries: Annotated[int, Field(ge=0, le=100)] = 3
    #: seconds with no sign of the agent's activity before its session counts as stalled
    stall_seconds: Annotated[float, Field(gt=0, le=86_400)] | None = None
    sandbox: SandboxSpec | None = None
    sim: SimSpec | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not ID_RE.fullmatch(value):
            raise ValueError(f"{value!r} {ID_RULE}")
        return value

    @field_validator("name", "description", "model")
    @classmethod
    def _nonempty(cls, value: str) -> str:
        return _text(value)


class PlanSpec(_Model):
    """The ``loom:`` mapping of the metadata block."""

    version: int
    stages: Annotated[list[StageSpec], Field(min_length=1)]
    max_parallel: Annotated[int, Field(ge=1, le=256)] = 4
    auto_merge: bool = True
    base_branch: str | None = None
    sandbox: SandboxSpec | None = None
    #: the default of the stages' ``stall_seconds`` (None: the project's setting, 300 s)
    stall_seconds: Annotated[float, Field(gt=0, le=86_400)] | None = None

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != 1:
            raise ValueError(f"unsupported plan version {value} (this loom reads version 1)")
        return value

    @field_validator("base_branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(c in value for c in " ~^:?*[\\")):
            raise ValueError(f"{value!r} is not a valid branch name")
        return value
