"""Which Debian archive state a base image was built from, and how to build from it again.

A record holds each suite's Release date (and its Suite and Version), and every installed
package with its version and architecture, read from the root file system's apt lists and dpkg
status with python-debian (no chroot, so it works for a foreign architecture too). It goes into
the image as labels, so the image ID depends on the archive state and nothing else, and into a
JSON file that also names the mirrors (the host's, so never in the labels).

A replay checks that the archive still serves every recorded version before installing, pins
them, and checks afterwards that exactly the recorded set is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import ModuleType

from ner_build import process
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed, VerificationFailed

PREFIX = "io.ner-app.debian"
LABEL_EPOCH = f"{PREFIX}.epoch"
LABEL_ARCH = f"{PREFIX}.architecture"
LABEL_RELEASES = f"{PREFIX}.releases"
LABEL_SUITES = f"{PREFIX}.suites"
LABEL_PACKAGES = f"{PREFIX}.packages"
LABEL_SHA256 = f"{PREFIX}.packages.sha256"
LISTS = Path("var/lib/apt/lists")
STATUS = Path("var/lib/dpkg/status")
PIN_FILE = Path("etc/apt/preferences.d/ner-app-replay")
APT_HELPER = "/usr/lib/apt/apt-helper"  # reads every compression apt stores indexes in
SNAPSHOT = "http://snapshot.debian.org/archive"


@dataclass(frozen=True, order=True)
class Release:
    """One suite as its Release file described it when the image was built."""

    codename: str  # as in sources (bookworm-security)
    date: str  # ISO 8601 UTC
    suite: str = ""  # the moving name (oldstable-security)
    version: str = ""


@dataclass(frozen=True, order=True)
class Package:
    name: str
    version: str
    architecture: str

    def __str__(self) -> str:
        return f"{self.name}:{self.architecture}={self.version}"


@dataclass(frozen=True)
class ArchiveRecord:
    epoch: int
    architecture: str
    releases: tuple[Release, ...]
    packages: tuple[Package, ...]
    mirrors: tuple[str, ...] = field(default=(), compare=False)  # the host's: not in labels

    @property
    def releases_line(self) -> str:
        return " ".join(f"{r.codename}={r.date}" for r in self.releases)

    @property
    def packages_line(self) -> str:
        return " ".join(str(p) for p in sorted(self.packages))

    @property
    def packages_sha256(self) -> str:
        return hashlib.sha256(self.packages_line.encode()).hexdigest()


def _deb822() -> ModuleType:
    """python-debian, imported when a file is parsed: the build modules that import this one
    also run from script/ with nothing but Python."""
    from debian import deb822

    return deb822


def iso_date(release_date: str) -> str:
    """A Release file's RFC 2822 Date as ISO 8601 UTC."""
    moment = parsedate_to_datetime(release_date).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def read_release(path: Path, codename: str) -> Release:
    """A Release or InRelease file (its signature is skipped, apt has checked it)."""
    with path.open() as handle:
        fields = _deb822().Release(handle)
    if "Date" not in fields:
        raise CheckFailed(f"{path} has no Date field; is it a Release file?")
    return Release(
        fields.get("Codename", codename),
        iso_date(fields["Date"]),
        fields.get("Suite", ""),
        fields.get("Version", ""),
    )


def release_files(lists: Path, suites: Sequence[str]) -> dict[str, Path]:
    """Each suite's InRelease (or Release) file in apt's lists folder."""
    found = {}
    for suite in suites:
        names = [f"*_dists_{suite}_InRelease", f"*_dists_{suite}_Release"]
        matches = sorted(p for name in names for p in lists.glob(name))
        if not matches:
            raise CheckFailed(f"No Release file for {suite} in {lists}: did `apt-get update` run?")
        found[suite] = matches[0]
    return found


def read_status(text: str) -> tuple[Package, ...]:
    """The installed packages in a dpkg status file."""
    packages = [
        Package(p["Package"], p["Version"], p["Architecture"])
        for p in _deb822().Packages.iter_paragraphs(
            text.splitlines(keepends=True), use_apt_pkg=False
        )
        if p.get("Status", "").split()[-1:] == ["installed"]
    ]
    return tuple(sorted(packages))


def read_rootfs(
    rootfs: Path, suites: Sequence[str], epoch: int, arch: str, mirrors: Sequence[str] = ()
) -> ArchiveRecord:
    """The record of a root file system after its packages are installed."""
    files = release_files(rootfs / LISTS, suites)
    releases = tuple(read_release(files[suite], suite) for suite in suites)
    packages = read_status((rootfs / STATUS).read_text())
    return ArchiveRecord(epoch, arch, releases, packages, tuple(mirrors))


