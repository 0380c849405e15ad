"""The permissions and sandbox of a stage session's settings: the default deny list for secrets,
the plan's sandbox mapped onto Claude Code's own keys, and a stage's block merged over the plan's.

Plans go through the real parser and `init_project.stage_record`, as `loom init` runs them.
"""

from __future__ import annotations

import textwrap

from loom_tui.core.agents.permissions import (
    ALLOWED_TOOLS,
    rule_path,
    secret_rules,
    session_permissions,
)
from loom_tui.core.init_project import stage_record
from loom_tui.core.plan import parse_plan_text

HEAD = "# Plan\n\n<!-- loom METADATA -->\n\n```yaml\n"
TAIL = "```\n\n<!-- END loom METADATA -->\n"


def records(yaml_text: str) -> dict[str, dict[str, object] | None]:
    plan = parse_plan_text(HEAD + textwrap.dedent(yaml_text).lstrip("\n") + TAIL, "PLAN.md")
    return {s.id: stage_record(plan, i).sandbox for i, s in enumerate(plan.stages)}


def deny(settings: dict[str, object]) -> list[str]:
    permissions = settings["permissions"]
    assert isinstance(permissions, dict)
    rules = permissions.get("deny", [])
    assert isinstance(rules, list)
    return rules


def box(settings: dict[str, object]) -> dict[str, object]:
    sandbox = settings["sandbox"]
    assert isinstance(sandbox, dict)
    return sandbox


PLAN = """\
loom:
  version: 1
  sandbox:
    excluded_commands: [loom, make]
    filesystem:
      deny_read: ["~/.config/secret-tool/", "/etc/shadow"]
      allow_write: ["~/.cache/pip"]
    network:
      allowed_domains: [pypi.org]
  stages:
    - id: plain
      name: Plain
    - id: more
      name: More
      sandbox:
        auto_allow: false
        excluded_commands: [docker]
        filesystem:
          deny_write: ["../**"]
          allow_write: ["~/.cargo/registry", "~/.cache/pip"]
        network:
          additional_domains: [crates.io]
          allowed_domains: [pypi.org, files.pythonhosted.org]
    - id: off
      name: Off
      sandbox:
        enabled: false
"""


def test_without_a_sandbox_the_secrets_are_still_denied() -> None:
    settings = session_permissions(None)
    assert "sandbox" not in settings
    permissions = settings["permissions"]
    assert isinstance(permissions, dict)
    assert permissions["allow"] == list(ALLOWED_TOOLS)
    rules = deny(settings)
    assert rules == secret_rules()
    for rule in (
        "Read(~/.ssh/**)",
        "Edit(~/.ssh/**)",
        "Read(~/.aws/**)",
        "Read(~/.gnupg/**)",
        "Read(~/.config/gh/**)",
        "Read(~/.netrc)",
        "Read(~/.docker/config.json)",
        "Read(~/.kube/**)",
        "Read(~/.pgpass)",
        "Read(**/.env)",
        "Edit(**/.env.*)",
        "Read(**/*.pem)",
        "Read(**/id_rsa)",
    ):
        assert rule in rules, rule
    # a path in Write(...) is never consulted by Claude Code (Edit covers Write), so none is there
    assert not [r for r in rules if r.startswith("Write(")]


def test_the_plan_can_opt_out_of_the_secret_deny_list() -> None:
    out = records(
        """\
        loom:
          version: 1
          sandbox:
            enabled: false
            protect_secrets: false
          stages:
            - id: a
              name: A
            - id: b
              name: B
              sandbox:
                protect_secrets: true
        """
    )
    assert "deny" not in session_permissions(out["a"])["permissions"]  # type: ignore[operator]
    assert box(session_permissions(out["a"])) == {"enabled": False}
    assert deny(session_permissions(out["b"])) == secret_rules()  # a stage may opt back in


