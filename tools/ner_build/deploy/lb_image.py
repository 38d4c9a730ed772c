"""`nox -s lb-image`: the load balancer's image (Debian's HAProxy on the app's base image).

Built from deploy/haproxy/ with the engine and base image the app's build uses, so it needs no
registry: on a host with none, pass the Debian-built base (`nox -s base-image`) as for the app.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence

from ner_build import console
from ner_build.build import base_image
from ner_build.engine.docker import Docker
from ner_build.paths import ROOT

CONTEXT = ROOT / "deploy" / "haproxy"
TAG = "ner-app-lb:latest"


def build(docker: Docker, base: str, tag: str = TAG) -> str:
    """Build the image and return its ID; the base must be in the engine or pullable."""
    docker.ensure_image(base, hint=base_image.UNAVAILABLE_HINT)
    console.step(f"building {tag} on {base} with {docker}")
    docker.build("--tag", tag, "--build-arg", f"BASE_IMAGE={base}", str(CONTEXT))
    image_id = docker.image_id(tag)
    assert image_id, f"{tag} is missing right after its build"  # noqa: S101 (an invariant)
    return image_id


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="nox -s lb-image --", description=__doc__)
    cli.add_argument(
        "--base-image",
        default=env.get("NER_BASE_IMAGE") or base_image.pinned(),
        help="base image (default: the app's: NER_BASE_IMAGE, else the Dockerfile's pin)",
    )
    cli.add_argument("--tag", default=TAG, help=f"the image's tag (default {TAG})")
    return cli


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    args = parser(env).parse_args(argv)

    def command() -> None:
        print(build(Docker.from_env(env), args.base_image, args.tag))

    return console.run_main(command)


if __name__ == "__main__":
    raise SystemExit(main())
