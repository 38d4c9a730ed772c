"""The canonical layers of earlier builds, kept by what determines them, so that a build
re-encodes only the layers that changed (ner_build.image.normalize).

A canonical layer is a function of three things: the raw layer the engine built (its diff ID),
the epoch its times are clamped to, and the rules (the source of image/normalize.py). The
epoch is the smaller of the raw layer's newest file time and the commit's, so that time is
recorded the first time the raw layer is read: a new commit whose rootfs and venv layers did
not change finds them here without reading them again.

Layout, under build/cache/canonical-layers (this store's alone; no other tool writes there):

    raw/<raw hex>.json     {"newest": T or null, "empty": true/false}
    layers/<key hex>.tar   the canonical layer; key = sha256 of raw diff ID, epoch and rules
    layers/<key hex>.json  {"diff_id": "sha256:..."}

Every entry is written under a temporary name and renamed into place, so an interrupted build
leaves none half written. When the layers exceed the budget, the least recently used go (never
one the current build uses).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ner_build.digest import PREFIX

BUDGET_BYTES = 3 << 30  # three images' worth of layers above the base, with room


@dataclass(frozen=True)
class RawFacts:
    """What a raw layer's canonical form needs besides its bytes: its newest regular file time
    (None when it has no regular file) and whether nothing is left of it (an empty layer)."""

    newest: int | None
    empty: bool

    def epoch(self, ceiling: int) -> int:
        """The time the layer's times are clamped to (normalize.layer_epoch)."""
        return ceiling if self.newest is None else min(self.newest, ceiling)


@dataclass(frozen=True)
class StoredLayer:
    path: Path
    diff_id: str


class LayerStore:
    """Canonical layers by raw diff ID, epoch and rules. With reuse=False (a --no-cache build)
    nothing is read from the store, but what the build encodes is still kept."""

    def __init__(
        self, root: Path, rules: bytes, *, reuse: bool = True, budget: int = BUDGET_BYTES
    ) -> None:
        self.root, self.reuse, self.budget = root, reuse, budget
        self._rules = hashlib.sha256(rules).hexdigest()
        self._used: set[Path] = set()
        self.written = self.reused = 0  # canonical layers, this build

    def facts(self, raw_diff_id: str) -> RawFacts | None:
        found = self._read_json(self._raw_path(raw_diff_id)) if self.reuse else None
        if found is None:
            return None
        newest = found.get("newest")
        return RawFacts(newest if isinstance(newest, int) else None, bool(found.get("empty")))

    def remember(self, raw_diff_id: str, facts: RawFacts) -> None:
        record: dict[str, object] = {"newest": facts.newest, "empty": facts.empty}
        self._write_json(self._raw_path(raw_diff_id), record)

    def get(self, raw_diff_id: str, epoch: int) -> StoredLayer | None:
        """The canonical layer, when kept (and marked as recently used)."""
        if not self.reuse:
            return None
        tar = self._layer_path(raw_diff_id, epoch)
        found = self._read_json(tar.with_suffix(".json"))
        if found is None or not tar.is_file():
            return None
        os.utime(tar)
        self._used.add(tar)
        self.reused += 1
        return StoredLayer(tar, str(found["diff_id"]))

    def new_layer(self) -> Path:
        """A temporary file in the store to write a canonical layer to, then to put()."""
        (self.root / "layers").mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=self.root / "layers", prefix=".new-", suffix=".tar")
        os.close(handle)
        return Path(name)

    def put(self, raw_diff_id: str, epoch: int, written: Path, diff_id: str) -> StoredLayer:
        """Keep the layer written to a new_layer() file under its key."""
        tar = self._layer_path(raw_diff_id, epoch)
        written.replace(tar)
        self._write_json(tar.with_suffix(".json"), {"diff_id": diff_id})
        self._used.add(tar)
        self.written += 1
        return StoredLayer(tar, diff_id)

    def prune(self) -> list[Path]:
        """Remove the least recently used layers beyond the budget, never one used by this
        store's build; return what went."""
        layers = sorted(
            (p for p in (self.root / "layers").glob("*.tar") if not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        total, removed = 0, []
        for tar in layers:
            total += tar.stat().st_size
            if total > self.budget and tar not in self._used:
                tar.with_suffix(".json").unlink(missing_ok=True)
                tar.unlink()
                removed.append(tar)
        return removed

    def _raw_path(self, raw_diff_id: str) -> Path:
        return self.root / "raw" / f"{_hex(raw_diff_id)}.json"

    def _layer_path(self, raw_diff_id: str, epoch: int) -> Path:
        key = hashlib.sha256(f"{_hex(raw_diff_id)} {epoch} {self._rules}".encode())
        return self.root / "layers" / f"{key.hexdigest()}.tar"

    @staticmethod
    def _read_json(path: Path) -> dict[str, object] | None:
        try:
            loaded = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return loaded if isinstance(loaded, dict) else None

    @staticmethod
    def _write_json(path: Path, value: dict[str, object]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=".new-")
        with os.fdopen(handle, "w") as temporary:
            temporary.write(json.dumps(value) + "\n")
        Path(name).replace(path)


def _hex(diff_id: str) -> str:
    """The hex of a sha256 diff ID (a file name here); ValueError for anything else."""
    value = diff_id.removeprefix(PREFIX)
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ValueError(f"not a sha256 diff ID: {diff_id!r}")
    return value
