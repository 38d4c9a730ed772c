"""The platforms we build for (linux/amd64, linux/arm64), and whether this host can run one.

A platform other than the host's runs under QEMU user emulation, registered with the kernel's
binfmt_misc: for containers (another root file system), with the F flag, so that the kernel
opens the emulator once at registration and needs no path to it inside the container.
"""

from __future__ import annotations

import platform as host
from dataclasses import dataclass
from pathlib import Path

from ner_build.errors import CheckFailed

BINFMT = Path("/proc/sys/fs/binfmt_misc")
EMULATION_HINT = (
    "Register QEMU's emulator for it (Debian/Ubuntu, as root: `tools/provision-debian arm64`), "
    "or build on a host of that architecture."
)
# ELF headers of each architecture's executables, as Debian's qemu-user-static matches them.
ELF_MAGIC = {
    "arm64": (
        "7f454c460201010000000000000000000200b700",
        "ffffffffffffff00fffffffffffffffffeffffff",
    ),
    "amd64": (
        "7f454c4602010100000000000000000002003e00",
        "fffffffffffefe00fffffffffffffffffeffffff",
    ),
}
MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
VARIANTS = {"arm64": "v8"}  # what `docker image inspect` reports for linux/arm64


@dataclass(frozen=True, order=True)
class Platform:
    """linux/ARCHITECTURE as Docker names it (amd64, arm64); Debian uses the same names."""

    architecture: str
    os: str = "linux"

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().lower().split("/")
        arm64_v8 = parts[1:] == ["arm64", "v8"]
        if parts[0] != "linux" or not (len(parts) == 2 or arm64_v8) or parts[1] not in ELF_MAGIC:
            raise CheckFailed(
                f"Cannot build for the platform {text!r}: the platforms are linux/amd64 and "
                "linux/arm64 (e.g. --platform linux/arm64, or linux/amd64,linux/arm64)."
            )
        return cls(parts[1])

    @classmethod
    def native(cls, machine: str | None = None) -> Platform:
        """This host's platform."""
        name = machine or host.machine()
        if name not in MACHINES:
            raise CheckFailed(f"This host's architecture {name} is not one we build for.")
        return cls(MACHINES[name])

    @property
    def variant(self) -> str | None:
        return VARIANTS.get(self.architecture)

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}"


def parse_list(text: str) -> tuple[Platform, ...]:
    """ "linux/amd64,linux/arm64" as platforms, each once, in a fixed order."""
    found = {Platform.parse(part) for part in text.split(",") if part.strip()}
    if not found:
        raise CheckFailed("--platform names no platform; e.g. --platform linux/arm64.")
    return tuple(sorted(found))


def _entry_runs(entry: Path, magic: str, mask: str) -> bool:
    """Whether a binfmt_misc entry is enabled, matches these executables and has the F flag."""
    try:
        lines = entry.read_text().splitlines()
    except OSError:
        return False
    fields = dict(line.split(" ", 1) for line in lines[1:] if " " in line)
    return (
        lines[:1] == ["enabled"]
        and fields.get("magic") == magic
        and fields.get("mask") == mask
        and "F" in fields.get("flags:", "")
    )


def emulator_registered(target: Platform, binfmt: Path = BINFMT) -> bool:
    """Whether containers of the target platform can run here through an emulator."""
    magic, mask = ELF_MAGIC[target.architecture]
    if not binfmt.is_dir():
        return False
    return any(_entry_runs(entry, magic, mask) for entry in binfmt.iterdir())


def check_runnable(target: Platform, native: Platform | None = None, binfmt: Path = BINFMT) -> bool:
    """True when the target runs natively, False when through an emulator; CheckFailed when
    this host cannot run it at all."""
    if target == (native or Platform.native()):
        return True
    if emulator_registered(target, binfmt):
        return False
    raise CheckFailed(
        f"This host cannot run {target} programs, and a build for it runs some: no emulator "
        f"is registered for them in {binfmt} (with the F flag). {EMULATION_HINT}"
    )
