"""A fake Anthropic Messages API on 127.0.0.1 that scripts the model of a loom stage session.

Standard library only.  It serves what Claude Code calls:

- ``POST /v1/messages`` — streamed as server-sent events (``message_start`` with usage,
  ``content_block_start``/``delta``/``stop``, ``message_delta`` with usage, ``message_stop``) or as
  one JSON message when ``stream`` is false;
- ``POST /v1/messages/count_tokens``;
- anything else gets a permissive ``200 {}`` — every request's method and path is logged.

The model it plays works through a loom stage the way the signal principle asks, one tool call per
reply, all with the ``Bash`` tool.  Each reply is decided from the conversation alone (the request
carries the whole history), so retries and restarts are harmless:

1. ``cat`` the signal file named in the first prompt (the stage id comes from its contents);
2. append a line to ``<stage>.txt`` in the working directory, ``git add`` and ``git commit`` it
   (the git identity is set inline: the machine has none);
3. ``loom stage complete <stage>``, then end the turn with a short text.

A stage whose script sets ``lane`` first tries ``git add -A`` after reading its signal: loom's
PreToolUse guard refuses it, the refusal comes back as the tool's result, and the model carries on.

Whenever the newest user turn carries loom's handoff request (text containing
``loom handoff write``, from a hook's feedback or typed into the pane), it runs
``loom handoff write <stage> --summary …`` instead, then ends its turn.  While its context is past
the budget written in the signal (and the signal holds no previous handoff) it never completes the
stage: it ends its turn and waits for loom's request, which is what loom must then deliver.

Usage grows with every request of a conversation: ``base + step × (assistant turns so far)``,
plus a per-stage ``jump`` from the ``jump_at``-th turn on in a session that did not start from a
handoff (so that one stage crosses its context budget and the next generation starts low again).
A per-stage ``delay`` makes the model think before each reply after the first (the CLI redraws
meanwhile, which is when it runs its statusLine command).  Side requests (the session title,
quota checks, suggestions) get a short text.

Run as a program, it serves in a thread and runs a command with ``ANTHROPIC_BASE_URL`` pointing at
itself, and exits with the command's status::

    python fake_anthropic.py --config cfg.json --log requests.jsonl -- loom run --headless
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SIGNAL_RE = re.compile(r"signal file at (\S+?\.md)\b")
STAGE_RE = re.compile(r"^# Signal: stage `([^`]+)`", re.MULTILINE)
GENERATION_RE = re.compile(r"generation (\d+)\.")
BUDGET_RE = re.compile(r"Context budget: (\d+)%")
HANDOFF_REQUEST = "loom handoff write"
PREVIOUS_HANDOFF = "## Previous handoff"
GIT_IDENTITY = (
    "GIT_AUTHOR_NAME='Fake Claude' GIT_AUTHOR_EMAIL=fake-claude@example.invalid "
    "GIT_COMMITTER_NAME='Fake Claude' GIT_COMMITTER_EMAIL=fake-claude@example.invalid"
)


class StageScript:
    """How much context one stage's conversations report, and how long the model thinks."""

    def __init__(
        self,
        base: int = 12_000,
        step: int = 400,
        jump: int = 0,
        jump_at: int = 1,
        delay: float = 0.0,
        lane: int = 0,
    ) -> None:
        self.lane = lane
        self.base = base
        self.step = step
        self.jump = jump
        self.jump_at = jump_at
        self.delay = delay

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageScript:
        ints = {k: int(v) for k, v in data.items() if k != "delay"}
        return cls(**ints, delay=float(data.get("delay") or 0.0))

    def tokens(self, turn: int, continued: bool) -> int:
        used = self.base + self.step * turn
        if self.jump and turn >= self.jump_at and not continued:
            used += self.jump
        return used


# reading the conversation ---------------------------------------------------------------------


def texts(content: Any) -> list[str]:
    """Every piece of text in a message's content, tool results included."""
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    if isinstance(content, list):
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                out.append(block["text"])
            elif block.get("type") == "tool_result":
                out.extend(texts(block.get("content")))
    return out


def _feedback_texts(content: Any, skip: set[str]) -> list[str]:
    """The texts of a user turn, without the results of the tool calls in ``skip``."""
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    if isinstance(content, list):
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_result" and str(block.get("tool_use_id")) in skip:
                continue
            out.extend(texts([block]))
    return out


def tool_results(content: Any) -> dict[str, str]:
    """The tool results in a message's content, by tool_use id."""
    out: dict[str, str] = {}
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                out[str(block.get("tool_use_id"))] = "\n".join(texts(block.get("content")))
    return out


