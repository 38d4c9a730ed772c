"""The sha256 of a file (wheels, layers, archives), and the canonical JSON bytes digests of a
config, manifest or index are taken of."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def sha256_of(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def canonical_json(value: Any) -> bytes:
    """Keys sorted, no spaces: the one encoding of our configs, manifests and indexes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
