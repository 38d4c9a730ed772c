"""`nox -s build -- --platform linux/amd64,linux/arm64`: one image per platform, joined as one
multi-platform image (an OCI image index).

Each platform is built exactly as `nox -s build -- --platform P` builds it (a platform other
than the host's under QEMU emulation). An engine's classic image store holds one image per tag,
so the host's platform keeps the regular tags and build/image.json, and another platform is
tagged IMAGE-ARCH (ner-app-arm64:0.1.0, ...) and recorded in build/ARCH/image.json. Both are
then written as one OCI image layout archive, build/index.oci.tar, whose index lists each
image's manifest with its platform; build/index.json records the index digest and each
platform's image ID and manifest digest. Push it whole with
`skopeo copy --all oci-archive:build/index.oci.tar docker://REGISTRY/ner-app:VERSION`.

--base-image may name one base per platform, comma-separated; each platform builds on the one
of its own platform (e.g. ner-app-base:bookworm-python3,ner-app-base:bookworm-python3-arm64),
and a platform with none builds on the Dockerfile's pinned base (an index: each platform's
image is pulled from it).

`nox -s index -- RECORD...` (this module's main) joins images built elsewhere instead, each
platform on a host of its own architecture, once pulled here: the release job's way.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ner_build import console, git, process
from ner_build.build.options import BuildOptions, result_paths
from ner_build.engine import setups as engine_setups
from ner_build.engine.docker import Docker
from ner_build.engine.platforms import Platform, check_runnable, parse_list
from ner_build.errors import CheckFailed, VerificationFailed
from ner_build.image import archive as image_archive
from ner_build.image import oci_layout
from ner_build.paths import BUILD, ROOT
from ner_build.result import BuildResult, result_path, sbom_beside

ARCHIVE = BUILD / "index.oci.tar"
RECORD = BUILD / "index.json"
step = console.step


@dataclass(frozen=True)
class IndexRecord:
    """What build/index.json holds: the archive, its index digest, and each platform's image."""

    ref_name: str
    archive: str
    index_digest: str
    images: dict[str, dict[str, str]]  # by platform: image_id, manifest_digest, tag, result

    @classmethod
    def load(cls, path: Path = RECORD) -> IndexRecord:
        if not path.exists():
            raise CheckFailed(
                f"{path} is missing: build several platforms first, e.g. "
                "`nox -s build -- --platform linux/amd64,linux/arm64`."
            )
        return cls(**json.loads(path.read_text()))


def other_platform_name(repository: str, platform: Platform) -> str:
    """An engine keeps one image per tag, so another platform than the host's is named
    REPOSITORY-ARCH (ner-app-arm64:0.1.0) ..."""
    return f"{repository}-{platform.architecture}"


def other_platform_record(platform: Platform, folder: Path = BUILD) -> Path:
    """... and recorded in build/ARCH/image.json; the host's keeps the regular name and record."""
    return folder / platform.architecture / "image.json"


def is_multiplatform(options: BuildOptions) -> bool:
    return options.platform is not None and len(parse_list(options.platform)) > 1


def platform_options(
    options: BuildOptions, platform: Platform, native: Platform, base: str | None
) -> BuildOptions:
    """One platform's build: the host's keeps the regular name, another is IMAGE-ARCH."""
    if platform == native:
        return replace(options, platform=str(platform), base_image=base)
    return replace(
        options,
        platform=str(platform),
        image=other_platform_name(options.image, platform),
        base_image=base,
        result=other_platform_record(platform),
    )


def bases(
    docker: Docker, given: str | None, targets: tuple[Platform, ...]
) -> dict[Platform, str | None]:
    """Each platform's base: the one of its platform among the comma-separated --base-image,
    else None (the Dockerfile's pinned base, pulled for that platform)."""
    chosen: dict[Platform, str | None] = dict.fromkeys(targets)
    for ref in filter(None, (part.strip() for part in (given or "").split(","))):
        found = docker.platform_of(ref)
        matching = [target for target in targets if str(target) == found]
        if not matching:
            raise CheckFailed(
                f"--base-image {ref} is {found or 'not in the engine'}, none of the platforms "
                f"built ({', '.join(map(str, targets))}). Give one base per platform, comma-"
                "separated (make an arm64 one with `nox -s base-image -- --arch arm64`); a "
                "platform with none builds on the Dockerfile's pinned base."
            )
        chosen[matching[0]] = ref
    return chosen


