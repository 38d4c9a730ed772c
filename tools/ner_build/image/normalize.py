"""The canonical image: the same files give the same image ID on every engine.

Docker 20.10 (BuildKit 0.8), Docker >= 23 (buildx, BuildKit >= 0.13) and Podman (buildah) build
the same files from the same Dockerfile but write them differently: tar headers, member order,
times, mount points left behind, empty layers and config fields. After every build the image is
saved, every layer above the base is rewritten in one encoding, the config in one form, and the
result is loaded back. What each rule drops or merges, and why no app can see it, is in RULES;
tests/unit/build_tools/test_normalize.py proves each one.
"""

from __future__ import annotations

import hashlib
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from ner_build import console
from ner_build.digest import canonical_json, from_hex
from ner_build.engine.docker import Docker, common_bottom
from ner_build.errors import CheckFailed
from ner_build.image import archive as image_archive
from ner_build.image import oci_layout
from ner_build.image.layer_store import LayerStore, RawFacts, StoredLayer

RULES = {
    "encoding": "Each layer above the base is written as a PAX tar with members sorted by path, "
    "names without './' or '/', modes without file-type bits, empty user and group names, no "
    "access or change times and, of the PAX records, only extended attributes (SCHILY.xattr.*). "
    "Files, modes, owners, link targets and extended attributes are kept.",
    "times": "Every mtime is clamped to the layer's newest regular file (at most the commit time), "
    "so times stamped by the build itself (directories, whiteouts) do not depend on when it ran.",
    "hard links": "A group of hard links is written with its first path (in sorted order) as "
    "the file and the others linking to it: the same inode either way.",
    "whiteouts": "Whiteout markers (.wh.*) get mode 0, owner 0:0 and the layer's time: an engine "
    "reads only their names.",
    "mount points": "etc/hosts, etc/hostname, etc/resolv.conf and run/.containerenv (Podman's "
    "RUN mount points) are dropped, as are the directories run and run/secrets when nothing in "
    "the layer is inside them: every engine mounts its own files there when a container starts.",
    "empty layers": "A layer with no entries (BuildKit 0.8 makes one for WORKDIR) is dropped "
    "with its history entry: it adds nothing to the file system.",
    "config": "The config keeps architecture, os (and variant), config, rootfs and history. "
    "Engine bookkeeping (container, container_config, parent, docker_version) and empty values "
    "(false, '', [], {}, null, e.g. Podman's Cmd [] beside an ENTRYPOINT) are dropped, as is "
    "the io.buildah.version label, and Hostname, Domainname and Image in the container config "
    "(left by the builder's last step container; `run` sets its own). Env is ordered by name "
    "(each name once).",
    "history": "The base image's history is kept up to its last layer; above it, one entry per "
    "layer, since each engine words its steps differently. Every time is the commit time.",
}
MOUNT_POINT_FILES = frozenset({"etc/hosts", "etc/hostname", "etc/resolv.conf", "run/.containerenv"})
MOUNT_POINT_DIRS = frozenset({"run", "run/secrets"})
ENGINE_LABELS = frozenset({"io.buildah.version"})
# Set by the engine that ran the build's last step; `run` sets its own for every container.
ENGINE_RUN_CONFIG = frozenset({"Hostname", "Domainname", "Image"})
CONFIG_KEYS = ("architecture", "os", "variant", "os.version", "os.features", "author")
XATTR_PREFIX = "SCHILY.xattr."
WHITEOUT_PREFIX = ".wh."
CANONICAL_TYPES = {tarfile.AREGTYPE: tarfile.REGTYPE, tarfile.CONTTYPE: tarfile.REGTYPE}
DEVICES = (tarfile.CHRTYPE, tarfile.BLKTYPE)


def iso(epoch: int) -> str:
    """The epoch as an image config writes times: 2026-11-26T21:16:14Z."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clean_name(name: str) -> str:
    while name.startswith(("./", "/")):
        name = name[2:] if name.startswith("./") else name[1:]
    return name.rstrip("/")


def is_whiteout(name: str) -> bool:
    return name.rsplit("/", 1)[-1].startswith(WHITEOUT_PREFIX)


def kept_members(layer: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    """The layer's members by clean name (the last of duplicates), mount points dropped."""
    members: dict[str, tarfile.TarInfo] = {}
    for member in layer.getmembers():
        name = clean_name(member.name)
        if name and name not in MOUNT_POINT_FILES:
            members[name] = member
    for directory in MOUNT_POINT_DIRS & members.keys():
        if not any(name.startswith(directory + "/") for name in members):
            del members[directory]
    return members


