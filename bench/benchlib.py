"""Shared services of the benchmarks: statistics, temporary projects, timed commands.

`bench/run.py` and every `bench/p<N>_<what>.py` module import this (the bench folder is on
``sys.path`` when `run.py` runs as a script).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "loom_tui"
SAMPLE_PLAN = REPO_ROOT / PACKAGE / "samples" / "PLAN-0001-wordcount.md"


def log(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------------------------------
# Statistics


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p50 of an even count is the mean of the middle two)."""
    if not samples:
        raise ValueError("no samples")
    if pct == 50:
        return statistics.median(samples)
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(samples: Sequence[float]) -> dict[str, float]:
    return {"p50": round(percentile(samples, 50), 3), "p95": round(percentile(samples, 95), 3)}


# --------------------------------------------------------------------------------------------------
# The context every benchmark gets


class BenchError(Exception):
    """A benchmark could not run as intended (a command failed, a setup step went wrong)."""


@dataclass
class Timed:
    ms: float
    stdout: str
    stderr: str


class Bench:
    """Shared services: temporary directories, sample projects, timed commands."""

    def __init__(self, tmp: Path, runs: int, warmup: int) -> None:
        self.tmp = tmp
        self.runs = runs
        self.warmup = warmup
        self.python = sys.executable
        self.loom = str(Path(sys.executable).parent / "loom")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
        self._counter = 0

    # directories and projects ---------------------------------------------------------------------
    def fresh_dir(self, stem: str) -> Path:
        self._counter += 1
        path = self.tmp / f"{stem}-{self._counter}"
        path.mkdir(parents=True)
        return path

    def make_repo(self, stem: str = "repo", branch: str = "main") -> Path:
        """A git repository with one commit, made with pygit2 and an explicit signature."""
        import pygit2

        path = self.fresh_dir(stem)
        repo = pygit2.init_repository(str(path), initial_head=branch)
        (path / "README.md").write_text("# benchmark project\n", encoding="utf-8")
        repo.index.add("README.md")
        repo.index.write()
        tree = repo.index.write_tree()
        signature = pygit2.Signature("loom bench", "bench@loom.invalid")
        repo.create_commit("HEAD", signature, signature, "initial commit", tree, [])
        return path

    def make_project(self, plan: Path = SAMPLE_PLAN, stem: str = "project") -> Path:
        """A repository initialised (`loom init`) with ``plan``; returns its root."""
        root = self.make_repo(stem)
        target = root / "doc" / "plans" / plan.name
        target.parent.mkdir(parents=True)
        shutil.copy(plan, target)
        self.run([self.loom, "init", str(target.relative_to(root))], cwd=root)
        return root

    def init_plan(self, stem: str, text: str) -> Path:
        """A repository initialised with the plan ``text`` (see `plan_markdown`); its root."""
        root = self.make_repo(stem)
        plan = root / "doc" / "plans" / f"PLAN-{stem}.md"
        plan.parent.mkdir(parents=True)
        plan.write_text(text, encoding="utf-8")
        self.run([self.loom, "init", str(plan.relative_to(root))], cwd=root)
        return root

    def run_plan(self, root: Path, *, expect_ok: bool = True) -> subprocess.CompletedProcess[str]:
        """`loom run --headless --agent sim` on the project until it exits by itself."""
        proc = subprocess.run(
            [self.loom, "run", "--headless", "--agent", "sim"],
            cwd=root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if expect_ok and proc.returncode != 0:
            raise BenchError(f"the plan in {root} did not complete:\n{proc.stdout[-3000:]}")
        return proc

    def stop_sessions(self, root: Path) -> None:
        """End whatever a benchmark left running in the project (never fails)."""
        subprocess.run(
            [self.loom, "stop", "--kill-sessions"],
            cwd=root,
            env=self.env,
            capture_output=True,
            check=False,
        )

    # commands -------------------------------------------------------------------------------------
    def run(
        self,
        argv: Sequence[str],
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        expect: str | None = None,
        returncode: int = 0,
    ) -> Timed:
        """Run ``argv`` and time it (wall clock); it must exit ``returncode`` (an error path's
        1 or 2) and print ``expect`` if given (on stdout, or on stderr for an error)."""
        full_env = dict(self.env)
        full_env.update(env or {})
        started = time.perf_counter_ns()
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        elapsed = (time.perf_counter_ns() - started) / 1e6
        if proc.returncode != returncode or "Traceback" in proc.stderr:
            raise BenchError(
                f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
            )
        shown = proc.stdout if returncode == 0 else proc.stderr
        if expect is not None and expect not in shown:
            raise BenchError(f"{' '.join(argv)}: expected {expect!r} in output, got {shown!r}")
        return Timed(elapsed, proc.stdout, proc.stderr)

    def samples(self, label: str) -> Iterator[bool]:
        """Iterate warm-up then measured rounds; yields whether this round is measured."""
        total = self.warmup + self.runs
        for i in range(total):
            if i == self.warmup or (i > self.warmup and (i - self.warmup) % 5 == 0):
                log(f"{label}: run {i - self.warmup + 1}/{self.runs}")
            yield i >= self.warmup


def plan_markdown(title: str, stages: list[dict[str, str]], **plan: object) -> str:
    """A plan file: ``stages`` map keys to YAML values written as they are (``"[a, b]"``)."""
    lines = [f"# {title}", "", "<!-- loom METADATA -->", "", "```yaml", "loom:", "  version: 1"]
    lines += [f"  {key}: {value}" for key, value in plan.items()]
    lines.append("  stages:")
    for stage in stages:
        first = True
        for key, value in stage.items():
            lines.append(f"    {'- ' if first else '  '}{key}: {value}")
            first = False
    lines += ["```", "", "<!-- END loom METADATA -->", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# The machine's floor: a bare `tmux new-window` that starts a Python program


class PrivateTmux:
    """A tmux server of the benchmark's own: a unique socket, ``-f /dev/null``, ``$TMUX`` unset
    (never the user's server), killed on leaving the ``with`` block."""

    SESSION = "floor"

    def __init__(self, env: dict[str, str]) -> None:
        import uuid

        self.socket = f"loom-bench-floor-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.env = {k: v for k, v in env.items() if k != "TMUX"}

    def argv(self, *args: str) -> list[str]:
        return ["tmux", "-L", self.socket, "-f", "/dev/null", *args]

    def cmd(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.argv(*args),
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if proc.returncode != 0:
            raise BenchError(f"tmux {args[0]} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc

    def __enter__(self) -> PrivateTmux:
        self.cmd(
            "new-session", "-d", "-s", self.SESSION, "-x", "200", "-y", "50", "tail -f /dev/null"
        )
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(
            self.argv("kill-server"), env=self.env, capture_output=True, check=False, timeout=30
        )
        base = os.environ.get("TMUX_TMPDIR") or "/tmp"
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(base, f"tmux-{os.getuid()}", self.socket))


def _stamp_program(python: str, path: Path) -> str:
    """The shell command of a window: the agent's interpreter noting ``time.time()`` at once
    (as `loom-sim-agent` does before importing anything else) in ``path``."""
    import shlex

    code = f"import time;open({str(path)!r},'a').write(repr(time.time())+'\\n')"
    return shlex.join([python, "-c", code])


def _stamps(path: Path) -> list[float]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [float(line) for line in text.splitlines() if line.strip()]


def _wait_stamps(path: Path, count: int, timeout: float = 30.0) -> list[float]:
    deadline = time.monotonic() + timeout
    while True:
        stamps = _stamps(path)
        if len(stamps) >= count:
            return stamps
        if time.monotonic() > deadline:
            raise BenchError(f"timed out waiting for {count} start(s) in {path}")
        time.sleep(0.002)


def new_window_floor(bench: Bench, label: str) -> dict[str, list[float]]:
    """The machine's floor for starting an agent: from just before `tmux new-window` runs (on a
    private server) to the moment the Python program in the new window notes its start.

    Returns the measured samples (ms): ``start`` (that interval) and ``roundtrip`` (the
    `new-window` command alone, until the tmux client exits)."""
    starts: list[float] = []
    roundtrips: list[float] = []
    out = bench.fresh_dir("floor") / "starts"
    command = _stamp_program(bench.python, out)
    with PrivateTmux(bench.env) as tmux:
        argv = tmux.argv("new-window", "-d", "-t", f"{tmux.SESSION}:", command)
        for n, measured in enumerate(bench.samples(label)):
            before = time.time()
            subprocess.run(argv, env=tmux.env, stdin=subprocess.DEVNULL, check=True, timeout=60)
            returned = time.time()
            started = _wait_stamps(out, n + 1)[n]
            if measured:
                starts.append((started - before) * 1000)
                roundtrips.append((returned - before) * 1000)
    return {"start": starts, "roundtrip": roundtrips}


def fanout_floor(bench: Bench, width: int, label: str) -> dict[str, list[float]]:
    """The floor of a fan-out: ``width`` bare `tmux new-window` commands run at once from a
    thread pool (as the scheduler runs its starts), from just before the first to the start of
    the last program (``threads``), and the same windows opened by ONE tmux client (its
    commands chained with ``;``: ``chained``)."""
    from concurrent.futures import ThreadPoolExecutor

    threads: list[float] = []
    chained: list[float] = []
    with PrivateTmux(bench.env) as tmux, ThreadPoolExecutor(max_workers=width) as pool:
        for measured in bench.samples(label):
            for mode, samples in (("threads", threads), ("chained", chained)):
                out = bench.fresh_dir("fanout-floor") / "starts"
                command = _stamp_program(bench.python, out)
                one = tmux.argv("new-window", "-d", "-t", f"{tmux.SESSION}:", command)
                before = time.time()
                if mode == "threads":
                    list(
                        pool.map(
                            lambda argv: subprocess.run(argv, env=tmux.env, check=True),
                            [one] * width,
                        )
                    )
                else:
                    args: list[str] = []
                    for i in range(width):
                        args += [
                            *([";"] if i else []),
                            "new-window",
                            "-d",
                            "-t",
                            f"{tmux.SESSION}:",
                            command,
                        ]
                    subprocess.run(tmux.argv(*args), env=tmux.env, check=True)
                last = sorted(_wait_stamps(out, width))[width - 1]
                if measured:
                    samples.append((last - before) * 1000)
                time.sleep(0.2)  # let the programs exit before the next round
    return {"threads": threads, "chained": chained}
