"""The import contracts of tools/ner_build (.importlinter, run by `nox -s lint`) hold, place every
wing and module, and break when a module imports against them (the controls, on a copy of the
package)."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ner_build import commands

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "tools" / "ner_build"
CONFIG = ROOT / ".importlinter"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
BASICS = 3  # the last three floors: the shared basics, which hold no command


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


def children() -> set[str]:
    """The wings (subpackages) and the top-level modules of ner_build."""
    return {
        path.stem if path.is_file() else path.name
        for path in PACKAGE.iterdir()
        if path.name != "__init__.py" and (path.suffix == ".py" or (path / "__init__.py").is_file())
    }


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(
        PACKAGE, tmp_path / "tools" / "ner_build", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy2(CONFIG, tmp_path / CONFIG.name)
    return tmp_path


def add_import(root: Path, module: str, line: str) -> None:
    path = root / "tools" / "ner_build" / f"{module.replace('.', '/')}.py"
    path.write_text(path.read_text() + f"\n{line}  # noqa: E402\n")


def test_the_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_every_wing_and_module_has_a_floor() -> None:
    """A new wing or module is placed on purpose, not left out of the layers."""
    assert set().union(*layers()) == children()


def test_no_command_is_a_shared_basic() -> None:
    basics = set().union(*layers()[-BASICS:])
    tops = {module.split(".")[1] for module in commands.find().values()}
    assert tops
    assert not tops & basics


def test_a_lower_wing_that_imports_a_higher_one_breaks_the_layers(package_copy: Path) -> None:
    assert lint_imports(package_copy).returncode == 0  # the copy holds before the change
    add_import(package_copy, "image.compare", "from ner_build.release import bundle")
    result = lint_imports(package_copy)
    assert result.returncode != 0
    assert "never the other way; the shared basics use no wing BROKEN" in " ".join(
        result.stdout.split()
    )
    assert "ner_build.image.compare -> ner_build.release.bundle" in result.stdout


def test_a_basic_that_reaches_a_wing_breaks_the_layers(package_copy: Path) -> None:
    add_import(package_copy, "console", "from ner_build.engine import docker")
    result = lint_imports(package_copy)
    assert result.returncode != 0
    assert "the shared basics use no wing BROKEN" in " ".join(result.stdout.split())


def test_a_circle_inside_a_wing_breaks_the_no_circles_contract(package_copy: Path) -> None:
    """The circle there was: bench needed platformbench, which took its helpers from bench."""
    add_import(package_copy, "bench.measurements", "from ner_build.bench import platformbench")
    result = lint_imports(package_copy)
    assert result.returncode != 0
    assert "nor among the modules of a wing BROKEN" in " ".join(result.stdout.split())
