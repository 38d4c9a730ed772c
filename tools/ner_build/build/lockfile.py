"""poetry.lock as the single source of what the image installs."""

from __future__ import annotations

import json
import shutil
import tomllib
from collections.abc import Mapping
from pathlib import Path

from packaging.markers import Marker

from ner_build import process
from ner_build.bootstrap import lock_key
from ner_build.errors import CheckFailed, FailedProcessError


def _packages(lock: Path) -> list[dict[str, object]]:
    packages: list[dict[str, object]] = tomllib.loads(lock.read_text())["package"]
    return packages


def locked_main(lock: Path, environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """Name -> version of the lock's main group, as installed where the marker environment holds.

    With no environment, every main package is listed, whatever its markers.
    """
    return {
        str(p["name"]): str(p["version"])
        for p in _packages(lock)
        if "main" in p.get("groups", ["main"])  # type: ignore[operator]
        and (environment is None or _applies(p.get("markers"), environment))
    }


def _applies(markers: object, environment: Mapping[str, str]) -> bool:
    """Whether a package's lock markers (a string, or per group) hold in the environment."""
    marker = markers.get("main") if isinstance(markers, dict) else markers
    return not marker or Marker(str(marker)).evaluate(dict(environment))


def locked_version(lock: Path, name: str) -> str:
    """The locked version of one package."""
    for package in _packages(lock):
        if package["name"] == name:
            return str(package["version"])
    raise CheckFailed(f"{name} is not in {lock}; add it to pyproject.toml and run `poetry lock`.")


def locked_hashes(lock: Path, name: str) -> set[str]:
    """The sha256 of every file the lock allows for a package (hex, without `sha256:`)."""
    for package in _packages(lock):
        if package["name"] == name:
            files: list[dict[str, str]] = package["files"]  # type: ignore[assignment]
            return {f["hash"].removeprefix("sha256:") for f in files}
    return set()


def pinned_requirement(lock: Path, name: str) -> str:
    """A requirements line `name==version --hash=...` from the lock, for pip --require-hashes."""
    for package in _packages(lock):
        if package["name"] == name:
            files: list[dict[str, str]] = package["files"]  # type: ignore[assignment]
            hashes = " ".join(f"--hash={f['hash']}" for f in files)
            return f"{name}=={package['version']} {hashes}\n"
    raise CheckFailed(f"{name} is not in {lock}; add it to pyproject.toml and run `poetry lock`.")


def check_fresh(poetry: str, project: Path, memo: Path | None = None) -> None:
    """Fail when poetry.lock does not match pyproject.toml. With a memo file, a check that
    passed for these very files and this Poetry is not run again."""
    if _remembered(memo, poetry, project).get("fresh"):
        return
    try:
        _poetry(poetry, project, "check", "--lock")
    except FailedProcessError as error:
        raise CheckFailed(
            "poetry.lock is stale against pyproject.toml: run `poetry lock`, review and commit "
            f"poetry.lock, then build again.\n{error.output}".rstrip()
        ) from None
    _remember(memo, poetry, project, fresh=True)


def export_main(poetry: str, project: Path, out: Path, memo: Path | None = None) -> Path:
    """Export the main group with hashes as a requirements file. With a memo file, the export
    of these very files by this Poetry is written again without running Poetry."""
    out.parent.mkdir(parents=True, exist_ok=True)
    exported = _remembered(memo, poetry, project).get("requirements")
    if isinstance(exported, str):
        out.write_text(exported)
        return out
    args = ("export", "--only", "main", "--format", "requirements.txt", "--output", str(out))
    _poetry(
        poetry,
        project,
        *args,
        hint="Install the export plugin into Poetry's environment "
        "(`poetry self add poetry-plugin-export`).",
    )
    _remember(memo, poetry, project, requirements=out.read_text())
    return out


def _memo_key(poetry: str, project: Path) -> str:
    """What Poetry's answers depend on: pyproject.toml, poetry.lock, and Poetry itself (its
    executable's path, size and time: a reinstalled Poetry is another)."""
    found = Path(shutil.which(poetry) or poetry)
    stat = found.stat() if found.exists() else None
    return lock_key(project, f"{found.resolve()} {stat and (stat.st_size, stat.st_mtime_ns)}")


def _remembered(memo: Path | None, poetry: str, project: Path) -> dict[str, object]:
    if memo is None:
        return {}
    try:
        found = json.loads(memo.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(found, dict) or found.get("key") != _memo_key(poetry, project):
        return {}
    return found


def _remember(memo: Path | None, poetry: str, project: Path, **answers: object) -> None:
    if memo is None:
        return
    memo.parent.mkdir(parents=True, exist_ok=True)
    record = {**_remembered(memo, poetry, project), **answers, "key": _memo_key(poetry, project)}
    memo.write_text(json.dumps(record) + "\n")


def _poetry(poetry: str, project: Path, *args: str, hint: str = "") -> None:
    process.run(
        [poetry, "--no-interaction", f"--directory={project}", *args],
        hint=hint,
        missing=f"Poetry was not found as {poetry!r}; install Poetry 2 or set POETRY to its path.",
    )
