"""What each layer is made from, and which input explains two records that differ."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from ner_build.image import layers
from ner_build.image.layers import Record
from ner_build.paths import DOCKERFILE

INPUTS = {
    "base image": "ner-app-base:bookworm-python3",
    "base image ID": "sha256:" + "b" * 64,
    "base image digest": "",
    "Debian archive": "sha256:" + "d" * 64,
    "Dockerfile": "sha256:" + "f" * 64,
    "rootfs.py": "sha256:" + "r" * 64,
    "locked requirements": "sha256:" + "1" * 64,
    "uv": "sha256:" + "2" * 64,
    "model wheel": "en_ner_test-0.1.0-py3-none-any.whl sha256:" + "3" * 64,
    "app wheel": "ner_app-0.1.0-py3-none-any.whl sha256:" + "4" * 64,
    "lock time": "1790000000",
    "app time": "1790000001",
    "commit": "a" * 40,
    "commit time": "1790000002",
    "version": "0.1.0",
    "fallbacks": "",
}
DIFF_IDS = ["sha256:" + c * 64 for c in "567"]
ARCHIVE = {
    "packages": [
        {"name": "libssl3", "version": "3.0.15-1~deb12u1", "architecture": "amd64"},
        {"name": "python3.11", "version": "3.11.2-6+deb12u4", "architecture": "amd64"},
    ]
}


def record(
    inputs: dict[str, str] = INPUTS,
    diff_ids: list[str] = DIFF_IDS,
    image_id: str = "sha256:" + "9" * 64,
    archive: dict[str, Any] | None = None,
) -> Record:
    return Record(
        image_id,
        "linux/amd64",
        layers.layer_records(diff_ids, inputs),
        layers.config_record(inputs),
        archive,
    )


def test_the_layers_are_the_runtime_stages_copies_in_the_dockerfiles_order() -> None:
    runtime = DOCKERFILE.read_text().split("FROM scratch AS runtime", 1)[1]
    copies = [line for line in runtime.splitlines() if line.startswith("COPY ")]
    assert copies == [spec.made_by for spec in layers.LAYERS]


def test_each_layer_records_its_diff_id_and_only_its_own_inputs() -> None:
    found = layers.layer_records(DIFF_IDS, INPUTS)
    assert [layer["diff_id"] for layer in found] == DIFF_IDS
    assert "app wheel" not in found[1]["inputs"]
    assert found[2]["inputs"]["app wheel"] == INPUTS["app wheel"]


def test_an_image_of_another_dockerfile_gets_every_input_for_every_layer() -> None:
    found = layers.layer_records(DIFF_IDS[:1], INPUTS)
    assert found[0]["name"] == "layer 1"
    assert found[0]["inputs"] == INPUTS


def test_the_same_image_needs_no_explanation() -> None:
    assert layers.explain(record(), record()) == []


def test_a_changed_app_wheel_is_named_as_the_cause_of_the_first_differing_layer() -> None:
    changed = {**INPUTS, "app wheel": "ner_app-0.1.0-py3-none-any.whl sha256:" + "8" * 64}
    theirs = record(changed, [*DIFF_IDS[:2], "sha256:" + "e" * 64], "sha256:" + "c" * 64)
    lines = layers.explain(record(), theirs)
    assert lines[0].startswith("first differing layer: 3 of 3, app (COPY --from=app")
    causes = [m.group(1) for line in lines if (m := re.match(r"^  ([^:]+): ours ", line))]
    assert causes == ["app wheel"]


def test_a_newer_debian_archive_explains_the_bottom_layer_package_by_package() -> None:
    newer = {
        **INPUTS,
        "base image ID": "sha256:" + "c" * 64,
        "Debian archive": "sha256:" + "0" * 64,
    }
    upgraded = {"packages": [{**ARCHIVE["packages"][0], "version": "3.0.17-1~deb12u2"}]}
    theirs = record(
        newer, ["sha256:" + "e" * 64, *DIFF_IDS[1:]], "sha256:" + "c" * 64, archive=upgraded
    )
    text = "\n".join(layers.explain(record(archive=ARCHIVE), theirs))
    assert "first differing layer: 1 of 3, rootfs" in text
    assert "Debian archive: ours sha256:" in text
    assert "libssl3:amd64: ours 3.0.15-1~deb12u1, theirs 3.0.17-1~deb12u2" in text
    assert "python3.11:amd64: ours 3.11.2-6+deb12u4, theirs (absent)" in text


def test_a_layer_that_differs_with_the_same_inputs_is_called_not_reproducible() -> None:
    theirs = record(diff_ids=["sha256:" + "e" * 64, *DIFF_IDS[1:]], image_id="sha256:" + "c" * 64)
    text = "\n".join(layers.explain(record(), theirs))
    assert "no recorded input of this layer differs" in text
    assert "ner_build.image.compare" in text


def test_the_same_layers_with_another_commit_point_at_the_config() -> None:
    theirs = record({**INPUTS, "commit": "b" * 40}, image_id="sha256:" + "c" * 64)
    lines = layers.explain(record(), theirs)
    assert lines[0] == "every layer is the same: the config differs"
    assert lines[1] == f"  commit: ours {'a' * 40}, theirs {'b' * 40}"


def test_a_record_from_before_layers_were_recorded_says_so() -> None:
    old = replace(record(), layers=[], image_id="sha256:" + "c" * 64)
    assert "written before builds recorded them" in layers.explain(record(), old)[0]


def test_a_record_is_read_from_a_build_result_dictionary() -> None:
    found = Record.of({"image_id": "sha256:1", "platform": "linux/arm64"})
    assert (found.image_id, found.platform, found.layers, found.base_archive) == (
        "sha256:1",
        "linux/arm64",
        [],
        None,
    )
