"""`nox -s reproduce -- --against RECORD`: reading a record made elsewhere."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from ner_build.errors import CheckFailed
from ner_build.image import layers
from ner_build.proofs import reproduce
from ner_build.release import provenance

from ..image.test_layers import DIFF_IDS, INPUTS
from ..release.test_bundle import RESULT
from ..support import EVERY_OPTION

RECORDED = replace(
    RESULT,
    platform="linux/amd64",
    layers=layers.layer_records(DIFF_IDS, INPUTS),
    config_inputs=layers.config_record(INPUTS),
    base_archive={"packages": [{"name": "libc6", "version": "2.36-9+deb12u9"}]},
)


def test_a_build_record_is_read_as_it_was_written(tmp_path: Path) -> None:
    path = tmp_path / "image.json"
    path.write_text(json.dumps(asdict(RECORDED)))
    assert reproduce.read_record(path) == asdict(RECORDED)


def test_a_bundles_provenance_gives_the_same_layers_and_base_archive(tmp_path: Path) -> None:
    path = tmp_path / "provenance.intoto.json"
    statement = provenance.statement(RECORDED, ["sha256:" + "4" * 64], "6" * 64, "0.1.0")
    path.write_text(provenance.dumps(statement))
    found = layers.Record.of(reproduce.read_record(path))
    assert found == replace(layers.Record.of(asdict(RECORDED)), platform="")


def test_an_unreadable_record_is_refused_saying_what_to_give(tmp_path: Path) -> None:
    path = tmp_path / "image.json"
    path.write_text("{not json")
    with pytest.raises(CheckFailed, match=r"Give the build/image\.json"):
        reproduce.read_record(path)
    with pytest.raises(CheckFailed, match="Cannot read the record"):
        reproduce.read_record(tmp_path / "missing.json")


def test_a_record_of_another_platform_is_refused_naming_the_flag(tmp_path: Path) -> None:
    options = replace(EVERY_OPTION, platform="linux/amd64")
    arm64 = {**asdict(RECORDED), "platform": "linux/arm64"}
    with pytest.raises(CheckFailed, match="pass --platform linux/arm64"):
        reproduce.check_same_platform(options, arm64, tmp_path / "image.json")
    reproduce.check_same_platform(options, asdict(RECORDED), tmp_path / "image.json")  # control


def test_against_is_the_reproduce_flag_and_every_other_flag_is_the_builds() -> None:
    args, rest = reproduce.parser().parse_known_args(
        ["--against", "elsewhere/image.json", "--platform", "linux/arm64"]
    )
    assert args.against == Path("elsewhere/image.json")
    assert rest == ["--platform", "linux/arm64"]
