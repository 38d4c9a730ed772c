"""The runtime's root file system: only what Python, the venv and the app load.

Runs inside the image build (docker/Dockerfile's `rootfs` stage) with the base image's Python,
so it uses the standard library only. It copies into DEST the interpreter and its standard
library, every shared library that the interpreter or an extension module under the given
trees loads (as `ldd` resolves them), every symlink on the way to those files, and the few
files of /etc and /usr/share that the process reads. No shell, package manager or perl. The dpkg
records of the packages those files come from go to DEST/var/lib/dpkg/status.d/ (as distroless
images keep them), so a scanner sees which Debian packages are in the image.

    python3 rootfs.py DEST TREE...
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path

# Read at run time: users and groups, name service and loader configuration, the OS's name
# (scanners read it), trust anchors, time zones, the C.UTF-8 locale.
DATA = (
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/ld.so.cache",
    "/etc/os-release",
    "/usr/lib/os-release",
    "/etc/ssl/certs/ca-certificates.crt",
    "/usr/share/zoneinfo",
    "/usr/lib/locale/C.utf8",
)
# Parts of the standard library no app of ours loads: the base's own packages (the venv has
# its own), the bundled pip, and the GUI and demo packages.
STDLIB_SKIP = frozenset({"site-packages", "dist-packages", "ensurepip", "idlelib", "tkinter",
                         "turtledemo"})  # fmt: skip
TMP = Path("/tmp")  # noqa: S108 (the image's /tmp, made here, not a temporary file)
LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")
DPKG = Path("/var/lib/dpkg")


def ldd_paths(output: str) -> list[str]:
    """The absolute paths of the libraries in `ldd`'s output (not the vDSO, not "not found")."""
    found = (LDD_PATH.search(line) for line in output.splitlines())
    return [os.path.normpath(match[1]) for match in found if match]


def shared_libraries(files: Iterable[Path]) -> set[str]:
    """Every library the files load, as the dynamic loader finds it."""
    found: set[str] = set()
    for file in files:
        done = subprocess.run(["ldd", str(file)], capture_output=True, text=True, check=False)
        found.update(ldd_paths(done.stdout))
    return found


def with_symlinks(path: str) -> list[str]:
    """The path, resolved: every symlink met on the way (e.g. /lib -> usr/lib) and the file."""
    parts = Path(path).parts
    prefix = Path(parts[0])
    for index, part in enumerate(parts[1:], start=1):
        prefix = prefix / part
        if prefix.is_symlink():
            target = Path(os.path.normpath(prefix.parent / os.readlink(prefix)))
            return [str(prefix), *with_symlinks(str(target.joinpath(*parts[index + 1 :])))]
    return [str(prefix)]


def walk(top: Path, skip: frozenset[str] = frozenset()) -> Iterator[Path]:
    """Every file and symlink under top, not descending into names in skip."""
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d not in skip and not (Path(root) / d).is_symlink())
        yield from (Path(root) / name for name in sorted(files))
        yield from (Path(root) / name for name in dirs if (Path(root) / name).is_symlink())


def extension_modules(tree: Path, skip: frozenset[str] = frozenset()) -> Iterator[Path]:
    yield from (p for p in walk(tree, skip) if ".so" in p.name and not p.is_symlink())


def needed(trees: list[Path]) -> list[str]:
    """Sorted paths to copy: the interpreter, the standard library, the libraries, DATA."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    python = Path(getattr(sys, "_base_executable", sys.executable))  # not a venv's link
    files = [*with_symlinks(str(python)), *(str(p) for p in walk(stdlib, STDLIB_SKIP))]
    binaries = [Path(os.path.realpath(python)), *extension_modules(stdlib, STDLIB_SKIP)]
    binaries += [module for tree in trees for module in extension_modules(tree)]
    for link in (p for tree in trees for p in walk(tree) if p.is_symlink()):
        target = Path(os.path.normpath(link.parent / os.readlink(link)))
        if not any(target.is_relative_to(tree) for tree in trees):  # the venv's python3
            files += with_symlinks(str(target))
    for library in shared_libraries(binaries):
        if not any(Path(library).is_relative_to(tree) for tree in trees):
            files += with_symlinks(library)
    for data in DATA:
        if Path(data).exists():
            files += [*with_symlinks(data), *(str(p) for p in walk(Path(data)))]
    return sorted(set(files))


def copy(paths: Iterable[str], dest: Path) -> None:
    """Copy each path (a file, symlink or directory) to dest, with parent directories made
    with their source's mode."""
    for path in paths:
        source, target = Path(path), dest / path.lstrip("/")
        for parent in reversed(target.relative_to(dest).parents[:-1]):
            made = dest / parent
            if not made.exists():
                made.mkdir()
                shutil.copystat(Path("/") / parent, made)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_dir():
            target.mkdir(exist_ok=True)
            shutil.copystat(source, target)
        else:
            shutil.copy2(source, target)


def dpkg_owners(paths: Iterable[str], info: Path = DPKG / "info") -> set[str]:
    """The packages whose file lists (info/*.list) hold any of the paths, compared resolved."""
    wanted = {os.path.realpath(p) for p in paths if not Path(p).is_symlink()}
    owners = set()
    for listing in info.glob("*.list"):
        files = listing.read_text(errors="replace").splitlines()
        if any(os.path.realpath(f) in wanted for f in files if f not in ("/.", "")):
            owners.add(listing.stem.split(":")[0])
    return owners


def status_records(status: str, packages: set[str]) -> dict[str, str]:
    """The paragraphs of dpkg's status file for these packages, by package name."""
    records = {}
    for paragraph in status.strip().split("\n\n"):
        name = re.search(r"^Package: (\S+)$", paragraph, re.M)
        if name and name[1] in packages:
            records[name[1]] = paragraph + "\n"
    return records


def write_dpkg_records(paths: Iterable[str], dest: Path) -> None:
    status = DPKG / "status"
    if not status.exists():
        return
    records = status_records(status.read_text(), dpkg_owners(paths))
    folder = dest / "var" / "lib" / "dpkg" / "status.d"
    folder.mkdir(parents=True, exist_ok=True)
    for name, record in records.items():
        (folder / name).write_text(record)


def settle_times(dest: Path, made_at: int) -> None:
    """Give every entry its source's mtime, and what this script made (the dpkg records, /tmp)
    made_at: then the layer depends on the base and the venv, not on when it was built."""
    for root, dirs, files in os.walk(dest, topdown=False):
        for name in [*files, *dirs]:
            path = Path(root) / name
            source = Path("/") / path.relative_to(dest)
            made = source == TMP or not os.path.lexists(source)
            mtime = made_at if made else os.lstat(source).st_mtime_ns // 10**9
            os.utime(path, (mtime, mtime), follow_symlinks=False)


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python3 rootfs.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_argument("dest", type=Path, help="the folder to fill (made if missing)")
    cli.add_argument(
        "trees",
        type=Path,
        nargs="*",
        help="trees (the venv) whose extension modules' libraries to copy too",
    )
    return cli


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    dest, trees = args.dest, args.trees
    paths = needed(trees)
    dest.mkdir(parents=True, exist_ok=True)
    copy(paths, dest)
    write_dpkg_records(paths, dest)
    tmp = dest / TMP.relative_to("/")
    tmp.mkdir(exist_ok=True)
    tmp.chmod(0o1777)
    made_at = DPKG / "status" if (DPKG / "status").exists() else Path(sys.executable)
    settle_times(dest, int(made_at.stat().st_mtime))
    print(f"rootfs: {len(paths)} paths in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
