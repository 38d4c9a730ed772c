"""These use the real Docker engine through DOCKER (a client with BuildKit, e.g. Debian's 20.10)."""

from pathlib import Path

import pytest
from ner_build.docker import Docker
from ner_build.errors import CheckFailed, FailedProcessError

from .support import DOCKER

ABSENT = "ner-app-test-absent:never"
NO_BUILDX = "ERROR: BuildKit is enabled but the buildx component is missing or broken."


@pytest.fixture
def docker() -> Docker:
    return Docker((DOCKER,))


@pytest.fixture
def client_without_buildx(tmp_path: Path) -> Docker:
    """A client that behaves like docker 28 without buildx: every command works but `build`."""
    script = tmp_path / "docker-no-buildx"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = build ]; then\n'
        f'  echo "{NO_BUILDX}" >&2\n'
        "  exit 1\n"
        "fi\n"
        f'exec {DOCKER} "$@"\n'
    )
    script.chmod(0o755)
    return Docker((str(script),))


def test_from_string_splits_a_command_line() -> None:
    client = Docker.from_string(f"{DOCKER} -H 'unix:///run/docker.sock'")
    assert client.command == (DOCKER, "-H", "unix:///run/docker.sock")


def test_check_engine_passes_with_the_running_engine(docker: Docker) -> None:
    docker.check_engine()


def test_check_engine_without_an_engine_says_how_to_start_one() -> None:
    client = Docker.from_string(f"{DOCKER} -H unix:///nonexistent.sock")
    with pytest.raises(CheckFailed) as error:
        client.check_engine()
    message = str(error.value)
    assert f"{DOCKER} -H unix:///nonexistent.sock info" in message
    assert "Start a Docker engine" in message
    assert "systemctl start docker" in message


def test_a_client_that_does_not_exist_fails_naming_docker(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-docker")
    with pytest.raises(CheckFailed, match="DOCKER") as error:
        Docker((missing,)).check_engine()
    assert missing in str(error.value)


def test_check_buildkit_passes_with_a_client_with_builtin_buildkit(docker: Docker) -> None:
    docker.check_buildkit()


def test_check_buildkit_fails_for_a_client_without_buildx(client_without_buildx: Docker) -> None:
    client_without_buildx.check_engine()  # the engine answers through it
    with pytest.raises(CheckFailed, match="buildx") as error:
        client_without_buildx.check_buildkit()
    assert NO_BUILDX in str(error.value)


def test_image_id_of_a_missing_ref_is_none(docker: Docker) -> None:
    assert docker.image_id(ABSENT) is None


def test_ensure_image_of_an_absent_image_fails_with_the_hint(docker: Docker) -> None:
    with pytest.raises(CheckFailed, match="pulling it failed") as error:
        docker.ensure_image(ABSENT, "HINT: try nox -s base-image")
    assert ABSENT in str(error.value)
    assert str(error.value).endswith("HINT: try nox -s base-image")


def test_ensure_image_returns_the_id_of_a_present_image(docker: Docker) -> None:
    docker.check_buildkit()  # leaves its probe image, labelled ner-app.probe=1
    listed = docker.run("image", "ls", "--no-trunc", "-q", "--filter", "label=ner-app.probe=1")
    probe = listed.stdout.split()[0]
    assert probe.startswith("sha256:")
    assert docker.image_id(probe) == probe
    assert docker.ensure_image(probe, "unused hint") == probe


def test_tag_of_a_missing_source_fails(docker: Docker) -> None:
    with pytest.raises(FailedProcessError, match="tag ner-app-test-absent:never") as error:
        docker.tag(ABSENT, ["ner-app-test-absent:target"])
    assert error.value.command[-2:] == ("ner-app-test-absent:never", "ner-app-test-absent:target")
    assert "No such image" in error.value.output
