"""ner_build.build.rootfs: what the runtime's root file system keeps of the base."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ner_build.build import rootfs

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd5b9f1000)
\tlibarrow.so.2600 => /opt/venv/lib/python3.11/site-packages/pyarrow/libarrow.so.2600 (0x1)
\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f0a1c000000)
\tlibmissing.so.1 => not found
\t/lib64/ld-linux-x86-64.so.2 (0x00007f0a1d3b2000)
"""


def test_ldd_paths_are_the_libraries_found_and_the_loader() -> None:
    assert rootfs.ldd_paths(LDD) == [
        "/opt/venv/lib/python3.11/site-packages/pyarrow/libarrow.so.2600",
        "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/lib64/ld-linux-x86-64.so.2",
    ]


def test_ldd_of_a_static_or_foreign_file_names_nothing() -> None:
    assert rootfs.ldd_paths("\tnot a dynamic executable\n") == []
    assert rootfs.ldd_paths("\tstatically linked\n") == []


def test_a_path_comes_with_every_symlink_on_the_way(tmp_path: Path) -> None:
    (tmp_path / "usr" / "lib" / "x86_64").mkdir(parents=True)
    (tmp_path / "usr" / "lib" / "x86_64" / "libc.so.6").write_bytes(b"\x7fELF")
    (tmp_path / "lib").symlink_to("usr/lib")  # merged /usr
    (tmp_path / "usr" / "lib64").mkdir()
    (tmp_path / "usr" / "lib64" / "ld.so").symlink_to(tmp_path / "lib" / "x86_64" / "libc.so.6")
    (tmp_path / "lib64").symlink_to("usr/lib64")
    assert rootfs.with_symlinks(str(tmp_path / "lib64" / "ld.so")) == [
        str(tmp_path / "lib64"),
        str(tmp_path / "usr" / "lib64" / "ld.so"),
        str(tmp_path / "lib"),
        str(tmp_path / "usr" / "lib" / "x86_64" / "libc.so.6"),
    ]


def test_a_plain_path_is_itself(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert rootfs.with_symlinks(str(tmp_path / "f")) == [str(tmp_path / "f")]


def test_copy_keeps_files_modes_and_symlinks_and_makes_parents(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "bin").mkdir(parents=True)
    (source / "bin" / "python3.11").write_text("#!")
    (source / "bin" / "python3.11").chmod(0o755)
    (source / "bin" / "python3").symlink_to("python3.11")
    dest = tmp_path / "dest"
    dest.mkdir()
    paths = [str(source / "bin" / "python3"), str(source / "bin" / "python3.11")]
    rootfs.copy(paths, dest)
    copied = dest / str(source).lstrip("/") / "bin"
    assert os.readlink(copied / "python3") == "python3.11"
    assert (copied / "python3.11").read_text() == "#!"
    assert (copied / "python3.11").stat().st_mode & 0o777 == 0o755


STATUS = """\
Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u9

Package: perl-base
Status: install ok installed
Version: 5.36.0-7+deb12u1

Package: libssl3
Status: install ok installed
Version: 3.0.15-1~deb12u1
"""


def test_status_records_are_the_paragraphs_of_the_packages_asked_for() -> None:
    records = rootfs.status_records(STATUS, {"libc6", "libssl3"})
    assert sorted(records) == ["libc6", "libssl3"]
    assert records["libc6"].startswith("Package: libc6\nStatus: install ok installed\n")
    assert "perl" not in "".join(records.values())


def test_owners_are_the_packages_listing_a_kept_file_also_through_a_symlink(
    tmp_path: Path,
) -> None:
    (tmp_path / "usr" / "lib").mkdir(parents=True)
    (tmp_path / "usr" / "lib" / "libc.so.6").write_text("")
    (tmp_path / "usr" / "bin").mkdir()
    (tmp_path / "usr" / "bin" / "perl").write_text("")
    (tmp_path / "lib").symlink_to("usr/lib")
    info = tmp_path / "info"
    info.mkdir()
    (info / "libc6:amd64.list").write_text(f"/.\n{tmp_path}/lib/libc.so.6\n")
    (info / "perl-base.list").write_text(f"/.\n{tmp_path}/usr/bin/perl\n")
    kept = [str(tmp_path / "usr" / "lib" / "libc.so.6")]
    assert rootfs.dpkg_owners(kept, info) == {"libc6"}


def test_the_interpreter_and_its_libraries_are_needed_and_site_packages_is_not() -> None:
    paths = rootfs.needed([])
    assert os.path.realpath(sys._base_executable) in paths  # type: ignore[attr-defined]
    assert any("/libc.so" in path for path in paths)
    assert not any("/site-packages/" in path or "/ensurepip/" in path for path in paths)


def test_settled_times_are_the_sources_and_made_at_for_what_the_script_made(
    tmp_path: Path,
) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "made-by-rootfs-only").write_text("")
    (tmp_path / "tmp").mkdir()
    rootfs.settle_times(tmp_path, 1_000_000)
    assert (tmp_path / "etc").stat().st_mtime == int(os.stat("/etc").st_mtime)
    assert (tmp_path / "etc" / "made-by-rootfs-only").stat().st_mtime == 1_000_000
    assert (tmp_path / "tmp").stat().st_mtime == 1_000_000
