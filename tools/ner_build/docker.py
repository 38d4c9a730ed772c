"""The Docker CLI, as the build uses it: engine and BuildKit checks, images, builds."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from ner_build.errors import BuildCheckError

START_ENGINE_HINT = (
    "Start a Docker engine (e.g. `sudo systemctl start docker`, or on a host without systemd "
    "`sudo setsid dockerd >/var/log/dockerd.log 2>&1 &`), or point DOCKER / --docker at a client "
    "whose engine runs."
)


@dataclass(frozen=True)
class Docker:
    """A docker client command, e.g. ("docker",) or ("/usr/bin/docker",)."""

    command: tuple[str, ...] = ("docker",)

    @classmethod
    def from_string(cls, command: str) -> Docker:
        return cls(tuple(shlex.split(command)))

    def run(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}
        try:
            return subprocess.run(
                [*self.command, *args], capture_output=True, text=True, input=input_text, env=env
            )
        except FileNotFoundError:
            raise BuildCheckError(
                f"The docker client {self.command[0]!r} was not found. Install Docker "
                "(Debian: `apt-get install docker.io`) or set DOCKER / --docker to its path."
            ) from None

    def check_engine(self) -> None:
        result = self.run("info", "--format", "{{.ServerVersion}}")
        if result.returncode or not result.stdout.strip():
            raise BuildCheckError(
                f"No Docker engine answers `{' '.join(self.command)} info`: "
                f"{result.stderr.strip()}\n{START_ENGINE_HINT}"
            )

    def check_buildkit(self) -> None:
        """Build an empty image with BuildKit: fails on clients whose BuildKit is missing."""
        result = self.run(
            "build", "--quiet", "-", input_text="FROM scratch\nLABEL ner-app.probe=1\n"
        )
        if result.returncode:
            raise BuildCheckError(
                f"`{' '.join(self.command)} build` cannot use BuildKit: {result.stderr.strip()}\n"
                "Install the buildx plugin (Debian: docker-buildx) or use a client with built-in "
                "BuildKit such as Debian's /usr/bin/docker, via DOCKER / --docker."
            )

    def image_id(self, ref: str) -> str | None:
        result = self.run("image", "inspect", "--format", "{{.Id}}", ref)
        return result.stdout.strip() if result.returncode == 0 else None

    def layer_count(self, ref: str) -> int:
        """How many layers the (present) image has."""
        result = self.run("image", "inspect", "--format", "{{len .RootFS.Layers}}", ref)
        if result.returncode:
            raise BuildCheckError(f"Image {ref} is not in the engine: {result.stderr.strip()}")
        return int(result.stdout.strip())

    def ensure_image(self, ref: str, hint: str) -> str:
        """The local ID of ref, pulling it when absent; fail with hint when it cannot be had."""
        found = self.image_id(ref)
        if found:
            return found
        pulled = self.run("pull", "--quiet", ref)
        found = self.image_id(ref) if pulled.returncode == 0 else None
        if not found:
            raise BuildCheckError(
                f"The image {ref} is not present and pulling it failed: "
                f"{pulled.stderr.strip()}\n{hint}"
            )
        return found

    def stream(self, *args: str) -> None:
        """Run a docker command with its output going straight to the terminal."""
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}
        print(f"$ {shlex.join([*self.command, *args])}", file=sys.stderr, flush=True)
        result = subprocess.run([*self.command, *args], env=env)
        if result.returncode:
            raise BuildCheckError(f"`docker {args[0]}` failed with exit code {result.returncode}.")

    def tag(self, source: str, targets: Sequence[str]) -> None:
        for target in targets:
            result = self.run("tag", source, target)
            if result.returncode:
                raise BuildCheckError(f"Tagging {target} failed: {result.stderr.strip()}")
