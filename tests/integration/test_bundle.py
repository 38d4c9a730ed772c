"""`nox -s bundle`, proven where a customer behind a firewall meets it: a Docker engine with an
empty data root and no route out (ner_build.engine.offline_engine). Each bad bundle is refused
with a
message saying what is wrong, and leaves no image in the engine; the good one loads with the
recorded image ID (also into Podman and Docker 26), starts hardened and finds entities in
Chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ner_build.browser import chromium, netns
from ner_build.browser.page import AppPage
from ner_build.engine import setups as engine_setups
from ner_build.engine.docker import Docker
from ner_build.engine.offline_engine import OfflineEngine
from ner_build.release import bundle, bundle_files, signing
from ner_build.result import BuildResult
from playwright.sync_api import Browser, Playwright

from tests.integration.conftest import Involved, Keys, OpenPage
from tests.integration.test_browser import SAMPLE, WAIT_MS

SCRIPT = bundle_files.TEMPLATES / bundle_files.SCRIPT
PORT = 18501
BUNDLE_CONTAINER = "ner-app-bundle"
READY_TIMEOUT = 60
FOREIGN_ID = "sha256:" + "ab" * 32
EXPECTED = [
    ("Ada Lovelace", "PERSON"),
    ("Charles Babbage", "PERSON"),
    ("London", "GPE"),
    ("1843", "DATE"),
]


def load(folder: Path, docker: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """verify-and-load.sh as the customer runs it; exit code and all output."""
    environment = {**os.environ, **(env or {}), "DOCKER": docker}
    done = subprocess.run(
        ["sh", str(SCRIPT), str(folder)], env=environment, capture_output=True, text=True
    )
    return done.returncode, done.stdout + done.stderr


def copy(good: Path, target: Path) -> Path:
    """The bundle, hard-linked: a file to change must be replaced, never written in place."""
    shutil.copytree(good, target, copy_function=os.link)
    return target


def replace_file(path: Path, content: bytes) -> None:
    path.unlink()
    path.write_bytes(content)


def flip_a_byte_in_a_layer(folder: Path, keys: Keys) -> dict[str, str]:
    image = folder / bundle_files.IMAGE
    broken = folder / "image.tmp"
    shutil.copyfile(image, broken)
    with broken.open("r+b") as stream:  # the middle of the largest layer
        stream.seek(image.stat().st_size // 2)
        byte = stream.read(1)
        stream.seek(-1, os.SEEK_CUR)
        stream.write(bytes([byte[0] ^ 0xFF]))
    broken.replace(image)
    return {}


def remove_the_sbom(folder: Path, keys: Keys) -> dict[str, str]:
    (folder / bundle_files.SBOM_NAME).unlink()
    return {}


def change_a_checksum(folder: Path, keys: Keys) -> dict[str, str]:
    """A changed file with SHA256SUMS updated to match, but the signature left as it was."""
    sbom = folder / bundle_files.SBOM_NAME
    replace_file(sbom, sbom.read_bytes().replace(b'"ner-app"', b'"ner-app-evil"'))
    sums = folder / bundle_files.SUMS
    replace_file(sums, b"")
    bundle_files.write_sums(folder)
    return {}


def sign_with_another_key(folder: Path, keys: Keys) -> dict[str, str]:
    """Re-signed by someone else, who also put their key into the bundle's allowed_signers:
    the operator checks against the vendor's signers, which they got another way."""
    (folder / f"{bundle_files.SUMS}.sig").unlink()
    signing.sign(signing.load(keys.other), folder / bundle_files.SUMS)
    other = signing.load(keys.other).allowed_signers("vendor@example.com").encode()
    vendor_signers = folder.parent / "vendor_allowed_signers"
    shutil.copyfile(folder / bundle_files.SIGNERS, vendor_signers)
    replace_file(folder / bundle_files.SIGNERS, other)
    return {"NER_ALLOWED_SIGNERS": str(vendor_signers)}