def command(options: BuildOptions, build_one: Callable[[BuildOptions], None]) -> IndexRecord:
    """Build every platform asked for with build_one (the build's single-platform command), then
    write and record their index."""
    targets = parse_list(options.platform or "")
    for target in targets:
        check_runnable(target)  # every platform is checked before anything is built
    docker = Docker.from_string(options.docker)
    docker.check_engine()
    native = Platform.native()
    chosen = bases(docker, options.base_image, targets)
    results: dict[Platform, tuple[BuildResult, Path]] = {}
    for target in targets:
        step(f"building {target} ({'native' if target == native else 'under emulation'})")
        each = platform_options(options, target, native, chosen[target])
        build_one(each)
        path = result_paths(each)[0]
        results[target] = (BuildResult.load(path), path)
    return record_index(docker, results)


def record_index(
    docker: Docker, results: dict[Platform, tuple[BuildResult, Path]], folder: Path = BUILD
) -> IndexRecord:
    """Write the platforms' index archive and index.json into folder (build/), and say what
    they hold."""
    record = write_index(docker, results, folder / ARCHIVE.name)
    (folder / RECORD.name).write_text(json.dumps(asdict(record), indent=2) + "\n")
    report(record)
    return record


def join(
    docker: Docker, records: Sequence[Path], folder: Path = BUILD, host_record: Path | None = None
) -> IndexRecord:
    """One index from images built elsewhere, each platform on a host of its own architecture,
    and pulled into this engine: each record is that build's image.json (its SBOM beside it,
    as RECORD.sbom.cdx.json). They are tagged and recorded as a multi-platform build here
    would have, so that `nox -s bundle -- --all-platforms` takes them: the host's platform in
    host_record (build/image.json), another in folder/ARCH/image.json."""
    native = Platform.native()
    host_record = host_record or result_path()
    results: dict[Platform, tuple[BuildResult, Path]] = {}
    for source in records:
        result = BuildResult.load(source)
        platform = Platform.parse(result.platform or "unrecorded")
        if platform in results:
            raise CheckFailed(f"{source} and another record are both {platform}: give one each.")
        if docker.image_id(result.image_id) != result.image_id:
            raise CheckFailed(
                f"{source}: its image {result.image_id} is not in the engine behind `{docker}`; "
                f"pull it by digest first (`docker pull --platform {platform} REPO@DIGEST`)."
            )
        own = platform == native
        target = host_record if own else other_platform_record(platform, folder)
        results[platform] = place(docker, result, source, target, None if own else platform)
    return record_index(docker, dict(sorted(results.items())), folder)


def place(
    docker: Docker, result: BuildResult, source: Path, target: Path, other: Platform | None
) -> tuple[BuildResult, Path]:
    """Tag a pulled image and record it in target: another platform than the host's is tagged
    IMAGE-ARCH, as a multi-platform build here tags it."""
    tags = result.tags
    if other is not None:
        parts = (tag.rpartition(":") for tag in tags)
        tags = [f"{other_platform_name(name, other)}:{version}" for name, _, version in parts]
    docker.tag(result.image_id, tags)
    placed = replace(result, tags=tags)
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.resolve() != target.resolve():
        shutil.copy2(sbom_beside(source), sbom_beside(target))
    target.write_text(json.dumps(asdict(placed), indent=2) + "\n")
    return placed, target


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nox -s index --",
        description="Join images built on other hosts, one per platform and pulled here, into "
        "one OCI index (build/index.oci.tar, build/index.json).",
    )
    parser.add_argument("records", nargs="+", type=Path, help="each build's image.json")
    parser.add_argument("--docker", default=os.environ.get("DOCKER", "docker"), help="[DOCKER]")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)

    def joined() -> None:
        join(Docker.from_string(args.docker), args.records)

    return console.run_main(joined)


