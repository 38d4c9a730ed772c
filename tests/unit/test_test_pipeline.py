import zipfile
from pathlib import Path

from ner_build.build.test_pipeline import WHEEL, build_wheel


def test_wheel_is_byte_identical_when_built_twice(
    test_pipeline_wheel: Path, tmp_path: Path
) -> None:
    again = build_wheel(tmp_path)
    assert again.name == WHEEL
    assert again.read_bytes() == test_pipeline_wheel.read_bytes()


def test_wheel_pins_the_spacy_minor_version(test_pipeline_wheel: Path) -> None:
    with zipfile.ZipFile(test_pipeline_wheel) as wheel:
        metadata = wheel.read("en_ner_test-0.1.0.dist-info/METADATA").decode()
    assert "Requires-Dist: spacy<3.9.0,>=3.8" in metadata