def step_of(tool_use_id: str) -> str:
    """Our tool_use ids are ``toolu_<step>_<hex>``."""
    parts = tool_use_id.split("_")
    return parts[1] if len(parts) >= 3 else ""


class Conversation:
    """What a main-conversation request tells about the session so far."""

    def __init__(self, body: dict[str, Any]) -> None:
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        self.messages = messages
        first = "\n".join(texts(messages[0].get("content"))) if messages else ""
        match = SIGNAL_RE.search(first)
        self.signal_path = match.group(1) if match else None
        self.turn = sum(1 for m in messages if m.get("role") == "assistant")
        self.steps: dict[str, str] = {}  # step -> tool_use id
        for message in messages:
            content = message.get("content")
            if message.get("role") == "assistant" and isinstance(content, list):
                for block in content:
                    if isinstance(block, dict) and block.get("type") == "tool_use":
                        self.steps.setdefault(step_of(str(block.get("id"))), str(block.get("id")))
        self.results: dict[str, str] = {}
        for message in messages:
            if message.get("role") == "user":
                self.results.update(tool_results(message.get("content")))
        # The newest user turn: everything after the last assistant message.
        tail: list[dict[str, Any]] = []
        for message in reversed(messages):
            if message.get("role") == "assistant":
                break
            tail.insert(0, message)
        self.last_results: dict[str, str] = {}
        for message in tail:
            self.last_results.update(tool_results(message.get("content")))
        cat_id = self.steps.get("cat")
        # What loom (a hook's feedback, a pasted request) said in that turn: every text, but
        # not a command's output (the signal file itself names `loom handoff write`).
        self.last_text = "\n".join(
            text
            for message in tail
            for text in _feedback_texts(message.get("content"), skip={cat_id} if cat_id else set())
        )
        signal = self.result_of("cat") or ""
        stage = STAGE_RE.search(signal)
        self.stage = stage.group(1) if stage else None
        generation = GENERATION_RE.search(signal)
        self.generation = int(generation.group(1)) if generation else None
        budget = BUDGET_RE.search(signal)
        self.budget = int(budget.group(1)) if budget else None
        self.continued = PREVIOUS_HANDOFF in signal

    def result_of(self, step: str) -> str | None:
        tool_id = self.steps.get(step)
        return self.results.get(tool_id) if tool_id else None

    def just_answered(self, step: str) -> bool:
        tool_id = self.steps.get(step)
        return tool_id is not None and tool_id in self.last_results


def delivery(text: str) -> str | None:
    """How loom's handoff request reached the model in a user turn (None: it did not)."""
    if HANDOFF_REQUEST not in text:
        return None
    if "Stop hook feedback" in text:
        return "hook:Stop"
    if "PostToolUse" in text:
        return "hook:PostToolUse"
    if "PreCompact" in text or "compaction blocked" in text:
        return "hook:PreCompact"
    return "pane"


def is_main(body: dict[str, Any]) -> bool:
    """A request of a stage session's main loop (not a title or other side request)."""
    tools = body.get("tools") or []
    names = {t.get("name") for t in tools if isinstance(t, dict)}
    if "Bash" not in names:
        return False
    return Conversation(body).signal_path is not None


# the scripted model -----------------------------------------------------------------------------


class Reply:
    def __init__(self, blocks: list[dict[str, Any]], stop_reason: str, note: str) -> None:
        self.blocks = blocks
        self.stop_reason = stop_reason
        self.note = note


def text_reply(text: str, note: str) -> Reply:
    return Reply([{"type": "text", "text": text}], "end_turn", note)


def bash(step: str, command: str, description: str) -> Reply:
    block = {
        "type": "tool_use",
        "id": f"toolu_{step}_{uuid.uuid4().hex[:20]}",
        "name": "Bash",
        "input": {"command": command, "description": description},
    }
    return Reply([block], "tool_use", step)


