"""deploy/compose.yaml as a Compose v2 project or a swarm stack, for `nox -s scale`."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ner_build import wait
from ner_build.engine.docker import Docker, stats_memory_mb
from ner_build.errors import CheckFailed
from ner_build.paths import BUILD, ROOT

COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
COMPOSE_HINT = (
    "`nox -s scale` needs Compose v2 (`docker compose`) and an engine >= 25 (healthcheck "
    "start_interval). On Debian: `sudo tools/provision-debian docker26`, then run with the "
    "settings in /var/lib/ner-app/engines/docker26.env, or pass --engine-env."
)


@dataclass(frozen=True)
class Project:
    """One Compose project of deploy/compose.yaml: its name and the NER_* values it reads."""

    docker: Docker
    name: str
    settings: Mapping[str, str] = field(default_factory=dict)
    file: Path = COMPOSE_FILE

    def with_settings(self, **changes: str) -> Project:
        return replace(self, settings={**self.settings, **changes})

    @property
    def client(self) -> Docker:
        """The engine's client with the project's settings in its environment."""
        return replace(
            self.docker,
            environment=tuple(sorted({**dict(self.docker.environment), **self.settings}.items())),
        )

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.client.run("compose", "-p", self.name, "-f", str(self.file), *args, check=check)

    def check(self) -> str:
        """Compose's version; CheckFailed with what to install when the client has none."""
        result = self.client.run("compose", "version", "--short")
        if result.returncode:
            raise CheckFailed(f"`{self.docker} compose` does not answer.\n{COMPOSE_HINT}")
        return result.stdout.strip()

    def up(self, timeout_s: int = 180) -> None:
        """Create or update the project and wait until every container is healthy."""
        self.compose("up", "--detach", "--wait", "--wait-timeout", str(timeout_s))

    def down(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "5", check=False)

    def containers(self, service: str) -> list[str]:
        """The service's container names, sorted (e.g. PROJECT-app-1)."""
        result = self.compose("ps", "--all", "--format", "{{.Name}}", service)
        return sorted(result.stdout.split())

    def all_containers(self) -> list[str]:
        """Every container of the project (the load balancer and the replicas), sorted."""
        return sorted(self.compose("ps", "--all", "--format", "{{.Name}}").stdout.split())


def stack_file(compose_file: Path, target: Path) -> Path:
    """deploy/compose.yaml as `docker stack deploy` reads it: without the top-level `name` and
    the published port's `host_ip` (the stack schema has neither: swarm publishes on every
    address). Everything else, ${...} settings included, is the same file."""
    spec: dict[str, Any] = yaml.safe_load(compose_file.read_text())
    spec.pop("name", None)
    for service in spec.get("services", {}).values():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                port.pop("host_ip", None)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(spec, sort_keys=False))
    return target


@dataclass(frozen=True)
class Stack:
    """A swarm stack of the compose file, on an engine in swarm mode."""

    docker: Docker
    name: str
    file: Path
    settings: Mapping[str, str] = field(default_factory=dict)

    @property
    def client(self) -> Docker:
        return Project(self.docker, self.name, self.settings).client

    def deploy(self) -> None:
        self.client.run("stack", "deploy", "--compose-file", str(self.file), self.name, check=True)

    def remove(self, timeout_s: float = 60) -> None:
        """Remove the stack and wait until its network is gone (removal is asynchronous)."""
        self.client.run("stack", "rm", self.name)
        label = f"label=com.docker.stack.namespace={self.name}"

        def gone() -> bool:
            left = self.client.run("network", "ls", "--quiet", "--filter", label).stdout.strip()
            tasks = self.client.run("ps", "--all", "--quiet", "--filter", label).stdout.strip()
            return not left and not tasks

        wait.until(gone, timeout_s, poll=0.5)

    def replicas(self, service: str) -> tuple[int, int]:
        """(running, desired) tasks of the stack's service."""
        result = self.client.run(
            "service", "ls", "--filter", f"name={self.name}_{service}", "--format", "{{.Replicas}}"
        )
        running, _, desired = result.stdout.strip().partition("/")
        return int(running or 0), int(desired.split()[0] if desired else 0)

    def wait_converged(self, service: str, timeout_s: float = 180) -> None:
        def converged() -> bool:
            running, desired = self.replicas(service)
            return bool(desired) and running == desired

        if not wait.until(converged, timeout_s, poll=0.5):
            raise CheckFailed(f"{self.name}_{service} did not converge within {timeout_s:.0f} s.")

    def task_nodes(self, service: str) -> list[str]:
        result = self.client.run(
            "service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}}",
            f"{self.name}_{service}",
        )  # fmt: skip
        return result.stdout.split()


class Swarm:
    """Swarm mode for the duration of a run: joined only if the engine was not in a swarm."""

    def __init__(self, docker: Docker) -> None:
        self.docker = docker
        self.initialised = False

    def __enter__(self) -> Swarm:
        state = self.docker.run("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
        if state != "active":
            self.docker.run(
                "swarm", "init", "--advertise-addr", "127.0.0.1",
                "--listen-addr", "127.0.0.1:2377", check=True,
            )  # fmt: skip
            self.initialised = True
        return self

    def __exit__(self, *_: object) -> None:
        if self.initialised:
            self.docker.run("swarm", "leave", "--force")


def memory_mb(docker: Docker, containers: list[str]) -> dict[str, float]:
    """Each container's memory as `docker stats` reports it, in MB."""
    result = docker.run("stats", "--no-stream", "--format", "{{json .}}", *containers, check=True)
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return {row["Name"]: stats_memory_mb(row["MemUsage"]) for row in rows}


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="nox -s stack-file --",
        description="Write deploy/compose.yaml as `docker stack deploy` reads it.",
    )
    default = BUILD / "stack.yaml"
    cli.add_argument(
        "output",
        nargs="?",
        type=Path,
        default=default,
        help=f"where to write it (default {default})",
    )
    return cli


def main(argv: list[str] | None = None) -> int:
    """`nox -s stack-file -- [OUTPUT]`: write the swarm stack file (default build/stack.yaml)."""
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    print(stack_file(COMPOSE_FILE, args.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
