import json
from pathlib import Path

import pytest
from ner_build import publish
from ner_build.errors import BuildCheckError

HEAD = "a" * 40


def test_local_tags_move_to_the_repository_and_extra_refs_follow_without_repeats() -> None:
    refs = publish.target_refs(
        "localhost:5000/team/ner-app",
        ["ner-app:0.1.0", "ner-app:abc1234", "ner-app:latest"],
        ["localhost:5000/team/ner-app:main", "localhost:5000/team/ner-app:latest"],
    )
    assert refs == [
        "localhost:5000/team/ner-app:0.1.0",
        "localhost:5000/team/ner-app:abc1234",
        "localhost:5000/team/ner-app:latest",
        "localhost:5000/team/ner-app:main",
    ]


@pytest.mark.parametrize("repository", ["ghcr.io/o/ner-app:1.0", "ghcr.io/o/ner-app@sha256:00"])
def test_a_repository_with_a_tag_or_digest_is_refused(repository: str) -> None:
    with pytest.raises(BuildCheckError, match="without a tag"):
        publish.target_refs(repository, ["ner-app:1"], [])


def test_a_dirty_tree_is_refused_unless_forced() -> None:
    with pytest.raises(BuildCheckError, match=r"uncommitted changes.*--force"):
        publish.check_publishable(HEAD, HEAD, dirty=True, force=False)
    publish.check_publishable(HEAD, HEAD, dirty=True, force=True)


def test_an_image_of_another_revision_is_refused_unless_forced() -> None:
    with pytest.raises(BuildCheckError, match="built from bbbbbbbbbbbb, but HEAD is aaaaaaaaaaaa"):
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
    with pytest.raises(BuildCheckError, match="nox -s build"):
        publish.built_image(tmp_path / "image.json")
    (tmp_path / "image.json").write_text(json.dumps({"image_id": "sha256:1", "tags": []}))
    assert publish.built_image(tmp_path / "image.json")["image_id"] == "sha256:1"
