"""The plan's schema: the pydantic models that validate the ``loom:`` mapping of a plan.

Strict types and ``extra="forbid"``: a wrong type or an unknown key is an error that `plan.py`
maps back to its line in the Markdown file.  Checks that span stages (unique ids, known
dependencies, cycles) are not here: pydantic skips model validators once a field has failed, so
`plan.py` runs them in a pass of its own.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
)

from loom_tui.core.wiring_patterns import pattern_problem

ID_RULE = "must be 1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
#: A Claude Code agent's name (plugin agents are ``plugin:agent``).
AGENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


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
    #: match ``pattern`` as plain text, not a regex (the original's key); before ``pattern`` so
    #: that its validator sees it
    literal: bool = False
    pattern: str
    description: str | None = None

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return _relative_glob(value)

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            raise ValueError("must not be empty")
        if info.data.get("literal"):
            return value
        problem = pattern_problem(value)  # by both engines: `re`'s dialect, `regex` runs it
        if problem is not None:
            raise ValueError(problem)
        return value


def _sandbox_path(value: str) -> str:
    """A path of the sandbox: absolute, ``~/``-relative or relative to the worktree."""
    if not value.strip():
        raise ValueError("must not be blank")
    if not _no_control(value) or "\n" in value or "\t" in value:
        raise ValueError("must not contain control characters")
    if value.startswith("~") and not (value == "~" or value.startswith("~/")):
        raise ValueError(f"{value!r}: only `~/` (your home) is understood, not `~user`")
    return value


_SandboxPath = Annotated[str, AfterValidator(_sandbox_path)]
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: a host name, or ``*.`` and one for every subdomain (as Claude Code's ``allowedDomains`` takes)
DOMAIN_RE = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*")


def _domain(value: str) -> str:
    if not DOMAIN_RE.fullmatch(value) or len(value) > 253:
        raise ValueError(
            f"{value!r} is not a domain name (such as `pypi.org`, or `*.example.com` for its "
            "subdomains)"
        )
    return value


_Domain = Annotated[str, AfterValidator(_domain)]


class FilesystemSandbox(_Model):
    deny_read: list[_SandboxPath] = []
    deny_write: list[_SandboxPath] = []
    allow_write: list[_SandboxPath] = []


class NetworkSandbox(_Model):
    """The network of the sandbox; the keys after ``allowed_domains`` are the original loom's
    and become the same-named Claude Code sandbox settings."""

    allowed_domains: list[_Domain] = []
    #: more domains on top of ``allowed_domains`` (the original's name for a stage's additions)
    additional_domains: list[_Domain] = []
    allow_local_binding: bool = False
    #: socket paths; ``false`` is the original's shorthand for none
    allow_unix_sockets: list[str] | Literal[False] = []
    allow_all_unix_sockets: bool = False


class LinuxSandbox(_Model):
    enable_weaker_nested: bool = False


PermissionMode = Literal["default", "accept-edits", "auto", "plan", "bypass-permissions"]


class SandboxSpec(_Model):
    """Claude Code sandbox settings for the stage's sessions (see the README's Sandbox section).

    ``auto_allow``, ``allow_unsandboxed_escape`` and ``linux`` are the original loom's keys and map
    to Claude Code settings; ``permission_mode`` and ``command_confinement`` are accepted for its
    plans but have no effect here (loom-tui always allows the tools listed in the settings, and
    runs plan commands with the user's environment).
    """

    enabled: bool = True
    #: loom's default deny list for secrets (``~/.ssh``, ``~/.aws``, ``.env`` files, …), applied
    #: whether or not the sandbox is enabled; ``false`` opts out (loom-tui's own key)
    protect_secrets: bool = True
    auto_allow: bool = True
    allow_unsandboxed_escape: bool = False
    filesystem: FilesystemSandbox = FilesystemSandbox()
    network: NetworkSandbox = NetworkSandbox()
    linux: LinuxSandbox = LinuxSandbox()
    excluded_commands: list[str] = ["loom"]
    permission_mode: PermissionMode | None = None
    command_confinement: Literal["confined", "inherit"] | None = None


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
    #: more files it writes (its line in each): two stages that both write one file conflict
    also_edit: list[str] = []
    fail_first: bool = False
    #: as a resolver of a merge conflict: ``resolve`` (keep both sides) or ``fail`` (give up)
    resolver: Literal["resolve", "fail"] = "resolve"
    #: before its work, try each lane violation loom's PreToolUse guard refuses, then carry on
    violations: bool = False

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

    @field_validator("also_edit")
    @classmethod
    def _also_edit(cls, value: list[str]) -> list[str]:
        return [_relative_glob(v) for v in value]


def _working_dir(value: str) -> str:
    if value.strip() in (".", "./"):
        return "."
    return _relative_glob(value).rstrip("/")


class TruthCheck(_Model):
    """An acceptance entry in object form, as the original loom writes it: a command and what
    its run must show besides (or instead of) exit status 0."""

    command: str
    stdout_contains: list[str] = []
    stdout_not_contains: list[str] = []
    #: true: the command must write nothing to stderr
    stderr_empty: bool | None = None
    #: the exit status expected (default 0)
    exit_code: int | None = None
    description: str | None = None

    @field_validator("command")
    @classmethod
    def _cmd(cls, value: str) -> str:
        return _command(value)


StageType = Literal["standard", "knowledge", "integration-verify", "knowledge-distill"]
ReasoningEffort = Literal["low", "medium", "high", "xhigh", "max"]
Implementer = Literal["claude", "codex"]

#: The original's keys loom-tui reads but cannot act on in a one-machine TUI.  Accepted as any
#: YAML value (their shape is the original's business); `loom init` lists the ones a plan uses.
Opaque = object

# Validated item by item, so that every bad item of a list is reported on its own line.
_Command = Annotated[str, AfterValidator(_command)]
_Glob = Annotated[str, AfterValidator(_relative_glob)]
_Acceptance = Annotated[
    Annotated[_Command, Tag("command")] | Annotated[TruthCheck, Tag("check")],
    Discriminator(lambda v: "check" if isinstance(v, dict) else "command"),
]


class StageSpec(_Model):
    """One stage of the plan, as written in the metadata block."""

    id: str
    name: str
    #: optional, as in the original: a stage without one is assigned its name
    description: str | None = None
    dependencies: list[str] = []
    acceptance: list[_Acceptance] = []
    #: commands run in the worktree (in ``working_dir``) before each session's agent starts
    setup: list[_Command] = []
    #: where acceptance, truths and setup run, relative to the worktree
    working_dir: Annotated[str, AfterValidator(_working_dir)] = "."
    stage_type: StageType = "standard"
    files: list[_Glob] = []
    context_budget: Annotated[int, Field(ge=1, le=100)] = 65
    truths: list[_Command] = []
    artifacts: list[_Glob] = []
    wiring: list[WiringSpec] = []
    model: str = "opus"
    agent: str | None = None
    #: skills the signal names first (the original's key, with the same meaning)
    skills: list[str] = []
    max_retries: Annotated[int, Field(ge=0, le=100)] = 3
    #: seconds with no sign of the agent's activity before its session counts as stalled
    stall_seconds: Annotated[float, Field(gt=0, le=86_400)] | None = None
    sandbox: SandboxSpec | None = None
    sim: SimSpec | None = None
    # The original loom's keys, accepted; `loom init` lists those that have no effect here.
    parallel_group: str | None = None
    reasoning_effort: ReasoningEffort | None = None
    implementers: list[Implementer] | None = None
    subagent_timeout_secs: Annotated[int, Field(ge=1)] | None = None
    auto_merge: bool | None = None
    context_ceiling_tokens: Annotated[int, Field(ge=1)] | None = None
    plan_overview: bool | None = None
    execution_mode: Literal["single", "team"] | None = None
    bug_fix: bool | None = None
    ultracode: bool | None = None
    harness: list[str] = []
    regression_test: Opaque = None
    code_review: Opaque = None
    wiring_tests: Opaque = None
    dead_code_check: Opaque = None
    before_stage: Opaque = None
    after_stage: Opaque = None
    contracts: Opaque = None
    reachable: Opaque = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not ID_RE.fullmatch(value):
            raise ValueError(f"{value!r} {ID_RULE}")
        return value

    @field_validator("name", "model")
    @classmethod
    def _nonempty(cls, value: str) -> str:
        return _text(value)

    @field_validator("description")
    @classmethod
    def _description(cls, value: str | None) -> str | None:
        return None if value is None else _text(value)

    @field_validator("agent")
    @classmethod
    def _agent(cls, value: str | None) -> str | None:
        if value is not None and not AGENT_RE.fullmatch(value):
            raise ValueError(
                f"{value!r} is not an agent name (letters, digits, '-', '_', '.' and ':', "
                "as in `claude --agent NAME`)"
            )
        return value


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
    # The original loom's plan-level keys, accepted with no effect here.
    context_ceiling_tokens: Annotated[int, Field(ge=1)] | None = None
    subagent_ceiling_tokens: Annotated[int, Field(ge=1)] | None = None
    ratchet_files: list[str] = []
    change_impact: Opaque = None
    adjudication: Opaque = None

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
