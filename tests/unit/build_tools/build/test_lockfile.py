import re
import shutil
from pathlib import Path

import pytest
from ner_build.build import lockfile
from ner_build.errors import CheckFailed

from ..support import POETRY, ROOT

LOCK = ROOT / "poetry.lock"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project Poetry needs to check the lock: pyproject, lock, README, src."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("pyproject.toml", "poetry.lock", "README.md"):
        shutil.copy2(ROOT / name, copy / name)
    shutil.copytree(ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_locked_main_has_the_app_dependencies_and_no_dev_tools() -> None:
    main = lockfile.locked_main(LOCK)
    assert {"spacy", "streamlit"} <= main.keys()
    assert main["spacy"] == lockfile.locked_version(LOCK, "spacy")
    assert not {"pytest", "nox", "ruff", "uv"} & main.keys()


LINUX = {"platform_system": "Linux", "sys_platform": "linux", "os_name": "posix"}
WINDOWS = {"platform_system": "Windows", "sys_platform": "win32", "os_name": "nt"}


def test_locked_main_for_an_environment_keeps_only_packages_whose_markers_hold() -> None:
    assert "colorama" in lockfile.locked_main(LOCK)
    linux = lockfile.locked_main(LOCK, LINUX)
    assert "colorama" not in linux
    assert {"spacy", "streamlit", "watchdog"} <= linux.keys()
    assert "colorama" in lockfile.locked_main(LOCK, WINDOWS)


def test_locked_version_of_an_unknown_package_fails() -> None:
    with pytest.raises(CheckFailed, match="no-such-package is not in"):
        lockfile.locked_version(LOCK, "no-such-package")


def test_pinned_requirement_pins_the_version_with_hashes() -> None:
    line = lockfile.pinned_requirement(LOCK, "uv")
    version = lockfile.locked_version(LOCK, "uv")
    assert line.startswith(f"uv=={version} --hash=sha256:")
    assert line.endswith("\n")
    hashes = re.findall(r"--hash=sha256:([0-9a-f]+)", line)
    assert hashes
    assert all(len(h) == 64 for h in hashes)


def test_pinned_requirement_of_an_unknown_package_fails() -> None:
    with pytest.raises(CheckFailed, match="poetry lock"):
        lockfile.pinned_requirement(LOCK, "no-such-package")


def test_check_fresh_passes_on_the_project(project: Path) -> None:
    lockfile.check_fresh(POETRY, project)


def test_check_fresh_fails_after_a_dependency_is_added(project: Path) -> None:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    assert "dependencies = [\n" in text
    pyproject.write_text(
        text.replace("dependencies = [\n", 'dependencies = [\n    "requests",\n', 1)
    )
    with pytest.raises(CheckFailed, match="poetry lock") as error:
        lockfile.check_fresh(POETRY, project)
    assert "stale" in str(error.value)


def test_check_fresh_without_poetry_fails_naming_poetry(project: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-poetry")
    with pytest.raises(CheckFailed, match="POETRY") as error:
        lockfile.check_fresh(missing, project)
    assert missing in str(error.value)


@pytest.fixture
def counted_poetry(tmp_path: Path) -> tuple[str, Path]:
    """The real Poetry behind a script that counts its runs in a file."""
    runs, script = tmp_path / "runs", tmp_path / "poetry"
    script.write_text(f'#!/bin/sh\necho run >> "{runs}"\nexec "{shutil.which(POETRY)}" "$@"\n')
    script.chmod(0o755)
    return str(script), runs


def run_count(runs: Path) -> int:
    return len(runs.read_text().splitlines()) if runs.exists() else 0


def test_a_memo_answers_the_check_and_the_export_again_without_poetry(
    project: Path, counted_poetry: tuple[str, Path], tmp_path: Path
) -> None:
    poetry, runs = counted_poetry
    memo = tmp_path / "memo.json"
    lockfile.check_fresh(poetry, project, memo)
    first = lockfile.export_main(poetry, project, tmp_path / "first.txt", memo).read_text()
    assert run_count(runs) == 2
    lockfile.check_fresh(poetry, project, memo)
    again = lockfile.export_main(poetry, project, tmp_path / "again.txt", memo).read_text()
    assert run_count(runs) == 2
    assert again == first
    assert "--hash=sha256:" in again


def test_control_a_changed_pyproject_is_checked_by_poetry_again(
    project: Path, counted_poetry: tuple[str, Path], tmp_path: Path
) -> None:
    poetry, runs = counted_poetry
    memo = tmp_path / "memo.json"
    lockfile.check_fresh(poetry, project, memo)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            "dependencies = [\n", 'dependencies = [\n    "requests",\n', 1
        )
    )
    with pytest.raises(CheckFailed, match="stale"):
        lockfile.check_fresh(poetry, project, memo)
    assert run_count(runs) == 2
