"""The bundle's provenance: an in-toto Statement v1 with a SLSA Provenance v1 predicate.

It names what the image was built from (the commit, poetry.lock's hash, the base image's
digest, the model wheel's sha256) and how (the build options and the engine). It holds no
times or host names, so the same image always gets the same statement.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ner_build.result import BuildResult

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
REPOSITORY = "https://github.com/ner-app/ner-app"  # as the image's source label says
BUILD_TYPE = f"{REPOSITORY}/blob/main/README.md#deliver-without-a-registry"


def hex_of(digest: str) -> str:
    """The hex part of "sha256:<hex>"."""
    algorithm, _, value = digest.partition(":")
    if algorithm != "sha256" or len(value) != 64:
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return value


def base_dependency(result: BuildResult) -> dict[str, Any]:
    """The base image: its registry digest when it has one, else its image ID; and the Debian
    archive state it was built from, when it records one (nox -s base-image)."""
    ref, image_id = result.base_image, result.base_image_id
    digest = result.base_image_digest or ref.partition("@")[2]
    name = ref.partition("@")[0]
    archive = {"debianArchive": result.base_archive} if result.base_archive else {}
    if digest:
        return {
            "uri": f"docker-image://{name}",
            "digest": {"sha256": hex_of(digest)},
            "annotations": {"imageId": image_id, **archive},
        }
    return {
        "uri": f"docker-image://{ref}",
        "digest": {"sha256": hex_of(image_id)},
        "annotations": {
            "note": "a local image with no registry digest: this is its image ID",
            **archive,
        },
    }


def statement(
    result: BuildResult, manifest_digests: Sequence[str], lock_sha256: str, version: str
) -> dict[str, Any]:
    """The provenance of the built image, whose manifest in the bundle has one of
    manifest_digests (one per platform)."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": tag, "digest": {"sha256": hex_of(digest)}}
            for digest in manifest_digests
            for tag in result.tags
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "source": {"repository": REPOSITORY, "revision": result.revision},
                    "version": version,
                    "dockerfile": "docker/Dockerfile",
                    "baseImage": result.base_image,
                    "model": {"name": result.model, "version": result.model_version},
                    "buildxArgs": result.buildx_args,
                },
                "internalParameters": {
                    "engine": result.engine,
                    "imageId": result.image_id,
                    # What each layer and the config are made from (ner_build.image.layers): a
                    # rebuild elsewhere is compared against this with `nox -s reproduce --
                    # --against`.
                    "layers": result.layers,
                    "configInputs": result.config_inputs,
                },
                "resolvedDependencies": [
                    {
                        "uri": f"git+{REPOSITORY}@{result.revision}",
                        "digest": {"gitCommit": result.revision},
                    },
                    {"name": "poetry.lock", "digest": {"sha256": lock_sha256}},
                    base_dependency(result),
                    {
                        "name": f"{result.model}=={result.model_version}",
                        "digest": {"sha256": result.model_sha256},
                    },
                ],
            },
            "runDetails": {
                "builder": {
                    "id": f"{REPOSITORY}/blob/{result.revision}/noxfile.py",
                    "version": {"engine": result.engine},
                },
                "metadata": {"invocationId": f"{result.revision}/{result.image_id}"},
            },
        },
    }


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