def test_a_stage_without_a_block_takes_the_plans_mapped_fully() -> None:
    sandbox = box(session_permissions(records(PLAN)["plain"]))
    assert sandbox["enabled"] is True
    assert sandbox["excludedCommands"] == ["loom", "make"]
    filesystem = sandbox["filesystem"]
    assert isinstance(filesystem, dict)
    assert filesystem["allowWrite"] == ["~/.cache/pip"]  # dropped before
    # the plan's own paths join the secret folders; an absolute path gets Claude Code's `//`
    assert filesystem["denyRead"][:2] == ["~/.ssh", "~/.aws"]  # type: ignore[index]
    assert filesystem["denyRead"][-2:] == ["~/.config/secret-tool", "//etc/shadow"]  # type: ignore[index]
    assert sandbox["network"] == {"allowedDomains": ["pypi.org"]}
    rules = deny(session_permissions(records(PLAN)["plain"]))
    assert "Read(~/.config/secret-tool/**)" in rules and "Read(//etc/shadow)" in rules


def test_a_stage_block_is_merged_over_the_plans() -> None:
    settings = session_permissions(records(PLAN)["more"])
    sandbox = box(settings)
    assert sandbox["autoAllowBashIfSandboxed"] is False  # the stage's scalar wins
    assert sandbox["allowUnsandboxedCommands"] is False  # the plan's default stays
    assert sandbox["excludedCommands"] == ["loom", "make", "docker"]  # lists are unioned
    filesystem = sandbox["filesystem"]
    assert isinstance(filesystem, dict)
    assert filesystem["allowWrite"] == ["~/.cache/pip", "~/.cargo/registry"]  # each once
    assert filesystem["denyWrite"] == ["../**"]
    assert "~/.config/secret-tool" in filesystem["denyRead"]  # type: ignore[operator]
    assert sandbox["network"] == {
        "allowedDomains": ["pypi.org", "files.pythonhosted.org", "crates.io"]
    }
    rules = deny(settings)
    assert "Edit(../**)" in rules and "Read(~/.config/secret-tool/**)" in rules
    assert len(rules) == len(set(rules))


def test_a_stage_may_turn_the_plans_sandbox_off() -> None:
    settings = session_permissions(records(PLAN)["off"])
    assert box(settings) == {"enabled": False}
    assert deny(settings) == secret_rules()  # the plan's deny lists belong to its sandbox


def test_a_stage_block_alone_is_used_as_written() -> None:
    out = records(
        """\
        loom:
          version: 1
          stages:
            - id: a
              name: A
              sandbox:
                network: {allowed_domains: [example.org]}
            - id: b
              name: B
        """
    )
    assert box(session_permissions(out["a"]))["network"] == {"allowedDomains": ["example.org"]}
    assert out["b"] is None


def test_rule_paths_follow_claude_codes_prefixes() -> None:
    assert rule_path("/etc/shadow") == "//etc/shadow"
    assert rule_path("//already") == "//already"
    assert rule_path("~/.x/") == "~/.x/**"
    assert rule_path("secrets/") == "secrets/**"
    assert rule_path("src/*.key") == "src/*.key"


def test_bad_sandbox_entries_are_plan_errors() -> None:
    from loom_tui.core.plan import PlanError

    for bad, message in (
        ("allowed_domains: ['http://x.org']", "is not a domain name"),
        ("allowed_domains: ['a b']", "is not a domain name"),
    ):
        text = PLAN.replace("allowed_domains: [pypi.org]", bad)
        try:
            records(text)
        except PlanError as exc:
            assert message in str(exc.issues[0].message)
        else:
            raise AssertionError(f"{bad} was accepted")
    text = PLAN.replace('"/etc/shadow"', '"~root/x"')
    try:
        records(text)
    except PlanError as exc:
        assert "only `~/`" in exc.issues[0].message
    else:
        raise AssertionError("~root was accepted")
    records(PLAN.replace("[pypi.org]", "['*.pythonhosted.org']"))  # a wildcard is fine


def test_the_repositorys_git_folder_is_writable_in_the_sandbox() -> None:
    """A stage worktree's commits land in the main repository's `.git`: a sandboxed `git commit`
    needs it, whatever the plan says."""
    sandbox = box(session_permissions(records(PLAN)["plain"], ["/repo/.git"]))
    filesystem = sandbox["filesystem"]
    assert isinstance(filesystem, dict)
    assert filesystem["allowWrite"] == ["~/.cache/pip", "//repo/.git"]
    assert "sandbox" not in session_permissions(None, ["/repo/.git"])
