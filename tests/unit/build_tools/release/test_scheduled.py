"""The weekly rebuild's decision and SBOM difference, on two SBOMs derived from a real
build/sbom.cdx.json of this repository (its Python components as built; Debian components
added in the purl form the image's dpkg inventory gives them, and the published side set to
older or other versions), and pulls against a real local registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ner_build.engine.docker import Docker
from ner_build.engine.registry import local_registry
from ner_build.errors import CheckFailed
from ner_build.probe import free_port
from ner_build.release import scheduled

from ..support import DOCKER

DATA = Path(__file__).parents[1] / "data"
BUILT = "sha256:" + "b" * 64
PUBLISHED = "sha256:" + "7" * 64
LAYERS = [
    "layer 5: sha256:aa != sha256:bb",
    "  opt/venv/lib/python3.11/site-packages/x.pyc: content",
]


def sbom(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DATA / f"sbom-{name}.cdx.json").read_text())
    return document


def test_the_sbom_difference_names_added_removed_upgraded_and_downgraded_packages() -> None:
    diff = scheduled.sbom_diff(sbom("published"), sbom("rebuilt"))
    assert diff.added == [("pkg:pypi/wasabi", "1.1.3")]
    assert diff.removed == [("pkg:deb/debian/libgdbm6?arch=amd64", "1.23-3")]
    assert [(c.package, c.old, c.new) for c in diff.upgraded] == [
        ("pkg:deb/debian/libc6?arch=amd64", "2.36-9+deb12u10", "2.36-9+deb12u13"),
        ("pkg:deb/debian/libexpat1?arch=amd64", "2.5.0-1+deb12u1", "2.5.0-1+deb12u2"),
        ("pkg:pypi/pillow", "12.2.0", "13.0.0"),
    ]
    assert [(c.package, c.old, c.new) for c in diff.downgraded] == [
        ("pkg:pypi/certifi", "2026.11.3", "2026.10.19.post1")
    ]


def test_an_sbom_compared_with_itself_has_no_difference() -> None:
    assert not scheduled.sbom_diff(sbom("rebuilt"), sbom("rebuilt"))


def test_the_key_drops_the_version_and_the_point_release_but_keeps_the_architecture() -> None:
    amd64 = "pkg:deb/debian/libc6@2.36-9+deb12u13?arch=amd64&distro=debian-12.12"
    arm64 = "pkg:deb/debian/libc6@2.36-9+deb12u13?arch=arm64&distro=debian-12.13"
    assert scheduled.package_key(amd64) == ("pkg:deb/debian/libc6?arch=amd64", "2.36-9+deb12u13")
    assert scheduled.package_key(arm64)[0] == "pkg:deb/debian/libc6?arch=arm64"


def test_debian_versions_are_ordered_as_dpkg_orders_them() -> None:
    assert scheduled.newer("pkg:deb/debian/zlib1g", "1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1")
    assert not scheduled.newer("pkg:deb/debian/x", "1:1.0-1", "2.0-1")  # the epoch wins


def test_an_unchanged_rebuild_is_not_published() -> None:
    decision = scheduled.decide(BUILT, BUILT, scheduled.PackageDiff(), [])
    assert not decision.publish
    assert decision.reason.startswith("unchanged")


def test_a_rebuild_with_package_upgrades_is_published_with_its_difference() -> None:
    diff = scheduled.sbom_diff(sbom("published"), sbom("rebuilt"))
    decision = scheduled.decide(BUILT, PUBLISHED, diff, LAYERS)
    assert decision.publish
    assert not decision.regression
    text = scheduled.markdown(decision, "ghcr.io/o/ner-app:main")
    assert (
        "| upgraded | `pkg:deb/debian/libc6?arch=amd64` | 2.36-9+deb12u10 | 2.36-9+deb12u13 |"
        in text
    )
    assert "| added | `pkg:pypi/wasabi` | | 1.1.3 |" in text
    assert "| removed | `pkg:deb/debian/libgdbm6?arch=amd64` | 1.23-3 | |" in text
    assert LAYERS[0] in text
    assert "regression" not in text


def test_a_changed_image_without_package_changes_is_published_but_flagged() -> None:
    decision = scheduled.decide(BUILT, PUBLISHED, scheduled.PackageDiff(), LAYERS)
    assert decision.publish
    assert decision.regression
    text = scheduled.markdown(decision, "ghcr.io/o/ner-app:main")
    assert "reproducibility regression" in text
    assert "No package was added, removed or changed." in text


def test_the_first_publish_publishes() -> None:
    decision = scheduled.decide(BUILT, None, scheduled.PackageDiff(), [])
    assert decision.publish
    assert decision.reason.startswith("first publish")


@pytest.mark.host
def test_a_missing_published_image_reads_as_the_first_publish(tmp_path: Path) -> None:
    with local_registry(tmp_path) as registry:
        found = scheduled.pull(Docker.from_string(DOCKER), f"{registry}/ner-app-none:main", "")
    assert found is None


@pytest.mark.host
def test_an_unreachable_registry_stops_the_rebuild_instead_of_publishing() -> None:
    ref = f"127.0.0.1:{free_port()}/ner-app:main"  # nothing listens there
    with pytest.raises(CheckFailed, match="Nothing was published"):
        scheduled.pull(Docker.from_string(DOCKER), ref, "")


def test_a_changed_image_of_another_commit_is_published_without_the_regression_flag() -> None:
    decision = scheduled.decide(BUILT, PUBLISHED, scheduled.PackageDiff(), LAYERS, False)
    assert decision.publish
    assert not decision.regression
    assert "main moved on" in decision.reason


def test_long_path_lists_are_cut_under_each_layer_with_a_count() -> None:
    report = ["image ID: a != b", "layer 1: x != y", *[f"  p{i}: mtime" for i in range(12)]]
    report += ["layer 2: z != w", "  q: content"]
    assert scheduled.shorten(report, per_block=3) == [
        "image ID: a != b", "layer 1: x != y", "  p0: mtime", "  p1: mtime", "  p2: mtime",
        "  ... and 9 more", "layer 2: z != w", "  q: content",
    ]  # fmt: skip
