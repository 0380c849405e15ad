"""The domain core of loom: plans, state, scheduling, sessions, git, context and handoffs.

Nothing under this package may import textual (``tests/unit/test_import_hygiene.py`` checks it):
the TUI, the headless runner and the CLI are thin faces over this one core.  The modules that the
agent-facing CLI commands use (``errors``, ``model``, ``frontmatter``, ``fsutil``, ``project``,
``store``, ``actions``, ``memory``; and ``status``, ``status_cache`` for `loom status`) also keep
to cheap standard-library imports, so that `loom stage hold` starts about as fast as `python -c
pass`: not even `enum` or `json` (whose decoder imports `re`; ``jsontext`` calls json's C code).
"""
