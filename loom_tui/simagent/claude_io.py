"""What the simulated agent writes and runs the way Claude Code does: transcript lines, the
statusLine payload, and hook invocations (matchers, stdin JSON, exit-code rules).

The formats follow the captures in `shared/reference/claude-code/` (Claude Code 2.1.197); tests
check that loom's readers give the same figures on these files as on the real captures.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
import uuid
from typing import Any, ClassVar

VERSION = "2.1.197"
MODEL_IDS = {"opus": "claude-opus-4-8", "sonnet": "claude-sonnet-4-6", "haiku": "claude-haiku-4-5"}
DISPLAY = {"opus": "Opus 4.8", "sonnet": "Sonnet 4.6", "haiku": "Haiku 4.5"}
PRICE_PER_MTOK = {"opus": (5.0, 25.0), "sonnet": (3.0, 15.0), "haiku": (1.0, 5.0)}


def model_id(alias: str) -> str:
    suffix = "[1m]" if alias.endswith("[1m]") else ""
    base = alias.removesuffix("[1m]")
    return MODEL_IDS.get(base, base) + suffix


def _now() -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        + f".{int(time.time() * 1000) % 1000:03d}Z"
    )


class Usage:
    """Token usage of one model reply, as the Messages API reports it."""

    def __init__(self, input_tokens: int, cache_creation: int, cache_read: int, output: int):
        self.input_tokens = input_tokens
        self.cache_creation = cache_creation
        self.cache_read = cache_read
        self.output = output

    @property
    def context_tokens(self) -> int:
        return self.input_tokens + self.cache_creation + self.cache_read

    def as_dict(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation,
            "cache_read_input_tokens": self.cache_read,
            "output_tokens": self.output,
            "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
            "service_tier": "standard",
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
            "inference_geo": "",
            "iterations": [],
            "speed": "standard",
        }


class Transcript:
    """Appends Claude Code transcript lines (JSONL) for one session."""

    def __init__(self, path: str, session_id: str, cwd: str, model: str) -> None:
        self.path = path
        self.session_id = session_id
        self.cwd = cwd
        self.model = model
        self.parent: str | None = None
        self.last_assistant: str | None = None
        os.makedirs(os.path.dirname(path), exist_ok=True)

    def _common(self) -> dict[str, Any]:
        return {
            "userType": "external",
            "entrypoint": "cli",
            "cwd": self.cwd,
            "sessionId": self.session_id,
            "version": VERSION,
            "gitBranch": "HEAD",
        }

    def _append(self, record: dict[str, Any]) -> None:
        """One whole line or none: on a full disk the line is lost, never torn, and the
        simulated agent goes on."""
        from loom_tui.core.fsutil import append_line

        with contextlib.suppress(OSError):
            append_line(self.path, json.dumps(record, separators=(",", ":")))

    def _chain(self, record: dict[str, Any]) -> str:
        uid = str(uuid.uuid4())
        full = {
            "parentUuid": self.parent,
            "isSidechain": False,
            **record,
            "uuid": uid,
            "timestamp": _now(),
            **self._common(),
        }
        self._append(full)
        self.parent = uid
        return uid

    def user(self, text: str) -> None:
        self._chain(
            {
                "promptId": str(uuid.uuid4()),
                "type": "user",
                "message": {"role": "user", "content": text},
                "permissionMode": "acceptEdits",
                "origin": {"kind": "human"},
                "promptSource": "typed",
            }
        )

    def assistant(self, content: list[dict[str, Any]], usage: Usage, stop: str) -> None:
        self.last_assistant = self._chain(
            {
                "message": {
                    "id": f"msg_{uuid.uuid4().hex[:24]}",
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": content,
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": usage.as_dict(),
                    "stop_details": None,
                },
                "type": "assistant",
            }
        )

    def tool_result(self, tool_use_id: str, output: str, is_error: bool = False) -> None:
        self._chain(
            {
                "promptId": str(uuid.uuid4()),
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [
                        {
                            "tool_use_id": tool_use_id,
                            "type": "tool_result",
                            "content": output or "(Bash completed with no output)",
                            "is_error": is_error,
                        }
                    ],
                },
                "toolUseResult": {
                    "stdout": output,
                    "stderr": "",
                    "interrupted": False,
                    "isImage": False,
                    "noOutputExpected": not output,
                },
                "sourceToolAssistantUUID": self.last_assistant,
            }
        )

    def compact_boundary(self) -> None:
        self._chain(
            {
                "type": "system",
                "subtype": "compact_boundary",
                "content": "Conversation compacted",
                "isMeta": False,
                "level": "info",
                "compactMetadata": {"trigger": "auto", "preTokens": 0},
            }
        )

    def last_prompt(self, prompt: str) -> None:
        self._append(
            {
                "type": "last-prompt",
                "lastPrompt": prompt,
                "leafUuid": self.parent,
                "sessionId": self.session_id,
            }
        )


def statusline_payload(
    *,
    session_id: str,
    transcript_path: str,
    cwd: str,
    alias: str,
    usage: Usage | None,
    window: int,
    total_input: int,
    total_output: int,
    cost: float,
    started: float,
) -> dict[str, Any]:
    """The JSON Claude Code gives a statusLine command (compare statusline_sample_opus1m.json)."""
    base = alias.removesuffix("[1m]")
    display = DISPLAY.get(base, base) + (" (1M context)" if alias.endswith("[1m]") else "")
    current = None
    used = None
    if usage is not None:
        current = {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output,
            "cache_creation_input_tokens": usage.cache_creation,
            "cache_read_input_tokens": usage.cache_read,
        }
        used = round(usage.context_tokens / window * 100)
    return {
        "session_id": session_id,
        "transcript_path": transcript_path,
        "cwd": cwd,
        "prompt_id": str(uuid.uuid4()),
        "effort": {"level": "high"},
        "model": {"id": model_id(alias), "display_name": display},
        "workspace": {"current_dir": cwd, "project_dir": cwd, "added_dirs": []},
        "version": VERSION,
        "output_style": {"name": "default"},
        "cost": {
            "total_cost_usd": cost,
            "total_duration_ms": int((time.time() - started) * 1000),
            "total_api_duration_ms": 0,
            "total_lines_added": 0,
            "total_lines_removed": 0,
        },
        "context_window": {
            "total_input_tokens": total_input,
            "total_output_tokens": total_output,
            "context_window_size": window,
            "current_usage": current,
            "used_percentage": used,
            "remaining_percentage": None if used is None else 100 - used,
        },
        "exceeds_200k_tokens": bool(usage and usage.context_tokens > 200_000),
        "fast_mode": False,
        "thinking": {"enabled": True},
    }


class HookResult:
    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr

    @property
    def blocking(self) -> bool:
        return self.exit_code == 2


class HookRunner:
    """Runs the hooks of a settings file as Claude Code does."""

    MATCH_FIELD: ClassVar[dict[str, str]] = {
        "PreToolUse": "tool_name",
        "PostToolUse": "tool_name",
        "Notification": "notification_type",
        "SessionStart": "source",
        "PreCompact": "trigger",
        "SessionEnd": "reason",
    }

    def __init__(self, settings: dict[str, Any], session_id: str, transcript: str, cwd: str):
        self.settings = settings
        self.session_id = session_id
        self.transcript = transcript
        self.cwd = cwd

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        extra = self.settings.get("env")
        if isinstance(extra, dict):
            env.update({str(k): str(v) for k, v in extra.items()})
        env["CLAUDE_PROJECT_DIR"] = self.cwd
        env["CLAUDE_CODE_SESSION_ID"] = self.session_id
        return env

    def _commands(self, event: str, payload: dict[str, Any]) -> list[str]:
        groups = (self.settings.get("hooks") or {}).get(event) or []
        field = self.MATCH_FIELD.get(event)
        value = str(payload.get(field, "")) if field else ""
        out = []
        for group in groups:
            matcher = group.get("matcher", "") or "*"
            if field and matcher not in ("*", "") and not re.fullmatch(matcher, value):
                continue
            for hook in group.get("hooks", []):
                if hook.get("type") == "command" and hook.get("command"):
                    out.append(str(hook["command"]))
        return out

    def run(self, event: str, **fields: Any) -> list[HookResult]:
        payload = {
            "session_id": self.session_id,
            "transcript_path": self.transcript,
            "cwd": self.cwd,
            "hook_event_name": event,
            **fields,
        }
        results = []
        for command in self._commands(event, payload):
            try:
                proc = subprocess.run(
                    ["sh", "-c", command],
                    input=json.dumps(payload),
                    capture_output=True,
                    text=True,
                    env=self._env(),
                    cwd=self.cwd,
                    timeout=60,
                    check=False,
                )
                results.append(HookResult(proc.returncode, proc.stdout, proc.stderr))
            except (OSError, subprocess.TimeoutExpired) as exc:
                results.append(HookResult(1, "", str(exc)))
        return results

    def statusline(self, payload: dict[str, Any]) -> str | None:
        spec = self.settings.get("statusLine")
        if not isinstance(spec, dict) or spec.get("type") != "command":
            return None
        try:
            proc = subprocess.run(
                ["sh", "-c", str(spec["command"])],
                input=json.dumps(payload),
                capture_output=True,
                text=True,
                env=self._env(),
                cwd=self.cwd,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.splitlines()[0] if proc.stdout.strip() else None
