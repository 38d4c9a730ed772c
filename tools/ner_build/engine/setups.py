"""The engines this host offers, as the tools and tests reach them: each an environment for its
client (DOCKER, plus DOCKER_HOST or CONTAINERS_CONF where it needs them).

The default engine is the one DOCKER names; the others come from env files (KEY=VALUE lines,
shell quoting) in ENGINES_DIR, one per engine: `tools/provision-debian docker26 containerd-store
podman` writes docker26.env (Docker 26 + buildx from Debian 13), containerd-store.env (that Docker
with the containerd image store) and podman.env.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ner_build import process
from ner_build.engine.docker import Docker
from ner_build.engine.offline_engine import SHORT_TMP
from ner_build.errors import CheckFailed

ENGINES_DIR = Path("/var/lib/ner-app/engines")


@dataclass(frozen=True)
class EngineSetup:
    name: str
    env: dict[str, str]

    @property
    def extra_env(self) -> dict[str, str]:
        """What the client needs in its environment besides DOCKER (DOCKER_HOST, ...)."""
        return {k: v for k, v in self.env.items() if k != "DOCKER"}

    @functools.cached_property
    def docker(self) -> Docker:
        """The client, made once: it asks the engine's kind only once."""
        return Docker.from_string(self.env["DOCKER"], self.extra_env)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (shell quoting allowed; blank lines and # comments skipped)."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        key, sep, value = words[0].partition("=")
        if not sep or len(words) != 1 or not key.isidentifier():
            raise CheckFailed(f"{path}:{number}: expected KEY=VALUE, found {line!r}")
        values[key] = value
    if "DOCKER" not in values:
        raise CheckFailed(f"{path} sets no DOCKER: name the engine's client, e.g. DOCKER=podman")
    return values


DEFAULT = "default"  # the engine DOCKER names


def find_engines(engines_dir: Path, env: Mapping[str, str]) -> list[EngineSetup]:
    """The default engine (DOCKER), then one per env file, by file name."""
    found = [EngineSetup(DEFAULT, {"DOCKER": env.get("DOCKER") or "docker"})]
    if engines_dir.is_dir():
        for path in sorted(engines_dir.glob("*.env")):
            found.append(EngineSetup(path.stem, read_env_file(path)))
    return found


def named(name: str, engines_dir: Path = ENGINES_DIR) -> EngineSetup | None:
    """The engine NAME.env in engines_dir sets up, or None when there is no such file."""
    path = engines_dir / f"{name}.env"
    return EngineSetup(name, read_env_file(path)) if path.is_file() else None


def required(name: str, engines_dir: Path = ENGINES_DIR) -> EngineSetup:
    """The engine NAME.env sets up; CheckFailed saying how to provision it when it is missing."""
    setup = named(name, engines_dir)
    if setup is None:
        raise CheckFailed(
            f"{engines_dir / (name + '.env')} is missing: provision the engine with "
            f"`tools/provision-debian {name}` (script/test does)."
        )
    return setup


@contextmanager
def empty_podman_store(label: str, engines_dir: Path = ENGINES_DIR) -> Iterator[dict[str, str]]:
    """The client settings of the provisioned Podman (podman.env) with an empty store of its
    own, as a customer's engine starts (DOCKER, CONTAINERS_CONF); the store is removed after."""
    podman = required("podman", engines_dir)
    store = SHORT_TMP / f"ner-podman-{label}-{os.getpid()}"
    client = {**podman.env, "DOCKER": f"podman --root {store}/root --runroot {store}/run"}
    try:
        yield client
    finally:  # podman's layers are read-only to a plain rmtree until podman removes them
        own = EngineSetup(label, client)
        process.run([*client["DOCKER"].split(), "rmi", "--all", "--force"], env=own.extra_env,
                    check=False)  # fmt: skip
        shutil.rmtree(store, ignore_errors=True)
