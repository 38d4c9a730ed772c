from __future__ import annotations

import json
from pathlib import Path

import pytest
from ner_build.proofs import incremental
from ner_build.proofs.incremental import Build, Outcome

CONFIG = "sha256:" + "c" * 64
MANIFEST = "sha256:" + "m" * 64


def build(image_id: str = CONFIG, manifest: str = "") -> Build:
    return Build(image_id, manifest, 1.0, 1, 2, ("ner-app-incremental:x",))


def test_the_same_config_digest_is_the_same_image_on_a_store_without_manifests() -> None:
    assert Outcome("docker26", build(), build()).same


def test_on_the_containerd_store_the_manifest_digest_must_match_too() -> None:
    assert Outcome("containerd-store", build(manifest=MANIFEST), build(manifest=MANIFEST)).same
    # control: one config, another manifest (what moby/moby#48391 gives a raw cached rebuild)
    other = "sha256:" + "n" * 64
    assert not Outcome("containerd-store", build(manifest=MANIFEST), build(manifest=other)).same


def test_another_config_digest_is_another_image() -> None:
    assert not Outcome("podman", build(), build("sha256:" + "d" * 64)).same


def test_the_report_names_the_manifest_and_a_differing_clean_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(incremental, "SUMMARY", tmp_path / "incremental.json")
    other = "sha256:" + "n" * 64
    differing = Outcome("containerd-store", build(manifest=MANIFEST), build(manifest=other))
    incremental.report([differing])
    out = capsys.readouterr().out
    assert f"manifest {MANIFEST}" in out
    assert "clean build" in out
    assert other in out
    saved = json.loads((tmp_path / "incremental.json").read_text())
    assert saved[0]["same"] is False
    assert saved[0]["clean"]["manifest_digest"] == other
