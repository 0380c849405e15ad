"""The run engine: a pure decision function over the recorded world, and what carries it out.

- `world.py`: the `World` a decision looks at;
- `policy.py` (`decide`), with its rules in `rules_sessions.py` and `rules_stages.py`: pure;
- `commands.py`: the commands `decide` returns;
- `executor.py`: carries them out with the store, git (`ports.GitRepository`) and tmux;
- `observer.py`: records what is new about each live session (gauge, agent state);
- `scheduler.py`: the loop that ties them together inside an event loop.

`Scheduler` and `SchedulerOptions` are imported from here lazily, so that a command that needs
one small part (`loom merge` needs `ports`) does not load the whole engine.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from loom_tui.core.engine.scheduler import Scheduler, SchedulerOptions

__all__ = ["Scheduler", "SchedulerOptions"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from loom_tui.core.engine import scheduler

        return getattr(scheduler, name)
    raise AttributeError(name)
