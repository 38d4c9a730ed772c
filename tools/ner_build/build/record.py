"""What the build records about its inputs, for build/image.json and `nox -s reproduce --
--against`: the base (its ID, registry digest and Debian archive state) and the digests and
values of everything else each layer and the config are made from (ner_build.image.layers)."""

from __future__ import annotations

import json
from typing import Any

from ner_build.build import debian_archive, model
from ner_build.build.options import BuildOptions, dockerfile
from ner_build.digest import digest_of_file
from ner_build.engine.docker import Docker
from ner_build.paths import CONTEXT


def base_inputs(
    docker: Docker, base: str, archive: debian_archive.ArchiveRecord | None
) -> dict[str, str]:
    """The base's part of every layer's inputs (ner_build.layers.BASE)."""
    return {
        "base image": base,
        "base image ID": docker.image_id(base) or "",
        "base image digest": base_digest(docker, base),
        "Debian archive": archive_summary(archive),
    }


def recorded_inputs(
    options: BuildOptions, wheel: model.ModelWheel, args: list[str]
) -> dict[str, str]:
    """The values of the other inputs the image's layers and config are made from (the build
    context's files and the build arguments)."""
    values = dict(arg.removeprefix("--build-arg=").split("=", 1) for arg in args if "=" in arg)
    app_wheel = next((CONTEXT / "app").glob("*.whl"))
    return {
        "Dockerfile": digest_of_file(dockerfile(options)),
        "rootfs.py": digest_of_file(CONTEXT / "rootfs.py"),
        "locked requirements": digest_of_file(CONTEXT / "requirements.txt"),
        "uv": digest_of_file(CONTEXT / "uv-requirements.txt"),
        "model wheel": f"{wheel.path.name} sha256:{wheel.sha256}",
        "app wheel": f"{app_wheel.name} {digest_of_file(app_wheel)}",
        "lock time": values.get("LOCK_EPOCH", ""),
        "app time": values.get("APP_EPOCH", ""),
        "commit": values.get("REVISION", ""),
        "commit time": values.get("SOURCE_DATE_EPOCH", ""),
        "version": values.get("VERSION", ""),
        "fallbacks": values.get("FALLBACKS", ""),
    }


def archive_document(record: debian_archive.ArchiveRecord | None) -> dict[str, Any] | None:
    """The Debian archive state a base built by `nox -s base-image` records in its labels, as
    JSON without the mirrors (the host's, not part of the state)."""
    if record is None:
        return None
    document: dict[str, Any] = json.loads(debian_archive.to_json(record))  # plain JSON types
    del document["mirrors"]
    return document


def archive_summary(record: debian_archive.ArchiveRecord | None) -> str:
    """The base's Debian archive state in one line: each suite's Release date and the package
    list's sha256 ("" when the base records none)."""
    if record is None:
        return ""
    return f"{record.releases_line} packages sha256:{record.packages_sha256}"


def base_digest(docker: Docker, base: str) -> str:
    """The base's registry digest: the one its reference pins, else one the engine recorded
    when it was pulled; "" for a base built here (nox -s base-image), which has none."""
    _, _, pinned = base.partition("@")
    if pinned:
        return pinned
    return next((entry.partition("@")[2] for entry in docker.repo_digests(base)), "")
