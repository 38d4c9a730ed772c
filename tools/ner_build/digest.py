"""Digests: the sha256 of a file (wheels, layers, archives) or of bytes, written the one way
image IDs, diff IDs and blob digests are (`sha256:HEX`), and the canonical JSON bytes the digests
of a config, manifest or index are taken of."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

PREFIX = "sha256:"


def sha256_of(path: Path) -> str:
    """The file's sha256 as bare hex (the form pins and SHA256SUMS use)."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def from_hex(hexdigest: str) -> str:
    """`sha256:HEX`, the form of image IDs, diff IDs and blob digests."""
    return PREFIX + hexdigest


def digest_of(data: bytes) -> str:
    return from_hex(hashlib.sha256(data).hexdigest())


def digest_of_file(path: Path) -> str:
    return from_hex(sha256_of(path))


def canonical_json(value: Any) -> bytes:
    """Keys sorted, no spaces: the one encoding of our configs, manifests and indexes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
