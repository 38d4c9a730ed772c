"""The import contracts of tools/ner_build (.importlinter, run by `nox -s lint`) hold, cover every
command, and break when a module imports against them (the controls, on a copy of the package)."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .test_help import COMMANDS

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / ".importlinter"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
COMMAND_LAYERS = 3  # the proofs; the build and the release; the build's parts and the checks


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on the package under root/tools with root/.importlinter."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root / "tools")},
        capture_output=True,
        text=True,
        check=False,
    )


def layers() -> list[set[str]]:
    config = configparser.ConfigParser()
    config.read(CONFIG)
    lines = config["importlinter:contract:layers"]["layers"].strip().splitlines()
    return [{name.strip() for name in line.split(":")} for line in lines]


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "tools" / "ner_build",
        tmp_path / "tools" / "ner_build",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy2(CONFIG, tmp_path / CONFIG.name)
    return tmp_path


def add_import(root: Path, module: str, line: str) -> None:
    path = root / "tools" / "ner_build" / f"{module}.py"
    path.write_text(path.read_text() + f"\n{line}  # noqa: E402\n")


def test_the_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_every_command_is_in_a_command_layer() -> None:
    placed = set().union(*layers()[:COMMAND_LAYERS])
    assert placed == set(COMMANDS)


def test_a_basic_that_reaches_a_command_breaks_the_layers(package_copy: Path) -> None:
    assert lint_imports(package_copy).returncode == 0  # the copy holds before the change
    add_import(package_copy, "console", "from ner_build import build")
    result = lint_imports(package_copy)
    assert result.returncode != 0
    assert "basics BROKEN" in " ".join(result.stdout.split())


def test_a_circle_breaks_the_no_circles_contract(package_copy: Path) -> None:
    """The circle there was: bench needed platformbench, which took its helpers from bench."""
    add_import(package_copy, "measurements", "from ner_build import platformbench")
    result = lint_imports(package_copy)
    assert result.returncode != 0
    assert "No import circles among the modules of ner_build BROKEN" in result.stdout