def script(conv: Conversation, used_percent: float, lane: bool = False) -> Reply:
    """The next move of the model in a stage session; with ``lane``, it first tries to stage
    every file with `git add -A` (loom's guard must refuse it) and then carries on."""
    stage = conv.stage or "$LOOM_STAGE_ID"
    quoted = shlex.quote(conv.stage) if conv.stage else '"$LOOM_STAGE_ID"'
    if "handoff" in conv.steps:
        if conv.just_answered("handoff"):
            return text_reply(
                f"Handoff for stage {stage} written; stopping so that a fresh session continues.",
                "stop-after-handoff",
            )
        return text_reply("My handoff is written; a fresh session continues.", "idle")
    if HANDOFF_REQUEST in conv.last_text and "complete" not in conv.steps:
        done = "committed my work" if "work" in conv.steps else "read the signal"
        command = (
            f"loom handoff write {quoted} --summary {shlex.quote(f'I {done} for {stage}.')} "
            f"--next {shlex.quote(f'Finish {stage} and run loom stage complete {stage}.')}"
        )
        return bash("handoff", command, "Write loom's handoff")
    if "cat" not in conv.steps:
        if conv.signal_path is None:
            return text_reply("I have no signal file.", "no-signal")
        return bash("cat", f"cat {shlex.quote(conv.signal_path)}", "Read the signal file")
    if lane and "lane" not in conv.steps:
        return bash("lane", "git add -A", "Stage every change")
    if "work" not in conv.steps:
        if conv.stage is None:
            return text_reply("The signal file names no stage.", "no-stage")
        name = f"{conv.stage}.txt"
        line = f"stage {conv.stage} generation {conv.generation or 0}"
        command = (
            f"printf '%s\\n' {shlex.quote(line)} >> {shlex.quote(name)} && "
            f"git add {shlex.quote(name)} && "
            f"{GIT_IDENTITY} git commit -q -m {shlex.quote(f'{conv.stage}: {line}')}"
        )
        return bash("work", command, f"Write and commit {name}")
    if "complete" not in conv.steps:
        over = conv.budget is not None and used_percent >= conv.budget
        if over and not conv.continued:
            return text_reply(
                f"My context ({used_percent:.0f}%) is past this stage's budget "
                f"({conv.budget}%): I wait for loom's handoff request.",
                "wait-for-handoff",
            )
        return bash("complete", f"loom stage complete {quoted}", "Complete the stage")
    if conv.just_answered("complete"):
        outcome = conv.result_of("complete") or ""
        if "completed" in outcome and "not completed" not in outcome:
            return text_reply(f"Stage {stage} is complete.", "done")
        return text_reply(f"loom did not complete {stage}: {outcome[:200]}", "complete-failed")
    return text_reply(f"Stage {stage} is complete; nothing more to do.", "idle")


def side_reply(body: dict[str, Any]) -> Reply:
    """A short, sensible answer to a request outside a stage's main loop."""
    system = body.get("system")
    system_text = "\n".join(texts(system)) if not isinstance(system, str) else system
    everything = system_text + "\n" + json.dumps(body.get("messages") or [])[-2000:]
    lowered = everything.lower()
    if "title" in lowered and "json" in lowered:
        return text_reply('{"title": "Loom stage session"}', "side:title-json")
    if "title" in lowered:
        return text_reply("Loom stage session", "side:title")
    if "json" in lowered:
        return text_reply("{}", "side:json")
    return text_reply("OK", "side")


# HTTP -------------------------------------------------------------------------------------------


