"""Incremental canonical images (ner_build.image.layer_store with image.normalize): a layer an
earlier build encoded is reused, never re-encoded, and the image is the one a build without the
store writes, byte for byte."""

import hashlib
import json
import os
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from ner_build.engine import setups as engine_setups
from ner_build.engine.docker import Docker
from ner_build.image import archive as image_archive
from ner_build.image import normalize, oci_layout
from ner_build.image.layer_store import LayerStore, RawFacts

from ..engine.test_docker import podman
from ..support import DOCKER
from .test_normalize import (
    EPOCH,
    LATER,
    TAGS,
    app_layer,
    base_layer,
    buildkit_config,
    layer,
    member,
    read_archive,
    save_archive,
)

RULES = b"the rules of this test"


def run(
    tmp_path: Path, name: str, layers: list[bytes], store: LayerStore | None, epoch: int = EPOCH
) -> str:
    saved = save_archive(tmp_path / f"{name}-saved.tar", layers)
    return normalize.normalize_archive(saved, tmp_path / f"{name}.tar", epoch, TAGS, 1, store)


def venv_layer() -> bytes:
    """A layer whose files are older than any commit: its epoch is its own newest file time."""
    return layer(
        member("opt/venv", kind=tarfile.DIRTYPE, mode=0o755, mtime=LATER + 500),
        member("opt/venv/lib.py", b"import this\n", mtime=EPOCH - 3600),
    )


@pytest.fixture
def store(tmp_path: Path) -> LayerStore:
    return LayerStore(tmp_path / "store", RULES)


def test_a_rebuild_reuses_every_unchanged_layer_and_writes_the_same_image(
    tmp_path: Path, store: LayerStore
) -> None:
    first = run(tmp_path, "a", [base_layer(), venv_layer(), app_layer()], store)
    assert (store.written, store.reused) == (2, 0)
    again = LayerStore(store.root, RULES)
    assert run(tmp_path, "b", [base_layer(), venv_layer(), app_layer()], again) == first
    assert (again.written, again.reused) == (0, 2)
    assert read_archive(tmp_path / "a.tar") == read_archive(tmp_path / "b.tar")


def test_an_app_edit_encodes_only_the_app_layer_and_matches_a_build_without_the_store(
    tmp_path: Path, store: LayerStore
) -> None:
    run(tmp_path, "a", [base_layer(), venv_layer(), app_layer()], store)
    edited = [base_layer(), venv_layer(), app_layer(content=b"workers = 8\n")]
    incremental = LayerStore(store.root, RULES)
    image_id = run(tmp_path, "b", edited, incremental)
    assert (incremental.written, incremental.reused) == (1, 1)
    assert image_id == run(tmp_path, "clean", edited, None)
    assert read_archive(tmp_path / "b.tar") == read_archive(tmp_path / "clean.tar")


def test_a_new_commit_reuses_a_layer_older_than_both_commits(
    tmp_path: Path, store: LayerStore
) -> None:
    run(tmp_path, "a", [base_layer(), venv_layer()], store)
    later = LayerStore(store.root, RULES)
    image_id = run(tmp_path, "b", [base_layer(), venv_layer()], later, epoch=EPOCH + 60)
    assert later.reused == 1
    assert image_id == run(tmp_path, "clean", [base_layer(), venv_layer()], None, EPOCH + 60)


def test_control_a_layer_without_files_takes_the_commit_time_and_is_encoded_again(
    tmp_path: Path, store: LayerStore
) -> None:
    only_dirs = layer(member("srv", kind=tarfile.DIRTYPE, mode=0o755, mtime=LATER))
    first = run(tmp_path, "a", [base_layer(), only_dirs], store)
    later = LayerStore(store.root, RULES)
    second = run(tmp_path, "b", [base_layer(), only_dirs], later, epoch=EPOCH + 60)
    assert (later.written, later.reused) == (1, 0)
    assert second != first
    assert second == run(tmp_path, "clean", [base_layer(), only_dirs], None, EPOCH + 60)


def test_an_empty_layer_is_remembered_as_empty(tmp_path: Path, store: LayerStore) -> None:
    first = run(tmp_path, "a", [base_layer(), app_layer(), layer()], store)
    assert store.facts(save_digest(layer())) == RawFacts(None, empty=True)
    again = LayerStore(store.root, RULES)
    assert run(tmp_path, "b", [base_layer(), app_layer(), layer()], again) == first
    assert (again.written, again.reused) == (0, 1)


def test_no_cache_reads_nothing_from_the_store_but_keeps_what_it_writes(
    tmp_path: Path, store: LayerStore
) -> None:
    first = run(tmp_path, "a", [base_layer(), app_layer()], store)
    clean = LayerStore(store.root, RULES, reuse=False)
    assert run(tmp_path, "b", [base_layer(), app_layer()], clean) == first
    assert (clean.written, clean.reused) == (1, 0)


