"""A bundle's sources/ rebuild the shipped image with no network: the same image ID.

The bundle here is sources/ (ner_build.sources) and image.json, the part `nox -s bundle --
--with-sources` adds; its signature and checksums (verify-and-load.sh) are tested with the
bundle itself. rebuild.sh is run as a customer runs it: it clones the bundled commit, installs
the tools from the bundle's wheels with no index, and builds with `--network=none`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from ner_build import bootstrap, offline, rebuild, sources
from ner_build.docker import Docker
from ner_build.result import BuildResult

REBUILD_TIMEOUT = 1200


@pytest.fixture(scope="module")
def engine() -> Docker:
    return Docker.from_env()


def own_tags(client: docker.DockerClient, names: tuple[str, ...]) -> set[str]:
    """The tags named name:… for each name (not the other tags of those images: the rebuilt
    image is the shipped one, whose tags are not the rebuild's)."""
    return {
        tag
        for name in names
        for image in client.images.list(name=name)
        for tag in image.tags
        if tag.rsplit(":", 1)[0] == name
    }


@pytest.fixture(scope="module")
def rebuild_tags(
    docker_client: docker.DockerClient, engine: Docker, built: BuildResult, image: str
) -> Iterator[None]:
    """The rebuild tags its image and base (ner-app-rebuild*); remove the tags it added, and
    only those: the shipped image keeps its tags."""
    names = (rebuild.IMAGE, rebuild.BASE_TAG)
    before = own_tags(docker_client, names)
    yield
    for tag in sorted(own_tags(docker_client, names) - before):
        engine.remove_image(tag)
    assert docker_client.images.get(image).id == built.image_id


@pytest.fixture(scope="module")
def bundle(
    tmp_path_factory: pytest.TempPathFactory, built: BuildResult, image: str, engine: Docker
) -> Path:
    """sources/ of the built image, and the image.json a bundle records."""
    folder = tmp_path_factory.mktemp("bundle")
    sources.add(folder, built, engine, bootstrap.poetry())
    shipped = {"image_id": built.image_id, "tags": built.tags, "revision": built.revision}
    (folder / "image.json").write_text(json.dumps(shipped, indent=2) + "\n")
    return folder


def run_rebuild(bundle: Path) -> subprocess.CompletedProcess[str]:
    """sources/rebuild.sh, as a customer runs it (no project env, the engine from DOCKER)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "POETRY", "VIRTUAL_ENV")}
    env |= {"DOCKER": os.environ.get("DOCKER") or "docker"}
    return subprocess.run(
        ["sh", str(bundle / "sources" / "rebuild.sh")],
        cwd=bundle,
        env=env,
        capture_output=True,
        text=True,
        timeout=REBUILD_TIMEOUT,
    )


@pytest.mark.usefixtures("rebuild_tags")
def test_the_sources_hold_what_a_rebuild_reads(bundle: Path, built: BuildResult) -> None:
    src = bundle / "sources"
    wheels = sorted(p.name for p in (src / offline.IMAGE_WHEELS).glob("*.whl"))
    assert any(name.startswith("spacy-") for name in wheels)
    assert any(name.startswith("uv-") for name in wheels)
    assert any(p.name.startswith("binutils_") for p in (src / offline.DEBS).glob("*.deb"))
    assert any(p.name.startswith("poetry-") for p in (src / offline.TOOL_WHEELS).glob("*.whl"))
    assert [sources.file_sha256(p) for p in (src / offline.MODEL).glob("*.whl")] == [
        built.model_sha256
    ]
    assert json.loads((src / offline.BASE_RECORD).read_text())["id"] == built.base_image_id
    assert (src / offline.GIT_BUNDLE).is_file()


@pytest.mark.usefixtures("rebuild_tags")
def test_an_offline_rebuild_gives_the_shipped_image_id(bundle: Path, built: BuildResult) -> None:
    result = run_rebuild(bundle)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert f"same image ID {built.image_id}" in result.stdout
    assert "--network=none" in output  # the build itself had no network


@pytest.mark.usefixtures("rebuild_tags")
def test_an_altered_wheel_is_refused_by_the_hash_check(bundle: Path, tmp_path: Path) -> None:
    altered = tmp_path / "bundle"
    shutil.copytree(bundle, altered, copy_function=os.link)  # hard links: the bundle is large
    wheels = sorted((altered / "sources" / offline.IMAGE_WHEELS).glob("*.whl"))
    victim = min(wheels, key=lambda p: p.stat().st_size)
    content = victim.read_bytes()
    victim.unlink()  # a new file, not the hard link: the original bundle stays intact
    victim.write_bytes(content + b"\0")
    result = run_rebuild(altered)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    assert "same image ID" not in output
    assert "hash mismatch" in output.lower(), output[-4000:]
    name = victim.name.split("-")[0].replace("_", "-").lower()  # as uv names it
    assert name in output.lower().replace("_", "-"), output[-4000:]