def layer_epoch(members: Iterable[tuple[str, tarfile.TarInfo]], ceiling: int) -> int:
    """The newest mtime among the layer's regular files (whiteouts aside), at most the ceiling.

    A build sets its files' times explicitly (the lock's or the commit's time), but a layer
    also holds directories and whiteouts stamped when the layer was first built, which may
    be a cached build from before the commit. Clamping those to the layer's own newest file
    time makes a cached and a clean build of the same commit agree.
    """
    return RawFacts(newest_file_time(members), empty=False).epoch(ceiling)


def newest_file_time(members: Iterable[tuple[str, tarfile.TarInfo]]) -> int | None:
    """The newest mtime among the regular files (whiteouts aside); None when there is none."""
    times = [int(m.mtime) for name, m in members if m.isfile() and not is_whiteout(name)]
    return max(times) if times else None


def hardlink_leaders(members: dict[str, tarfile.TarInfo]) -> dict[str, str]:
    """For every path in a hard-link group, the group's first path in sorted order."""
    groups: dict[str, list[str]] = {}
    for name, member in members.items():
        if member.islnk():
            groups.setdefault(clean_name(member.linkname), []).append(name)
    leaders: dict[str, str] = {}
    for target, links in groups.items():
        if target not in members:  # a link to a file in a lower layer: kept as it is
            continue
        group = sorted({target, *links} & members.keys())
        leaders.update(dict.fromkeys(group, group[0]))
    return leaders


def canonical_info(name: str, member: tarfile.TarInfo, epoch: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = CANONICAL_TYPES.get(member.type, member.type)
    info.uname = info.gname = ""
    if is_whiteout(name):
        info.mode, info.uid, info.gid, info.mtime = 0, 0, 0, epoch
        return info
    info.mode, info.uid, info.gid = member.mode & 0o7777, member.uid, member.gid
    info.mtime = min(int(member.mtime), epoch)
    info.size = member.size if info.isfile() else 0
    info.linkname = member.linkname if member.issym() else clean_name(member.linkname)
    if member.type in DEVICES:
        info.devmajor, info.devminor = member.devmajor, member.devminor
    xattrs = {k: v for k, v in member.pax_headers.items() if k.startswith(XATTR_PREFIX)}
    info.pax_headers = dict(sorted(xattrs.items()))
    return info


def write_canonical_layer(layer: tarfile.TarFile, target: BinaryIO, ceiling: int) -> str | None:
    """Write the layer in the canonical encoding; return its diff ID, or None when it is empty."""
    members = kept_members(layer)
    if not members:
        return None
    epoch = layer_epoch(members.items(), ceiling)
    leaders = hardlink_leaders(members)
    digest = _HashingWriter(target)
    with tarfile.open(fileobj=cast(BinaryIO, digest), mode="w|", format=tarfile.PAX_FORMAT) as out:
        for name in sorted(members, key=lambda n: n.encode()):
            leader = leaders.get(name)
            if leader is not None and leader != name:
                info = canonical_info(name, members[name], epoch)
                info.type, info.size, info.linkname = tarfile.LNKTYPE, 0, leader
                out.addfile(info)
                continue
            source = members[name]
            if leader is not None and source.islnk():  # the leader carries the group's data
                source = members[clean_name(source.linkname)]
            info = canonical_info(name, source, epoch)
            out.addfile(info, layer.extractfile(source) if info.isfile() else None)
    return from_hex(digest.hexdigest())


class _HashingWriter:
    """A write-only file that hashes what passes through it."""

    def __init__(self, target: BinaryIO) -> None:
        self._target, self._hash = target, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        return self._target.write(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _pruned(value: Any) -> Any:
    """The value without empty entries (false, '', [], {}, null) in its dicts."""
    if isinstance(value, dict):
        pruned = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, False, "", [], {})}
    return value


def canonical_run_config(run_config: dict[str, Any]) -> dict[str, Any]:
    """The container config: empty values dropped, engine labels dropped, Env by name."""
    labels = {k: v for k, v in (run_config.get("Labels") or {}).items() if k not in ENGINE_LABELS}
    dropped = ENGINE_RUN_CONFIG | {"Labels"}
    settled = _pruned({k: v for k, v in run_config.items() if k not in dropped})
    env = dict(item.partition("=")[::2] for item in settled.get("Env", []))
    if env:
        settled["Env"] = [f"{k}={v}" for k, v in sorted(env.items())]
    if labels:
        settled["Labels"] = dict(sorted(labels.items()))
    return dict(sorted(settled.items()))


