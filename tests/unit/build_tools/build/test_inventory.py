import json
from dataclasses import replace
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from ner_build.build import inventory, lockfile
from ner_build.build.debian_archive import ArchiveRecord, Package, Release
from ner_build.build.inventory import Distribution, Inventory
from packageurl import PackageURL

from ..support import ROOT

LOCK = ROOT / "poetry.lock"
LINUX = {"sys_platform": "linux", "platform_system": "Linux", "python_version": "3.11",
         "python_full_version": "3.11.2", "os_name": "posix", "platform_machine": "x86_64",
         "implementation_name": "cpython", "platform_python_implementation": "CPython",
         "platform_release": "", "platform_version": "", "extra": ""}  # fmt: skip
MODEL_SHA = "6adb1b5156512c7331a13257df832f77fa975c68bf52bdc5bdf254ea08405e0f"
LABELS = {
    "org.opencontainers.image.title": "ner-app",
    "org.opencontainers.image.version": "0.1.0",
    "org.opencontainers.image.created": "2026-11-26T21:16:14Z",
    "io.ner-app.model.name": "en_ner_test",
    "io.ner-app.model.version": "0.1.0",
    "io.ner-app.model.sha256": MODEL_SHA,
}


@pytest.fixture
def faithful() -> Inventory:
    """What an image built exactly from the lock reports."""
    locked = lockfile.locked_main(LOCK, LINUX)
    dists = [Distribution(name, version, "", "") for name, version in locked.items()]
    dists += [
        Distribution("ner-app", "0.1.0", "", "MIT"),
        Distribution("en_ner_test", "0.1.0", MODEL_SHA, "MIT"),
    ]
    return Inventory("sha256:" + "1" * 64, LABELS, LINUX, dists)


def with_dists(found: Inventory, dists: list[Distribution]) -> Inventory:
    return replace(found, distributions=dists)


def test_an_image_built_from_the_lock_has_no_differences(faithful: Inventory) -> None:
    assert inventory.lock_differences(faithful, LOCK) == []


def test_a_windows_only_lock_entry_is_not_expected_on_linux(faithful: Inventory) -> None:
    assert "colorama" in lockfile.locked_main(LOCK)
    assert all(d.name != "colorama" for d in faithful.distributions)


def test_a_different_version_is_named(faithful: Inventory) -> None:
    dists = [
        replace(d, version="0.0.1") if d.name == "spacy" else d for d in faithful.distributions
    ]
    problems = inventory.lock_differences(with_dists(faithful, dists), LOCK)
    assert problems == [
        f"version: spacy is 0.0.1, the lock says {lockfile.locked_version(LOCK, 'spacy')}"
    ]


def test_a_missing_and_an_extra_distribution_are_named(faithful: Inventory) -> None:
    dists = [d for d in faithful.distributions if d.name != "streamlit"]
    dists.append(Distribution("pip", "25.0", "", ""))
    problems = inventory.lock_differences(with_dists(faithful, dists), LOCK)
    assert problems == [
        f"missing: streamlit {lockfile.locked_version(LOCK, 'streamlit')}",
        "not in the lock: pip 25.0",
    ]


def test_a_model_installed_from_another_wheel_is_named(faithful: Inventory) -> None:
    dists = [
        replace(d, sha256="0" * 64) if d.name == "en_ner_test" else d
        for d in faithful.distributions
    ]
    assert inventory.lock_differences(with_dists(faithful, dists), LOCK) == [
        "hash: en-ner-test was installed from a wheel with sha256 " + "0" * 64
    ]


def test_a_locked_package_with_a_recorded_hash_must_match_a_locked_file(
    faithful: Inventory,
) -> None:
    allowed = sorted(lockfile.locked_hashes(LOCK, "spacy"))[0]
    good = [replace(d, sha256=allowed) if d.name == "spacy" else d for d in faithful.distributions]
    assert inventory.lock_differences(with_dists(faithful, good), LOCK) == []
    bad = [replace(d, sha256="f" * 64) if d.name == "spacy" else d for d in faithful.distributions]
    assert inventory.lock_differences(with_dists(faithful, bad), LOCK)[0].startswith("hash: spacy")


def test_the_sbom_is_valid_cyclonedx_1_6_and_deterministic(faithful: Inventory) -> None:
    document = inventory.sbom(faithful)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(document) is None
    assert inventory.sbom(faithful) == document


