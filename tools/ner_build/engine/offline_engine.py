"""A Docker engine as a customer behind a firewall has it: empty, and with no route out.

`offline_dockerd()` starts the host's dockerd with its own data root, exec root and socket
in a fresh folder, inside a new network namespace that has only a loopback interface. Its
containers get the engine's usual bridge, so `docker run -p 127.0.0.1:PORT:8501` works, but
nothing they or the engine do can reach another host: no registry, no package index. Commands
that must reach such a container run inside the namespace (`inside`). Needs root (unshare,
nsenter). Everything is removed afterwards: containers, images, the folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from ner_build import process, wait
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed

DOCKERD = "dockerd"
CLIENT = "/usr/bin/docker"  # Debian's client, which matches its dockerd
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
SHORT_TMP = Path("/tmp")  # noqa: S108 (a UNIX socket path has at most 107 bytes)


@dataclass(frozen=True)
class OfflineEngine:
    folder: Path
    process: subprocess.Popen[bytes]

    @property
    def socket(self) -> Path:
        return self.folder / "docker.sock"

    @property
    def docker(self) -> Docker:
        return Docker.from_string(f"{CLIENT} --host unix://{self.socket}")

    @property
    def pid(self) -> int:
        """dockerd's PID, whose network namespace is the engine's."""
        return int((self.folder / "docker.pid").read_text())

    def inside(self, command: Sequence[str]) -> list[str]:
        """The command, run in the engine's network namespace."""
        return ["nsenter", f"--net=/proc/{self.pid}/ns/net", "--", *command]

    def images(self) -> list[str]:
        """The IDs of every image in the engine (intermediate ones too)."""
        listed = self.docker.run("images", "--all", "--quiet", "--no-trunc", check=True).stdout
        return sorted(set(listed.split()))


def start_script(folder: Path) -> str:
    """The shell line run in the new namespace: loopback up, then dockerd in the folder."""
    return (
        "ip link set lo up && exec "
        + " ".join(
            [
                DOCKERD,
                f"--data-root={folder / 'data'}",
                f"--exec-root={folder / 'exec'}",
                f"--host=unix://{folder / 'docker.sock'}",
                f"--pidfile={folder / 'docker.pid'}",
            ]
        )
        + f" >{folder / 'dockerd.log'} 2>&1"
    )


def wait_until_ready(engine: OfflineEngine, timeout: float = START_TIMEOUT) -> None:
    def answers() -> bool:
        return engine.docker.run("version").returncode == 0

    if not wait.until(answers, timeout, poll=0.2, alive=lambda: engine.process.poll() is None):
        log = (engine.folder / "dockerd.log").read_text(errors="replace")[-2000:]
        raise CheckFailed(f"The offline dockerd did not start:\n{log}")


def stop(engine: OfflineEngine) -> None:
    """Remove its containers, stop dockerd, unmount what it left, remove the folder."""
    docker = engine.docker
    containers = docker.run("ps", "--all", "--quiet").stdout.split()
    if containers:
        docker.run("rm", "--force", *containers)
    if engine.process.poll() is None:
        with suppress(ProcessLookupError, FileNotFoundError, ValueError):
            os.kill(engine.pid, signal.SIGTERM)
        try:
            engine.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(engine.process.pid, signal.SIGKILL)
            engine.process.wait()
    for mount in reversed(_mounts_under(engine.folder)):
        process.run(["umount", "--lazy", mount], check=False)
    shutil.rmtree(engine.folder, ignore_errors=True)


def _mounts_under(folder: Path) -> list[str]:
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    return [line.split()[1] for line in mounts if line.split()[1].startswith(f"{folder}/")]


@contextmanager
def offline_dockerd() -> Iterator[OfflineEngine]:
    """An empty dockerd in a network namespace of its own, stopped and removed afterwards."""
    if os.geteuid() != 0 or not shutil.which(DOCKERD) or not shutil.which("unshare"):
        raise CheckFailed(
            "The offline engine needs root, dockerd and unshare (Debian: docker.io, util-linux): "
            "run as root on a host provisioned by tools/provision-debian."
        )
    folder = Path(tempfile.mkdtemp(prefix="ner-offline-", dir=SHORT_TMP))
    started = process.start(
        ["unshare", "--net", "--fork", "--", "sh", "-c", start_script(folder)], new_session=True
    )
    engine = OfflineEngine(folder, started)
    try:
        wait_until_ready(engine)
        yield engine
    finally:
        stop(engine)
