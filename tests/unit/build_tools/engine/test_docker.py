"""These use the real Docker engine through DOCKER (a client with BuildKit, e.g. Debian's 20.10),
and Podman (Debian's podman, provisioned by tools/provision-debian podman)."""

import re
import shutil
import tarfile
from pathlib import Path

import pytest
from ner_build.engine import docker as engines
from ner_build.engine.docker import Docker, human_size_bytes, stats_memory_mb
from ner_build.engine.platforms import Platform
from ner_build.errors import CheckFailed, FailedProcessError, ToolError
from ner_build.image import normalize

from ..image.test_normalize import EPOCH, layer, member, save_archive
from ..support import DOCKER

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
    client = Docker.from_string("docker -H 'unix:///run/docker.sock'")
    assert client.command == ("docker", "-H", "unix:///run/docker.sock")


@pytest.mark.host
def test_check_engine_passes_with_the_running_engine(docker: Docker) -> None:
    docker.check_engine()


@pytest.mark.host
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


@pytest.mark.host
def test_check_buildkit_passes_with_a_client_with_builtin_buildkit(docker: Docker) -> None:
    docker.check_buildkit()


@pytest.mark.host
def test_check_buildkit_fails_for_a_client_without_buildx(client_without_buildx: Docker) -> None:
    client_without_buildx.check_engine()  # the engine answers through it
    with pytest.raises(CheckFailed, match="buildx") as error:
        client_without_buildx.check_buildkit()
    assert NO_BUILDX in str(error.value)


@pytest.mark.host
def test_image_id_of_a_missing_ref_is_none(docker: Docker) -> None:
    assert docker.image_id(ABSENT) is None


@pytest.mark.host
def test_ensure_image_of_an_absent_image_fails_with_the_hint(docker: Docker) -> None:
    with pytest.raises(CheckFailed, match="pulling it failed") as error:
        docker.ensure_image(ABSENT, "HINT: try nox -s base-image")
    assert ABSENT in str(error.value)
    assert str(error.value).endswith("HINT: try nox -s base-image")


@pytest.mark.host
def test_ensure_image_returns_the_id_of_a_present_image(docker: Docker) -> None:
    docker.check_buildkit()  # leaves its probe image, labelled ner-app.probe=1
    listed = docker.run("image", "ls", "--no-trunc", "-q", "--filter", "label=ner-app.probe=1")
    probe = listed.stdout.split()[0]
    assert probe.startswith("sha256:")
    assert docker.image_id(probe) == probe
    assert docker.ensure_image(probe, "unused hint") == probe


@pytest.mark.host
def test_a_present_image_of_another_platform_is_not_taken(docker: Docker) -> None:
    """ensure_image with a platform pulls that platform's image when the present one is
    another's; here nothing can be pulled, so it fails instead of building on the wrong one."""
    docker.check_buildkit()
    listed = docker.run("image", "ls", "--no-trunc", "-q", "--filter", "label=ner-app.probe=1")
    probe = listed.stdout.split()[0]
    native = Platform.native()
    assert docker.platform_of(probe) == str(native)
    assert docker.ensure_image(probe, "unused hint", native) == probe
    other = Platform("arm64" if native.architecture == "amd64" else "amd64")
    with pytest.raises(CheckFailed, match="pulling it failed"):
        docker.ensure_image(probe, "HINT", other)


@pytest.mark.host
def test_tag_of_a_missing_source_fails(docker: Docker) -> None:
    with pytest.raises(FailedProcessError, match="tag ner-app-test-absent:never") as error:
        docker.tag(ABSENT, ["ner-app-test-absent:target"])
    assert error.value.command[-2:] == ("ner-app-test-absent:never", "ner-app-test-absent:target")
    assert "No such image" in error.value.output


# --- which engine a client drives -------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "has_buildx", "engine"),
    [
        ("Docker version 20.10.24+dfsg1, build 297e128", False, engines.BuiltinBuildKit),
        ("Docker version 26.1.5+dfsg1, build a72d7cd", True, engines.Buildx),
        ("Docker version 28.2.2, build e6534b4", True, engines.Buildx),
        ("podman version 4.3.1", False, engines.Podman),
        ("podman-remote version 5.2.0", False, engines.Podman),
    ],
)
def test_detect_tells_the_engine_from_the_client(
    version: str, has_buildx: bool, engine: engines.Engine
) -> None:
    assert engines.detect(version, has_buildx) is engine


@pytest.mark.host
def test_the_docker_client_drives_docker_with_buildkit(docker: Docker) -> None:
    assert docker.engine in (engines.BuiltinBuildKit, engines.Buildx)
    assert docker.check_engine().startswith("Docker")