def write_index(
    docker: Docker, results: dict[Platform, tuple[BuildResult, Path]], target: Path
) -> IndexRecord:
    """Save each platform's image (its build result and where that is recorded) from the
    engine and write them as one multi-platform archive."""
    ref_name = next(iter(results.values()))[0].tags[0].split(":")[-1]
    step(f"writing the multi-platform image {target} ({', '.join(map(str, results))})")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ner-app-index-", dir=target.parent) as tmp:
        saved = {}
        for platform, (result, _) in results.items():
            archive = Path(tmp) / f"{platform.architecture}.tar"
            docker.save(result.image_id, archive)
            saved[platform] = image_archive.read(archive)
        written = oci_layout.write_platforms(saved, target, git.commit_time(ROOT), ref_name)
    images = {}
    for platform, (result, recorded) in results.items():
        image = written.images[str(platform)]
        if image.image_id != result.image_id:
            raise VerificationFailed(
                f"The saved {platform} image is {image.image_id}, not {result.image_id}: "
                "build again."
            )
        images[str(platform)] = {
            "image_id": result.image_id,
            "manifest_digest": image.manifest_digest,
            "tag": result.tags[0],
            "result": str(recorded),
        }
    return IndexRecord(ref_name, str(target), written.index_digest, images)


def report(record: IndexRecord) -> None:
    lines = [f"multi-platform image {record.ref_name}: index {record.index_digest}"]
    for platform, image in record.images.items():
        lines.append(f"  {platform}: {image['tag']} {image['image_id']}")
    lines.append(
        f"archive: {record.archive} (push it: skopeo copy --all oci-archive:{record.archive} docker://REGISTRY/REPO:{record.ref_name})"
    )
    print("\n".join(lines))


def push(archive: Path, reference: str, tls_verify: bool = True) -> None:
    """Copy the whole multi-platform archive to a registry (every platform, and the index)."""
    step(f"pushing {archive} to {reference} with skopeo")
    completed = process.run(
        [
            "skopeo",
            "copy",
            "--all",
            f"--dest-tls-verify={str(tls_verify).lower()}",
            f"oci-archive:{archive}",
            f"docker://{reference}",
        ],
        check=False,
        missing="Install skopeo (Debian: apt-get install skopeo).",
    )
    if completed.returncode:
        raise CheckFailed(
            f"skopeo could not push {archive} to {reference}: {completed.stderr.strip()}"
        )


def manifest_client(env: Mapping[str, str]) -> Docker:
    """A client whose `manifest inspect` reads an OCI index: Docker 26's when `tools/provision-
    debian docker26` set it up here, else DOCKER's. (Docker 20.10's answers "no such manifest"
    for an index that skopeo and Docker 26 read.)"""
    setup = engine_setups.named("docker26")
    return setup.docker if setup else Docker.from_env(env)


def listed_platforms(docker: Docker, reference: str, insecure: bool = False) -> list[str]:
    """The platforms `docker manifest inspect` lists for a reference in a registry."""
    flags = ["--insecure"] if insecure else []
    inspected = docker.run("manifest", "inspect", *flags, reference)
    if inspected.returncode:
        raise CheckFailed(
            f"`{docker} manifest inspect {reference}` failed: {inspected.stderr.strip()}. "
            "Docker 26's client reads an OCI index, 20.10's says \"no such manifest\"; "
            f"`skopeo inspect --raw docker://{reference}` shows it too."
        )
    manifests = json.loads(inspected.stdout).get("manifests", [])
    return sorted(
        "/".join(filter(None, (m["platform"]["os"], m["platform"]["architecture"])))
        for m in manifests
    )


if __name__ == "__main__":
    sys.exit(main())
