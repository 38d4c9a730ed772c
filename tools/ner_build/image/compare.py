"""Compare two images as saved archives: IDs, config fields, every layer's files and encoding.

`python -m ner_build.image.compare IMAGE_A IMAGE_B` prints the differences and exits 1 if any.
IMAGE_B may be in another engine: `--second-docker 'podman'`. Two layers with different
digests always get a reason: the paths whose kind, content, mode, owner, mtime or extended
attributes differ, or else how their tar encoding differs (member order, file-type bits in the
mode, user and group names, PAX records). The image ID compared is the config's digest, read
from the saved archives, on every engine and store; an image in Docker's containerd image store
is named by its manifest digest (`docker image inspect`'s Id) and saved by that name.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ner_build import console
from ner_build.digest import digest_of
from ner_build.engine.docker import Docker
from ner_build.image import archive as image_archive
from ner_build.image import normalize

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


ATTRIBUTES = ("kind", "content", "mode", "owner", "mtime", "xattrs")
MAX_CONFIG_LINES = 20


@dataclass(frozen=True)
class Encoding:
    """How a member is written, beyond what it holds: none of this reaches a container."""

    position: int
    mode_type_bits: int
    names: tuple[str, str]
    pax_keys: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    """What decides whether a file in a layer is the same: content, mode, owner, mtime, xattrs."""

    kind: str
    mode: int
    owner: tuple[int, int]
    mtime: int
    content: str
    xattrs: tuple[tuple[str, str], ...] = ()
    encoding: Encoding | None = field(default=None, compare=False)


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
    """Every member of a layer tar, keyed by path (without ./ and a trailing /)."""
    found: dict[str, Entry] = {}
    for position, member in enumerate(layer):
        if member.isfile():
            stream = layer.extractfile(member)
            content = hashlib.sha256(stream.read() if stream else b"").hexdigest()
        else:
            content = member.linkname
        kind = KINDS.get(member.type, member.type.decode(errors="replace"))
        xattrs = tuple(sorted((k, v) for k, v in member.pax_headers.items() if ".xattr." in k))
        other_pax = tuple(sorted(k for k in member.pax_headers if ".xattr." not in k))
        encoding = Encoding(
            position, member.mode & ~0o7777, (member.uname, member.gname), other_pax
        )
        found[normalize.clean_name(member.name)] = Entry(
            kind, member.mode & 0o7777, (member.uid, member.gid), int(member.mtime), content,
            xattrs, encoding,
        )  # fmt: skip
    return found


def read_saved(archive: Path) -> Image:
    """Config and layers of the single image in a saved archive (docker-archive or OCI)."""
    saved = image_archive.read(archive)
    config_bytes = saved.config_bytes
    layers = []
    for index in range(len(saved.layer_names)):
        with saved.open_layer(index) as stream, tarfile.open(fileobj=stream, mode="r|") as layer:
            layers.append(entries(layer))
    image_id = digest_of(config_bytes)
    return Image(image_id, json.loads(config_bytes), layers)


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
                name for name in ATTRIBUTES if getattr(left, name) != getattr(right, name)
            ]
    return difference


def encoding_differences(a: dict[str, Entry], b: dict[str, Entry]) -> list[str]:
    """How two layers holding the same entries are written differently."""
    shared = [(a[p].encoding, b[p].encoding) for p in sorted(a.keys() & b.keys())]
    pairs = [(x, y) for x, y in shared if x is not None and y is not None]
    checks: dict[str, Callable[[Encoding, Encoding], bool]] = {
        "member positions": lambda x, y: x.position != y.position,
        "file-type bits in the mode field": lambda x, y: x.mode_type_bits != y.mode_type_bits,
        "user/group names": lambda x, y: x.names != y.names,
        "PAX records (times, paths)": lambda x, y: x.pax_keys != y.pax_keys,
    }
    found = []
    for what, differs in checks.items():
        count = sum(differs(x, y) for x, y in pairs)
        if count:
            found.append(f"{what} differ on {count} of {len(pairs)} paths")
    return found


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A config as {"config.Env[0]": "PATH=...", ...}, for naming the fields that differ."""
    if isinstance(value, dict) and value:
        return {
            k: v for key, item in value.items() for k, v in flatten(item, f"{prefix}.{key}").items()
        }
    if isinstance(value, list) and value:
        return {
            k: v for i, item in enumerate(value) for k, v in flatten(item, f"{prefix}[{i}]").items()
        }
    return {prefix.lstrip("."): value}


