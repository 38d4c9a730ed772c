"""The bundle's parts: the OCI layout archive (checked by skopeo, a real OCI tool), the
provenance, the ssh-keygen signature and the refusals before anything is written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from ner_build.engine.docker import Docker
from ner_build.engine.platforms import Platform
from ner_build.errors import CheckFailed, FailedProcessError
from ner_build.image import archive as image_archive
from ner_build.image import oci_layout
from ner_build.release import bundle, bundle_files, provenance, signing
from ner_build.result import BuildResult

from ..image.test_normalize import app_layer, base_layer, save_archive
from ..support import DOCKER

IMAGE_ID = "sha256:" + "1" * 64
RESULT = BuildResult(
    image_id=IMAGE_ID,
    tags=["ner-app:0.1.0", "ner-app:abc1234", "ner-app:latest"],
    revision="a" * 40,
    model="en_core_web_sm",
    model_version="3.8.0",
    model_sha256="5" * 64,
    ca_bundle=None,
    engine="Docker (buildx) 26.1.5",
    base_image="python:3.12-slim-bookworm@sha256:" + "2" * 64,
    base_image_id="sha256:" + "3" * 64,
    buildx_args=["--network=none"],
)
SCRIPT = bundle_files.TEMPLATES / bundle_files.SCRIPT


@pytest.fixture
def saved(tmp_path: Path) -> image_archive.SavedImage:
    return image_archive.read(save_archive(tmp_path / "saved.tar", [base_layer(), app_layer()]))


def written_archive(saved: image_archive.SavedImage, target: Path) -> oci_layout.Written:
    return oci_layout.write(saved, target, mtime=1_700_000_000)


def test_the_archive_holds_the_same_image_in_both_layouts(
    saved: image_archive.SavedImage, tmp_path: Path
) -> None:
    written = written_archive(saved, tmp_path / "image.tar")
    assert written.image_id == oci_layout.digest_of(saved.config_bytes)
    with tarfile.open(tmp_path / "image.tar") as archive:
        names = archive.getnames()
        docker_manifest = json.load(image_archive.member(archive, "manifest.json"))
    assert names[:3] == ["oci-layout", "index.json", "manifest.json"]
    assert docker_manifest[0]["RepoTags"] is None  # tagged only after the ID is checked
    again = image_archive.read(tmp_path / "image.tar")  # reads index.json first
    assert again.config_bytes == saved.config_bytes
    for position in range(2):
        with saved.open_layer(position) as before, again.open_layer(position) as after:
            assert before.read() == after.read()


def test_the_archive_is_the_same_bytes_every_time(
    saved: image_archive.SavedImage, tmp_path: Path
) -> None:
    first = written_archive(saved, tmp_path / "a.tar")
    second = written_archive(saved, tmp_path / "b.tar")
    assert first == second
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


@pytest.mark.host
def test_skopeo_reads_the_archive_as_an_oci_layout(
    saved: image_archive.SavedImage, tmp_path: Path
) -> None:
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        pytest.fail("skopeo is missing: run `tools/provision-debian registry` (Debian: skopeo)")
    written = written_archive(saved, tmp_path / "image.tar")
    inspected = subprocess.run(
        [skopeo, "inspect", "--raw", f"oci-archive:{tmp_path / 'image.tar'}"],
        check=True,
        capture_output=True,
    ).stdout
    assert oci_layout.digest_of(inspected) == written.manifest_digest
    assert json.loads(inspected)["config"]["digest"] == written.image_id


def test_a_layer_that_is_not_what_the_config_says_is_refused(tmp_path: Path) -> None:
    archive = save_archive(tmp_path / "saved.tar", [base_layer(), app_layer()])
    saved = image_archive.read(archive)
    other = replace(saved, layer_names=list(reversed(saved.layer_names)))
    with pytest.raises(CheckFailed, match=r"layer 0 is sha256:.*but the config says"):
        written_archive(other, tmp_path / "image.tar")


def test_provenance_names_the_commit_lock_base_and_model() -> None:
    statement = provenance.statement(RESULT, ["sha256:" + "4" * 64], "6" * 64, "0.1.0")
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert [s["name"] for s in statement["subject"]] == RESULT.tags
    assert {s["digest"]["sha256"] for s in statement["subject"]} == {"4" * 64}
    definition = statement["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["buildxArgs"] == ["--network=none"]
    digests = [d["digest"] for d in definition["resolvedDependencies"]]
    assert digests == [
        {"gitCommit": "a" * 40},
        {"sha256": "6" * 64},
        {"sha256": "2" * 64},  # the base's registry digest, from its pinned ref
        {"sha256": "5" * 64},
    ]


def test_a_local_base_is_named_by_its_image_id() -> None:
    local = replace(RESULT, base_image="ner-app-base:bookworm-python3")
    dependency = provenance.base_dependency(local)
    assert dependency["digest"] == {"sha256": "3" * 64}
    assert "image ID" in dependency["annotations"]["note"]


def test_a_digest_must_be_sha256() -> None:
    with pytest.raises(ValueError, match="not a sha256 digest"):
        provenance.hex_of("md5:abc")


def make_key(folder: Path, comment: str = "vendor@example.com") -> Path:
    key = folder / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)], check=True
    )
    return key


def test_a_signature_verifies_with_the_allowed_signers_line(tmp_path: Path) -> None:
    key = signing.load(make_key(tmp_path))
    message = tmp_path / "SHA256SUMS"
    message.write_text("0" * 64 + "  image.tar\n")
    signature = signing.sign(key, message)
    signers = tmp_path / "allowed_signers"
    signers.write_text(key.allowed_signers(key.principal))
    verify = [
        "ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", "vendor@example.com",
        "-n", signing.NAMESPACE, "-s", str(signature),
    ]  # fmt: skip
    assert subprocess.run(verify, input=message.read_bytes(), check=False).returncode == 0
    message.write_text("1" * 64 + "  image.tar\n")  # the control: a changed message fails
    assert subprocess.run(verify, input=message.read_bytes(), check=False).returncode != 0


def test_the_public_half_is_derived_when_no_pub_file_is_beside_the_key(tmp_path: Path) -> None:
    path = make_key(tmp_path)
    public = path.with_name("key.pub").read_text().split()[:2]
    path.with_name("key.pub").unlink()
    assert signing.load(path).public.split()[:2] == public
    assert signing.fingerprint(" ".join(public)).startswith("SHA256:")


def test_a_missing_or_unreadable_key_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(CheckFailed, match="ssh-keygen -t ed25519"):
        signing.load(None)
    with pytest.raises(CheckFailed, match="does not exist"):
        signing.load(tmp_path / "nope")
    (tmp_path / "junk").write_text("not a key\n")
    with pytest.raises(FailedProcessError, match="OpenSSH private key"):
        signing.load(tmp_path / "junk")


def test_sums_list_every_file_but_themselves_as_sha256sum_reads_them(tmp_path: Path) -> None:
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "a.whl").write_bytes(b"wheel")
    (tmp_path / "image.json").write_text("{}\n")
    (tmp_path / "SHA256SUMS.sig").write_text("old\n")
    sums = bundle_files.write_sums(tmp_path)
    assert [line.split("  ")[1] for line in sums.read_text().splitlines()] == [
        "image.json",
        "sources/a.whl",
    ]
    check = subprocess.run(["sha256sum", "-c", "--strict", sums.name], cwd=tmp_path, check=False)
    assert check.returncode == 0


def test_the_script_reads_the_record_it_is_given(tmp_path: Path) -> None:
    """image.json as bundle_files.record writes it, read by verify-and-load.sh's own sed line."""
    written = oci_layout.Written(IMAGE_ID, "sha256:" + "4" * 64, 123)
    (tmp_path / "image.json").write_text(bundle_files.record(RESULT, written))
    assert json.loads((tmp_path / "image.json").read_text())["tags"] == RESULT.tags
    function = SCRIPT.read_text().split("record() {")[1].split("\n}\n")[0]
    for key, expected in (("image_id", IMAGE_ID), ("tags", " ".join(RESULT.tags))):
        shell = f"bundle={tmp_path}\nrecord() {{{function}\n}}\nrecord {key}"
        found = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, check=True)
        assert found.stdout.strip() == expected