def test_a_client_without_buildx_builds_with_the_builtin_buildkit(
    client_without_buildx: Docker,
) -> None:
    assert client_without_buildx.engine is engines.BuiltinBuildKit


def podman() -> Docker:
    if not shutil.which("podman"):
        pytest.fail("podman is missing: run `tools/provision-debian podman` (Debian: podman)")
    return Docker(("podman",))


@pytest.mark.host
def test_podman_is_detected_and_named_with_its_version() -> None:
    client = podman()
    assert client.engine is engines.Podman
    assert re.fullmatch(r"Podman \d+\.\d+\.\d+", client.check_engine())


def test_podman_builds_in_docker_format_so_the_healthcheck_is_kept() -> None:
    assert "--format=docker" in engines.Podman.build_command
    assert not engines.Podman.has_buildkit_check


@pytest.mark.host
def test_a_podman_that_does_not_answer_fails_naming_podman() -> None:
    client = Docker(("podman", "--remote", "--url", "unix:///nonexistent.sock"))
    with pytest.raises(CheckFailed) as error:
        client.check_engine()
    message = str(error.value)
    assert "No Podman engine answers" in message
    assert "podman --remote --url unix:///nonexistent.sock info" in message
    assert "DOCKER=podman" in message


@pytest.mark.host
@pytest.mark.parametrize("client", ["docker", "podman"])
def test_each_engine_names_its_data_root(client: str) -> None:
    engine = podman() if client == "podman" else Docker((DOCKER,))
    root = engine.data_root()
    assert root is not None
    assert (root / "image" if client == "docker" else root).is_dir()
    assert Docker(("podman", "--remote", "--url", "unix:///nonexistent.sock")).data_root() is None


@pytest.mark.host
@pytest.mark.parametrize("client", ["docker", "podman"])
def test_a_loaded_canonical_archive_keeps_its_image_id_on_each_engine(
    client: str, tmp_path: Path
) -> None:
    """`docker load` and `podman load` both take a canonical archive's config digest as the
    image ID: what lets every engine end with the same ID."""
    engine = podman() if client == "podman" else Docker((DOCKER,))
    tag = "ner-app-test-load:canonical"
    base = layer(member("etc", kind=tarfile.DIRTYPE, mode=0o755), member("etc/os", b"Debian\n"))
    app = layer(
        member("opt", kind=tarfile.DIRTYPE, mode=0o755),
        member("opt/app.py", b"print()\n", owner=(10001, 0)),
        member("opt/python", kind=tarfile.SYMTYPE, linkname="/usr/bin/python3"),
    )
    saved = save_archive(tmp_path / "saved.tar", [base, app])
    image_id = normalize.normalize_archive(saved, tmp_path / "canonical.tar", EPOCH, [tag], 1)
    engine.load(tmp_path / "canonical.tar")
    try:
        assert engine.image_id(tag) == image_id
    finally:
        engine.remove_image(tag)
    assert engine.image_id(tag) is None


@pytest.mark.parametrize(
    ("column", "megabytes"),
    [
        ("97.67MiB / 23.5GiB", 97.67 * 2**20 / 1e6),
        ("1.5GiB / 23.5GiB", 1.5 * 2**30 / 1e6),
        ("512kB / 1GB", 0.512),
        ("812KiB / 1GiB", 812 * 2**10 / 1e6),
        ("0B / 0B", 0.0),
        ("2048B / 1GiB", 0.002048),
        ("250MB / 8GB", 250.0),
        ("97.67MiB / 23.5GiB\n", 97.67 * 2**20 / 1e6),
    ],
)
def test_docker_stats_memory_is_read_in_megabytes(column: str, megabytes: float) -> None:
    assert stats_memory_mb(column) == pytest.approx(megabytes)


@pytest.mark.parametrize("column", ["", "--", "97.67 / 23.5GiB", "12parsecs / 1GiB"])
def test_unreadable_docker_stats_memory_fails_saying_what_it_got(column: str) -> None:
    with pytest.raises(ToolError, match="docker stats"):
        stats_memory_mb(column)


def test_sizes_read_as_the_engines_print_them() -> None:
    assert human_size_bytes("10.67GB") == 10_670_000_000
    assert human_size_bytes("865.2MB") == 865_200_000
    assert human_size_bytes("12.3kB") == 12_300
    assert human_size_bytes("0B") == 0
    with pytest.raises(ToolError, match="Not a size"):
        human_size_bytes("lots")
