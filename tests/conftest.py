"""Fixtures shared by unit and integration tests: the small real spaCy pipeline package."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from ner_build.build import test_pipeline


@pytest.fixture(scope="session")
def test_pipeline_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test pipeline packaged as a wheel, built once per test session."""
    return test_pipeline.build_wheel(tmp_path_factory.mktemp("pipeline"))


@pytest.fixture(scope="session")
def test_pipeline_name(test_pipeline_wheel: Path) -> str:
    """The test pipeline installed into this interpreter; returns its package name."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "install",
            "--quiet",
            "--python",
            sys.executable,
            "--reinstall",
            "--no-deps",
            str(test_pipeline_wheel),
        ],
        check=True,
    )
    importlib.invalidate_caches()
    return test_pipeline.PACKAGE
