"""loom-tui benchmarks: ``python bench/run.py [NAME...]`` prints ONE JSON object on stdout.

Progress goes to stderr.  With no NAME every benchmark runs; ``--list`` shows them.

A benchmark is a name (``P0``), a key in the output (``P0_cli_start``) and a function that takes the
`Bench` context and returns a JSON-ready dict.  P0 lives here; later ones go in their own modules,
``bench/p<N>_<what>.py``, which are picked up automatically when they define::

    NAME = "P1"                       # what `bench/run.py P1` selects
    KEY = "P1_something"              # the key of its result in the JSON object
    def run(bench) -> dict: ...       # `bench` is the `Bench` below: temp dirs, projects, timing

Every benchmark works on its own temporary git repositories (made with pygit2 and an explicit
signature: CI has no git identity) and the real `loom` console script of this interpreter's
environment.  Before anything is measured, ``python -m compileall -q loom_tui`` runs from the
repository root: this environment sets PYTHONDONTWRITEBYTECODE=1, and an installed tool runs from
bytecode, so the CLI is measured as users would run it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
PACKAGE = "loom_tui"
SAMPLE_PLAN = REPO_ROOT / PACKAGE / "samples" / "PLAN-0001-wordcount.md"
#: `p1_chain.py`, and `p1b_fanout.py` for a variant that sorts after P1 and before P2
MODULE_PATTERN = re.compile(r"^p(\d+)[a-z]?_\w+\.py$")


from benchlib import (  # noqa: E402 - the bench folder is on sys.path when run as a script
    PACKAGE,
    REPO_ROOT,
    Bench,
    BenchError,
    log,
    summary_ms,
)

# --------------------------------------------------------------------------------------------------
# Benchmarks


@dataclass(frozen=True)
class Benchmark:
    name: str
    key: str
    run: Callable[[Bench], dict[str, object]]
    doc: str


#: P0's commands, as (label, arguments, exit code, text expected on stdout or, for an error, on
#: stderr): what agents run on every step, and the mistakes they make (an unknown or invalid stage
#: id, a command outside any project), which must fail as quickly as they succeed.
P0_COMMANDS: list[tuple[str, list[str], int, str]] = [
    ("stage_hold", ["stage", "hold", "scaffold"], 0, "stage scaffold held"),
    ("stage_release", ["stage", "release", "scaffold"], 0, "stage scaffold released"),
    ("status_json", ["status", "--json"], 0, '"stages"'),
    ("memory_note", ["memory", "note", "--stage", "scaffold", "checked"], 0, "note recorded"),
    ("error_no_stage", ["stage", "hold", "d"], 1, "no stage 'd'"),
    ("error_complete_no_stage", ["stage", "complete", "d"], 1, "no stage 'd'"),
    ("error_invalid_id", ["stage", "hold", "D!"], 2, "invalid stage id"),
    ("error_memory_no_stage", ["memory", "note", "--stage", "d", "x"], 1, "no stage 'd'"),
    ("error_no_project", ["stage", "hold", "scaffold"], 1, "no loom project here"),
]


def p0_cli_start(bench: Bench) -> dict[str, object]:
    """P0: start-up cost of the agent-facing CLI against `python -c pass`: `loom stage hold X`,
    `release`, `status --json`, `memory note`, and their error paths (`P0_COMMANDS`).

    Each round times `python -c pass` and then every command once, interleaved, so that the
    machine's load weighs on all alike; a ratio is a command's median over `python -c pass`'s.
    `loom hook post-tool-use` (after every tool call of every agent) is timed too.  Goal: every
    median ratio at most 2.5 (issue 11).
    """
    goal = 2.5
    project = bench.make_project()
    outside = bench.fresh_dir("no-project")  # no .work/ and no git repository above it
    python_pass = [bench.python, "-c", "pass"]
    pass_ms: list[float] = []
    times: dict[str, list[float]] = {label: [] for label, *_ in P0_COMMANDS}
    for measured in bench.samples("P0"):
        t_pass = bench.run(python_pass, cwd=project).ms
        if measured:
            pass_ms.append(t_pass)
        for label, args, code, expect in P0_COMMANDS:
            cwd = outside if label == "error_no_project" else project
            t = bench.run([bench.loom, *args], cwd=cwd, expect=expect, returncode=code).ms
            if measured:
                times[label].append(t)
    base = statistics.median(pass_ms)
    ratios = {label: round(statistics.median(ms) / base, 3) for label, ms in times.items()}
    hook_ms = _hook_ms(bench, project)
    worst = max(ratios, key=lambda label: ratios[label])
    return {
        "loom_hook_post_tool_use_ms": summary_ms(hook_ms),
        "hook_ratio_p50": round(statistics.median(hook_ms) / base, 3),
        "loom_stage_hold_ms": summary_ms(times["stage_hold"]),
        "loom_stage_release_ms": summary_ms(times["stage_release"]),
        "python_pass_ms": summary_ms(pass_ms),
        "commands_ms": {label: summary_ms(ms) for label, ms in times.items()},
        "ratios_p50": ratios,
        "ratio_p50": ratios["stage_hold"],
        "worst": worst,
        "worst_ratio_p50": ratios[worst],
        "goal_ratio": goal,
        "goal_met": ratios[worst] <= goal,
        "runs": len(pass_ms),
        "warmup_runs": bench.warmup,
    }


def _hook_ms(bench: Bench, project: Path) -> list[float]:
    """`loom hook post-tool-use` as Claude Code runs it after every tool call of an agent: JSON
    on stdin, in a live session's environment (a session record written by hand)."""
    import json
    import uuid

    from loom_tui.core.model import SessionRecord
    from loom_tui.core.store import Store

    store = Store(str(project / ".work"))
    session = SessionRecord(id=str(uuid.uuid4()), stage_id="scaffold", status="running")
    store.write_session(session)
    env = {
        "LOOM_WORK_DIR": store.work_dir,
        "LOOM_SESSION_ID": session.id,
        "LOOM_STAGE_ID": "scaffold",
    }
    payload = json.dumps(
        {
            "session_id": session.id,
            "hook_event_name": "PostToolUse",
            "tool_name": "Bash",
            "tool_input": {"command": "pytest -q"},
            "tool_response": {"stdout": "ok"},
        }
    )
    samples = []
    for measured in bench.samples("P0 hook"):
        full_env = {**bench.env, **env}
        started = time.perf_counter_ns()
        subprocess.run(
            [bench.loom, "hook", "post-tool-use"],
            input=payload,
            text=True,
            env=full_env,
            cwd=project,
            capture_output=True,
            check=True,
        )
        if measured:
            samples.append((time.perf_counter_ns() - started) / 1e6)
    return samples


