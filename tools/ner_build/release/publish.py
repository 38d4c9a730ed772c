"""`nox -s publish`: push the tags of the last built image to a registry repository.

It refuses to push an image built from a dirty tree, or whose revision label is not HEAD,
unless --force is given. It prints the pushed manifest digest and records it in
build/publish.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ner_build import console, git
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed
from ner_build.paths import PUBLISH_RESULT, ROOT
from ner_build.result import BuildResult

REVISION_LABEL = "org.opencontainers.image.revision"
FALLBACKS_LABEL = "io.ner-app.fallbacks"


@dataclass(frozen=True)
class PublishOptions:
    repository: str
    tags: list[str]
    force: bool
    docker: str


@dataclass(frozen=True)
class Published:
    repository: str
    digest: str
    refs: list[str]


def parse(argv: Sequence[str], env: dict[str, str]) -> PublishOptions:
    parser = argparse.ArgumentParser(prog="nox -s publish --", description=__doc__)
    parser.add_argument(
        "--repository",
        default=env.get("NER_PUBLISH_REPOSITORY"),
        help="registry repository, e.g. ghcr.io/OWNER/ner-app [NER_PUBLISH_REPOSITORY]",
    )
    parser.add_argument(
        "--tag",
        dest="tags",
        action="append",
        default=[],
        help="full reference to push instead of the build's tags (repeatable)",
    )
    parser.add_argument("--force", action="store_true", help="push from a dirty tree or old HEAD")
    parser.add_argument("--docker", default=env.get("DOCKER", "docker"), help="[DOCKER]")
    args = parser.parse_args(argv)
    if not args.repository:
        parser.error("give --repository (or NER_PUBLISH_REPOSITORY), e.g. ghcr.io/OWNER/ner-app")
    return PublishOptions(args.repository, args.tags, args.force, args.docker)


def target_refs(repository: str, local_tags: Sequence[str], chosen: Sequence[str]) -> list[str]:
    """The chosen references if any (CI's metadata tags), else the local tags in the repository."""
    if "@" in repository or ":" in repository.rsplit("/", 1)[-1]:
        raise CheckFailed(f"--repository {repository!r} must be a repository without a tag.")
    outside = [ref for ref in chosen if ref.rsplit(":", 1)[0] != repository]
    if outside:
        raise CheckFailed(f"--tag {outside[0]!r} is not in the repository {repository}.")
    refs = list(chosen) or [f"{repository}:{tag.rsplit(':', 1)[1]}" for tag in local_tags]
    return list(dict.fromkeys(refs))


def check_publishable(revision: str, head: str, dirty: bool, force: bool) -> None:
    """Refuse, unless forced, an image that is not exactly the committed HEAD."""
    if force:
        return
    if dirty:
        raise CheckFailed(
            "The working tree has uncommitted changes, so the image is not a commit's. Commit, "
            "rebuild with `nox -s build`, and publish again (or pass --force)."
        )
    if revision != head:
        raise CheckFailed(
            f"The image was built from {revision[:12]}, but HEAD is {head[:12]}. Rebuild with "
            "`nox -s build` and publish again (or pass --force)."
        )


def check_not_a_fallback(labels: dict[str, str]) -> None:
    """Refuse, even with --force, an image built with local stand-ins for pinned inputs."""
    stand_ins = labels.get(FALLBACKS_LABEL, "")
    if stand_ins:
        raise CheckFailed(
            f"The image was built with local stand-ins for its pinned inputs ({stand_ins}), so "
            "it is not the product and is never published. Build it where the pinned base image "
            "and model can be had (see the warning `nox -s build` printed), then publish again."
        )


def pushed_digest(docker: Docker, image_id: str, repository: str) -> str:
    """The manifest digest the registry gave the image in this repository."""
    for entry in docker.repo_digests(image_id):
        name, _, digest = entry.partition("@")
        if name == repository:
            return digest
    raise CheckFailed(f"The engine recorded no digest for {repository} after the push.")


def publish(options: PublishOptions) -> Published:
    docker = Docker.from_string(options.docker)
    built = BuildResult.load()
    image_id, local_tags = built.ref, built.tags  # as the engine names it (see BuildResult.ref)
    docker.check_engine()
    labels = docker.labels(image_id)
    check_not_a_fallback(labels)
    check_publishable(
        labels.get(REVISION_LABEL, ""), git.revision(ROOT), git.is_dirty(ROOT), options.force
    )
    refs = target_refs(options.repository, local_tags, options.tags)
    docker.tag(image_id, refs)
    digests = []
    for ref in refs:
        console.step(f"pushing {ref}")
        digests.append(docker.push(ref))
    digest = digests[0] or pushed_digest(docker, image_id, options.repository)
    published = Published(options.repository, digest, refs)
    PUBLISH_RESULT.write_text(json.dumps(asdict(published), indent=2) + "\n")
    return published


def command(options: PublishOptions) -> None:
    published = publish(options)
    print("\n".join(["pushed:", *(f"  {ref}" for ref in published.refs)]))
    print(f"digest: {published.digest}")


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv, dict(os.environ))
    return console.run_main(lambda: command(options))


if __name__ == "__main__":
    sys.exit(main())
