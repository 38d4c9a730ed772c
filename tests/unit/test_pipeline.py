import json
from pathlib import Path

import pytest
from ner_build.build.test_pipeline import make_pipeline

from ner_app.pipeline import PipelineLoadError, describe, load_pipeline


def test_loads_the_test_pipeline_and_describes_it(test_pipeline_name: str) -> None:
    info = describe(load_pipeline(test_pipeline_name))
    assert info.name == "en_ner_test"
    assert info.version == "0.1.0"
    assert info.components == ("entity_ruler",)
    assert info.labels == ("DATE", "GPE", "ORG", "PERSON")


def test_missing_package_says_it_is_not_installed_and_what_to_do() -> None:
    with pytest.raises(
        PipelineLoadError, match=r"'xx_missing_pipeline' is not installed.*NER_MODEL"
    ):
        load_pipeline("xx_missing_pipeline")


def test_pipeline_made_for_another_spacy_is_refused(tmp_path: Path) -> None:
    make_pipeline().to_disk(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    meta["spacy_version"] = ">=2.0.0,<2.1.0"
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(PipelineLoadError, match=r"requires spaCy >=2.0.0,<2.1.0"):
        load_pipeline(str(tmp_path))


def test_broken_pipeline_directory_is_reported_not_raised_raw(tmp_path: Path) -> None:
    make_pipeline().to_disk(tmp_path)
    (tmp_path / "config.cfg").write_text('[nlp]\nlang = "xx_not_a_language"\n')
    with pytest.raises(PipelineLoadError, match="could not be loaded"):
        load_pipeline(str(tmp_path))