def to_labels(record: ArchiveRecord) -> dict[str, str]:
    """The record as image labels (no mirrors: the same packages give the same image ID)."""
    return {
        LABEL_EPOCH: str(record.epoch),
        LABEL_ARCH: record.architecture,
        LABEL_RELEASES: record.releases_line,
        LABEL_SUITES: " ".join(f"{r.codename}={r.suite},{r.version}" for r in record.releases),
        LABEL_PACKAGES: record.packages_line,
        LABEL_SHA256: record.packages_sha256,
    }


PACKAGE_ENTRY = re.compile(r"^([^:=\s]+):([^:=\s]+)=(\S+)$")


def from_labels(labels: Mapping[str, str] | None) -> ArchiveRecord | None:
    """The record in an image's labels, or None if the image has none."""
    labels = labels or {}
    if LABEL_PACKAGES not in labels:
        return None
    details = dict(_pairs(labels.get(LABEL_SUITES, "")))
    releases = []
    for codename, date in _pairs(labels.get(LABEL_RELEASES, "")):
        suite, _, version = details.get(codename, "").partition(",")
        releases.append(Release(codename, date, suite, version))
    record = ArchiveRecord(
        int(labels[LABEL_EPOCH]),
        labels[LABEL_ARCH],
        tuple(releases),
        tuple(_package(entry) for entry in labels[LABEL_PACKAGES].split()),
    )
    if record.packages_sha256 != labels.get(LABEL_SHA256):
        raise VerificationFailed(
            f"The label {LABEL_PACKAGES} does not match {LABEL_SHA256}: the labels were edited."
        )
    return record


def of_image(docker: Docker, ref: str, instead: str) -> ArchiveRecord:
    """The record in an image's labels; CheckFailed, saying to do `instead`, when the image is
    missing or has none."""
    if docker.image_id(ref) is None:
        raise CheckFailed(f"{ref} is not an image in the engine behind `{docker}`: {instead}.")
    record = from_labels(docker.labels(ref))
    if record is None:
        raise CheckFailed(
            f"{ref} has no Debian archive record in its labels (it was built before archive "
            f"records, or not by `nox -s base-image`): {instead}."
        )
    return record


def _pairs(line: str) -> list[tuple[str, str]]:
    return [tuple(entry.split("=", 1)) for entry in line.split()]  # type: ignore[misc]


def _package(entry: str) -> Package:
    match = PACKAGE_ENTRY.match(entry)
    if not match:
        raise CheckFailed(f"{entry!r} in {LABEL_PACKAGES} is not NAME:ARCH=VERSION.")
    return Package(match[1], match[3], match[2])


