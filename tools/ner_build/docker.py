"""The container engine's CLI, as the tools use it: engine and BuildKit checks, images, builds.

Everything that talks to an engine goes through `Docker`, a client command such as ("docker",)
or ("/usr/bin/docker", "-H", "unix:///run/docker.sock"), taken from DOCKER or --docker.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ner_build import process
from ner_build.errors import BaseImageUnavailable, CheckFailed

START_ENGINE_HINT = (
    "Start a Docker engine (e.g. `sudo systemctl start docker`, or on a host without systemd "
    "`sudo setsid dockerd >/var/log/dockerd.log 2>&1 &`), or point DOCKER / --docker at a client "
    "whose engine runs."
)
INSTALL_HINT = (
    "Install Docker (Debian: `apt-get install docker.io`) or set DOCKER / --docker to its path."
)
BUILDKIT = {"DOCKER_BUILDKIT": "1"}


@dataclass(frozen=True)
class Docker:
    """A docker client command, e.g. ("docker",) or ("/usr/bin/docker",)."""

    command: tuple[str, ...] = ("docker",)

    @classmethod
    def from_string(cls, command: str) -> Docker:
        return cls(tuple(shlex.split(command)))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Docker:
        """The client DOCKER names, else `docker`."""
        return cls.from_string(env.get("DOCKER") or "docker")

    def __str__(self) -> str:
        return shlex.join(self.command)

    def run(
        self, *args: str, input_text: str | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run a client command, output captured; with check, failing raises FailedProcessError."""
        return process.run(
            [*self.command, *args],
            env=BUILDKIT,
            input_text=input_text,
            check=check,
            missing=f"The docker client was not found. {INSTALL_HINT}",
        )

    def stream(self, *args: str, hint: str = "") -> None:
        """Run a client command with its output going straight to the terminal."""
        process.stream(
            [*self.command, *args],
            env=BUILDKIT,
            hint=hint,
            missing=f"The docker client was not found. {INSTALL_HINT}",
        )

    def check_engine(self) -> None:
        result = self.run("info", "--format", "{{.ServerVersion}}")
        if result.returncode or not result.stdout.strip():
            raise CheckFailed(
                f"No Docker engine answers `{self} info`: "
                f"{result.stderr.strip()}\n{START_ENGINE_HINT}"
            )

    def check_buildkit(self) -> None:
        """Build an empty image with BuildKit: fails on clients whose BuildKit is missing."""
        result = self.run(
            "build", "--quiet", "-", input_text="FROM scratch\nLABEL ner-app.probe=1\n"
        )
        if result.returncode:
            raise CheckFailed(
                f"`{self} build` cannot use BuildKit: {result.stderr.strip()}\n"
                "Install the buildx plugin (Debian: docker-buildx) or use a client with built-in "
                "BuildKit such as Debian's /usr/bin/docker, via DOCKER / --docker."
            )

    def image_id(self, ref: str) -> str | None:
        result = self.run("image", "inspect", "--format", "{{.Id}}", ref)
        return result.stdout.strip() if result.returncode == 0 else None

    def labels(self, ref: str) -> dict[str, str]:
        """The image's labels; CheckFailed when the image is not in the engine."""
        result = self.run("image", "inspect", "--format", "{{json .Config.Labels}}", ref)
        if result.returncode:
            raise CheckFailed(f"Image {ref} is not in the engine: build it with `nox -s build`.")
        labels: dict[str, str] = json.loads(result.stdout or "null") or {}
        return labels

    def layer_count(self, ref: str) -> int:
        """How many layers the (present) image has."""
        result = self.run("image", "inspect", "--format", "{{len .RootFS.Layers}}", ref)
        if result.returncode:
            raise CheckFailed(f"Image {ref} is not in the engine: {result.stderr.strip()}")
        return int(result.stdout.strip())

    def ensure_image(self, ref: str, hint: str) -> str:
        """The local ID of a base image, pulling it when absent; BaseImageUnavailable with the
        hint when it cannot be had."""
        found = self.image_id(ref)
        if found:
            return found
        pulled = self.run("pull", "--quiet", ref)
        found = self.image_id(ref) if pulled.returncode == 0 else None
        if not found:
            raise BaseImageUnavailable(
                f"The image {ref} is not present and pulling it failed: "
                f"{pulled.stderr.strip()}\n{hint}"
            )
        return found

    def tag(self, source: str, targets: Sequence[str]) -> None:
        for target in targets:
            self.run("tag", source, target, check=True)
