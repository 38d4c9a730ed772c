"""The bundle's own files, as the customer's scripts read them: image.json (one key per line,
read with sed), README.txt from its template, the scan reports, SHA256SUMS over every file, and
the folder as one .tar, byte for byte the same for the same folder."""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ner_build.digest import sha256_of
from ner_build.image import oci_layout
from ner_build.paths import ROOT
from ner_build.release import signing
from ner_build.result import BuildResult

TEMPLATES = ROOT / "tools" / "bundle"
SCRIPT = "verify-and-load.sh"
IMAGE = "image.tar"
RECORD = "image.json"
SBOM_NAME = "sbom.cdx.json"
PROVENANCE = "provenance.intoto.json"
SIGNERS = "allowed_signers"
SUMS = "SHA256SUMS"
SCAN_FOLDER = "scan"
SOURCES_NOTE = "  sources/                what an offline rebuild needs: sh sources/rebuild.sh\n"


@dataclass(frozen=True)
class PlatformImage:
    """One platform's image in the bundle: its build, the archive it is written to, and that
    archive's IDs once written."""

    result: BuildResult
    archive: str
    written: oci_layout.Written


def record(result: BuildResult, written: oci_layout.Written) -> str:
    """image.json: one key per line, which verify-and-load.sh reads with sed."""
    return record_lines(
        {
            "image_id": result.image_id,
            "manifest_digest": written.manifest_digest,
            **described(result),
            "archive": IMAGE,
            "archive_bytes": written.size,
        }
    )


def record_platforms(result: BuildResult, images: dict[str, PlatformImage]) -> str:
    """image.json of a multi-platform bundle: the platforms, then per architecture its image ID,
    archive and manifest digest (verify-and-load.sh reads the host's)."""
    fields: dict[str, object] = {"platforms": list(images), **described(result)}
    for platform, image in images.items():
        fields[architecture(platform)] = [
            image.result.image_id,
            image.archive,
            image.written.manifest_digest,
        ]
    return record_lines(fields)


def described(result: BuildResult) -> dict[str, object]:
    return {
        "tags": result.tags,
        "revision": result.revision,
        "model": f"{result.model}=={result.model_version}",
        "model_sha256": result.model_sha256,
    }


def record_lines(fields: dict[str, object]) -> str:
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in fields.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def architecture(platform: str) -> str:
    return platform.split("/")[1]


def image_lines(images: dict[str, PlatformImage]) -> str:
    """README.txt's lines for the image archives and their SBOMs."""
    if len(images) == 1:
        return (
            f"  {IMAGE:<24}the image (OCI image layout; `docker load` and `podman load` read it)\n"
            f"  {SBOM_NAME:<24}what is inside it (CycloneDX 1.6: Python packages, spaCy pipeline)"
        )
    lines = []
    for platform, image in images.items():
        lines.append(f"  {image.archive:<24}the {platform} image (OCI image layout)")
    lines.append(f"  {'sbom-ARCH.cdx.json':<24}what is inside each (CycloneDX 1.6)")
    lines.append(
        "  verify-and-load.sh loads the image of this host's platform; NER_PLATFORM=linux/ARCH "
        "chooses another."
    )
    return "\n".join(lines)


def readme(
    result: BuildResult,
    key: signing.SigningKey,
    principal: str,
    sources: bool,
    images: dict[str, PlatformImage],
) -> str:
    values = {
        "@IMAGES@": image_lines(images),
        "@VERSION@": result.tags[0].split(":")[-1],
        "@REVISION@": result.revision[:12],
        "@FINGERPRINT@": signing.fingerprint(key.public),
        "@PRINCIPAL@": principal,
        "@TAGS@": " ".join(result.tags),
        "@TAG@": result.tags[0],
        "@SOURCES@": SOURCES_NOTE if sources else "",
    }
    text = (TEMPLATES / "README.txt").read_text()
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def add_scan_reports(folder: Path, reports: Sequence[Path]) -> list[Path]:
    """Copy the reports into folder/scan/, where SHA256SUMS lists them; their bundle paths."""
    if not reports:
        return []
    (folder / SCAN_FOLDER).mkdir()
    for report in reports:
        shutil.copy2(report, folder / SCAN_FOLDER / report.name)
    return [Path(SCAN_FOLDER, report.name) for report in reports]


def files_of(folder: Path) -> Iterator[Path]:
    """Every file under folder, as relative paths in sorted order."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield path.relative_to(folder)


def write_sums(folder: Path) -> Path:
    """SHA256SUMS over every file but itself and its signature, as `sha256sum -c` reads it."""
    sums = folder / SUMS
    lines = [
        f"{sha256_of(folder / name)}  {name.as_posix()}\n"
        for name in files_of(folder)
        if name.name not in (SUMS, f"{SUMS}.sig")
    ]
    sums.write_text("".join(lines))
    return sums


def write_tar(folder: Path, mtime: int) -> Path:
    """folder.tar, byte for byte the same for the same folder."""
    target = folder.with_name(folder.name + ".tar")
    partial = target.with_name(target.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
        for name in files_of(folder):
            info = archive.gettarinfo(folder / name, f"{folder.name}/{name.as_posix()}")
            info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "", ""
            info.mode = 0o755 if name.name.endswith(".sh") else 0o644
            with (folder / name).open("rb") as stream:
                archive.addfile(info, stream)
    partial.replace(target)
    return target