def test_other_rules_reuse_nothing(tmp_path: Path, store: LayerStore) -> None:
    run(tmp_path, "a", [base_layer(), app_layer()], store)
    changed = LayerStore(store.root, RULES + b" and one more")
    run(tmp_path, "b", [base_layer(), app_layer()], changed)
    assert (changed.written, changed.reused) == (1, 0)


def test_a_layer_whose_record_is_lost_is_encoded_again(tmp_path: Path, store: LayerStore) -> None:
    first = run(tmp_path, "a", [base_layer(), app_layer()], store)
    for record in (store.root / "layers").glob("*.json"):
        record.write_text("{not json")
    again = LayerStore(store.root, RULES)
    assert run(tmp_path, "b", [base_layer(), app_layer()], again) == first
    assert (again.written, again.reused) == (1, 0)


def test_the_store_refuses_a_diff_id_that_is_no_sha256(store: LayerStore) -> None:
    with pytest.raises(ValueError, match="not a sha256 diff ID"):
        store.facts("sha256:../../etc/passwd")


def test_pruning_removes_the_least_recently_used_layers_never_one_in_use(tmp_path: Path) -> None:
    root = tmp_path / "store"
    for index, content in enumerate((b"one", b"two", b"three")):
        store = LayerStore(root, RULES)
        run(tmp_path, f"{index}", [base_layer(), app_layer(content=content)], store)
        for tar in (root / "layers").glob("*.tar"):  # the earlier ones, used longer ago
            if tar not in store._used:
                os.utime(tar, (tar.stat().st_mtime - 10,) * 2)
    sizes = sorted(tar.stat().st_size for tar in (root / "layers").glob("*.tar"))
    tight = LayerStore(root, RULES, budget=sizes[0] + sizes[1])
    run(tmp_path, "used", [base_layer(), app_layer(content=b"one")], tight)  # the oldest, reused
    removed = tight.prune()
    assert len(removed) == 1
    assert not removed[0].exists()
    assert not removed[0].with_suffix(".json").exists()
    assert len(list((root / "layers").glob("*.tar"))) == 2
    assert all(tar.exists() for tar in tight._used)


def test_an_archive_leaves_out_the_layers_the_engine_holds_and_keeps_the_image_id(
    tmp_path: Path,
) -> None:
    saved = save_archive(tmp_path / "saved.tar", [base_layer(), app_layer()])
    whole = normalize.normalize_archive(saved, tmp_path / "whole.tar", EPOCH, TAGS, 1)
    partial = normalize.normalize_archive(
        saved, tmp_path / "partial.tar", EPOCH, TAGS, 1, held=lambda diff_ids: 1
    )
    assert partial == whole
    files, all_files = read_archive(tmp_path / "partial.tar"), read_archive(tmp_path / "whole.tar")
    left_out = set(all_files) - set(files)
    assert left_out == {f"{save_digest(base_layer()).removeprefix('sha256:')}/layer.tar"}
    assert files["manifest.json"] == all_files["manifest.json"]


def test_a_layout_archive_is_the_docker_archive_s_image_as_oci_layout_writes_it(
    tmp_path: Path,
) -> None:
    """What normalize_image loads into the containerd image store: written directly, the same
    image ID and manifest as the docker-archive rewritten by oci_layout.write, every layer in."""
    saved = save_archive(tmp_path / "saved.tar", [base_layer(), app_layer()])
    docker_archive = tmp_path / "canonical.tar"
    image_id = normalize.normalize_archive(saved, docker_archive, EPOCH, TAGS, 1)
    layout = tmp_path / "canonical.oci.tar"
    held_all = normalize.normalize_archive(
        saved, layout, EPOCH, TAGS, 1, held=lambda diff_ids: 2, layout=True
    )
    rewritten = oci_layout.write(image_archive.read(docker_archive), tmp_path / "oci.tar", EPOCH)
    assert held_all == image_id == rewritten.image_id
    assert oci_layout.manifest_digest_of(layout) == rewritten.manifest_digest
    assert read_archive(layout) == read_archive(tmp_path / "oci.tar")


def save_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- on a real engine ---------------------------------------------------------------------------

TEST_REPO = "ner-app-test-incremental"


def raw_config(layers: list[bytes]) -> dict[str, Any]:
    """A config as BuildKit writes it, with a history entry for each layer (`load` checks)."""
    config = buildkit_config()
    config["rootfs"]["diff_ids"] = [save_digest(data) for data in layers]
    config["history"] = [
        {"created": "2024-01-01T00:00:00Z", "created_by": f"step {n}"} for n in range(len(layers))
    ]
    return config


def load_raw(docker: Docker, tmp_path: Path, name: str, layers: list[bytes]) -> str:
    """Load an image as an engine's build leaves it (a raw, non-canonical config and layers)."""
    config = raw_config(layers)
    files = []
    for index, data in enumerate(layers):
        files.append(tmp_path / f"{name}-{index}.tar")
        files[-1].write_bytes(data)
    archive = tmp_path / f"{name}-raw.tar"
    tag = f"{TEST_REPO}:{name}-raw"
    diff_ids = config["rootfs"]["diff_ids"]
    image_archive.write(archive, json.dumps(config).encode(), files, diff_ids, [tag])
    docker.load(archive)
    image_id = docker.image_id(tag)
    assert image_id is not None
    return image_id


