"""`decide(world) -> Decision`: every rule of a run, as one pure function.

No IO: the recorded world goes in (`World`), commands come out (`commands.py`), and the `Executor`
carries them out.  The scheduler calls `decide` again on the world those commands left until it
asks for nothing more, so each rule takes one step and the next decision takes the next: a
scheduler killed between any two writes finds, on restart, a world from which `decide` goes on.

The rules live in two modules: `rules_sessions` (live sessions: their panes, adoption, the enforced
handoff, the agent's state) and `rules_stages` (what follows a session's end, retries, merges,
readiness, starts, and whether the plan is finished).
"""

from __future__ import annotations

from loom_tui.core.engine.decision import Decision
from loom_tui.core.engine.rules_sessions import after_server_lost, live_sessions
from loom_tui.core.engine.rules_stages import outcome, promotion, stage_steps, starts
from loom_tui.core.engine.world import World


def decide(world: World) -> Decision:
    d = Decision()
    live_stages = {s.stage_id for s in world.sessions.values() if s.live}
    live_sessions(world, d)
    after_server_lost(world, d)
    stage_steps(world, d, live_stages)
    promoted = promotion(world, d)
    starts(world, d, live_stages, promoted)
    d.finished = outcome(world)
    return d