@pytest.mark.host
def test_an_image_that_is_not_the_product_or_not_built_is_refused() -> None:
    docker = Docker.from_string(DOCKER)  # the real engine, which has no such tag
    fallback = {"input": "model", "pinned": "", "used": "", "reason": "", "remedy": ""}
    with pytest.raises(CheckFailed, match="local stand-ins \\(model\\)"):
        bundle.check_image(docker, replace(RESULT, fallbacks=[fallback]), force=False)
    dirty = replace(RESULT, tags=["ner-app:0.1.0", "ner-app-unit-test:abc1234-dirty"])
    with pytest.raises(CheckFailed, match="uncommitted changes"):
        bundle.check_image(docker, dirty, force=False)
    with pytest.raises(CheckFailed, match=r"is not in the engine.*run `nox -s build` first"):
        bundle.check_image(docker, dirty, force=True)  # --force lets the dirty tree through


def test_an_sbom_of_another_image_is_refused(tmp_path: Path) -> None:
    sbom = tmp_path / "sbom.cdx.json"
    sbom.write_text(json.dumps({"metadata": {"component": {"bom-ref": "sha256:" + "9" * 64}}}))
    with pytest.raises(CheckFailed, match="run `nox -s build` again"):
        bundle.check_sbom(sbom, IMAGE_ID)
    with pytest.raises(CheckFailed, match="is missing"):
        bundle.check_sbom(tmp_path / "none.json", IMAGE_ID)