def config_differences(a: dict[str, Any], b: dict[str, Any]) -> Iterator[str]:
    """The config fields that differ; the layers' digests are reported with their layers."""
    left, right = (
        {k: v for k, v in flatten(c).items() if not k.startswith("rootfs.diff_ids")} for c in (a, b)
    )
    lines = []
    for key in sorted(left.keys() | right.keys()):
        if key not in right:
            lines.append(f"  {key}: only in first")
        elif key not in left:
            lines.append(f"  {key}: only in second")
        elif left[key] != right[key]:
            lines.append(f"  {key}: {json.dumps(left[key])} != {json.dumps(right[key])}")
    yield from lines[:MAX_CONFIG_LINES]
    if len(lines) > MAX_CONFIG_LINES:
        yield f"  ... and {len(lines) - MAX_CONFIG_LINES} more config fields"


def compare(a: Image, b: Image) -> Iterator[str]:
    """Lines describing every difference between the two images (none when identical)."""
    if a.image_id != b.image_id:
        yield f"image ID: {a.image_id} != {b.image_id}"
    if a.config != b.config:
        with_times = "config differs"
        same_otherwise = without_times(a.config) == without_times(b.config)
        yield with_times + (" only in its timestamps" if same_otherwise else ", beyond timestamps")
        yield from config_differences(a.config, b.config)
    diff_ids = (a.config["rootfs"]["diff_ids"], b.config["rootfs"]["diff_ids"])
    if len(diff_ids[0]) != len(diff_ids[1]):
        yield f"layer count: {len(diff_ids[0])} != {len(diff_ids[1])}"
    for index, (left, right) in enumerate(zip(a.layers, b.layers, strict=False)):
        if diff_ids[0][index] == diff_ids[1][index]:
            continue
        yield f"layer {index}: {diff_ids[0][index]} != {diff_ids[1][index]}"
        paths = layer_differences(left, right, index).paths
        for path, what in paths.items():
            yield f"  {path}: {', '.join(what)}"
        encoding = encoding_differences(left, right)
        if encoding or not paths:
            yield "  encoding: " + "; ".join(encoding or ["tar headers or padding only"])


def save(docker: Docker, ref: str, folder: Path) -> Path:
    archive = folder / (hashlib.sha256(f"{docker} {ref}".encode()).hexdigest()[:12] + ".tar")
    docker.save(ref, archive)
    return archive


def compare_images(first: tuple[Docker, str], second: tuple[Docker, str]) -> list[str]:
    """The differences between two images, each in its engine (none: identical)."""
    with tempfile.TemporaryDirectory(prefix="ner-app-compare-") as tmp:
        a, b = (read_saved(save(docker, ref, Path(tmp))) for docker, ref in (first, second))
    return list(compare(a, b))


def command(first: str, second: str, docker: Docker, second_docker: Docker) -> int:
    lines = compare_images((docker, first), (second_docker, second))
    print("\n".join(lines) if lines else f"identical: {first} and {second}")
    return 1 if lines else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ner_build.image.compare", description=__doc__)
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--docker", default=os.environ.get("DOCKER", "docker"), help="[DOCKER]")
    parser.add_argument(
        "--second-docker", help="the client of the engine holding SECOND (default: --docker)"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    docker = Docker.from_string(args.docker)
    second = Docker.from_string(args.second_docker) if args.second_docker else docker
    return console.run_main(lambda: command(args.first, args.second, docker, second))


if __name__ == "__main__":
    sys.exit(main())
