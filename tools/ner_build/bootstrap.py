"""The tools that run the project (Poetry with its export plugin, nox, uv), installed at the
versions and hashes of tools/bootstrap/requirements.txt into a virtualenv of their own.

The virtualenv lives in the user's cache (`$XDG_CACHE_HOME/ner-app`, else `~/.cache/ner-app`),
named for the requirements' hash: every clone shares it, and a changed pin makes a new one.
Only the standard library is used here: this runs before anything is installed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from ner_build import console, process
from ner_build.errors import CheckFailed
from ner_build.paths import ROOT

REQUIREMENTS = ROOT / "tools" / "bootstrap" / "requirements.txt"
COMPLETE = "ner-app-tools-complete"  # written last: a venv without it is remade
MINIMUM_PYTHON = (3, 11)


def check_python(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> None:
    if version[:2] < MINIMUM_PYTHON:
        raise CheckFailed(
            f"Python {'.'.join(map(str, version[:3]))} is too old: run this with Python "
            f"{MINIMUM_PYTHON[0]}.{MINIMUM_PYTHON[1]} or newer (e.g. `python3.12 script/up`)."
        )


def cache_home(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ner-app"


def tools_venv_path(env: Mapping[str, str] = os.environ) -> Path:
    """Where the tools' virtualenv for these requirements and this Python lives."""
    key = hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()[:12]
    return cache_home(env) / f"tools-{key}"


def tools_venv(env: Mapping[str, str] = os.environ) -> Path:
    """The tools' virtualenv, installed first when it is missing or incomplete."""
    venv = tools_venv_path(env)
    if (venv / COMPLETE).exists():
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    with (venv.parent / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another command may be installing the same venv
        if not (venv / COMPLETE).exists():
            _install(venv)
    return venv


def _install(venv: Path) -> None:
    console.step(f"installing Poetry, nox and uv, hash-checked, into {venv}")
    shutil.rmtree(venv, ignore_errors=True)
    process.run(
        [sys.executable, "-m", "venv", venv],
        hint="Python's venv module is needed (Debian/Ubuntu: `apt-get install python3-venv`).",
    )
    process.run(
        [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--require-hashes", "--no-deps", "-r", REQUIREMENTS],
        hint="Check that the Python package index is reachable (or set PIP_INDEX_URL).",
    )  # fmt: skip
    (venv / COMPLETE).write_text(REQUIREMENTS.read_text())


def tools_environment(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Variables that put the tools first on PATH and tell the sessions which Poetry to use."""
    bin_dir = tools_venv(env) / "bin"
    return {
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', os.defpath)}",
        "POETRY": str(bin_dir / "poetry"),
    }


def poetry(env: Mapping[str, str] = os.environ) -> str:
    """POETRY if set, else `poetry` when it is on PATH, else the bootstrapped Poetry."""
    if env.get("POETRY"):
        return env["POETRY"]
    if shutil.which("poetry", path=env.get("PATH")):
        return "poetry"
    return str(tools_venv(env) / "bin" / "poetry")


INSTALLED = "ner-app-locked-install.key"  # in a session's virtualenv: what was installed there


def lock_key(project: Path, identity: str) -> str:
    """A key of pyproject.toml and poetry.lock, byte for byte, and what else the answer kept
    under it depends on (identity: the Poetry that gave it, the groups)."""
    key = hashlib.sha256(identity.encode())
    for name in ("pyproject.toml", "poetry.lock"):
        key.update(hashlib.sha256((project / name).read_bytes()).digest())
    return key.hexdigest()


def locked_install_key(groups: str, poetry_command: str, project: Path = ROOT) -> str:
    """What a nox session's locked install depends on: pyproject.toml, poetry.lock, the groups,
    and the Poetry that exports them."""
    return lock_key(project, f"{groups} {shutil.which(poetry_command) or poetry_command}")


def installed(venv: Path, key: str) -> bool:
    """Whether the virtualenv holds the install of this key already (nox reuses virtualenvs:
    an unchanged lock needs no export and no install)."""
    stamp = venv / INSTALLED
    return stamp.is_file() and stamp.read_text() == key
