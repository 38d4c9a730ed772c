"""The container engine, as the tools use it: one interface over three engines.

Everything that talks to an engine goes through `Docker`, a client command such as ("docker",),
("/usr/bin/docker", "-H", "unix:///run/docker.sock") or ("podman",), taken from DOCKER or
--docker. The client decides the engine (`Engine`), detected once from `CLIENT --version`:

- `BuiltinBuildKit`: Docker <= 22 with BuildKit built into `docker build` (DOCKER_BUILDKIT=1);
- `Buildx`: Docker >= 23, whose `docker buildx build --load` is BuildKit >= 0.13;
- `Podman`: Podman >= 4 (buildah), building in docker format so HEALTHCHECK is kept.

The commands they share (image inspect, tag, save, load, run, ...) are the same on all three.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ner_build import process
from ner_build.errors import BaseImageUnavailable, CheckFailed, ToolError

START_ENGINE_HINT = (
    "Start a Docker engine (e.g. `sudo systemctl start docker`, or on a host without systemd "
    "`sudo setsid dockerd >/var/log/dockerd.log 2>&1 &`), or point DOCKER / --docker at a client "
    "whose engine runs (e.g. DOCKER=podman)."
)
INSTALL_HINT = (
    "Install Docker (Debian: `apt-get install docker.io`) or Podman (`apt-get install podman`), "
    "or set DOCKER / --docker to the client's path."
)
BUILDKIT = {"DOCKER_BUILDKIT": "1"}
# `docker stats` memory units: binary (go-units BytesSize) and decimal (HumanSize).
UNITS = {
    "B": 1.0,
    "kB": 1e3,
    "KB": 1e3,
    "MB": 1e6,
    "GB": 1e9,
    "TB": 1e12,
    "KiB": 2.0**10,
    "MiB": 2.0**20,
    "GiB": 2.0**30,
    "TiB": 2.0**40,
}


def stats_memory_mb(mem_usage: str) -> float:
    """MB in use from `docker stats`' memory column, e.g. "97.67MiB / 23.5GiB" (the client
    leaves out the page cache it could drop, inactive_file, as the engine's stats report it)."""
    used = mem_usage.split("/")[0].strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([A-Za-z]+)", used)
    if not match or match[2] not in UNITS:
        raise ToolError(f"Cannot read the memory `docker stats` reported: {mem_usage!r}.")
    return float(match[1]) * UNITS[match[2]] / 1e6


@dataclass(frozen=True)
class Engine:
    """What differs between engines: how to ask for the version, how to build, how to remove."""

    name: str
    version_format: tuple[str, ...] = ("info", "--format", "{{.ServerVersion}}")
    data_root_format: tuple[str, ...] = ("info", "--format", "{{.DockerRootDir}}")
    build_command: tuple[str, ...] = ("build", "--progress=plain")
    remove_command: tuple[str, ...] = ("image", "rm", "--no-prune")
    has_buildkit_check: bool = True
    # `load` takes an archive without the layers the engine holds (image.normalize loads only
    # new layers). Podman refuses it: "Some layer tarfiles are missing in the tarball".
    loads_partial_archives: bool = True

    def describe(self, version: str) -> str:
        return f"{self.name} {version}".strip()


BuiltinBuildKit = Engine("Docker (built-in BuildKit)")
Buildx = Engine(
    "Docker (buildx)",
    build_command=(
        "buildx", "build", "--load", "--provenance=false", "--sbom=false", "--progress=plain",
    ),
)  # fmt: skip
Podman = Engine(
    "Podman",
    version_format=("info", "--format", "{{.Version.Version}}"),
    data_root_format=("info", "--format", "{{.Store.GraphRoot}}"),
    build_command=("build", "--format=docker"),
    remove_command=("image", "rm"),
    has_buildkit_check=False,
    loads_partial_archives=False,
)


def common_bottom(ours: Sequence[str], theirs: Sequence[str]) -> int:
    """How many bottom layers (diff IDs, bottom first) two images share."""
    count = 0
    for mine, their in zip(ours, theirs, strict=False):
        if mine != their:
            break
        count += 1
    return count


def detect(version_output: str, has_buildx: bool) -> Engine:
    """The engine a client drives, from its `--version` output and whether buildx answers."""
    if re.match(r"podman(-remote)? version", version_output.strip(), re.IGNORECASE):
        return Podman
    return Buildx if has_buildx else BuiltinBuildKit


def published_address(port_output: str) -> str:
    """http://HOST:PORT from `docker port`'s first line, e.g. "127.0.0.1:49153"."""
    bindings = port_output.split()
    if not bindings:
        raise ToolError(f"The container publishes no such port: {port_output!r}.")
    return f"http://{bindings[0]}"


