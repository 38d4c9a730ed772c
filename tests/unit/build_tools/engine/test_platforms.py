"""Platform names, and reading binfmt_misc to tell whether this host can run a platform."""

from __future__ import annotations

from pathlib import Path

import pytest
from ner_build.engine.platforms import (
    ELF_MAGIC,
    Platform,
    check_runnable,
    emulator_registered,
    parse_list,
)
from ner_build.errors import CheckFailed

AMD64, ARM64 = Platform("amd64"), Platform("arm64")


@pytest.mark.parametrize("text", ["linux/arm64", "LINUX/ARM64", "linux/arm64/v8", " linux/arm64"])
def test_arm64_is_named_as_docker_names_it(text: str) -> None:
    assert Platform.parse(text) == ARM64
    assert str(ARM64) == "linux/arm64"
    assert ARM64.variant == "v8"
    assert AMD64.variant is None


@pytest.mark.parametrize("text", ["linux/s390x", "windows/amd64", "arm64", "linux/amd64/v3", ""])
def test_other_platforms_are_refused_naming_the_ones_we_build(text: str) -> None:
    with pytest.raises(CheckFailed, match="linux/amd64 and linux/arm64"):
        Platform.parse(text)


def test_a_list_is_each_platform_once_in_a_fixed_order() -> None:
    assert parse_list("linux/arm64,linux/amd64,linux/arm64/v8") == (AMD64, ARM64)


def test_the_hosts_machine_names_its_platform() -> None:
    assert Platform.native("x86_64") == AMD64
    assert Platform.native("aarch64") == ARM64
    with pytest.raises(CheckFailed, match="riscv64"):
        Platform.native("riscv64")


def register(
    binfmt: Path, name: str, flags: str, architecture: str = "arm64", on: bool = True
) -> None:
    magic, mask = ELF_MAGIC[architecture]
    binfmt.mkdir(exist_ok=True)
    (binfmt / name).write_text(
        f"{'enabled' if on else 'disabled'}\ninterpreter /usr/bin/qemu-aarch64-static\n"
        f"flags: {flags}\noffset 0\nmagic {magic}\nmask {mask}\n"
    )
    (binfmt / "status").write_text("enabled\n")


def test_an_enabled_entry_with_the_f_flag_runs_arm64(tmp_path: Path) -> None:
    register(tmp_path, "ner-aarch64", "FP")
    assert emulator_registered(ARM64, tmp_path)
    assert check_runnable(ARM64, AMD64, tmp_path) is False  # emulated


@pytest.mark.parametrize(
    ("flags", "on", "architecture"),
    [("P", True, "arm64"), ("FP", False, "arm64"), ("FP", True, "amd64")],
)
def test_without_f_disabled_or_another_machine_it_cannot_run(
    tmp_path: Path, flags: str, on: bool, architecture: str
) -> None:
    """The control: Debian's own registration (flags PF) is not enough for containers."""
    register(tmp_path, "qemu-aarch64", flags, architecture, on)
    assert not emulator_registered(ARM64, tmp_path)
    with pytest.raises(CheckFailed, match="tools/provision-debian arm64"):
        check_runnable(ARM64, AMD64, tmp_path)


def test_the_native_platform_needs_no_emulator(tmp_path: Path) -> None:
    assert check_runnable(AMD64, AMD64, tmp_path / "not-mounted") is True
