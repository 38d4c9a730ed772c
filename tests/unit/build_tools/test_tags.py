import pytest
from ner_build.tags import image_tags

SHA = "4d312d6f0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def test_tags_are_version_short_sha_and_latest() -> None:
    assert image_tags("ner-app", "0.1.0", SHA, dirty=False) == [
        "ner-app:0.1.0",
        "ner-app:4d312d6",
        "ner-app:latest",
    ]


def test_dirty_tree_suffixes_only_the_short_sha_tag() -> None:
    assert image_tags("ner-app", "0.1.0", SHA, dirty=True) == [
        "ner-app:0.1.0",
        "ner-app:4d312d6-dirty",
        "ner-app:latest",
    ]


@pytest.mark.parametrize("image", ["ner-app:1.0", "localhost:5000/ner-app:latest", ""])
def test_rejects_an_image_name_with_a_tag_or_no_name(image: str) -> None:
    with pytest.raises(ValueError, match="without a tag"):
        image_tags(image, "0.1.0", SHA, dirty=False)


def test_allows_a_registry_host_with_a_port() -> None:
    tags = image_tags("localhost:5000/ner-app", "0.1.0", SHA, dirty=False)
    assert tags[0] == "localhost:5000/ner-app:0.1.0"
    assert tags[2] == "localhost:5000/ner-app:latest"
