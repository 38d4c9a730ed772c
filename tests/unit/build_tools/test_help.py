"""Every command's `--help` prints its usage and does nothing else: no file, no folder, no build.

Run the way the README runs them (`python -m ner_build.X --help`, `script/up --help`) from an
empty working folder, which must stay empty: `python -m ner_build.build.rootfs --help` once copied
287 MB into a folder named `./--help`, and `nox -s stack-file -- --help` wrote a file of that name.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ner_build
import pytest
from ner_build import commands

TOOLS = Path(ner_build.__file__).parent
ROOT = TOOLS.parent.parent
HELP_TIMEOUT = 60  # seconds; printing help takes about one


COMMANDS = commands.find()  # short name -> module


def help_problems(command: list[str], cwd: Path, pythonpath: Path = ROOT / "tools") -> list[str]:
    """What is wrong with `COMMAND --help` run in the empty folder CWD; [] when nothing is."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    result = subprocess.run(
        [*command, "--help"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=HELP_TIMEOUT,
        check=False,
    )
    problems = []
    if result.returncode != 0:
        problems.append(f"exit status {result.returncode}: {result.stderr.strip()[-500:]}")
    if "usage:" not in result.stdout:
        problems.append(f"no usage line in its output: {result.stdout[:200]!r}")
    left = sorted(path.name for path in cwd.iterdir())
    if left:
        problems.append(f"it left {left} in the working folder")
    return problems


def test_every_tool_module_is_found_in_its_wing() -> None:
    assert {
        "build": "ner_build.build",
        "bench": "ner_build.bench",
        "rootfs": "ner_build.build.rootfs",
        "compose": "ner_build.deploy.compose",
        "k8s": "ner_build.deploy.k8s",
        "dev": "ner_build.dev",
    }.items() <= COMMANDS.items()
    assert len(COMMANDS) == 25  # 22, proofs.incremental, ci.paths_check and ci.local_run


def test_two_commands_of_one_name_are_refused(tmp_path: Path) -> None:
    """The control: short names are what `nox -s tool -- NAME` runs, so they must be unique."""
    for wing in ("one", "two"):
        (tmp_path / wing).mkdir()
        (tmp_path / wing / "scan.py").write_text('if __name__ == "__main__":\n    pass\n')
    with pytest.raises(ValueError, match="two commands are named scan"):
        commands.find(tmp_path)


@pytest.mark.parametrize("module", sorted(COMMANDS.values()))
def test_help_of_every_tool_module_prints_usage_and_nothing_else(
    module: str, tmp_path: Path
) -> None:
    assert help_problems([sys.executable, "-m", module], tmp_path) == []


def test_help_of_script_up_lists_its_options(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "script" / "up")]
    assert help_problems(command, tmp_path) == []
    result = subprocess.run([*command, "--help"], capture_output=True, text=True, check=True)
    assert "--port PORT  the host port" in result.stdout
    assert "--name NAME  the container's name" in result.stdout


def test_the_check_catches_a_command_that_takes_help_for_a_path(tmp_path: Path) -> None:
    """The control: a main() that makes a folder of its first argument, as rootfs's did."""
    package = tmp_path / "tools"
    package.mkdir()
    (package / "old_rootfs.py").write_text(
        "import sys\nfrom pathlib import Path\nPath(sys.argv[1]).mkdir()\nprint('copied')\n"
    )
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    problems = help_problems([sys.executable, "-m", "old_rootfs"], cwd, pythonpath=package)
    assert any("--help" in problem for problem in problems), problems
    assert any("no usage line" in problem for problem in problems), problems
