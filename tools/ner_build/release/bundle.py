"""`nox -s bundle`: the built image as a signed folder, and a .tar of it, for a customer with
no registry. The customer needs only the folder, sh, OpenSSH and a container engine.

    nox -s bundle -- --key KEY                  # build/bundle/ner-app-VERSION-REV/ and its .tar
    nox -s bundle -- --key KEY --with-sources   # also what an offline rebuild needs (sources/)
    nox -s bundle -- --key KEY --all-platforms  # every platform of the last multi-platform build
    nox -s bundle -- --key KEY --scan-report trivy-image.json   # with the scan, in scan/
    nox -s bundle -- --verify DIR               # the customer's checks, run from the project

The folder holds image.tar (an OCI image layout with Docker's manifest.json beside it),
image.json (image ID, manifest digest, tags), sbom.cdx.json, provenance.intoto.json,
verify-and-load.sh, README.txt, allowed_signers, SHA256SUMS and SHA256SUMS.sig. It is written
beside its final place and moved there only when complete.

With --all-platforms each platform's image is its own archive, image-ARCH.tar (and its SBOM
sbom-ARCH.cdx.json); image.json lists the platforms, and verify-and-load.sh loads the one of
the host it runs on (NER_PLATFORM chooses another), tagged with the same tags on every platform.

Each --scan-report (a Trivy JSON report of the image or its SBOM, repeatable) goes into scan/
under its own name, listed in SHA256SUMS like every other file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ner_build import console, git, process
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed, FailedProcessError, VerificationFailed
from ner_build.image import archive as image_archive
from ner_build.image import oci_layout
from ner_build.paths import BUILD, PYPROJECT, ROOT
from ner_build.release import bundle_files as files
from ner_build.release import provenance, signing
from ner_build.result import BuildResult, result_path, sbom_beside

step = console.step


@dataclass(frozen=True)
class BundleOptions:
    docker: str
    key: Path | None
    signer: str | None
    output: Path | None
    with_sources: bool
    force: bool
    verify: Path | None
    allowed_signers: Path | None
    all_platforms: bool = False
    scan_reports: list[Path] | None = None


def parse(argv: Sequence[str], env: Mapping[str, str]) -> BundleOptions:
    parser = argparse.ArgumentParser(prog="nox -s bundle --", description=__doc__)
    add = parser.add_argument
    add("--docker", default=env.get("DOCKER", "docker"), help="docker client command [DOCKER]")
    add(
        "--key",
        type=Path,
        default=_path(env.get("NER_BUNDLE_KEY")),
        help="OpenSSH private key to sign with, or its .pub when the key is in ssh-agent"
        " [NER_BUNDLE_KEY]",
    )
    add(
        "--signer",
        default=env.get("NER_BUNDLE_SIGNER"),
        help="who signs, as allowed_signers names it (default: the key's comment)"
        " [NER_BUNDLE_SIGNER]",
    )
    add("--output", type=Path, help="the bundle folder (default: build/bundle/ner-app-VER-REV)")
    add("--with-sources", action="store_true", help="add what an offline rebuild needs")
    add(
        "--all-platforms",
        action="store_true",
        help="every platform of the last multi-platform build (build/index.json), each as its "
        "own archive; verify-and-load.sh loads the host's",
    )
    add(
        "--scan-report",
        dest="scan_reports",
        type=Path,
        action="append",
        metavar="FILE",
        help="a Trivy JSON report to include under scan/ (repeatable)",
    )
    add("--force", action="store_true", help="bundle an image built from a dirty tree")
    add("--verify", type=Path, metavar="DIR", help="verify a bundle folder instead of making one")
    add(
        "--allowed-signers",
        type=Path,
        default=_path(env.get("NER_ALLOWED_SIGNERS")),
        help="with --verify: the signers to trust (default: the bundle's) [NER_ALLOWED_SIGNERS]",
    )
    return BundleOptions(**vars(parser.parse_args(argv)))


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def check_image(docker: Docker, result: BuildResult, force: bool) -> None:
    """Refuse an image that is not the product, or not the one the build recorded."""
    if result.fallbacks:
        raise CheckFailed(
            f"{result.tags[1]} was built with local stand-ins ({', '.join(result.stand_ins)}): "
            "it is not the product. Build with the pinned inputs, then bundle."
        )
    if result.tags[1].endswith("-dirty") and not force:
        raise CheckFailed(
            f"{result.tags[1]} was built from a tree with uncommitted changes: commit, run "
            "`nox -s build`, then bundle (or pass --force)."
        )
    if docker.image_id(result.tags[1]) != result.image_id:
        raise CheckFailed(
            f"{result.tags[1]} ({result.image_id}) is not in the engine behind `{docker}`: "
            "run `nox -s build` first."
        )


def check_sbom(path: Path, image_id: str) -> None:
    if not path.is_file():
        raise CheckFailed(f"{path} is missing: run `nox -s build`, which writes it.")
    described = json.loads(path.read_text())["metadata"]["component"]["bom-ref"]
    if described != image_id:
        raise CheckFailed(
            f"{path} describes {described}, not {image_id}: run `nox -s build` again."
        )


def default_folder(result: BuildResult) -> Path:
    version = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    return BUILD / "bundle" / f"ner-app-{version}-{result.tags[1].split(':')[-1]}"


def write_image(
    docker: Docker, result: BuildResult, folder: Path, name: str = files.IMAGE
) -> oci_layout.Written:
    """Save the image from the engine and write it as one of the bundle's OCI archives."""
    saved = folder / "saved.tar"
    docker.save(result.image_id, saved)
    try:
        written = oci_layout.write(
            image_archive.read(saved), folder / name, git.revision_time(ROOT, result.revision)
        )
    finally:
        saved.unlink(missing_ok=True)
    if written.image_id != result.image_id:
        raise VerificationFailed(
            f"The saved image is {written.image_id}, not {result.image_id}: build it again."
        )
    return written


