"""A bundle made with `--with-sources` rebuilds the shipped image with no network at all: the
same image ID. rebuild.sh runs as a customer behind a firewall runs it, inside the network
namespace of an empty engine (ner_build.engine.offline_engine), so neither it nor the build can
reach
anything: it verifies the bundle, clones the commit, installs the tools from the bundle's
wheels, loads the base from the bundle and builds with `--network=none`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from ner_build.build import offline_inputs as offline
from ner_build.digest import sha256_of
from ner_build.engine import setups as engine_setups
from ner_build.engine.docker import Docker
from ner_build.engine.offline_engine import OfflineEngine
from ner_build.proofs import rebuild
from ner_build.release import bundle_files, signing
from ner_build.result import BuildResult

from tests.integration.conftest import Keys

REBUILD_TIMEOUT = 1200


def run_rebuild(
    folder: Path, engine: OfflineEngine, client: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """sources/rebuild.sh in the engine's namespace, with only what a customer's shell has;
    the client is the engine's own unless `client` names another (DOCKER=..., its settings)."""
    unset = ("PYTHONPATH", "POETRY", "VIRTUAL_ENV", "NER_CA_BUNDLE", "SSL_CERT_FILE")
    env = {k: v for k, v in os.environ.items() if k not in unset and not k.endswith("_PROXY")}
    env |= dict(client or {"DOCKER": str(engine.docker)})
    script = str(folder / "sources" / "rebuild.sh")
    done = subprocess.run(
        engine.inside(["sh", script]),
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=REBUILD_TIMEOUT,
    )
    return done.returncode, done.stdout + done.stderr


def test_the_sources_hold_what_a_rebuild_reads(good: Path, built: BuildResult) -> None:
    src = good / "sources"
    wheels = sorted(p.name for p in (src / offline.IMAGE_WHEELS).glob("*.whl"))
    assert any(name.startswith("spacy-") for name in wheels)
    assert any(name.startswith("uv-") for name in wheels)
    assert any(p.name.startswith("binutils_") for p in (src / offline.DEBS).glob("*.deb"))
    assert any(p.name.startswith("poetry-") for p in (src / offline.TOOL_WHEELS).glob("*.whl"))
    assert [sha256_of(p) for p in (src / offline.MODEL).glob("*.whl")] == [built.model_sha256]
    assert json.loads((src / offline.BASE_RECORD).read_text())["id"] == built.base_image_id
    assert (src / offline.GIT_BUNDLE).is_file()
    listed = (good / bundle_files.SUMS).read_text()
    assert "  sources/wheels/image/spacy-" in listed  # signed like the rest


def test_an_offline_rebuild_gives_the_shipped_image_id(
    good: Path, built: BuildResult, engine: OfflineEngine
) -> None:
    assert engine.images() == [], "the rebuild must start from an empty engine"
    code, output = run_rebuild(good, engine)
    assert code == 0, output[-4000:]
    assert f"same image ID {built.image_id}" in output
    assert "--network=none" in output  # the build itself had no network either
    assert built.image_id in engine.images()


@contextmanager
def customer_engine(name: str) -> Iterator[dict[str, str]]:
    """The client settings of an engine a customer may have, and its clean-up: Podman with an
    empty store of its own; the provisioned Docker 26 (buildx), shared, so only the tags the
    rebuild made are removed afterwards."""
    if name == "podman":
        with engine_setups.empty_podman_store("rebuild") as client:
            yield client
        return
    setup = engine_setups.required(name)
    settings, docker = dict(setup.env), setup.docker
    before = rebuild_tags(docker)
    try:
        yield settings
    finally:
        for tag in rebuild_tags(docker) - before:
            docker.untag(tag)


def rebuild_tags(docker: Docker) -> set[str]:
    listed = docker.run("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout
    return {tag for tag in listed.split() if tag.startswith(rebuild.IMAGE)}


@pytest.mark.customer_engines
@pytest.mark.parametrize("name", ["podman", "docker26"])
def test_an_offline_rebuild_on_podman_and_docker_26_gives_the_shipped_image_id(
    good: Path, built: BuildResult, engine: OfflineEngine, name: str
) -> None:
    """The customer's engine may be Podman or a newer Docker with buildx: run from the same
    namespace with no route out, each rebuilds the image Docker 20.10 shipped."""
    with customer_engine(name) as client:
        code, output = run_rebuild(good, engine, client)
    assert code == 0, output[-4000:]
    assert f"same image ID {built.image_id}" in output
    builder = "Podman" if name == "podman" else "Docker (buildx)"
    assert f"building with {builder}" in output


def copy_with(good: Path, target: Path) -> Path:
    """The bundle, hard-linked, with its smallest image wheel altered by one byte."""
    shutil.copytree(good, target, copy_function=os.link)
    wheels = sorted((target / "sources" / offline.IMAGE_WHEELS).glob("*.whl"))
    victim = min(wheels, key=lambda p: p.stat().st_size)
    content = victim.read_bytes()
    victim.unlink()  # a new file, not the hard link: the good bundle stays intact
    victim.write_bytes(content + b"\0")
    return target


def test_an_altered_wheel_is_refused_by_the_signed_checksums(
    good: Path, engine: OfflineEngine, tmp_path: Path
) -> None:
    code, output = run_rebuild(copy_with(good, tmp_path / "ner-app"), engine)
    assert code != 0, output[-4000:]
    assert "does not match its signed checksum" in output
    assert "do not rebuild from it" in output


def test_an_altered_wheel_the_vendor_signed_is_refused_by_the_locks_hashes(
    good: Path, keys: Keys, engine: OfflineEngine, tmp_path: Path
) -> None:
    """Even a bundle signed with a bad wheel in it: uv holds each wheel to poetry.lock."""
    altered = copy_with(good, tmp_path / "ner-app")
    (altered / bundle_files.SUMS).unlink()
    (altered / f"{bundle_files.SUMS}.sig").unlink()
    signing.sign(signing.load(keys.vendor), bundle_files.write_sums(altered))
    code, output = run_rebuild(altered, engine)
    assert code != 0, output[-4000:]
    assert "Hash mismatch" in output
    assert "same image ID" not in output
