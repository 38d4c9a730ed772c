"""What `nox -s build` records in build/image.json, for the commands that use the image after it.

Only the standard library is used here: `script/up` reads it before anything is installed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ner_build.errors import CheckFailed
from ner_build.paths import RESULT, SBOM


class NamedImage(Protocol):
    """An image as a build names it: its config's digest, and its manifest's where the store
    names images by their manifest (the containerd image store), else ""."""

    @property
    def image_id(self) -> str: ...

    @property
    def manifest_digest(self) -> str: ...


def same_image(one: NamedImage, other: NamedImage) -> bool:
    """The same image (docs/reproducibility.md): one config digest and, where the store names
    images by their manifest, one manifest digest."""
    return (one.image_id, one.manifest_digest) == (other.image_id, other.manifest_digest)


def result_path(env: Mapping[str, str] = os.environ) -> Path:
    """Where builds record their result and everything after reads it: build/image.json, or
    NER_BUILD_RESULT (e.g. build/arm64/image.json, which `nox -s arm64` tests)."""
    return Path(env.get("NER_BUILD_RESULT") or RESULT)


def sbom_beside(result: Path) -> Path:
    """The SBOM a build writes with its result: build/sbom.cdx.json beside build/image.json,
    else RESULT.sbom.cdx.json."""
    return SBOM if result == RESULT else result.with_suffix(".sbom.cdx.json")


@dataclass(frozen=True)
class Fallback:
    """A pinned input replaced by a local stand-in, and how to get the real one."""

    input: str
    pinned: str
    used: str
    reason: str
    remedy: str


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    tags: list[str]
    revision: str
    model: str
    model_version: str
    model_sha256: str
    ca_bundle: str | None
    seconds: dict[str, float] = field(default_factory=dict)  # per step, for nox -s bench
    fallbacks: list[dict[str, str]] = field(default_factory=list)
    engine: str = ""  # the engine that built it, e.g. "Podman 4.3.1"
    base_image: str = ""  # the FROM it was built on (a digest-pinned ref or a local tag)
    base_image_id: str = ""  # that base's image ID in the engine that built it
    buildx_args: list[str] = field(default_factory=list)  # extra build flags it was given
    platform: str = ""  # the image's OS/architecture, e.g. "linux/arm64"
    base_image_digest: str = ""  # the base's registry digest ("" for a base built here)
    base_archive: dict[str, Any] | None = None  # a Debian-built base's archive state
    # Per layer of the image, bottom first: name, diff ID, and its inputs' values; and the
    # config's inputs (ner_build.image.layers), which `nox -s reproduce -- --against` compares.
    layers: list[dict[str, Any]] = field(default_factory=list)
    config_inputs: dict[str, str] = field(default_factory=dict)
    # The canonical form's layers above the base: written now, reused from the store of earlier
    # builds (image.layer_store), and how many bottom layers the engine held, so not loaded.
    canonical_layers: dict[str, int] = field(default_factory=dict)
    # The digest of the canonical form's OCI manifest, which an engine with the containerd
    # image store names the image by; "" where the engine names it by image_id (its config's).
    manifest_digest: str = ""

    @classmethod
    def load(cls, path: Path | None = None) -> BuildResult:
        """What a `nox -s build` recorded (at result_path() unless a path is given);
        CheckFailed when nothing was built yet."""
        path = path or result_path()
        if not path.exists():
            raise CheckFailed(f"{path} is missing: build the image first with `nox -s build`.")
        return cls(**json.loads(path.read_text()))

    @property
    def ref(self) -> str:
        """What the engine that built it names the image by: its manifest's digest in the
        containerd image store, else its ID."""
        return self.manifest_digest or self.image_id

    @property
    def stand_ins(self) -> list[str]:
        """The pinned inputs that were replaced by local stand-ins (none for a real build)."""
        return [fallback["input"] for fallback in self.fallbacks]
