"""Whether the disks hold the free space the test command needs, asked before anything runs.

A full disk fails the run late and under other names: a build's "no space left on device", a
bundle test's truncated archive, a session that stops in seconds. So `script/test` checks the
file systems of the checkout and of the engine's data root first and, when one is short, stops
with how much is free, how much is needed, and what to free.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ner_build.errors import CheckFailed

# What one run of the test command takes, with room to spare: 21.1 GB at the peak of a
# fresh-clone run on this project's machine with all three engines and build caches empty
# (df sampled every 20 s, 2026-11-28; 16.9 GB with Docker 26's and Podman's filled, 11.6 GB
# with all warm); it makes clean builds, ~800 MB bundles and images on three engines.
NEEDED_GB = 25
NEEDED_ENV = "NER_MIN_FREE_GB"  # another threshold, e.g. 0 to skip the check
GB = 10**9

FreeBytes = Callable[[Path], int]


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


@dataclass(frozen=True)
class FileSystem:
    """A file system holding some of the places the run writes to, and its free bytes."""

    places: tuple[str, ...]
    free: int


def needed_gb(env: Mapping[str, str]) -> float:
    value = env.get(NEEDED_ENV, "")
    if not value:
        return NEEDED_GB
    try:
        return float(value)
    except ValueError:
        raise CheckFailed(
            f"{NEEDED_ENV}={value!r} is not a number of gigabytes: set it to one (e.g. 20), "
            "or to 0 to skip the free-space check."
        ) from None


def file_systems(places: Mapping[str, Path], free: FreeBytes = free_bytes) -> list[FileSystem]:
    """The distinct file systems (by device) holding the places that exist here."""
    by_device: dict[int, tuple[Path, list[str]]] = {}  # a path on it, and the places it holds
    for name, path in places.items():
        if not path.exists():  # e.g. a remote engine's data root
            continue
        _, names = by_device.setdefault(os.stat(path).st_dev, (path, []))
        names.append(f"{name} ({path})")
    return [FileSystem(tuple(names), free(path)) for path, names in by_device.values()]


def check(places: Mapping[str, Path], needed: float, free: FreeBytes = free_bytes) -> None:
    """Raise CheckFailed naming each file system with less than `needed` GB free."""
    short = [fs for fs in file_systems(places, free) if fs.free < needed * GB]
    if not short:
        return
    lines = [
        f"  {fs.free / GB:.1f} GB free on the file system of {', '.join(fs.places)}" for fs in short
    ]
    raise CheckFailed(
        f"Too little free disk space: the test command needs about {needed:g} GB free.\n"
        + "\n".join(lines)
        + "\nFree some, then run it again. `docker system df` shows what an engine holds, and "
        "`docker builder prune` removes its build cache (rebuilt as needed); remove images you "
        f"no longer need. {NEEDED_ENV}=N sets another threshold. Nothing was run."
    )
