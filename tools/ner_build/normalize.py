"""Make a built image independent of when it was built, as BuildKit >= 0.13 does with
`rewrite-timestamp`: every layer entry's mtime is clamped to SOURCE_DATE_EPOCH, and the
config's `created` and history times are set to it. Docker 20.10's BuildKit (0.8) can do
neither, so the image is rewritten as a `docker save` archive and loaded again.

Layers are rewritten member by member in their original order; content, modes, owners, links,
whiteouts and extended attributes are kept. Equal inputs give byte-identical layers, so the
image ID depends only on the files and the epoch.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from ner_build.docker import Docker

PAX_TIMES = ("mtime", "atime", "ctime")


def iso(epoch: int) -> str:
    """The epoch as an image config writes times: 2026-11-26T21:16:14Z."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clamp_layer(source: BinaryIO, target: BinaryIO, epoch: int) -> str:
    """Copy a layer tar with mtimes clamped to the epoch; return the new diff ID."""
    digest = _HashingWriter(target)
    with (
        tarfile.open(fileobj=source, mode="r|") as old,
        tarfile.open(fileobj=cast(BinaryIO, digest), mode="w|", format=tarfile.PAX_FORMAT) as new,
    ):
        for member in old:
            member.mtime = min(int(member.mtime), epoch)
            member.pax_headers = {k: v for k, v in member.pax_headers.items() if k not in PAX_TIMES}
            new.addfile(member, old.extractfile(member) if member.isfile() else None)
    return "sha256:" + digest.hexdigest()


def layer_epoch(source: BinaryIO, ceiling: int) -> int:
    """The newest mtime among the layer's regular files (whiteouts aside), at most the ceiling.

    A build sets its files' times explicitly (the lock's or the commit's time), but a layer
    also holds directories and whiteouts stamped when the layer was first built, which may
    be a cached build from before the commit. Clamping those to the layer's own newest file
    time makes a cached and a clean build of the same commit agree.
    """
    newest: int | None = None
    with tarfile.open(fileobj=source, mode="r|") as layer:
        for member in layer:
            if member.isfile() and not member.name.rsplit("/", 1)[-1].startswith(".wh."):
                newest = max(newest or 0, int(member.mtime))
    return ceiling if newest is None else min(newest, ceiling)


class _HashingWriter:
    """A write-only file that hashes what passes through it."""

    def __init__(self, target: BinaryIO) -> None:
        self._target, self._hash = target, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        return self._target.write(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def normalized_config(config: dict[str, Any], diff_ids: list[str], epoch: int) -> dict[str, Any]:
    created = iso(epoch)
    history = [{**step, "created": created} for step in config.get("history", [])]
    rootfs = {**config["rootfs"], "diff_ids": diff_ids}
    return {**config, "created": created, "history": history, "rootfs": rootfs}


def normalize_archive(
    saved: Path, out: Path, epoch: int, tags: list[str], keep_layers: int = 0
) -> str:
    """Rewrite a single-image `docker save` archive; return the new image ID.

    The first keep_layers layers (the base image's) are kept byte for byte; each layer above
    is clamped to its own layer_epoch, at most the epoch.
    """
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp, tarfile.open(saved) as archive:
        manifest = json.load(archive_member(archive, "manifest.json"))[0]
        config = json.load(archive_member(archive, manifest["Config"]))
        layers, diff_ids = [], []
        for index, name in enumerate(manifest["Layers"]):
            layer = Path(tmp, f"{index}.tar")
            with layer.open("wb") as target:
                if index < keep_layers:
                    shutil.copyfileobj(archive_member(archive, name), target)
                    diff_ids.append(config["rootfs"]["diff_ids"][index])
                else:
                    ceiling = layer_epoch(archive_member(archive, name), epoch)
                    diff_ids.append(clamp_layer(archive_member(archive, name), target, ceiling))
            layers.append(layer)
        config_bytes = json.dumps(normalized_config(config, diff_ids, epoch)).encode()
        config_id = hashlib.sha256(config_bytes).hexdigest()
        _write_archive(out, config_id, config_bytes, layers, diff_ids, tags)
    return f"sha256:{config_id}"


def _write_archive(
    out: Path,
    config_id: str,
    config: bytes,
    layers: list[Path],
    diff_ids: list[str],
    tags: list[str],
) -> None:
    names = [f"{diff_id.removeprefix('sha256:')}/layer.tar" for diff_id in diff_ids]
    manifest = [{"Config": f"{config_id}.json", "RepoTags": tags, "Layers": names}]
    with tarfile.open(out, "w") as archive:
        _add(archive, f"{config_id}.json", config)
        for name, layer in zip(names, layers, strict=True):
            archive.add(layer, arcname=name)
        _add(archive, "manifest.json", json.dumps(manifest).encode())


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def archive_member(archive: tarfile.TarFile, name: str) -> BinaryIO:
    """A file inside a `docker save` archive, as a stream."""
    stream = archive.extractfile(name)
    if stream is None:
        raise ValueError(f"{name} is not a file in the image archive")
    return stream  # type: ignore[return-value]


def normalize_image(
    docker: Docker, image_id: str, epoch: int, tags: list[str], workdir: Path, keep_layers: int = 0
) -> str:
    """Replace the image with its normalized copy, tagged with tags; return the new ID."""
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        saved, out = Path(tmp, "saved.tar"), Path(tmp, "normalized.tar")
        docker.stream("save", "--output", str(saved), image_id)
        new_id = normalize_archive(saved, out, epoch, tags, keep_layers)
        saved.unlink()
        docker.stream("load", "--quiet", "--input", str(out))
    if new_id != image_id:
        docker.run("image", "rm", "--no-prune", image_id)
    return new_id
