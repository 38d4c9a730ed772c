"""Write images as an OCI image layout archive that every engine's `load` accepts.

The archive holds the OCI layout (`oci-layout`, `index.json`, `blobs/sha256/...`) and, beside
it, the `manifest.json` that Docker's `docker load` reads (Docker 20.10 reads only that; Docker
>= 25 writes and reads both, as does Podman). Both name the same blobs. Layers are stored
uncompressed, so each layer blob's digest is its diff ID and the config, hence the image ID,
is the engine's own. No tag is recorded: a load gives an untagged image, which the loader tags
only after checking its ID (verify-and-load.sh). Members are sorted and their times, owners
and modes fixed: the same image gives the same archive, byte for byte.

Several images of one name, one per platform, are written as a multi-platform image: index.json
points to one image index (named by the `org.opencontainers.image.ref.name` annotation) that
lists each image's manifest with its platform, as `docker buildx build --output type=oci` and
registries hold it. `skopeo copy --all oci-archive:ARCHIVE docker://REPO:TAG` pushes it whole.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ner_build.digest import canonical_json, digest_of, digest_of_file
from ner_build.engine.platforms import Platform
from ner_build.errors import CheckFailed
from ner_build.image import archive as image_archive

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class Written:
    """What the archive holds: the image ID (the config's digest) and the manifest's digest."""

    image_id: str
    manifest_digest: str
    size: int


@dataclass(frozen=True)
class WrittenIndex:
    """A multi-platform archive: its image index's digest and each platform's image."""

    index_digest: str
    images: dict[str, Written]  # by platform, e.g. "linux/arm64"
    size: int


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
    return image_index([descriptor(MANIFEST_TYPE, digest_of(manifest_bytes), len(manifest_bytes))])


def image_index(manifests: list[dict[str, Any]]) -> bytes:
    return canonical_json({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": manifests})


def platform_descriptor(manifest_bytes: bytes, platform: Platform) -> dict[str, Any]:
    """A manifest's descriptor in a multi-platform index, with its platform."""
    described = {"architecture": platform.architecture, "os": platform.os}
    if platform.variant:
        described["variant"] = platform.variant
    return {
        **descriptor(MANIFEST_TYPE, digest_of(manifest_bytes), len(manifest_bytes)),
        "platform": described,
    }


def docker_manifest(images: list[tuple[bytes, list[tuple[str, int]]]]) -> bytes:
    """`docker load`'s manifest.json: the same blobs, no tags; one entry per image."""
    return canonical_json(
        [
            {
                "Config": image_archive.blob(digest_of(config)),
                "RepoTags": None,
                "Layers": [image_archive.blob(digest) for digest, _ in layers],
            }
            for config, layers in images
        ]
    )


def member(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    return info


def add_bytes(archive: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    archive.addfile(member(name, len(data), mtime), io.BytesIO(data))


def write(saved: image_archive.SavedImage, target: Path, mtime: int) -> Written:
    """Write the saved image as an OCI layout archive (plus manifest.json) to target."""
    with tempfile.TemporaryDirectory(prefix="ner-app-oci-", dir=target.parent) as tmp:
        return _write_one(_LayoutImage.of(saved, Path(tmp)), target, mtime)


def write_layers(
    config: bytes, layers: list[tuple[str, Path]], target: Path, mtime: int
) -> Written:
    """Write a config and its uncompressed layer files (diff ID, path; bottom first) as an OCI
    layout archive (plus manifest.json) to target."""
    return _write_one(_LayoutImage(config, manifest(config, _sizes(layers)), layers), target, mtime)


def _write_one(image: _LayoutImage, target: Path, mtime: int) -> Written:
    _write_archive(target, index(image.manifest), [image], {}, mtime)
    return image.written(target)


def manifest_digest_of(target: Path) -> str:
    """The digest of the one manifest an archive this module wrote names in its index.json."""
    with tarfile.open(target) as archive:
        found = archive.extractfile("index.json")
        if found is None:
            raise CheckFailed(f"{target} has no index.json: it is not an OCI layout archive.")
        manifests: list[dict[str, Any]] = json.loads(found.read())["manifests"]
    return str(manifests[0]["digest"])


def write_platforms(
    images: dict[Platform, image_archive.SavedImage], target: Path, mtime: int, ref_name: str
) -> WrittenIndex:
    """Write one image per platform as a multi-platform OCI layout archive named ref_name (a
    tag, e.g. 0.1.0); `docker load` of it loads every platform's image, untagged."""
    with tempfile.TemporaryDirectory(prefix="ner-app-oci-", dir=target.parent) as tmp:
        written = {
            platform: _LayoutImage.of(saved, Path(tmp) / platform.architecture)
            for platform, saved in sorted(images.items())
        }
        nested = image_index(
            [platform_descriptor(image.manifest, platform) for platform, image in written.items()]
        )
        top = {**descriptor(INDEX_TYPE, digest_of(nested), len(nested))}
        top["annotations"] = {REF_NAME: ref_name}
        blobs = {digest_of(nested): nested}
        _write_archive(target, image_index([top]), list(written.values()), blobs, mtime)
    return WrittenIndex(
        digest_of(nested),
        {str(platform): image.written(target) for platform, image in written.items()},
        target.stat().st_size,
    )


@dataclass(frozen=True)
class _LayoutImage:
    """One image's config, manifest and uncompressed layer files, ready to be archived."""

    config: bytes
    manifest: bytes
    layers: list[tuple[str, Path]]

    @classmethod
    def of(cls, saved: image_archive.SavedImage, folder: Path) -> _LayoutImage:
        folder.mkdir(parents=True, exist_ok=True)
        config = saved.config_bytes
        layers = _uncompressed_layers(saved, folder, saved.config["rootfs"]["diff_ids"])
        return cls(config, manifest(config, _sizes(layers)), layers)

    def written(self, target: Path) -> Written:
        return Written(digest_of(self.config), digest_of(self.manifest), target.stat().st_size)


def _sizes(layers: list[tuple[str, Path]]) -> list[tuple[str, int]]:
    return [(digest, path.stat().st_size) for digest, path in layers]


def _write_archive(
    target: Path, top: bytes, images: list[_LayoutImage], blobs: dict[str, bytes], mtime: int
) -> None:
    """The archive: oci-layout, index.json (top), manifest.json, then every blob once, sorted."""
    for image in images:
        blobs = {**blobs, digest_of(image.config): image.config}
        blobs[digest_of(image.manifest)] = image.manifest
    files = {digest: path for image in images for digest, path in image.layers}
    loadable = docker_manifest([(image.config, _sizes(image.layers)) for image in images])
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as archive:
        add_bytes(archive, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}', mtime)
        add_bytes(archive, "index.json", top, mtime)
        add_bytes(archive, "manifest.json", loadable, mtime)
        for digest in sorted({*blobs, *files}):
            name = image_archive.blob(digest)
            if digest in blobs:
                add_bytes(archive, name, blobs[digest], mtime)
            else:
                with files[digest].open("rb") as stream:
                    archive.addfile(member(name, files[digest].stat().st_size, mtime), stream)


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
        found = digest_of_file(path)
        if found != expected:
            raise CheckFailed(
                f"{saved.path}: layer {position} is {found}, but the config says {expected}; "
                "save the image again."
            )
        layers.append((found, path))
    return layers
