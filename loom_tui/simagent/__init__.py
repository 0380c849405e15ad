"""loom-sim-agent: a simulated Claude Code agent, for the demo and the tests (no API key needed).

`main` notes the time before anything else is imported: benchmarks measure how soon after an event
the agent's process starts.
"""

from __future__ import annotations

import time

_STARTED = time.time()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="loom-sim-agent", description=__doc__)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--session-id", required=True)
    parser.add_argument("--settings")
    parser.add_argument("--model", default="opus")
    parser.add_argument("--agent", help="the Claude Code agent the session runs as (recorded)")
    parser.add_argument("signal", help="the signal file to carry out")
    args = parser.parse_args(argv)

    from loom_tui.simagent.agent import SimAgent

    agent = SimAgent(
        started=_STARTED,
        stage_id=args.stage,
        session_id=args.session_id,
        settings_path=args.settings,
        model=args.model,
        signal_path=args.signal,
        agent=args.agent,
    )
    try:
        return agent.run()
    except KeyboardInterrupt:
        return 130
