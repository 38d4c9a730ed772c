import json
from dataclasses import replace

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from ner_build import inventory, lockfile
from ner_build.inventory import Distribution, Inventory

from .support import ROOT

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