BUILTIN = [Benchmark("P0", "P0_cli_start", p0_cli_start, p0_cli_start.__doc__ or "")]


def _load_module_benchmark(path: Path) -> Benchmark:
    spec = importlib.util.spec_from_file_location(f"loom_bench_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise BenchError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        name, key, func = module.NAME, module.KEY, module.run
    except AttributeError as exc:
        raise BenchError(f"{path.name}: a benchmark module defines NAME, KEY and run") from exc
    return Benchmark(str(name), str(key), func, module.__doc__ or "")


def _order(benchmark: Benchmark) -> tuple[int, str, str]:
    """P0, P1, P1b, P2 …: by number, then letter; any other name last."""
    match = re.fullmatch(r"[Pp](\d+)([A-Za-z]?)", benchmark.name)
    if match is None:
        return (1_000_000, "", benchmark.name)
    return (int(match.group(1)), match.group(2).lower(), benchmark.name)


def all_benchmarks() -> list[Benchmark]:
    found = list(BUILTIN)
    for path in sorted(BENCH_DIR.iterdir()):
        if MODULE_PATTERN.match(path.name):
            found.append(_load_module_benchmark(path))
    names = [b.name.upper() for b in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BenchError(f"benchmark names defined twice: {', '.join(duplicates)}")
    return sorted(found, key=_order)


# --------------------------------------------------------------------------------------------------
# Setup and the machine


def compile_bytecode() -> dict[str, object]:
    """Compile the package's bytecode as an installed tool would have it; check it is there."""
    log(f"compiling {PACKAGE} to bytecode")
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", PACKAGE],
        cwd=REPO_ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    sources = sorted((REPO_ROOT / PACKAGE).rglob("*.py"))
    if not sources:
        raise BenchError(f"no {PACKAGE} sources under {REPO_ROOT}")
    missing = [
        str(p.relative_to(REPO_ROOT))
        for p in sources
        if not Path(importlib.util.cache_from_source(str(p))).is_file()
    ]
    if missing:
        raise BenchError(
            f"compileall left {len(missing)} module(s) without bytecode: {missing[:5]}"
        )
    return {"bytecode_compiled": True, "compiled_modules": len(sources)}


def machine_info() -> dict[str, object]:
    try:
        affinity: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    try:
        load: list[float] | None = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        load = None
    try:
        from loom_tui import __version__ as loom_version
    except ImportError:
        loom_version = None
    return {
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_available": affinity,
        "load_average": load,
        "loom_version": loom_version,
        "pythondontwritebytecode": os.environ.get("PYTHONDONTWRITEBYTECODE") or None,
    }


# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--runs", type=int, default=20, help="measured runs (default 20)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up runs (default 2)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")

    try:
        benchmarks = all_benchmarks()
    except BenchError as exc:
        log(f"error: {exc}")
        return 2
    if args.list:
        for b in benchmarks:
            first = b.doc.strip().splitlines()[0] if b.doc.strip() else ""
            sys.stdout.write(f"{b.name:4} {b.key:24} {first}\n")
        return 0
    by_name = {b.name.upper(): b for b in benchmarks}
    unknown = [n for n in args.names if n.upper() not in by_name]
    if unknown:
        log(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
        return 2
    wanted = {n.upper() for n in args.names}
    selected = [b for b in benchmarks if not wanted or b.name.upper() in wanted]

    loom = Path(sys.executable).parent / "loom"
    if not loom.is_file():
        log(f"error: no `loom` next to {sys.executable}: run with the project's .venv/bin/python")
        return 2

    machine = machine_info()
    result: dict[str, object] = {"machine": machine}
    try:
        machine.update(compile_bytecode())
        with tempfile.TemporaryDirectory(prefix="loom-bench-") as tmp:
            bench = Bench(Path(tmp), runs=args.runs, warmup=args.warmup)
            for b in selected:
                log(f"{b.name} ({b.key})")
                started = time.perf_counter()
                result[b.key] = b.run(bench)
                log(f"{b.name} done in {time.perf_counter() - started:.1f} s")
    except (BenchError, subprocess.CalledProcessError) as exc:
        log(f"error: {exc}")
        return 1
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