SIZE_UNITS = {"B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def human_size_bytes(text: str) -> int:
    """Bytes of a size as the engines print it ("10.67GB", "865.2MB", "0B": decimal units)."""
    found = re.fullmatch(r"\s*([0-9.]+)\s*([kKMGT]?B)\s*", text)
    if not found:
        raise ToolError(f"Not a size the engine prints: {text!r}.")
    return round(float(found[1]) * SIZE_UNITS[found[2]])


@dataclass(frozen=True)
class Docker:
    """A client command, e.g. ("docker",) or ("podman",), and the environment it needs beyond
    the process's own (e.g. DOCKER_HOST, CONTAINERS_CONF for an engine of `nox -s engines`)."""

    command: tuple[str, ...] = ("docker",)
    environment: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_string(cls, command: str, environment: Mapping[str, str] | None = None) -> Docker:
        return cls(tuple(shlex.split(command)), tuple(sorted((environment or {}).items())))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Docker:
        """The client DOCKER names, else `docker`."""
        return cls.from_string(env.get("DOCKER") or "docker")

    def __str__(self) -> str:
        return shlex.join(self.command)

    @functools.cached_property
    def engine(self) -> Engine:
        """The engine this client drives (asked once)."""
        version = self.run("--version")
        if version.returncode:
            return BuiltinBuildKit  # the calls that need the engine report what is wrong
        if Podman is detect(version.stdout, has_buildx=False):
            return Podman
        return detect(version.stdout, self.run("buildx", "version").returncode == 0)

    @functools.cached_property
    def names_by_manifest(self) -> bool:
        """Whether the engine keeps images in the containerd image store (Docker with
        `features.containerd-snapshotter`, the default of new installs), which names an image by
        its manifest's digest, not its config's (asked once)."""
        if self.engine is Podman:
            return False
        found = self.run("info", "--format", "{{json .DriverStatus}}")
        return found.returncode == 0 and "io.containerd.snapshotter" in found.stdout

    def run(
        self, *args: str, input_text: str | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run a client command, output captured; with check, failing raises FailedProcessError."""
        return process.run(
            [*self.command, *args],
            env=self._env,
            input_text=input_text,
            check=check,
            missing=f"The client `{self}` was not found. {INSTALL_HINT}",
        )

    def stream(self, *args: str, hint: str = "") -> None:
        """Run a client command with its output going straight to the terminal."""
        process.stream(
            [*self.command, *args],
            env=self._env,
            hint=hint,
            missing=f"The client `{self}` was not found. {INSTALL_HINT}",
        )

    @property
    def _env(self) -> dict[str, str]:
        return {**BUILDKIT, **dict(self.environment)}

    def check_engine(self) -> str:
        """The engine and its version, e.g. "Podman 4.3.1"; CheckFailed when none answers."""
        engine = self.engine
        result = self.run(*engine.version_format)
        if result.returncode or not result.stdout.strip():
            raise CheckFailed(
                f"No {engine.name} engine answers `{self} {shlex.join(engine.version_format)}`: "
                f"{result.stderr.strip()}\n{START_ENGINE_HINT}"
            )
        return engine.describe(result.stdout.strip())

    def data_root(self) -> Path | None:
        """Where the engine keeps images and build cache (None when it does not say)."""
        result = self.run(*self.engine.data_root_format)
        found = result.stdout.strip()
        return Path(found) if not result.returncode and found else None

    def build_cache_bytes(self) -> int:
        """What the engine's build cache holds, as `system df` reports it; 0 where it reports
        no build cache (Podman keeps its cache as image layers) or does not answer."""
        found = self.run("system", "df", "--format", "{{json .}}")
        for line in found.stdout.splitlines() if not found.returncode else []:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and row.get("Type") == "Build Cache":
                size = row.get("Size", 0)  # Docker prints "10.67GB", Podman a number of bytes
                return size if isinstance(size, int) else human_size_bytes(str(size))
        return 0

    def check_buildkit(self) -> None:
        """Build an empty image with BuildKit: fails on clients whose BuildKit is missing."""
        if not self.engine.has_buildkit_check:
            return
        result = self.run(
            "build", "--quiet", "-", input_text="FROM scratch\nLABEL ner-app.probe=1\n"
        )
        if result.returncode:
            raise CheckFailed(
                f"`{self} build` cannot use BuildKit: {result.stderr.strip()}\n"
                "Install the buildx plugin (Debian: docker-buildx) or use a client with built-in "
                "BuildKit such as Debian's /usr/bin/docker, via DOCKER / --docker."
            )

    def build(self, *args: str) -> None:
        """Build with this engine's builder; the output goes to the terminal."""
        self.stream(*self.engine.build_command, *args)

    def image_id(self, ref: str) -> str | None:
        """The image's ID as "sha256:<hex>" (Podman prints it without the prefix)."""
        result = self.run("image", "inspect", "--format", "{{.Id}}", ref)
        if result.returncode or not result.stdout.strip():
            return None
        found = result.stdout.strip()
        return found if found.startswith("sha256:") else f"sha256:{found}"

    def labels(self, ref: str) -> dict[str, str]:
        """The image's labels; CheckFailed when the image is not in the engine."""
        result = self.run("image", "inspect", "--format", "{{json .Config.Labels}}", ref)
        if result.returncode:
            raise CheckFailed(f"Image {ref} is not in the engine: build it with `nox -s build`.")
        labels: dict[str, str] = json.loads(result.stdout or "null") or {}
        return labels

    def repo_digests(self, ref: str) -> list[str]:
        """The image's "repository@sha256:..." names: the registries' digests of its manifest
        (none for an image that was built or loaded here and never pushed or pulled)."""
        result = self.run("image", "inspect", "--format", "{{json .RepoDigests}}", ref)
        if result.returncode:
            return []
        return [str(entry) for entry in json.loads(result.stdout or "null") or []]

    def layers(self, ref: str) -> list[str]:
        """The diff IDs of the (present) image's layers, bottom first."""
        result = self.run("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref)
        if result.returncode:
            raise CheckFailed(f"Image {ref} is not in the engine: {result.stderr.strip()}")
        layers: list[str] = json.loads(result.stdout) or []
        return layers

    def shared_layers(self, ref: str, base: str) -> int:
        """How many of ref's bottom layers are base's (none when ref starts FROM scratch)."""
        return common_bottom(self.layers(ref), self.layers(base))

    def platform_of(self, ref: str) -> str:
        """An image's OS/architecture, e.g. "linux/arm64" ("" when the engine lacks it)."""
        found = self.run("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", ref)
        return found.stdout.strip() if found.returncode == 0 else ""

    def ensure_image(self, ref: str, hint: str, platform: object | None = None) -> str:
        """The local ID of a base image (of the platform, when one is given), pulling it when
        absent; BaseImageUnavailable with the hint when it cannot be had."""
        found = self.image_id(ref)
        if found and (platform is None or self.platform_of(ref) == str(platform)):
            return found
        pulled = self.run("pull", "--quiet", *([f"--platform={platform}"] if platform else []), ref)
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

    def save(self, ref: str, archive: Path) -> None:
        """Write the image to an archive (docker-archive, or OCI layout on Docker >= 25)."""
        self.stream("save", "--output", str(archive), ref)

    def load(self, archive: Path) -> None:
        self.stream("load", "--quiet", "--input", str(archive))

    def push(self, ref: str) -> str | None:
        """Push a tag; Podman reports the pushed manifest's digest (Docker records it in the
        image's RepoDigests instead, so None). Like Docker, Podman may use plain HTTP for a
        registry on localhost or 127.0.0.0/8."""
        if self.engine is not Podman:
            self.stream("push", ref)
            return None
        with tempfile.TemporaryDirectory(prefix="ner-app-push-") as tmp:
            digest_file = Path(tmp, "digest")
            host = ref.split("/", 1)[0].rsplit(":", 1)[0]
            local = host == "localhost" or host.startswith("127.")
            tls = ["--tls-verify=false"] if local else []
            self.stream("push", *tls, f"--digestfile={digest_file}", ref)
            return digest_file.read_text().strip()

    def remove_image(self, ref: str) -> None:
        """Remove an image (or tag) this tool made; a failure is left to the user's engine."""
        self.run(*self.engine.remove_command, ref)

    def untag(self, tag: str) -> str | None:
        """Remove a tag this tool made. The image goes with it only when nothing else uses it
        (another tag, a container), as `image rm` does; where a container uses it and this is
        its last tag, only the tag goes. None when done, else why the tag stays."""
        removed = self.run(*self.engine.remove_command, tag)
        if not removed.returncode or not self.image_id(tag):
            return None
        users = self.containers_using(tag)
        if not users:
            return removed.stderr.strip() or f"`{self} image rm {tag}` failed"
        if self.engine is Podman:
            untagged = self.run("untag", tag, tag)
        elif all(running for _, running in users):
            untagged = self.run("image", "rm", "--force", "--no-prune", tag)  # keeps the image
        else:  # --force would delete an image a stopped container still needs
            return f"{tag} stays: the stopped container {users[0][0]} uses its image"
        return None if not untagged.returncode else untagged.stderr.strip()

    def containers_using(self, ref: str) -> list[tuple[str, bool]]:
        """(name, running) of every container, running or not, made from ref's image."""
        image = self.image_id(ref)
        if not image:
            return []
        names = ("--filter", f"ancestor={image}", "--format", "{{.Names}}")
        running = set(self.run("ps", *names).stdout.split())  # without --all: running ones
        return [(name, name in running) for name in self.run("ps", "--all", *names).stdout.split()]

    def memory_mb(self, container: str) -> float:
        """A running container's memory in MB, as `docker stats` reports it."""
        stats = self.run("stats", "--no-stream", "--format", "{{.MemUsage}}", container, check=True)
        return stats_memory_mb(stats.stdout)

    @contextmanager
    def published(
        self, image: str, *command: str, options: Sequence[str] = (), port: str = "8501"
    ) -> Iterator[tuple[str, str]]:
        """A container of image (run with options), its port published on a free loopback
        port; yields its ID and address, and removes it afterwards."""
        started = self.run(
            "run", "--detach", f"--publish=127.0.0.1::{port}", *options, image, *command,
            check=True,
        )  # fmt: skip
        container_id = started.stdout.strip()
        try:
            bound = self.run("port", container_id, f"{port}/tcp", check=True).stdout
            yield container_id, published_address(bound)
        finally:
            self.run("rm", "--force", container_id)