# --- a bundle of several platforms ----------------------------------------------------------


def platform_bundle(folder: Path, tmp_path: Path) -> dict[str, bundle_files.PlatformImage]:
    """A signed two-platform bundle of tiny images, as `nox -s bundle -- --all-platforms`
    writes its record, sums and signature."""
    from ..build.test_multiplatform import ARM64, saved_image

    folder.mkdir()
    images = {}
    for platform in (Platform("amd64"), ARM64):
        name = f"image-{platform.architecture}.tar"
        written = oci_layout.write(saved_image(tmp_path, platform), folder / name, 1_700_000_000)
        result = replace(UNIT_RESULT, image_id=written.image_id, platform=str(platform))
        images[str(platform)] = bundle_files.PlatformImage(result, name, written)
    (folder / bundle_files.RECORD).write_text(bundle_files.record_platforms(UNIT_RESULT, images))
    shutil.copy2(SCRIPT, folder / bundle_files.SCRIPT)
    key = signing.load(make_key(tmp_path))
    (folder / bundle_files.SIGNERS).write_text(key.allowed_signers(key.principal))
    signing.sign(key, bundle_files.write_sums(folder))
    return images


UNIT_RESULT = replace(RESULT, tags=["ner-app-unit-bundle:0.1.0", "ner-app-unit-bundle:abc1234"])


def load_platform(folder: Path, platform: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER": DOCKER}
    if platform:
        env["NER_PLATFORM"] = platform
    return subprocess.run(
        ["sh", str(SCRIPT), str(folder)], env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.host
def test_a_bundle_of_two_platforms_loads_the_hosts_or_the_one_asked_for(tmp_path: Path) -> None:
    images = platform_bundle(tmp_path / "bundle", tmp_path)
    docker = Docker.from_string(DOCKER)
    tag = UNIT_RESULT.tags[0]
    native = str(Platform.native())
    try:
        for asked, expected in (
            (None, native),
            ("linux/arm64", "linux/arm64"),
            ("linux/amd64", "linux/amd64"),
        ):
            done = load_platform(tmp_path / "bundle", asked)
            assert done.returncode == 0, done.stdout + done.stderr
            assert f"platform: {expected}" in done.stdout
            assert docker.image_id(tag) == images[expected].result.image_id
            assert docker.platform_of(tag) == expected
        refused = load_platform(tmp_path / "bundle", "linux/riscv64")  # the control: none for it
        assert refused.returncode == 2
        assert "has no image for linux/riscv64 (it has: linux/amd64 linux/arm64)" in refused.stderr
    finally:
        docker.run("image", "rm", *UNIT_RESULT.tags)
        for image in images.values():
            docker.run("image", "rm", image.result.image_id)


def test_the_readme_lists_each_platforms_archive(tmp_path: Path) -> None:
    images = platform_bundle(tmp_path / "bundle", tmp_path)
    key = signing.load(make_key(tmp_path / "bundle"))
    text = bundle_files.readme(UNIT_RESULT, key, "vendor", False, images)
    assert "image-amd64.tar         the linux/amd64 image" in text
    assert "image-arm64.tar         the linux/arm64 image" in text
    assert "@" not in text.replace("vendor@example.com", "")


# --- the vulnerability scan in the bundle ---------------------------------------------------

TRIVY_REPORT = Path(__file__).parents[1] / "data" / "trivy-image.json"


def test_scan_reports_are_parsed_from_repeated_options() -> None:
    options = bundle.parse(["--scan-report", "a.json", "--scan-report", "b.json"], {})
    assert options.scan_reports == [Path("a.json"), Path("b.json")]
    assert bundle.parse([], {}).scan_reports is None


def test_a_scan_report_goes_into_the_signed_sums_and_the_bundle_verifies(tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    platform_bundle(folder, tmp_path)
    added = bundle_files.add_scan_reports(folder, [TRIVY_REPORT])
    assert added == [Path("scan/trivy-image.json")]
    key = signing.load(tmp_path / "key")
    signing.sign(key, bundle_files.write_sums(folder))
    assert "  scan/trivy-image.json\n" in (folder / bundle_files.SUMS).read_text()
    bundle.verify(folder, None)
    (folder / "scan" / "trivy-image.json").write_text("{}\n")  # the control: altered after signing
    with pytest.raises(bundle.VerificationFailed):
        bundle.verify(folder, None)


def test_a_report_that_is_not_trivy_json_or_shares_a_name_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "report.json"
    bad.write_text('{"SchemaVersion": 1}')
    with pytest.raises(CheckFailed, match="schema version 2"):
        bundle.check_scan_reports([bad])
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy2(TRIVY_REPORT, other / TRIVY_REPORT.name)
    with pytest.raises(CheckFailed, match="share a file name"):
        bundle.check_scan_reports([TRIVY_REPORT, other / TRIVY_REPORT.name])
    bundle.check_scan_reports([TRIVY_REPORT])
