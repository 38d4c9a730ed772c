"""What each layer of the image is made from, and what explains two builds that differ.

Every build records, in build/image.json and the provenance, the diff ID of each layer of the
runtime image with the inputs that layer is made from (LAYERS, in the Dockerfile's order), and
the inputs of the config. `nox -s reproduce -- --against RECORD` rebuilds and compares with a
record made elsewhere: the first layer whose diff ID differs, and which of its inputs differ.
Standard library only, like ner_build.result.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

BASE = ("base image", "base image ID", "base image digest", "Debian archive")


@dataclass(frozen=True)
class LayerSpec:
    name: str
    made_by: str  # the runtime stage's line that makes it
    inputs: tuple[str, ...]


# The runtime stage of docker/Dockerfile, bottom layer first. A layer's inputs are what its
# content is a function of: change one and the layer changes; change none and it must not.
LAYERS = (
    LayerSpec(
        "rootfs",
        "COPY --from=rootfs /rootfs/ /",
        (*BASE, "Dockerfile", "rootfs.py", "locked requirements", "model wheel", "lock time"),
    ),
    LayerSpec(
        "venv",
        "COPY --from=builder /opt/venv /opt/venv",
        (*BASE, "Dockerfile", "locked requirements", "uv", "model wheel", "lock time"),
    ),
    LayerSpec(
        "app",
        "COPY --from=app /opt/app /opt/app",
        (*BASE, "Dockerfile", "app wheel", "app time"),
    ),
)
# The config (labels, environment, entrypoint) is a function of these.
CONFIG_INPUTS = ("Dockerfile", "commit", "commit time", "version", "model wheel", "fallbacks")


def layer_records(diff_ids: list[str], inputs: Mapping[str, str]) -> list[dict[str, Any]]:
    """Each layer's name, diff ID, the line that made it, and the values of its inputs. An
    image of another Dockerfile (another layer count) gets every input for every layer."""
    specs: tuple[LayerSpec, ...] = LAYERS
    if len(diff_ids) != len(LAYERS):
        every = tuple(sorted(inputs))
        specs = tuple(LayerSpec(f"layer {n + 1}", "", every) for n in range(len(diff_ids)))
    return [
        {
            "name": spec.name,
            "diff_id": diff_id,
            "made_by": spec.made_by,
            "inputs": {name: inputs.get(name, "") for name in spec.inputs},
        }
        for spec, diff_id in zip(specs, diff_ids, strict=True)
    ]


def config_record(inputs: Mapping[str, str]) -> dict[str, str]:
    return {name: inputs.get(name, "") for name in CONFIG_INPUTS}


@dataclass(frozen=True)
class Record:
    """The parts of a build record (build/image.json) that explain its image ID."""

    image_id: str
    platform: str
    layers: list[dict[str, Any]]
    config: dict[str, str]
    base_archive: dict[str, Any] | None

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> Record:
        return cls(
            record.get("image_id", ""),
            record.get("platform", ""),
            list(record.get("layers") or []),
            dict(record.get("config_inputs") or {}),
            record.get("base_archive"),
        )


def explain(ours: Record, theirs: Record) -> list[str]:
    """Why our image differs from theirs: the first differing layer (or the config) and the
    recorded inputs of it that differ. Empty when the images are the same."""
    if ours.image_id == theirs.image_id:
        return []
    if not theirs.layers:
        return [
            f"the record has no layers: it was written before builds recorded them; rebuild "
            f"there and record again (image {theirs.image_id})"
        ]
    for index, (mine, other) in enumerate(zip(ours.layers, theirs.layers, strict=False)):
        if mine["diff_id"] != other["diff_id"]:
            return _layer_lines(index, mine, other, ours, theirs)
    if len(ours.layers) != len(theirs.layers):
        return [f"layer count: ours has {len(ours.layers)}, theirs {len(theirs.layers)}"]
    return [
        "every layer is the same: the config differs",
        *_input_lines(ours.config, theirs.config, ours, theirs),
    ]


def _layer_lines(
    index: int, mine: dict[str, Any], other: dict[str, Any], ours: Record, theirs: Record
) -> list[str]:
    lines = [
        f"first differing layer: {index + 1} of {len(ours.layers)}, {mine['name']} "
        f"({mine['made_by']})",
        f"  ours   {mine['diff_id']}",
        f"  theirs {other['diff_id']}",
    ]
    differing = list(_input_lines(mine["inputs"], other["inputs"], ours, theirs))
    if differing:
        return [*lines, "explained by these inputs, which differ:", *differing]
    return [
        *lines,
        "no recorded input of this layer differs: the same inputs made different files, so the "
        "build of this layer is not reproducible across these machines. Load their image here "
        "and run `python -m ner_build.image.compare OURS THEIRS` for the paths that differ.",
    ]


def _input_lines(
    mine: Mapping[str, str], other: Mapping[str, str], ours: Record, theirs: Record
) -> Iterator[str]:
    for name in [*mine, *(key for key in other if key not in mine)]:
        if mine.get(name, "") == other.get(name, ""):
            continue
        yield f"  {name}: ours {mine.get(name) or '(none)'}, theirs {other.get(name) or '(none)'}"
        if name == "Debian archive":
            yield from (f"    {line}" for line in archive_changes(ours, theirs))


def archive_changes(ours: Record, theirs: Record) -> list[str]:
    """The Debian packages that differ between the two bases' recorded archive states."""
    if not ours.base_archive or not theirs.base_archive:
        return ["(one of the bases has no recorded Debian archive state)"]
    mine, other = _packages(ours.base_archive), _packages(theirs.base_archive)
    lines = [
        f"{name}: ours {mine.get(name, '(absent)')}, theirs {other.get(name, '(absent)')}"
        for name in sorted(mine.keys() | other.keys())
        if mine.get(name) != other.get(name)
    ]
    return lines or ["(the same packages: the Release dates alone differ)"]


def _packages(archive: Mapping[str, Any]) -> dict[str, str]:
    """name -> version from a recorded archive state's package list."""
    return {
        f"{package['name']}:{package.get('architecture', '')}".rstrip(":"): package["version"]
        for package in archive.get("packages", [])
    }