def base_history(history: list[dict[str, Any]], base_layers: int) -> list[dict[str, Any]]:
    """The history entries up to and including the base image's last layer."""
    if base_layers == 0:
        return []
    seen = 0
    for index, step in enumerate(history):
        seen += 0 if step.get("empty_layer") else 1
        if seen == base_layers:
            return history[: index + 1]
    return list(history)


def canonical_config(
    config: dict[str, Any], diff_ids: list[str], base_layers: int, epoch: int
) -> dict[str, Any]:
    """The config in canonical form for these layers (the first base_layers the base's)."""
    created = iso(epoch)
    history = [
        {**_pruned(step), "created": created}
        for step in base_history(config.get("history", []), base_layers)
    ]
    history += [
        {"created": created, "created_by": f"ner-app layer {n} (docker/Dockerfile, runtime stage)"}
        for n in range(base_layers + 1, len(diff_ids) + 1)
    ]
    canonical = {key: config[key] for key in CONFIG_KEYS if config.get(key)}
    return {
        **canonical,
        "config": canonical_run_config(config.get("config") or {}),
        "created": created,
        "history": history,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }


HeldLayers = Callable[[list[str]], int]


def nothing_held(diff_ids: list[str]) -> int:
    return 0


def normalize_archive(
    saved: Path,
    out: Path,
    epoch: int,
    tags: list[str],
    keep_layers: int = 0,
    store: LayerStore | None = None,
    held: HeldLayers = nothing_held,
    *,
    layout: bool = False,
) -> str:
    """Rewrite the image in a saved archive (either format) canonically; return its image ID.

    The first keep_layers layers (the base image's) are kept byte for byte; each layer above
    is written canonically, clamped to its own layer_epoch, at most the epoch, or found in the
    store when an earlier build wrote it. The archive leaves out the bottom layers held(diff
    IDs) says the engine that loads it holds already. With layout, out is an OCI layout
    archive (oci_layout.write_layers) with every layer and no tags, as the containerd image
    store loads it; else the docker-archive every engine's `load` reads.
    """
    image = image_archive.read(saved)
    raw_config = image.config  # read from the archive once
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        if store is None:
            store = LayerStore(Path(tmp, "store"), rules=rules_source(), reuse=False)
        raw_ids: list[str] = raw_config["rootfs"]["diff_ids"]
        diff_ids, files = canonical_layers(image, raw_ids, epoch, keep_layers, store, Path(tmp))
        config = canonical_config(raw_config, diff_ids, keep_layers, epoch)
        in_engine = 0 if layout else held(diff_ids)
        for index in range(in_engine, len(files)):
            if files[index] is None:  # a base layer the engine lacks: copied as it is
                files[index] = copied = Path(tmp, f"base-{index}.tar")
                image.copy_layer(index, copied)
        layers = [None] * in_engine + files[in_engine:]
        if layout:
            every = [(d, cast(Path, f)) for d, f in zip(diff_ids, layers, strict=True)]
            return oci_layout.write_layers(canonical_json(config), every, out, epoch).image_id
        return image_archive.write(out, canonical_json(config), layers, diff_ids, tags)


def canonical_layers(
    image: image_archive.SavedImage,
    raw_ids: list[str],
    epoch: int,
    keep_layers: int,
    store: LayerStore,
    tmp: Path,
) -> tuple[list[str], list[Path | None]]:
    """Each kept layer's canonical diff ID and file (None for a base layer, which stays in the
    saved archive until it is needed); empty layers are left out. raw_ids: the saved config's
    diff IDs."""
    diff_ids: list[str] = list(raw_ids[:keep_layers])
    files: list[Path | None] = [None] * keep_layers
    for index in range(keep_layers, len(image.layer_names)):
        layer = canonical_layer(image, index, raw_ids[index], epoch, store, tmp)
        if layer is not None:
            diff_ids.append(layer.diff_id)
            files.append(layer.path)
    return diff_ids, files


