"""Fixtures for the build tooling tests: a local file server and temporary git repos."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .support import FileServer, git


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[FileServer]:
    """Serves tmp_path/served; put files there before requesting them."""
    served = tmp_path / "served"
    served.mkdir()
    server = FileServer(served)
    yield server
    server.stop()


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """Make an empty git repository tmp_path/name with a fixed committer identity."""

    def make(name: str = "repo") -> Path:
        repo = tmp_path / name
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        git(repo, "config", "user.name", "Build Test")
        git(repo, "config", "user.email", "build-test@example.invalid")
        git(repo, "config", "commit.gpgsign", "false")
        return repo

    return make