class FakeAnthropic:
    """The server: ``start()`` serves in a daemon thread; ``url`` is its base URL."""

    def __init__(
        self,
        scripts: dict[str, StageScript] | None = None,
        default: StageScript | None = None,
        log_path: str | None = None,
        dump_path: str | None = None,
        window: int = 200_000,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.scripts = scripts or {}
        self.default = default or StageScript()
        self.log_path = log_path
        self.dump_path = dump_path
        self.window = window
        self._log_lock = threading.Lock()
        self._count = 0
        handler = type("Handler", (_Handler,), {"fake": self})
        self.httpd = _Server((host, port), handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeAnthropic:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def log(self, record: dict[str, Any], body: Any = None) -> None:
        with self._log_lock:
            self._count += 1
            record = {"n": self._count, "ts": round(time.time(), 3), **record}
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record) + "\n")
            if self.dump_path and body is not None:
                with open(self.dump_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"n": self._count, "body": body}) + "\n")

    def script_of(self, conv: Conversation) -> StageScript:
        return self.scripts.get(conv.stage or "", self.default)

    def usage(self, conv: Conversation) -> dict[str, int]:
        script_ = self.script_of(conv)
        used = script_.tokens(conv.turn, conv.continued)
        input_tokens = 20 + 10 * conv.turn
        creation = 1_000
        return {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": max(0, used - input_tokens - creation),
            "output_tokens": 40,
        }

    def answer(self, body: dict[str, Any]) -> tuple[Reply, dict[str, int], dict[str, Any]]:
        if is_main(body):
            conv = Conversation(body)
            usage = self.usage(conv)
            used = (
                usage["input_tokens"]
                + usage["cache_creation_input_tokens"]
                + usage["cache_read_input_tokens"]
            )
            reply = script(conv, used * 100.0 / self.window, bool(self.script_of(conv).lane))
            if conv.turn > 0 and self.script_of(conv).delay > 0:
                # Think a while: the CLI redraws meanwhile and runs its statusLine command.
                time.sleep(self.script_of(conv).delay)
            info = {
                "kind": "main",
                "signal": conv.signal_path,
                "stage": conv.stage,
                "generation": conv.generation,
                "turn": conv.turn,
                "used": used,
                "asked": delivery(conv.last_text),
                "lane": conv.result_of("lane"),
            }
            return reply, usage, info
        usage = {
            "input_tokens": 200,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 10,
        }
        return side_reply(body), usage, {"kind": "side"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            return  # the CLI went away mid-answer (loom ended its session)
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAnthropic
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, payload: bytes) -> None:
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # loom ended the session while its model was thinking: nobody reads the answer.
            self.fake.log({"method": self.command, "path": self.path, "kind": "client-gone"})
            self.close_connection = True

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _json(self, status: int, data: Any) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("request-id", f"req_{uuid.uuid4().hex[:24]}")
        self.end_headers()
        self._send(payload)

    def _other(self) -> None:
        body = self._body()
        self.fake.log({"method": self.command, "path": self.path, "kind": "other"}, body)
        self._json(200, {})

    do_GET = do_PUT = do_PATCH = do_DELETE = _other

    def do_HEAD(self) -> None:
        self.fake.log({"method": "HEAD", "path": self.path, "kind": "other"})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.endswith("/v1/messages/count_tokens"):
            body = self._body()
            size = len(json.dumps(body)) // 4 if body is not None else 0
            self.fake.log({"method": "POST", "path": self.path, "kind": "count_tokens"}, body)
            self._json(200, {"input_tokens": max(1, size)})
            return
        if not path.endswith("/v1/messages"):
            self._other()
            return
        body = self._body()
        if not isinstance(body, dict):
            self.fake.log({"method": "POST", "path": self.path, "kind": "bad"}, body)
            self._json(400, {"type": "error", "error": {"type": "invalid_request_error"}})
            return
        reply, usage, info = self.fake.answer(body)
        model = str(body.get("model") or "claude-fake")
        stream = bool(body.get("stream"))
        self.fake.log(
            {
                "method": "POST",
                "path": self.path,
                "model": model,
                "stream": stream,
                "messages": len(body.get("messages") or []),
                "reply": reply.note,
                "usage": usage,
                "beta": self.headers.get("anthropic-beta"),
                **info,
            },
            body,
        )
        message = {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": reply.blocks,
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
        if stream:
            self._stream(message)
        else:
            self._json(200, message)

    def _stream(self, message: dict[str, Any]) -> None:
        events: list[tuple[str, dict[str, Any]]] = []
        start = {**message, "content": [], "stop_reason": None}
        start["usage"] = {**message["usage"], "output_tokens": 1}
        events.append(("message_start", {"type": "message_start", "message": start}))
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                first = {"type": "text", "text": ""}
                delta = {"type": "text_delta", "text": block["text"]}
            else:
                first = {**block, "input": {}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": first},
                )
            )
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                    "usage": message["usage"],
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        payload = b"".join(
            f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("request-id", f"req_{uuid.uuid4().hex[:24]}")
        self.end_headers()
        self._send(payload)


# running a command against the fake ------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="JSON: {stages: {id: {base, step, jump, jump_at}}}")
    parser.add_argument("--log", help="append one JSON line per request here")
    parser.add_argument("--dump", help="append every request body here (debugging)")
    parser.add_argument("--url-file", help="write the server's base URL here")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    args = parser.parse_args(argv)
    config: dict[str, Any] = {}
    if args.config:
        with open(args.config, encoding="utf-8") as fh:
            config = json.load(fh)
    fake = FakeAnthropic(
        scripts={k: StageScript.from_dict(v) for k, v in (config.get("stages") or {}).items()},
        default=StageScript.from_dict(config.get("default") or {}),
        log_path=args.log,
        dump_path=args.dump,
        window=int(config.get("window") or 200_000),
    ).start()
    if args.url_file:
        with open(args.url_file, "w", encoding="utf-8") as fh:
            fh.write(fake.url + "\n")
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print(f"fake Anthropic API on {fake.url}; Ctrl-C stops it", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0
    env = {**os.environ, "ANTHROPIC_BASE_URL": fake.url}
    try:
        return subprocess.run(command, env=env, check=False).returncode
    finally:
        fake.stop()


if __name__ == "__main__":
    sys.exit(main())
