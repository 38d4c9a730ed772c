import json
from pathlib import Path

import pytest
from ner_build.errors import CheckFailed
from ner_build.release import publish
from ner_build.result import BuildResult

HEAD = "a" * 40


LOCAL_TAGS = ["ner-app:0.1.0", "ner-app:abc1234", "ner-app:latest"]
REPOSITORY = "localhost:5000/team/ner-app"


def test_without_chosen_tags_the_build_tags_move_to_the_repository() -> None:
    assert publish.target_refs(REPOSITORY, LOCAL_TAGS, []) == [
        f"{REPOSITORY}:0.1.0",
        f"{REPOSITORY}:abc1234",
        f"{REPOSITORY}:latest",
    ]


def test_chosen_tags_replace_the_build_tags_without_repeats() -> None:
    chosen = [f"{REPOSITORY}:main", f"{REPOSITORY}:sha-abc1234", f"{REPOSITORY}:main"]
    assert publish.target_refs(REPOSITORY, LOCAL_TAGS, chosen) == chosen[:2]


def test_a_chosen_tag_in_another_repository_is_refused() -> None:
    with pytest.raises(CheckFailed, match="not in the repository"):
        publish.target_refs(REPOSITORY, LOCAL_TAGS, ["ghcr.io/other/ner-app:main"])


@pytest.mark.parametrize("repository", ["ghcr.io/o/ner-app:1.0", "ghcr.io/o/ner-app@sha256:00"])
def test_a_repository_with_a_tag_or_digest_is_refused(repository: str) -> None:
    with pytest.raises(CheckFailed, match="without a tag"):
        publish.target_refs(repository, ["ner-app:1"], [])


def test_a_dirty_tree_is_refused_unless_forced() -> None:
    with pytest.raises(CheckFailed, match=r"uncommitted changes.*--force"):
        publish.check_publishable(HEAD, HEAD, dirty=True, force=False)
    publish.check_publishable(HEAD, HEAD, dirty=True, force=True)


def test_an_image_of_another_revision_is_refused_unless_forced() -> None:
    with pytest.raises(CheckFailed, match="built from bbbbbbbbbbbb, but HEAD is aaaaaaaaaaaa"):
        publish.check_publishable("b" * 40, HEAD, dirty=False, force=False)
    publish.check_publishable("b" * 40, HEAD, dirty=False, force=True)


def test_the_image_of_a_clean_head_is_publishable() -> None:
    publish.check_publishable(HEAD, HEAD, dirty=False, force=False)


def test_parse_needs_a_repository_and_reads_the_environment() -> None:
    with pytest.raises(SystemExit):
        publish.parse([], {})
    options = publish.parse(["--tag", "r/x:1", "--force"], {"NER_PUBLISH_REPOSITORY": "r/x"})
    assert (options.repository, options.tags, options.force) == ("r/x", ["r/x:1"], True)


def test_publishing_without_a_build_says_to_build(tmp_path: Path) -> None:
    with pytest.raises(CheckFailed, match="nox -s build"):
        BuildResult.load(tmp_path / "image.json")
    recorded = {
        "image_id": "sha256:1", "tags": [], "revision": HEAD, "model": "en_x",
        "model_version": "1.0", "model_sha256": "0" * 64, "ca_bundle": None,
    }  # fmt: skip
    (tmp_path / "image.json").write_text(json.dumps(recorded))
    assert BuildResult.load(tmp_path / "image.json").image_id == "sha256:1"


def test_an_image_built_with_stand_ins_is_never_published() -> None:
    with pytest.raises(CheckFailed, match="model,base-image") as error:
        publish.check_not_a_fallback({"io.ner-app.fallbacks": "model,base-image"})
    assert "never published" in str(error.value)


def test_an_image_built_from_its_pins_may_be_published() -> None:
    publish.check_not_a_fallback({"io.ner-app.fallbacks": ""})
    publish.check_not_a_fallback({})