def to_json(record: ArchiveRecord) -> str:
    document = asdict(record)
    document["packages_sha256"] = record.packages_sha256
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def from_json(text: str, origin: str = "the record") -> ArchiveRecord:
    try:
        data = json.loads(text)
        record = ArchiveRecord(
            int(data["epoch"]),
            str(data["architecture"]),
            tuple(Release(**r) for r in data["releases"]),
            tuple(Package(**p) for p in data["packages"]),
            tuple(data.get("mirrors", ())),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise CheckFailed(
            f"{origin} is not an archive record written by `nox -s base-image` ({error})."
        ) from error
    return record


def index_files(lists: Path) -> list[Path]:
    """The package indexes apt downloaded (kept compressed under debuerreotype's config)."""
    return sorted(p for p in lists.glob("*_Packages*") if not p.name.endswith(".diff_Index"))


def read_index(path: Path) -> str:
    """An index's text, decompressed as apt does (lz4, gz, xz, zstd or plain)."""
    return process.run(
        [APT_HELPER, "cat-file", path],
        hint=f"Cannot read the package index {path}.",
        missing="apt's apt-helper is missing: run this on a host with apt (Debian or Ubuntu).",
    ).stdout


def served(indexes: Iterable[str]) -> dict[tuple[str, str], set[str]]:
    """Every version the indexes offer, by (name, architecture)."""
    offered: dict[tuple[str, str], set[str]] = {}
    for text in indexes:
        for paragraph in _deb822().Packages.iter_paragraphs(
            text.splitlines(keepends=True), use_apt_pkg=False
        ):
            key = (paragraph["Package"], paragraph["Architecture"])
            offered.setdefault(key, set()).add(paragraph["Version"])
    return offered


def unavailable(
    record: ArchiveRecord, offered: Mapping[tuple[str, str], set[str]]
) -> list[tuple[Package, list[str]]]:
    """The recorded packages whose version the archive no longer serves, with what it serves."""
    return [
        (p, sorted(offered.get((p.name, p.architecture), set())))
        for p in record.packages
        if p.version not in offered.get((p.name, p.architecture), set())
    ]


def snapshot_hint(record: ArchiveRecord) -> str:
    """What to pass to replay against snapshot.debian.org at the recorded dates."""
    stamps = {r.codename: r.date.replace("-", "").replace(":", "") for r in record.releases}
    security = next((s for c, s in stamps.items() if c.endswith("-security")), "")
    main = max((s for c, s in stamps.items() if not c.endswith("-security")), default="")
    return (
        f"--mirror {SNAPSHOT}/debian/{main} --security-mirror {SNAPSHOT}/debian-security/{security}"
    )


def check_available(
    record: ArchiveRecord, offered: Mapping[tuple[str, str], set[str]], source: str = "RECORD"
) -> None:
    """Refuse, before installing anything, when the archive no longer serves a recorded version."""
    missing = unavailable(record, offered)
    if not missing:
        return
    lines = [
        f"  {p.name} ({p.architecture}): recorded {p.version}, "
        f"served now {', '.join(now) if now else 'none'}"
        for p, now in missing
    ]
    raise CheckFailed(
        f"The Debian archive no longer serves {len(missing)} recorded package version(s):\n"
        + "\n".join(lines)
        + "\nReplay against an archive that still has them, e.g. snapshot.debian.org at the "
        f"recorded dates: nox -s base-image -- --replay {source} {snapshot_hint(record)}\n"
        "(or a mirror of your own that kept them). Or build a new base without --replay."
    )


def pin_file(record: ArchiveRecord) -> str:
    """apt preferences that make apt choose exactly the recorded versions (by name: the rootfs
    has one architecture, and apt files `all` packages under the native one)."""
    return "\n".join(
        f"Package: {p.name}\nPin: version {p.version}\nPin-Priority: 1001\n"
        for p in sorted(record.packages)
    )


@contextmanager
def pinned(rootfs: Path, record: ArchiveRecord) -> Iterator[None]:
    """The pin file in the rootfs for the duration; afterwards gone, and its folder's time as it
    was (a folder nothing else touches keeps its package's time, so the layer is unchanged)."""
    pins = rootfs / PIN_FILE
    before = pins.parent.stat()
    pins.write_text(pin_file(record))
    try:
        yield
    finally:
        pins.unlink(missing_ok=True)
        os.utime(pins.parent, ns=(before.st_atime_ns, before.st_mtime_ns))


def installed_differences(record: ArchiveRecord, installed: Iterable[Package]) -> list[str]:
    """How an installed set differs from the record."""
    wanted = {(p.name, p.architecture): p.version for p in record.packages}
    found = {(p.name, p.architecture): p.version for p in installed}
    problems = [f"missing: {n}:{a}={wanted[n, a]}" for n, a in sorted(wanted.keys() - found)]
    problems += [f"not recorded: {n}:{a}={found[n, a]}" for n, a in sorted(found.keys() - wanted)]
    problems += [
        f"version: {n}:{a} is {found[n, a]}, recorded {wanted[n, a]}"
        for n, a in sorted(wanted.keys() & found.keys())
        if found[n, a] != wanted[n, a]
    ]
    return problems


def check_installed(record: ArchiveRecord, installed: Iterable[Package]) -> None:
    problems = installed_differences(record, installed)
    if problems:
        raise VerificationFailed(
            "The replay installed another package set than the record:\n  "
            + "\n  ".join(problems)
            + "\nThe image was not loaded. Check that the record was made by this version of "
            "tools/ner_build/build/base_image.py (the same packages are asked for)."
        )


def release_changes(record: ArchiveRecord, now: Sequence[Release]) -> list[str]:
    """Suites whose Release date moved since the record (harmless if every version is served)."""
    then = {r.codename: r.date for r in record.releases}
    return [f"{r.codename}: recorded {then.get(r.codename)}, now {r.date}"
            for r in now if then.get(r.codename) != r.date]  # fmt: skip


def record_path(tag: str, folder: Path) -> Path:
    """Where a tag's record goes by default: build/base-image/<tag with / and : as _>.json."""
    return folder / (re.sub(r"[^A-Za-z0-9_.-]", "_", tag) + ".json")