def canonical_layer(
    image: image_archive.SavedImage,
    index: int,
    raw_id: str,
    ceiling: int,
    store: LayerStore,
    tmp: Path,
) -> StoredLayer | None:
    """The index-th layer (raw diff ID raw_id) in canonical form, from the store or written now
    (and kept there); None when nothing is left of it."""
    facts = store.facts(raw_id)
    if facts is not None:
        found = None if facts.empty else store.get(raw_id, facts.epoch(ceiling))
        if facts.empty or found is not None:
            return found
    raw = Path(tmp, "raw.tar")
    image.copy_layer(index, raw)
    try:
        with tarfile.open(raw) as layer:
            members = kept_members(layer)
            facts = RawFacts(newest_file_time(members.items()), empty=not members)
            store.remember(raw_id, facts)
            if facts.empty:
                return None
            written = store.new_layer()
            with written.open("wb") as target:
                diff_id = write_canonical_layer(layer, target, ceiling)
    finally:
        raw.unlink()
    return store.put(raw_id, facts.epoch(ceiling), written, str(diff_id))


def rules_source() -> bytes:
    """What the store keys canonical layers by besides the raw layer and epoch: this module,
    whose code is the rules."""
    return Path(__file__).read_bytes()


class EngineLayers:
    """How many bottom layers of an image the engine holds, judged by the images refs name
    (those present): the longest common run of bottom layers with any of them."""

    def __init__(self, docker: Docker, refs: list[str]) -> None:
        self.docker, self.refs, self.held = docker, list(dict.fromkeys(refs)), 0

    def __call__(self, diff_ids: list[str]) -> int:
        self.held = max(
            (common_bottom(diff_ids, self._layers(ref)) for ref in self.refs), default=0
        )
        return self.held

    def _layers(self, ref: str) -> list[str]:
        try:
            return self.docker.layers(ref)
        except CheckFailed:  # not present (any more)
            return []


@dataclass(frozen=True)
class Canonical:
    """The canonical image loaded: its ID, the layers encoded now and reused from the store,
    and how many bottom layers the engine held (so the archive loaded left them out)."""

    image_id: str
    written: int
    reused: int
    held: int
    manifest_digest: str = ""  # what the containerd image store names it by ("" elsewhere)


def normalize_image(
    docker: Docker,
    image_id: str,
    epoch: int,
    tags: list[str],
    workdir: Path,
    keep_layers: int = 0,
    store: LayerStore | None = None,
) -> Canonical:
    """Replace the image with its canonical copy, tagged with tags.

    An engine that loads partial archives (Docker) gets only the layers it lacks; the built
    image holds the base's, the last build's tags may hold more. Should that load fail (an
    image removed meanwhile), the whole archive is loaded. The containerd image store gets the
    archive as an OCI layout, so that it names the image by the manifest we wrote (given a
    docker-archive, it makes up a manifest of its own).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    store = store or LayerStore(workdir / "canonical-layers", rules_source(), reuse=False)
    engine = EngineLayers(docker, [image_id, *tags])
    by_manifest = docker.names_by_manifest
    partial = docker.engine.loads_partial_archives and not by_manifest
    manifest = ""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        saved, out = Path(tmp, "saved.tar"), Path(tmp, "canonical.tar")
        docker.save(image_id, saved)
        held = engine if partial else nothing_held
        new_id = normalize_archive(
            saved, out, epoch, tags, keep_layers, store, held, layout=by_manifest
        )
        written, reused = store.written, store.reused  # a retry below would count its hits again
        console.step(f"canonical form: {store.written} layer(s) written, {store.reused} reused; "
             f"the engine holds the bottom {engine.held}, the rest is loaded")  # fmt: skip
        if by_manifest:
            manifest = load_by_manifest(docker, out, tags)
        else:
            load_partial(docker, out, lambda: normalize_archive(
                saved, out, epoch, tags, keep_layers, store), engine)  # fmt: skip
    store.prune()
    if new_id != image_id:
        docker.remove_image(image_id)
    return Canonical(new_id, written, reused, engine.held, manifest)


def load_partial(docker: Docker, out: Path, whole: Callable[[], str], engine: EngineLayers) -> None:
    """Load the archive; should the engine refuse it (a held layer gone meanwhile), write it
    whole and load that."""
    loaded = docker.run("load", "--quiet", "--input", str(out))
    if loaded.returncode:
        console.step(f"loading the new layers failed ({loaded.stderr.strip()}): loading them all")
        whole()
        engine.held = 0
        docker.load(out)


def load_by_manifest(docker: Docker, layout: Path, tags: list[str]) -> str:
    """The canonical OCI layout archive loaded and tagged; its manifest's digest, which the
    containerd image store names it by."""
    manifest = oci_layout.manifest_digest_of(layout)
    docker.load(layout)
    docker.tag(manifest, tags)
    return manifest
