"""The build's options: its flags, each defaulting to an environment variable, and what follows
from the options alone (the Dockerfile, where the result goes, the one platform asked for).

Tools that build (`nox -s reproduce`, `engines`, `arm64`, `bench`) parse the same flags; their
own parsers come from `tool_parser`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

from ner_build.engine import platforms
from ner_build.errors import CheckFailed
from ner_build.paths import RESULT, ROOT
from ner_build.result import sbom_beside

DESCRIPTION = (
    "Turn poetry.lock, the model wheel and the app into a tagged image. Every check runs before "
    "anything is built or tagged. Flags after `--` win over the environment variables named in "
    "each flag's help."
)


@dataclass(frozen=True)
class BuildOptions:
    docker: str
    base_image: str | None
    model_wheel: Path | None
    model_mirror: str | None
    ca_bundle: Path | None
    image: str
    poetry: str
    buildx_args: list[str] = field(default_factory=list)
    dockerfile: Path | None = None  # None: docker/Dockerfile of the tree being built
    allow_fallbacks: bool = False
    result: Path | None = None  # None: build/image.json
    offline: Path | None = None  # a bundle's sources/: install from its .debs and wheels
    platform: str | None = None  # e.g. linux/arm64; None: the engine's own


def parser(env: Mapping[str, str] = os.environ) -> argparse.ArgumentParser:
    """The build's flags; each defaults to the environment variable in its help."""
    parser = argparse.ArgumentParser(prog="nox -s build --", description=DESCRIPTION)
    add = parser.add_argument
    add("--docker", default=env.get("DOCKER", "docker"), help="docker client command [DOCKER]")
    add(
        "--base-image",
        default=env.get("NER_BASE_IMAGE"),
        help="base image (default: the Dockerfile's pinned python image) [NER_BASE_IMAGE]",
    )
    add(
        "--model-wheel",
        type=Path,
        default=_path(env.get("NER_MODEL_WHEEL")),
        help="local spaCy pipeline wheel instead of the pinned model [NER_MODEL_WHEEL]",
    )
    add(
        "--model-mirror",
        default=env.get("NER_MODEL_MIRROR"),
        help="URL (or URL/ prefix) serving the pinned model; the sha256 pin still applies"
        " [NER_MODEL_MIRROR]",
    )
    add(
        "--ca-bundle",
        type=Path,
        default=_path(env.get("NER_CA_BUNDLE")),
        help="CA bundle for the build's downloads, passed as a BuildKit secret [NER_CA_BUNDLE]",
    )
    add(
        "--image", default=env.get("NER_IMAGE", "ner-app"), help="image repository name [NER_IMAGE]"
    )
    add("--poetry", default=env.get("POETRY", "poetry"), help="poetry command [POETRY]")
    add(
        "--buildx-arg",
        dest="buildx_args",
        action="append",
        default=[],
        help="extra docker build argument, e.g. --buildx-arg=--cache-from=type=gha (repeatable)",
    )
    add("--dockerfile", type=Path, default=None, help="Dockerfile (default: docker/Dockerfile)")
    add(
        "--allow-fallbacks",
        action="store_true",
        default=bool(env.get("NER_ALLOW_FALLBACKS")),
        help="when the pinned base image or model cannot be had, use local stand-ins (a Debian-"
        "built base, the test pipeline) and mark the image unpublishable [NER_ALLOW_FALLBACKS]",
    )
    add(
        "--result",
        type=Path,
        default=_path(env.get("NER_BUILD_RESULT")),
        help="where to record the image's tags and ID (default: build/image.json, which "
        "integration and publish read, as they read NER_BUILD_RESULT); its SBOM goes beside "
        "it [NER_BUILD_RESULT]",
    )
    add(
        "--offline",
        type=Path,
        default=None,
        help="a bundle's sources/ directory: the builder installs its .debs and wheels and "
        "fetches nothing (ner_build.proofs.rebuild passes it)",
    )
    add(
        "--platform",
        default=env.get("NER_PLATFORM") or None,
        help="linux/amd64 or linux/arm64 (default: the host's); another than the host's builds "
        "under QEMU emulation, on a base image of that platform [NER_PLATFORM]",
    )
    return parser


def tool_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The parser of a tool that builds: its own flags, and every other flag is the build's."""
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog="Every other flag is the build's: see `nox -s build -- --help`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def target_platform(options: BuildOptions) -> platforms.Platform | None:
    """The platform asked for (None: the engine's own), checked to be one this host can run:
    the Dockerfile's RUN steps run the target's programs."""
    if options.platform is None:
        return None
    asked = platforms.parse_list(options.platform)
    if len(asked) > 1:
        raise CheckFailed(
            f"--platform {options.platform}: this step builds one platform; run it once per "
            "platform (`nox -s build` builds several and joins them, see the README's "
            '"linux/arm64").'
        )
    platforms.check_runnable(asked[0])
    return asked[0]


def parse(argv: Sequence[str], env: Mapping[str, str]) -> BuildOptions:
    """Options from flags, then from the environment."""
    return BuildOptions(**vars(parser(env).parse_args(argv)))


def to_argv(options: BuildOptions) -> list[str]:
    """Flags that make `parse` give these options back (with no environment), e.g. to run the
    build in another tree. Every field is written, so no option is dropped on the way."""
    argv: list[str] = []
    for option in fields(options):
        value = getattr(options, option.name)
        flag = "--" + (
            "buildx-arg" if option.name == "buildx_args" else option.name.replace("_", "-")
        )
        if isinstance(value, bool):
            argv += [flag] if value else []
        elif isinstance(value, list):
            argv += [f"{flag}={item}" for item in value]
        elif value is not None:
            argv.append(f"{flag}={value.resolve() if isinstance(value, Path) else value}")
    return argv


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def dockerfile(options: BuildOptions) -> Path:
    """The Dockerfile to build: the chosen one, else docker/Dockerfile of this tree."""
    return options.dockerfile or ROOT / "docker" / "Dockerfile"


def result_paths(options: BuildOptions) -> tuple[Path, Path]:
    """Where the build records its result and writes the SBOM."""
    result = options.result or RESULT
    return result, sbom_beside(result)
