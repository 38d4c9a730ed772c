"""Write one image as an OCI image layout archive that every engine's `load` accepts.

The archive holds the OCI layout (`oci-layout`, `index.json`, `blobs/sha256/...`) and, beside
it, the `manifest.json` that Docker's `docker load` reads (Docker 20.10 reads only that; Docker
>= 25 writes and reads both, as does Podman). Both name the same blobs. Layers are stored
uncompressed, so each layer blob's digest is its diff ID and the config, hence the image ID,
is the engine's own. No tag is recorded: a load gives an untagged image, which the loader tags
only after checking its ID (verify-and-load.sh). Members are sorted and their times, owners
and modes fixed: the same image gives the same archive, byte for byte.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ner_build import image_archive
from ner_build.errors import CheckFailed

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Written:
    """What the archive holds: the image ID (the config's digest) and the manifest's digest."""

    image_id: str
    manifest_digest: str
    size: int


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def descriptor(media_type: str, digest: str, size: int) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size}


def manifest(config: bytes, layers: list[tuple[str, int]]) -> bytes:
    """The OCI manifest of a config and its (digest, size) layers."""
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": descriptor(CONFIG_TYPE, digest_of(config), len(config)),
            "layers": [descriptor(LAYER_TYPE, digest, size) for digest, size in layers],
        }
    )


def index(manifest_bytes: bytes) -> bytes:
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": INDEX_TYPE,
            "manifests": [
                descriptor(MANIFEST_TYPE, digest_of(manifest_bytes), len(manifest_bytes))
            ],
        }
    )


def docker_manifest(config: bytes, layers: list[tuple[str, int]]) -> bytes:
    """`docker load`'s manifest.json: the same blobs, no tags."""
    return canonical_json(
        [
            {
                "Config": image_archive.blob(digest_of(config)),
                "RepoTags": None,
                "Layers": [image_archive.blob(digest) for digest, _ in layers],
            }
        ]
    )


def member(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    return info


def add_bytes(archive: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    archive.addfile(member(name, len(data), mtime), io.BytesIO(data))


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def write(saved: image_archive.SavedImage, target: Path, mtime: int) -> Written:
    """Write the saved image as an OCI layout archive (plus manifest.json) to target."""
    config = saved.config_bytes
    diff_ids: list[str] = saved.config["rootfs"]["diff_ids"]
    with tempfile.TemporaryDirectory(prefix="ner-app-oci-", dir=target.parent) as tmp:
        layers = _uncompressed_layers(saved, Path(tmp), diff_ids)
        sizes = [(digest, path.stat().st_size) for digest, path in layers]
        manifest_bytes = manifest(config, sizes)
        blobs = {digest_of(config): config, digest_of(manifest_bytes): manifest_bytes}
        with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as archive:
            add_bytes(archive, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}', mtime)
            add_bytes(archive, "index.json", index(manifest_bytes), mtime)
            add_bytes(archive, "manifest.json", docker_manifest(config, sizes), mtime)
            files = {digest: path for digest, path in layers}
            for digest in sorted({*blobs, *files}):
                name = image_archive.blob(digest)
                if digest in blobs:
                    add_bytes(archive, name, blobs[digest], mtime)
                else:
                    with files[digest].open("rb") as stream:
                        archive.addfile(member(name, files[digest].stat().st_size, mtime), stream)
    return Written(digest_of(config), digest_of(manifest_bytes), target.stat().st_size)


def _uncompressed_layers(
    saved: image_archive.SavedImage, folder: Path, diff_ids: list[str]
) -> list[tuple[str, Path]]:
    """Each layer uncompressed in folder, checked against the config's diff IDs."""
    if len(diff_ids) != len(saved.layer_names):
        raise CheckFailed(
            f"{saved.path}: the config lists {len(diff_ids)} layers, the archive holds "
            f"{len(saved.layer_names)}; save the image again."
        )
    layers = []
    for position, expected in enumerate(diff_ids):
        path = folder / f"layer-{position}.tar"
        saved.copy_layer(position, path)
        found = hash_file(path)
        if found != expected:
            raise CheckFailed(
                f"{saved.path}: layer {position} is {found}, but the config says {expected}; "
                "save the image again."
            )
        layers.append((found, path))
    return layers
