"""No test depends on where a tool is installed: the tests get Poetry and the docker client as
the sessions do (POETRY, DOCKER, PATH), so they pass on a runner that installs them elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where tools happened to be on the machine the suite was first written on.
INSTALL_PATHS = ("/opt/poetry/bin/poetry", "/usr/bin/docker", "/usr/local/bin/docker")


def test_no_test_names_an_installed_tool_path() -> None:
    named = [
        f"{path.relative_to(ROOT)}: {tool}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path.name != Path(__file__).name
        for tool in INSTALL_PATHS
        if tool in path.read_text()
    ]
    assert not named, f"tests that hard-code a tool's path: {named}"


def test_build_tool_tests_take_poetry_and_docker_from_the_environment() -> None:
    probe = (
        "from tests.unit.build_tools import support; print(support.POETRY); print(support.DOCKER)"
    )
    env = {**os.environ, "POETRY": "/x/bin/poetry", "DOCKER": "/y/docker -H unix:///z.sock"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tools"), str(ROOT)])
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines() == ["/x/bin/poetry", "/y/docker -H unix:///z.sock"]
