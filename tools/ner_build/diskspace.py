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

# What one run of the test command writes at its peak, with room to spare (df sampled through
# whole runs; docs/development.md, "The disk a run needs"). On engines whose build caches are
# empty: 21.1 GB (three engines, 2026-11-28); the cold builds fill the caches, which then stay
# at their limit. On engines whose caches hold earlier runs' layers: 12.2 GB (four engines,
# 2026-12-07, when pytest still kept every test's temporary folder). So the need is the cold
# figure less what the engines' build caches already hold, and never less than a warm run's.
COLD_GB = 25
WARM_GB = 15
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


@dataclass(frozen=True)
class Need:
    """The free gigabytes a run needs, and why: the cold figure less what the engines' build
    caches hold (never under a warm run's), or the figure NEEDED_ENV sets."""

    gb: float
    why: str


def needed(env: Mapping[str, str], cached_bytes: int = 0) -> Need:
    value = env.get(NEEDED_ENV, "")
    if not value:
        cached = cached_bytes / GB
        gb = max(WARM_GB, COLD_GB - cached)
        return Need(gb, f"{COLD_GB} GB on empty build caches, less the {cached:.1f} GB the "
                        f"engines' build caches hold, and at least {WARM_GB} GB")  # fmt: skip
    try:
        return Need(float(value), f"{NEEDED_ENV}={value}")
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


def check(places: Mapping[str, Path], need: Need, free: FreeBytes = free_bytes) -> None:
    """Raise CheckFailed naming each file system with less than the needed gigabytes free."""
    short = [fs for fs in file_systems(places, free) if fs.free < need.gb * GB]
    if not short:
        return
    lines = [
        f"  {fs.free / GB:.1f} GB free on the file system of {', '.join(fs.places)}" for fs in short
    ]
    raise CheckFailed(
        f"Too little free disk space: the test command needs about {need.gb:.0f} GB free "
        f"({need.why}).\n"
        + "\n".join(lines)
        + "\nFree some, then run it again. `docker system df` shows what an engine holds; "
        "remove images you no longer need. Emptying a build cache does not help: the run "
        f"fills it again. {NEEDED_ENV}=N sets another threshold. Nothing was run."
    )
