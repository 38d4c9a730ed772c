"""The one image in an archive: read what `docker save` or `podman save` wrote, in either
format, and write the docker-archive every engine's `load` reads (`write`).

- docker-archive: `manifest.json` names the config and each layer's tar (Docker 20.10, Podman).
- OCI image layout: `index.json` -> manifest -> config and layer blobs (Docker >= 25 writes it,
  with a `manifest.json` beside it; skopeo and `podman save --format oci-archive` write only it).

Layers may be uncompressed or gzip-compressed (the containerd image store, OCI archives);
`open_layer` gives the uncompressed tar either way. zstd is refused with a clear message.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import shutil
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from ner_build.digest import digest_of
from ner_build.errors import CheckFailed

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


@dataclass(frozen=True)
class SavedImage:
    """Where the config and the layers are inside the archive."""

    path: Path
    config_name: str
    layer_names: list[str]

    @property
    def config_bytes(self) -> bytes:
        with tarfile.open(self.path) as archive:
            return member(archive, self.config_name).read()

    @property
    def config(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.config_bytes)
        return loaded

    @contextlib.contextmanager
    def open_layer(self, index: int) -> Iterator[IO[bytes]]:
        """The index-th layer as an uncompressed tar stream."""
        with tarfile.open(self.path) as archive:
            raw = member(archive, self.layer_names[index])
            with decompressed(raw, self.layer_names[index]) as stream:
                yield stream

    def copy_layer(self, index: int, target: Path) -> None:
        """Write the index-th layer, uncompressed, to a file (for random access)."""
        with self.open_layer(index) as stream, target.open("wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)


def read(path: Path) -> SavedImage:
    """The image in a saved archive; CheckFailed when it is not one, or holds several."""
    try:
        with tarfile.open(path) as archive:
            names = set(archive.getnames())
            if "manifest.json" in names:
                return _docker_archive(path, archive)
            if "index.json" in names:
                return _oci_layout(path, archive)
    except (tarfile.TarError, OSError, json.JSONDecodeError, KeyError) as error:
        raise CheckFailed(f"{path} is not a readable image archive: {error}") from None
    raise CheckFailed(
        f"{path} is neither a docker-archive (manifest.json) nor an OCI layout (index.json)."
    )


def _docker_archive(path: Path, archive: tarfile.TarFile) -> SavedImage:
    manifests = json.load(member(archive, "manifest.json"))
    _one(manifests, path)
    return SavedImage(path, manifests[0]["Config"], list(manifests[0]["Layers"]))


def _oci_layout(path: Path, archive: tarfile.TarFile) -> SavedImage:
    descriptor: dict[str, Any] = json.load(member(archive, "index.json"))
    while "manifests" in descriptor:  # an index (maybe nested): it must hold one image
        _one(descriptor["manifests"], path)
        descriptor = descriptor["manifests"][0]
        if descriptor.get("mediaType") in INDEX_TYPES or "layers" not in descriptor:
            descriptor = json.load(member(archive, blob(descriptor["digest"])))
    return SavedImage(
        path,
        blob(descriptor["config"]["digest"]),
        [blob(layer["digest"]) for layer in descriptor["layers"]],
    )


def _one(entries: list[Any], path: Path) -> None:
    if len(entries) != 1:
        raise CheckFailed(
            f"{path} holds {len(entries)} images; save exactly one (`docker save IMAGE`)."
        )


def blob(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def member(archive: tarfile.TarFile, name: str) -> IO[bytes]:
    """A file inside the archive, as a stream."""
    stream = archive.extractfile(name)
    if stream is None:
        raise CheckFailed(f"{name} is not a file in the image archive")
    return stream


@contextlib.contextmanager
def decompressed(stream: IO[bytes], name: str) -> Iterator[IO[bytes]]:
    """The stream itself when it is a plain tar, else gunzipped."""
    magic = stream.read(4)
    stream.seek(0)
    if magic.startswith(GZIP_MAGIC):
        with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
            yield cast(IO[bytes], unzipped)
    elif magic == ZSTD_MAGIC:
        raise CheckFailed(
            f"Layer {name} is zstd-compressed, which these tools cannot read yet; save the image "
            "from an engine without zstd layers (e.g. without the containerd image store)."
        )
    else:
        yield stream


def write(
    out: Path,
    config: bytes,
    layers: Sequence[Path | None],
    diff_ids: Sequence[str],
    tags: Sequence[str],
    mtime: int = 0,
) -> str:
    """Write a docker-archive of the config and the layers (uncompressed tars, each named by its
    diff ID), which `docker load` (20.10 and later) and `podman load` all read; return the image
    ID it loads as. Every member is root's, mode 0644, with the given mtime.

    A layer given as None is named in the manifest but left out: Docker's `load` takes a layer
    it already holds (the same diff IDs below it) from its store without reading the file;
    Podman refuses such an archive."""
    image_id = digest_of(config)
    config_name = f"{image_id.removeprefix('sha256:')}.json"
    names = [f"{diff_id.removeprefix('sha256:')}/layer.tar" for diff_id in diff_ids]
    manifest = json.dumps([{"Config": config_name, "RepoTags": list(tags), "Layers": names}])
    with tarfile.open(out, "w") as archive:
        _add(archive, config_name, io.BytesIO(config), len(config), mtime)
        for name, layer in zip(names, layers, strict=True):
            if layer is None:
                continue
            with layer.open("rb") as stream:
                _add(archive, name, stream, layer.stat().st_size, mtime)
        _add(archive, "manifest.json", io.BytesIO(manifest.encode()), len(manifest), mtime)
    return image_id


def _add(archive: tarfile.TarFile, name: str, stream: IO[bytes], size: int, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, mtime
    archive.addfile(info, stream)
