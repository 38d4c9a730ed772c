"""The README's main command on a fresh clone at a long path, as a new user runs it: no Poetry
and no uv on PATH, no registry for the pinned base image, no access to the model's release URL.
It must build, serve the app, say loudly what it fell back to, and mark the image unpublishable.
Also: nox itself, installed without uv, runs a session with no Poetry on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from ner_build.build import base_image
from ner_build.engine.docker import Docker
from ner_build.errors import BaseImageUnavailable
from ner_build.probe import free_port

from tests.integration.conftest import ROOT, http_get

# Names of this run's own: a user's container or tags of the same names are never touched.
IMAGE = f"ner-app-up-test-{os.getpid()}"
CONTAINER = f"ner-app-up-test-{os.getpid()}"
# The model's release URL is unreachable here; on a machine where it is not, this makes it so.
UNREACHABLE_MIRROR = "http://127.0.0.1:9/"
TOOL_NAMES = ("poetry", "nox", "uv")


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """HEAD cloned to a path of over 200 characters."""
    deep = tmp_path_factory.mktemp("checkout").joinpath(*(["long-checkout-path" * 3] * 4))
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(deep)], check=True)
    assert len(str(deep)) >= 200
    yield deep
    shutil.rmtree(deep, ignore_errors=True)


def bare_path() -> str:
    """PATH without any folder that holds Poetry, nox or uv (the test session's venv included)."""
    folders = os.environ.get("PATH", os.defpath).split(os.pathsep)
    return os.pathsep.join(
        f for f in folders if not any(Path(f, name).exists() for name in TOOL_NAMES)
    )


def new_user_env(**extra: str) -> dict[str, str]:
    """The environment of a user who has Python and an engine, and has set nothing for us."""
    ours = ("NER_", "POETRY", "NOX", "VIRTUAL_ENV", "PYTHONPATH", "UV_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return env | {"PATH": bare_path(), "NER_PROVISION": "0"} | extra


def python3() -> str:
    found = shutil.which("python3", path=bare_path())
    assert found, "no python3 outside the test session's virtualenv"
    return found


def test_nox_without_uv_runs_a_session_with_no_poetry_on_path(clone: Path, tmp_path: Path) -> None:
    venv = tmp_path / "nox-only"
    subprocess.run([python3(), "-m", "venv", str(venv)], check=True)
    requirements = clone / "tools" / "bootstrap" / "requirements.txt"
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--require-hashes", "--no-deps", "-r", str(requirements)], check=True)
    uninstall = [str(venv / "bin" / "python"), "-m", "pip", "uninstall", "--yes", "--quiet"]
    subprocess.run([*uninstall, "uv", "poetry"], check=True)
    result = subprocess.run(
        [str(venv / "bin" / "nox"), "-s", "test-pipeline"],
        cwd=clone,
        env=new_user_env(DOCKER=os.environ.get("DOCKER", "docker")),
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "No backends present" not in output
    assert (clone / "build" / "test-pipeline" / "en_ner_test-0.1.0-py3-none-any.whl").is_file()


@pytest.fixture(scope="module")
def served(clone: Path) -> Iterator[tuple[subprocess.CompletedProcess[str], int]]:
    """script/up run in the clone; its container and image tags are removed afterwards."""
    port = free_port()
    env = new_user_env(
        DOCKER=os.environ.get("DOCKER", "docker"),
        NER_IMAGE=IMAGE,
        NER_CONTAINER=CONTAINER,
        NER_PORT=str(port),
        NER_MODEL_MIRROR=UNREACHABLE_MIRROR,
    )
    result = subprocess.run(
        [python3(), "script/up"], cwd=clone, env=env, capture_output=True, text=True, check=False
    )
    yield result, port
    engine = Docker.from_env()
    engine.run("rm", "--force", CONTAINER)
    for image in docker.from_env().images.list(name=IMAGE):
        for tag in image.tags:  # the image may carry the user's tags too: only ours go
            if tag.startswith(f"{IMAGE}:"):
                assert engine.untag(tag) is None


def test_up_builds_with_stand_ins_and_serves_the_app(
    served: tuple[subprocess.CompletedProcess[str], int],
) -> None:
    result, port = served
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert f"ner-app is ready at http://localhost:{port}" in result.stdout
    status, body = http_get(f"http://127.0.0.1:{port}/readyz")
    assert status == 200
    assert json.loads(body)["pipeline"]["name"] == "en_ner_test"


def pinned_base_unavailable() -> bool:
    """True where the pinned base image is neither in the engine nor pullable (no registry)."""
    try:
        Docker.from_env().ensure_image(base_image.pinned(), hint="")
    except BaseImageUnavailable:
        return True
    return False


@pytest.fixture(scope="module")
def expected_stand_ins() -> list[str]:
    return ["model", *(["base image"] if pinned_base_unavailable() else [])]


def test_up_says_what_it_fell_back_to_why_and_how_to_get_the_real_one(
    served: tuple[subprocess.CompletedProcess[str], int], expected_stand_ins: list[str]
) -> None:
    output = served[0].stdout + served[0].stderr  # nox merges its sessions' stderr into stdout
    assert "WARNING: built with local fallbacks" in output
    assert "model: pinned en_core_web_sm 3.8.0" in output
    if "base image" in expected_stand_ins:
        assert "base image: pinned python:3.12-slim-bookworm@sha256:" in output
    assert output.count("because: ") == len(expected_stand_ins)
    assert output.count("to get the real one: ") == len(expected_stand_ins)
    assert f"built with local stand-ins for: {', '.join(expected_stand_ins)}" in served[0].stdout


def test_the_image_up_built_is_labelled_and_publish_refuses_it(
    served: tuple[subprocess.CompletedProcess[str], int], clone: Path, expected_stand_ins: list[str]
) -> None:
    labels = docker.from_env().images.get(f"{IMAGE}:latest").labels
    assert labels["io.ner-app.fallbacks"] == ",".join(
        s.replace(" ", "-") for s in expected_stand_ins
    )
    result = subprocess.run(
        [sys.executable, "-m", "ner_build.release.publish", "--repository", "127.0.0.1:9/ner-app",
         "--force"],
        cwd=clone,
        env={**os.environ, "PYTHONPATH": str(clone / "tools")},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "never published" in result.stderr
    assert "Traceback" not in result.stderr