def test_the_sbom_lists_packages_by_purl_and_the_model_with_its_hash(faithful: Inventory) -> None:
    bom = json.loads(inventory.sbom(faithful))
    assert bom["metadata"]["timestamp"].startswith("2026-11-26T21:16:14")
    assert bom["metadata"]["component"]["type"] == "container"
    by_name = {c["name"]: c for c in bom["components"]}
    assert by_name["spacy"]["purl"] == f"pkg:pypi/spacy@{lockfile.locked_version(LOCK, 'spacy')}"
    model = by_name["en_ner_test"]
    assert model["type"] == "machine-learning-model"
    assert model["hashes"] == [{"alg": "SHA-256", "content": MODEL_SHA}]
    assert len(bom["components"]) == len(faithful.distributions)


# --- Debian packages and the base's archive record ------------------------------------------

STATUS_D = Path(__file__).parents[1] / "data" / "debian" / "status"
ARCHIVE = ArchiveRecord(
    1793491200,
    "amd64",
    (
        Release("bookworm", "2026-07-11T10:16:37Z", "oldstable", "12.15"),
        Release("bookworm-security", "2026-11-26T21:03:35Z", "oldstable-security", "12"),
    ),
    (Package("libc6", "2.36-9+deb12u14", "amd64"),),
)


@pytest.fixture
def with_debian(faithful: Inventory) -> Inventory:
    """An image whose status.d holds one dpkg record per package (here: real bookworm ones)."""
    records = [p + "\n" for p in STATUS_D.read_text().strip().split("\n\n")]
    debian = inventory.dpkg_packages(reversed(records))
    return replace(faithful, debian=debian, distro=inventory.distro(OS_RELEASE))


OS_RELEASE = {"ID": "debian", "VERSION_ID": "12", "NAME": "Debian GNU/Linux"}


def test_dpkg_records_give_sorted_packages() -> None:
    records = [p + "\n" for p in STATUS_D.read_text().strip().split("\n\n")]
    packages = inventory.dpkg_packages(reversed(records))
    assert [p.name for p in packages] == sorted(p.name for p in packages)
    assert Package("libc6", "2.36-9+deb12u14", "amd64") in packages


def test_the_distro_qualifier_is_the_os_id_and_version() -> None:
    assert inventory.distro(OS_RELEASE) == "debian-12"
    assert inventory.distro({}) == ""


def test_debian_packages_are_components_with_deb_purls(with_debian: Inventory) -> None:
    bom = json.loads(inventory.sbom(with_debian))
    purls = {c["purl"] for c in bom["components"]}
    assert "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12" in purls
    assert "pkg:deb/debian/tzdata@2026f-0%2Bdeb12u1?arch=all&distro=debian-12" in purls
    count = len(with_debian.distributions) + len(with_debian.debian)
    assert len(bom["components"]) == count
    image = bom["metadata"]["component"]["bom-ref"]
    [depends] = [d["dependsOn"] for d in bom["dependencies"] if d["ref"] == image]
    assert "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12" in depends


def test_a_deb_purl_parses_back_to_the_package_with_its_epoch() -> None:
    purl = PackageURL.from_string(
        inventory._deb_component(
            Package("libcrypt1", "1:4.4.33-2", "amd64"), "debian-12"
        ).bom_ref.value
    )
    assert (purl.type, purl.namespace, purl.name, purl.version) == (
        "deb",
        "debian",
        "libcrypt1",
        "1:4.4.33-2",
    )
    assert purl.qualifiers == {"arch": "amd64", "distro": "debian-12"}


def test_the_archive_record_becomes_metadata_properties(with_debian: Inventory) -> None:
    bom = json.loads(inventory.sbom(with_debian, ARCHIVE))
    properties = {p["name"]: p["value"] for p in bom["metadata"]["properties"]}
    assert properties == {
        "ner-app:debian:release:bookworm": "2026-07-11T10:16:37Z",
        "ner-app:debian:release:bookworm-security": "2026-11-26T21:03:35Z",
        "ner-app:debian:packages:sha256": ARCHIVE.packages_sha256,
        "ner-app:debian:epoch": "1793491200",
    }


def test_without_an_archive_record_the_metadata_has_no_properties(with_debian: Inventory) -> None:
    assert "properties" not in json.loads(inventory.sbom(with_debian))["metadata"]


def test_the_sbom_with_debian_packages_is_valid_and_deterministic(with_debian: Inventory) -> None:
    document = inventory.sbom(with_debian, ARCHIVE)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(document) is None
    shuffled = replace(with_debian, debian=list(reversed(with_debian.debian)))
    assert inventory.sbom(shuffled, ARCHIVE) == document
