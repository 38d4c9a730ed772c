"""Compare two images as `docker save` archives: IDs, configs and every layer's files.

`python -m ner_build.compare IMAGE_A IMAGE_B` prints the differences and exits 1 if any.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ner_build import console
from ner_build.docker import Docker
from ner_build.normalize import archive_member

TIME_KEYS = ("created",)
KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "fifo",
}


@dataclass(frozen=True)
class Entry:
    """What decides whether a file in a layer is the same: content, mode, owner, mtime."""

    kind: str
    mode: int
    owner: tuple[int, int]
    mtime: int
    content: str


@dataclass
class Difference:
    """A layer's paths that differ, by the attributes that differ."""

    layer: int
    paths: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Image:
    image_id: str
    config: dict[str, Any]
    layers: list[dict[str, Entry]]


def entries(layer: tarfile.TarFile) -> dict[str, Entry]:
    """Every member of a layer tar, keyed by path."""
    found: dict[str, Entry] = {}
    for member in layer:
        if member.isfile():
            stream = layer.extractfile(member)
            content = hashlib.sha256(stream.read() if stream else b"").hexdigest()
        else:
            content = member.linkname
        kind = KINDS.get(member.type, member.type.decode(errors="replace"))
        found[member.name] = Entry(
            kind, member.mode, (member.uid, member.gid), int(member.mtime), content
        )
    return found


def read_saved(archive: Path) -> Image:
    """Config and layers of the single image in a `docker save` archive."""
    with tarfile.open(archive) as saved:
        manifest = json.load(archive_member(saved, "manifest.json"))[0]
        config = json.load(archive_member(saved, manifest["Config"]))
        layers = []
        for name in manifest["Layers"]:
            with tarfile.open(fileobj=archive_member(saved, name)) as layer:
                layers.append(entries(layer))
    image_id = "sha256:" + manifest["Config"].split("/")[-1].removesuffix(".json")
    return Image(image_id, config, layers)


def without_times(config: dict[str, Any]) -> dict[str, Any]:
    """The config with its creation times (top level and history) taken out."""
    stripped = {k: v for k, v in config.items() if k not in TIME_KEYS}
    stripped["history"] = [
        {k: v for k, v in step.items() if k not in TIME_KEYS} for step in config.get("history", [])
    ]
    return stripped


def layer_differences(a: dict[str, Entry], b: dict[str, Entry], index: int) -> Difference:
    difference = Difference(index)
    for path in sorted(a.keys() | b.keys()):
        left, right = a.get(path), b.get(path)
        if left is None or right is None:
            difference.paths[path] = ["only in " + ("second" if left is None else "first")]
        elif left != right:
            difference.paths[path] = [
                name
                for name in ("kind", "content", "mode", "owner", "mtime")
                if getattr(left, name) != getattr(right, name)
            ]
    return difference


def compare(a: Image, b: Image) -> Iterator[str]:
    """Lines describing every difference between the two images (none when identical)."""
    if a.image_id != b.image_id:
        yield f"image ID: {a.image_id} != {b.image_id}"
    if a.config != b.config:
        with_times = "config differs"
        same_otherwise = without_times(a.config) == without_times(b.config)
        yield with_times + (" only in its timestamps" if same_otherwise else ", beyond timestamps")
    diff_ids = (a.config["rootfs"]["diff_ids"], b.config["rootfs"]["diff_ids"])
    if len(diff_ids[0]) != len(diff_ids[1]):
        yield f"layer count: {len(diff_ids[0])} != {len(diff_ids[1])}"
    for index, (left, right) in enumerate(zip(a.layers, b.layers, strict=False)):
        if diff_ids[0][index] == diff_ids[1][index]:
            continue
        yield f"layer {index}: {diff_ids[0][index]} != {diff_ids[1][index]}"
        for path, what in layer_differences(left, right, index).paths.items():
            yield f"  {path}: {', '.join(what)}"


def save(docker: Docker, ref: str, folder: Path) -> Path:
    archive = folder / (hashlib.sha256(ref.encode()).hexdigest()[:12] + ".tar")
    docker.stream("save", "--output", str(archive), ref)
    return archive


def command(first: str, second: str, docker: Docker) -> int:
    with tempfile.TemporaryDirectory(prefix="ner-app-compare-") as tmp:
        a, b = (read_saved(save(docker, ref, Path(tmp))) for ref in (first, second))
    lines = list(compare(a, b))
    print("\n".join(lines) if lines else f"identical: {a.image_id}")
    return 1 if lines else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ner_build.compare", description=__doc__)
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--docker", default=os.environ.get("DOCKER", "docker"), help="[DOCKER]")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    docker = Docker.from_string(args.docker)
    return console.run_main(lambda: command(args.first, args.second, docker))


if __name__ == "__main__":
    sys.exit(main())
