"""nox -s base-image against the real engine and Debian archive: replaying a base's archive record
gives the same image ID, and a record whose version the archive no longer serves is refused before
anything is installed.

Needs root, debuerreotype and the Debian mirror (as `nox -s base-image` does); about 3 minutes.
Makes its own tags and removes only those.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ner_build.build import base_image, debian_archive
from ner_build.engine.docker import START_ENGINE_HINT, Docker
from ner_build.errors import ToolError


@dataclass(frozen=True)
class Original:
    tag: str
    image_id: str
    record: Path


@pytest.fixture(scope="module")
def docker() -> Docker:
    engine = Docker.from_env()
    try:
        engine.check_engine()
    except ToolError as error:
        pytest.fail(f"{error} {START_ENGINE_HINT}", pytrace=False)
    return engine


@pytest.fixture(scope="module")
def made(docker: Docker) -> Iterator[list[str]]:
    """Tags this module makes; removed afterwards (only these)."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        if docker.image_id(tag):
            docker.untag(tag)


@pytest.fixture(scope="module")
def original(docker: Docker, made: list[str], tmp_path_factory: pytest.TempPathFactory) -> Original:
    """A base built now, with its archive record."""
    tag = f"ner-app-base:replay-test-{uuid.uuid4().hex[:8]}"
    record = tmp_path_factory.mktemp("record") / "record.json"
    made.append(tag)
    assert base_image.main(["--tag", tag, "--record", str(record)]) == 0
    image_id = docker.image_id(tag)
    assert image_id
    return Original(tag, image_id, record)


def test_replaying_a_base_from_its_labels_gives_the_same_image_id(
    docker: Docker, made: list[str], original: Original, tmp_path: Path
) -> None:
    labels = docker.labels(original.tag)
    recorded = debian_archive.from_labels(labels)
    assert recorded == debian_archive.from_json(original.record.read_text())
    replay = original.tag + "-replayed"
    made.append(replay)
    code = base_image.main(
        ["--replay", original.tag, "--tag", replay, "--record", str(tmp_path / "r.json")]
    )
    assert code == 0
    assert docker.image_id(replay) == original.image_id


def test_a_record_with_a_version_the_archive_does_not_serve_is_refused(
    docker: Docker,
    made: list[str],
    original: Original,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    document = json.loads(original.record.read_text())
    [libc] = [p for p in document["packages"] if p["name"] == "libc6"]
    served, libc["version"] = libc["version"], "2.36-9+deb12u0"
    doctored = tmp_path / "doctored.json"
    doctored.write_text(json.dumps(document))
    refused = f"{original.tag}-refused"
    made.append(refused)
    capsys.readouterr()
    assert base_image.main(["--replay", str(doctored), "--tag", refused]) == 1
    error = capsys.readouterr().err
    assert f"libc6 ({libc['architecture']}): recorded 2.36-9+deb12u0, served now" in error
    assert served in error
    assert "--mirror http://snapshot.debian.org/archive/debian/" in error
    assert docker.image_id(refused) is None