@pytest.mark.host
@pytest.mark.parametrize("client", ["docker", "podman"])
def test_an_app_edit_encodes_only_its_layer_and_is_the_clean_image_on_each_engine(
    client: str, tmp_path: Path
) -> None:
    """Docker loads only the new layer; Podman, which refuses an archive without the layers it
    holds, loads them all: the same image either way."""
    docker = podman() if client == "podman" else Docker((DOCKER,))
    partial = client == "docker"
    tags = [f"{TEST_REPO}:latest"]
    store_root, work = tmp_path / "store", tmp_path / "work"
    try:
        first = load_raw(docker, tmp_path, "first", [base_layer(), venv_layer(), app_layer()])
        built = normalize.normalize_image(
            docker, first, EPOCH, tags, work, 1, LayerStore(store_root, RULES)
        )
        assert (built.written, built.reused, built.held) == (2, 0, 1 if partial else 0)
        edited = [base_layer(), venv_layer(), app_layer(content=b"workers = 8\n")]
        second = load_raw(docker, tmp_path, "second", edited)
        rebuilt = normalize.normalize_image(
            docker, second, EPOCH, tags, work, 1, LayerStore(store_root, RULES)
        )
        assert (rebuilt.written, rebuilt.reused, rebuilt.held) == (1, 1, 2 if partial else 0)
        assert docker.image_id(tags[0]) == rebuilt.image_id
        clean = normalize.normalize_archive(
            save_archive(tmp_path / "clean-saved.tar", edited, raw_config(edited)),
            tmp_path / "clean.tar",
            EPOCH,
            tags,
            1,
        )
        assert rebuilt.image_id == clean
        assert docker.image_id(first) is None  # the raw images are replaced
        assert docker.image_id(second) is None
    finally:
        docker.remove_image(tags[0])
    assert docker.image_id(tags[0]) is None


@pytest.mark.host
def test_control_docker_refuses_an_archive_without_a_layer_it_does_not_hold(
    tmp_path: Path,
) -> None:
    """Why the layers left out must be the engine's: the load fails (and normalize_image then
    loads the whole archive)."""
    docker = Docker((DOCKER,))
    unknown_base = layer(member("etc/never-loaded", uuid.uuid4().hex.encode()))
    saved = save_archive(tmp_path / "saved.tar", [unknown_base, app_layer()])
    tag = f"{TEST_REPO}:partial"
    normalize.normalize_archive(saved, tmp_path / "partial.tar", EPOCH, [tag], 1, held=lambda _: 1)
    loaded = docker.run("load", "--quiet", "--input", str(tmp_path / "partial.tar"))
    assert loaded.returncode != 0
    assert docker.image_id(tag) is None


@pytest.mark.host
def test_the_containerd_image_store_gets_the_same_image_named_by_the_manifest_we_wrote(
    tmp_path: Path,
) -> None:
    """One config digest on both of Docker's stores; the containerd image store names the image
    by the manifest of the OCI layout normalize_image loads there, and only there."""
    classic = Docker((DOCKER,))
    by_manifest = engine_setups.required("containerd-store").docker
    assert not classic.names_by_manifest
    assert by_manifest.names_by_manifest
    found = {}
    for name, docker in (("classic", classic), ("containerd", by_manifest)):
        tag = f"{TEST_REPO}:{name}"
        raw = load_raw(docker, tmp_path, name, [base_layer(), app_layer()])
        try:
            found[name] = normalize.normalize_image(docker, raw, EPOCH, [tag], tmp_path / name, 1)
            assert docker.image_id(tag) == (found[name].manifest_digest or found[name].image_id)
            assert docker.image_id(raw) is None  # the raw image is replaced
        finally:
            docker.remove_image(tag)
    assert found["containerd"].image_id == found["classic"].image_id
    assert found["classic"].manifest_digest == ""
    assert found["containerd"].manifest_digest.startswith("sha256:")
    assert found["containerd"].manifest_digest != found["containerd"].image_id


@pytest.mark.host
def test_control_given_a_docker_archive_the_containerd_store_makes_up_a_manifest(
    tmp_path: Path,
) -> None:
    """Why normalize_image loads an OCI layout there: the same canonical image as a
    docker-archive gets a manifest the store makes up, neither ours nor the config's digest."""
    docker = engine_setups.required("containerd-store").docker
    tag = f"{TEST_REPO}:docker-archive"
    saved = save_archive(tmp_path / "saved.tar", [base_layer(), app_layer()])
    canonical = tmp_path / "canonical.tar"
    config_id = normalize.normalize_archive(saved, canonical, EPOCH, [tag], 1)
    ours = oci_layout.write(image_archive.read(canonical), tmp_path / "oci.tar", EPOCH)
    docker.load(canonical)
    try:
        assert docker.image_id(tag) not in (ours.manifest_digest, config_id, None)
    finally:
        docker.remove_image(tag)
