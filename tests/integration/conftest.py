"""Fixtures for tests that run plans: projects whose private tmux servers are always killed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.engine import Project

MakeProject = Callable[..., Project]


@pytest.fixture
def make_project(tmp_path: Path) -> Iterator[MakeProject]:
    """``make_project(stages, settings=None, files=None, **plan)`` -> an initialised Project."""
    made: list[Project] = []

    def make(stages: list[dict[str, Any]], **kwargs: Any) -> Project:
        project = Project.create(tmp_path / f"p{len(made)}", stages, **kwargs)
        made.append(project)
        return project

    yield make
    for project in made:
        project.close()
