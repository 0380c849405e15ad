"""loom-tui: orchestrate Claude Code agents across a plan of dependent stages."""

__version__ = "0.1.0"