def truncate_the_image(folder: Path, keys: Keys) -> dict[str, str]:
    image = folder / bundle_files.IMAGE
    with image.open("rb") as stream:
        head = stream.read(image.stat().st_size // 3)
    replace_file(image, head)
    return {}


def record_another_image_id(folder: Path, keys: Keys) -> dict[str, str]:
    """Signed by the vendor, but recording an ID the archive does not give (a vendor's
    mistake): the manifest the bundle records names another config, so nothing is loaded."""
    record = folder / bundle_files.RECORD
    text = record.read_text()
    image_id = text.split('"image_id": "')[1].split('"')[0]
    replace_file(record, text.replace(image_id, FOREIGN_ID).encode())
    replace_file(folder / bundle_files.SUMS, b"")
    (folder / f"{bundle_files.SUMS}.sig").unlink()
    signing.sign(signing.load(keys.vendor), bundle_files.write_sums(folder))
    return {}


Spoil = Callable[[Path, Keys], dict[str, str]]
REFUSALS: list[tuple[Spoil, str]] = [
    (flip_a_byte_in_a_layer, "image.tar does not match its signed checksum"),
    (remove_the_sbom, "sbom.cdx.json is missing"),
    (change_a_checksum, "the signature does not match SHA256SUMS"),
    (sign_with_another_key, "SHA256SUMS.sig was not made by a key in"),
    (truncate_the_image, "image.tar is truncated or damaged"),
    (
        record_another_image_id,
        f"names another config than the image ID image.json records, {FOREIGN_ID}",
    ),
]


@pytest.mark.parametrize(("spoil", "message"), REFUSALS, ids=[s.__name__ for s, _ in REFUSALS])
def test_a_bad_bundle_is_refused_and_leaves_no_image(
    good: Path, keys: Keys, engine: OfflineEngine, tmp_path: Path, spoil: Spoil, message: str
) -> None:
    assert engine.images() == [], "the offline engine must start empty"
    bad = copy(good, tmp_path / "ner-app")
    env = spoil(bad, keys)
    code, output = load(bad, str(engine.docker), env)
    assert code == 1, output
    assert message in output
    assert "REFUSED" in output
    assert "Ask your vendor" in output
    assert engine.images() == [], f"the refused bundle left an image:\n{output}"


def cut_inside(archive: Path, member: str, cut: Path) -> None:
    """archive cut short halfway through member's data, as a full USB stick leaves it."""
    with tarfile.open(archive) as tar:
        info = tar.getmember(member)
    with archive.open("rb") as stream:
        cut.write_bytes(stream.read(info.offset_data + info.size // 2))


CUTS = [  # where the .tar ends, and what the refusal says
    (bundle_files.IMAGE, "The bundle is incomplete"),  # the files after it never arrived
    (bundle_files.SCRIPT, "verify-and-load.sh does not match its signed checksum"),  # the last one
]


@pytest.mark.parametrize(("member", "message"), CUTS, ids=[m for m, _ in CUTS])
def test_a_bundle_tar_cut_short_is_refused(
    good: Path, engine: OfflineEngine, tmp_path: Path, member: str, message: str
) -> None:
    """The .tar cut short on its way: whatever it unpacks to is refused, loading nothing."""
    archive = good.with_name(good.name + ".tar")
    with tarfile.open(archive) as tar:
        assert tar.getnames()[-1] == f"{good.name}/{bundle_files.SCRIPT}", "the script is last"
    cut = tmp_path / "cut.tar"
    cut_inside(archive, f"{good.name}/{member}", cut)
    unpacked = subprocess.run(["tar", "-xf", cut, "-C", tmp_path], capture_output=True, text=True)
    assert unpacked.returncode != 0, "tar must notice the archive is cut short"
    code, output = load(tmp_path / good.name, str(engine.docker))
    assert code == 1, output
    assert message in output
    assert "copy it again" in output
    assert engine.images() == []


def test_verify_from_the_project_accepts_the_good_bundle_and_refuses_a_changed_one(
    good: Path, tmp_path: Path
) -> None:
    assert bundle.main(["--verify", str(good)]) == 0
    bad = copy(good, tmp_path / "ner-app")
    remove_the_sbom(bad, Keys(Path(), Path()))
    assert bundle.main(["--verify", str(bad)]) == 1


def http_status(engine: OfflineEngine, address: str) -> int:
    """The status of a GET made inside the engine's network namespace (0: no answer)."""
    probe = (
        "import sys, urllib.request, urllib.error\n"
        "try: print(urllib.request.urlopen(sys.argv[1], timeout=5).status)\n"
        "except urllib.error.HTTPError as e: print(e.code)\n"
        "except OSError: print(0)\n"
    )
    done = subprocess.run(
        engine.inside([sys.executable, "-c", probe, address]), capture_output=True, text=True
    )
    return int(done.stdout.strip() or 0)


def wait_ready(engine: OfflineEngine, address: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while http_status(engine, address) != 200:  # a condition polled: /readyz answering 200
        if time.monotonic() > deadline:
            pytest.fail(f"{address} did not answer 200 within {READY_TIMEOUT} s")
        time.sleep(0.2)


@pytest.fixture
def chromium_browser(playwright: Playwright, engine: OfflineEngine) -> Iterator[Browser]:
    """Chromium bridged to the loopback of the engine's network namespace, where the bundle's
    container publishes its port (instead of the host's, as for the other tests)."""
    with (
        netns.of_process(engine.pid) as namespace,
        chromium.launch(playwright, reach=namespace) as launched,
    ):
        yield launched


def test_the_good_bundle_loads_offline_runs_hardened_and_finds_entities(
    good: Path, built: BuildResult, engine: OfflineEngine, open_page: OpenPage, involved: Involved
) -> None:
    connect = "import socket; socket.create_connection(('1.1.1.1', 443), 3)"
    cut_off = subprocess.run(
        engine.inside([sys.executable, "-c", connect]), capture_output=True, text=True
    )
    assert "Network is unreachable" in cut_off.stderr, "the engine must have no route out"
    code, output = load(good, str(engine.docker))
    assert code == 0, output
    assert f"loaded: {built.image_id}" in output
    assert engine.images() == [built.image_id]
    for tag in built.tags:
        assert engine.docker.image_id(tag) == built.image_id
    engine.docker.run(
        "run", "--detach", f"--name={BUNDLE_CONTAINER}", f"--publish=127.0.0.1:{PORT}:8501",
        "--read-only", "--tmpfs=/tmp", "--user=12345:0", "--cap-drop=ALL",
        "--security-opt=no-new-privileges", built.tags[0],
        check=True,
    )  # fmt: skip
    involved.add_for_test(BUNDLE_CONTAINER, engine.docker)
    wait_ready(engine, f"http://127.0.0.1:{PORT}/readyz")
    app_page = AppPage(open_page(f"http://127.0.0.1:{PORT}/"))
    app_page.enter_text(SAMPLE)
    assert list(app_page.entities(WAIT_MS)) == EXPECTED


@pytest.mark.parametrize("engine_name", ["podman", "docker26"])
def test_podman_and_docker_26_load_it_with_the_recorded_id(
    good: Path, built: BuildResult, engine_name: str
) -> None:
    if engine_name == "podman":
        with engine_setups.empty_podman_store("bundle") as settings:
            assert_loads_with_the_recorded_id(good, built, engine_name, settings)
        return
    setup = engine_setups.required(engine_name)
    settings, client = dict(setup.env), setup.docker
    before = {ref: client.image_id(ref) for ref in [built.image_id, *built.tags]}
    try:
        assert_loads_with_the_recorded_id(good, built, engine_name, settings)
    finally:
        restore(client, built, before)


def assert_loads_with_the_recorded_id(
    good: Path, built: BuildResult, engine_name: str, settings: dict[str, str]
) -> None:
    env = dict(settings)
    code, output = load(good, env.pop("DOCKER"), env)
    assert code == 0, output
    client = engine_setups.EngineSetup(engine_name, settings).docker
    assert client.image_id(built.tags[0]) == built.image_id


def restore(
    client: Docker, built: BuildResult, before: dict[str, str | None], name: str = ""
) -> None:
    """Put a shared engine's tags back as they were, and remove the image if it was not there;
    name: what the engine calls the image (its manifest digest in the containerd store)."""
    name = name or built.image_id
    for tag in built.tags:
        if before[tag] and before[tag] != name:
            client.run("tag", str(before[tag]), tag)
        elif not before[tag]:
            client.untag(tag)
    if not before[name]:
        client.run("image", "rm", name)


def test_the_containerd_image_store_loads_it_by_the_manifest_the_bundle_records(
    good: Path, built: BuildResult
) -> None:
    """Docker with the containerd image store (new installs, Docker Desktop) names an image by
    its manifest's digest: the one the bundle records, whose config is the recorded image ID."""
    setup = engine_setups.required("containerd-store")
    record = json.loads((good / bundle_files.RECORD).read_text())
    manifest = record["manifest_digest"]
    with tarfile.open(good / bundle_files.IMAGE) as tar:
        blob = tar.extractfile(f"blobs/sha256/{manifest.removeprefix('sha256:')}")
        assert blob is not None
        assert json.loads(blob.read())["config"]["digest"] == built.image_id
    client, env = setup.docker, dict(setup.env)
    before = {ref: client.image_id(ref) for ref in [manifest, *built.tags]}
    try:
        code, output = load(good, env.pop("DOCKER"), env)
        assert code == 0, output
        assert (
            f"loaded: {built.image_id} (manifest {manifest}); the engine names it by its "
            f"manifest digest (the containerd image store's name for it), {manifest}" in output
        )
        assert client.image_id(built.tags[0]) == manifest
    finally:
        restore(client, built, before, manifest)


def test_the_containerd_image_store_is_given_nothing_from_a_bundle_recording_another_id(
    good: Path, keys: Keys, tmp_path: Path
) -> None:
    setup = engine_setups.required("containerd-store")
    listed = ["image", "ls", "--all", "--quiet", "--no-trunc"]
    # Sorted: the store lists images by creation time, and ours all share the commit's, so
    # their order changes from one listing to the next.
    images_before = sorted(setup.docker.run(*listed).stdout.split())
    bad = copy(good, tmp_path / "ner-app")
    record_another_image_id(bad, keys)
    env = dict(setup.env)
    code, output = load(bad, env.pop("DOCKER"), env)
    assert code == 1, output
    assert f"names another config than the image ID image.json records, {FOREIGN_ID}" in output
    assert sorted(setup.docker.run(*listed).stdout.split()) == images_before