def lock_sha256(revision: str) -> str:
    """The sha256 of poetry.lock as committed at revision."""
    shown = git.show(ROOT, revision, "poetry.lock")
    if shown is None:
        raise CheckFailed(
            f"This checkout has no commit {revision}, which the image was built from: bundle "
            "from the checkout that built it."
        )
    return hashlib.sha256(shown).hexdigest()


def check_scan_reports(reports: Sequence[Path]) -> None:
    """Refuse, before anything is written, reports that are not Trivy JSON or share a name."""
    from ner_build.release import scan

    for report in reports:
        scan.read_report(report)
    names = [report.name for report in reports]
    if len(set(names)) != len(names):
        raise CheckFailed(f"Two scan reports share a file name ({names}): rename one.")


def platform_results(
    result: BuildResult, all_platforms: bool
) -> dict[str, tuple[BuildResult, Path]]:
    """The builds to bundle, by platform, with where each is recorded: this build's, or with
    all_platforms every platform of the last multi-platform build, which must include it."""
    if not all_platforms:
        return {result.platform: (result, result_path())}
    from ner_build.build import multiplatform  # only for --all-platforms

    record = multiplatform.IndexRecord.load()
    if record.images.get(result.platform, {}).get("image_id") != result.image_id:
        raise CheckFailed(
            f"{multiplatform.RECORD} is not of the last build ({result.tags[1]}): build every "
            f"platform again, e.g. `nox -s build -- --platform {','.join(record.images)}`."
        )
    return {
        platform: (BuildResult.load(Path(image["result"])), Path(image["result"]))
        for platform, image in record.images.items()
    }


def write_images(
    docker: Docker, results: dict[str, tuple[BuildResult, Path]], folder: Path
) -> dict[str, files.PlatformImage]:
    """Each platform's image as an OCI archive and its SBOM: image.tar and sbom.cdx.json for
    one, image-ARCH.tar and sbom-ARCH.cdx.json for several."""
    images = {}
    for platform, (result, recorded) in results.items():
        several = len(results) > 1
        name = f"image-{files.architecture(platform)}.tar" if several else files.IMAGE
        step(f"writing the {platform or 'built'} image as an OCI layout archive: {folder / name}")
        images[platform] = files.PlatformImage(
            result, name, write_image(docker, result, folder, name)
        )
        sbom = f"sbom-{files.architecture(platform)}.cdx.json" if several else files.SBOM_NAME
        shutil.copy2(sbom_beside(recorded), folder / sbom)
    return images


