"""Image tags: the project version, the git short SHA (-dirty on a changed tree) and latest."""

from __future__ import annotations


def image_tags(image: str, version: str, revision: str, dirty: bool) -> list[str]:
    """The tags `nox -s build` gives, e.g. ner-app:0.1.0, ner-app:4d312d6, ner-app:latest."""
    if not image or ":" in image.rsplit("/", 1)[-1]:
        raise ValueError(f"image name {image!r} must be a repository without a tag")
    short = revision[:7] + ("-dirty" if dirty else "")
    return [f"{image}:{version}", f"{image}:{short}", f"{image}:latest"]