def fill(
    options: BundleOptions,
    docker: Docker,
    result: BuildResult,
    results: dict[str, tuple[BuildResult, Path]],
    folder: Path,
) -> dict[str, files.PlatformImage]:
    """Write every file of the bundle into folder, signed: each platform's image of results,
    tagged as the host's build (result) is, since the tags name the product on every one."""
    key = signing.load(options.key)
    principal = options.signer or key.principal
    if not principal:
        raise CheckFailed("The key has no comment to name the signer by: pass --signer NAME.")
    images = write_images(docker, results, folder)
    several = len(images) > 1
    only = next(iter(images.values()))
    text = files.record_platforms(result, images) if several else files.record(result, only.written)
    (folder / files.RECORD).write_text(text)
    version = result.tags[0].split(":")[-1]
    digests = [image.written.manifest_digest for image in images.values()]
    statement = provenance.statement(result, digests, lock_sha256(result.revision), version)
    (folder / files.PROVENANCE).write_text(provenance.dumps(statement))
    shutil.copy2(files.TEMPLATES / files.SCRIPT, folder / files.SCRIPT)
    (folder / "README.txt").write_text(
        files.readme(result, key, principal, options.with_sources, images)
    )
    (folder / files.SIGNERS).write_text(key.allowed_signers(principal))
    if options.with_sources:
        from ner_build.release import sources  # only for --with-sources

        step("adding what an offline rebuild needs (sources/)")
        sources.add(folder, result, docker, os.environ.get("POETRY", "poetry"))
    files.add_scan_reports(folder, options.scan_reports or [])
    step(f"signing SHA256SUMS as {principal} ({signing.fingerprint(key.public)})")
    signing.sign(key, files.write_sums(folder))
    return images


def make(options: BundleOptions) -> Path:
    docker = Docker.from_string(options.docker)
    result = BuildResult.load()
    if options.all_platforms and options.with_sources:
        raise CheckFailed(
            "--with-sources rebuilds the host's platform only: bundle with --all-platforms, "
            "and separately with --with-sources, or drop one of the two."
        )
    check_scan_reports(options.scan_reports or [])
    results = platform_results(result, options.all_platforms)
    for each, recorded in results.values():
        check_image(docker, each, options.force)
        check_sbom(sbom_beside(recorded), each.image_id)
    folder = options.output or default_folder(result)
    if options.output and folder.exists() and any(folder.iterdir()):
        raise CheckFailed(f"{folder} exists and is not empty: choose another --output.")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        images = fill(options, docker, result, results, partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    partial.replace(folder)
    step("checking the bundle as the customer will (verify-and-load.sh --verify-only)")
    verify(folder, None)
    archive = files.write_tar(folder, git.revision_time(ROOT, result.revision))
    print(f"bundle: {folder}/\n  and as one file: {archive} ({archive.stat().st_size} bytes)")
    for platform, image in images.items():
        written = image.written
        print(f"{platform or 'image'}: ID {written.image_id}, manifest {written.manifest_digest}")
    return folder


def verify(folder: Path, allowed_signers: Path | None) -> None:
    """Run this project's verify-and-load.sh --verify-only on folder."""
    env = {"NER_ALLOWED_SIGNERS": str(allowed_signers.resolve())} if allowed_signers else {}
    command = ["sh", str(files.TEMPLATES / files.SCRIPT), "--verify-only", str(folder)]
    try:
        process.stream(command, env=env)
    except FailedProcessError:
        raise VerificationFailed(f"{folder} is not a good bundle (see above).") from None


def command(options: BundleOptions) -> None:
    if options.verify:
        verify(options.verify, options.allowed_signers)
    else:
        make(options)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv, os.environ)
    return console.run_main(lambda: command(options))


if __name__ == "__main__":
    sys.exit(main())
