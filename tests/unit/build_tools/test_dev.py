"""The README's two commands: their tools, their docker client and the CLI."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from ner_build import bootstrap, dev
from ner_build.build import inventory
from ner_build.errors import CheckFailed, FailedProcessError

from .support import DOCKER


def test_python_older_than_311_is_refused_with_what_to_run() -> None:
    with pytest.raises(CheckFailed, match=r"3\.10\.4 is too old.*3\.11 or newer"):
        bootstrap.check_python((3, 10, 4))
    bootstrap.check_python((3, 11, 0))


def test_the_tools_venv_is_named_for_the_requirements_and_lives_in_the_cache(
    tmp_path: Path,
) -> None:
    venv = bootstrap.tools_venv_path({"XDG_CACHE_HOME": str(tmp_path)})
    assert venv.parent == tmp_path / "ner-app"
    assert venv.name.startswith("tools-")
    assert len(venv.name) == len("tools-") + 12


def test_the_tools_lock_pins_every_package_with_hashes() -> None:
    lines = bootstrap.REQUIREMENTS.read_text().replace("\\\n", " ").splitlines()
    pins = [line for line in lines if line and not line.lstrip().startswith("#")]
    assert {p.split("==")[0] for p in pins} >= {"poetry", "poetry-plugin-export", "nox", "uv"}
    assert all("==" in p and "--hash=sha256:" in p for p in pins)


def test_the_tools_share_their_versions_with_poetry_lock() -> None:
    """nox and uv are pinned in both locks: they must agree."""
    from ner_build.build import lockfile
    from ner_build.paths import LOCK

    text = bootstrap.REQUIREMENTS.read_text()
    for name in ("nox", "uv"):
        assert f"\n{name}=={lockfile.locked_version(LOCK, name)} " in text


def test_poetry_is_the_configured_one_then_the_one_on_path(tmp_path: Path) -> None:
    assert bootstrap.poetry({"POETRY": "/x/poetry", "PATH": ""}) == "/x/poetry"
    (tmp_path / "poetry").write_text("#!/bin/sh\n")
    (tmp_path / "poetry").chmod(0o755)
    assert bootstrap.poetry({"PATH": str(tmp_path)}) == "poetry"


def test_the_docker_client_is_the_one_docker_names() -> None:
    assert dev.docker_client({"DOCKER": "/x/docker -H unix:///y"}).command == (
        "/x/docker",
        "-H",
        "unix:///y",
    )


@pytest.mark.host
def test_without_docker_set_the_first_client_with_buildkit_is_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_buildx = tmp_path / "docker-no-buildx"
    no_buildx.write_text(
        '#!/bin/sh\nif [ "$1" = build ]; then echo "buildx missing" >&2; exit 1; fi\n'
        f'exec {DOCKER} "$@"\n'
    )
    no_buildx.chmod(0o755)
    monkeypatch.setattr(dev, "CLIENTS", (str(no_buildx), DOCKER))
    assert dev.docker_client({}).command[0] == DOCKER.split()[0]


def test_with_no_usable_client_the_message_names_each_and_how_to_start_an_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dev, "CLIENTS", (str(tmp_path / "absent-docker"),))
    with pytest.raises(CheckFailed, match="absent-docker") as error:
        dev.docker_client({})
    assert "Start a Docker engine" in str(error.value)


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        dev.main(["deploy"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_inventory_sbom_without_a_file_is_parsed_not_an_index_error() -> None:
    args = inventory.parser().parse_args(["sbom", "ner-app:latest"])
    assert (args.command, args.image, args.file) == ("sbom", "ner-app:latest", None)


def test_inventory_without_an_image_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        inventory.main(["sbom"])
    assert exit_.value.code == 2
    assert "image" in capsys.readouterr().err


def test_the_scripts_run_the_commands_with_nothing_but_python(tmp_path: Path) -> None:
    """script/up and script/test import only the standard library before they bootstrap."""
    import subprocess

    root = Path(__file__).resolve().parents[3]
    for script in ("up", "test"):
        result = subprocess.run(
            [sys.executable, "-S", "-I", str(root / "script" / script), "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "usage:" in result.stdout


def test_script_test_passes_nox_flags_on_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(dev, "run_checks", lambda args: seen.append(list(args)))
    assert dev.main(["test", "-s", "build", "--", "--buildx-arg=--load"]) == 0
    assert dev.main(["test"]) == 0
    assert seen == [["-s", "build", "--", "--buildx-arg=--load"], []]


def test_the_checks_build_their_own_image_name_unless_told() -> None:
    """script/test never moves the tags of the user's `script/up` image (ner-app:*)."""
    assert dev.test_settings("base", {})["NER_IMAGE"] == "ner-app-test"
    assert dev.test_settings("base", {"NER_IMAGE": "mine"})["NER_IMAGE"] == "mine"


def test_the_evidence_of_failures_is_named_at_the_end_even_when_nox_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "failures"
    stale = root / "integration" / "old-test" / "trace.zip"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from an earlier run")

    def failing_nox(args: Sequence[str], env: Mapping[str, str]) -> None:
        assert not stale.exists(), "an earlier run's evidence is cleared first"
        kept = root / "integration" / "test_x.py-test_y"
        kept.mkdir(parents=True)
        (kept / "trace.zip").write_bytes(b"PK")
        raise FailedProcessError(["nox"], 1)

    monkeypatch.setattr(dev, "nox", failing_nox)
    monkeypatch.setattr(dev.evidence, "EVIDENCE", root)
    with pytest.raises(FailedProcessError):
        dev.run_keeping_evidence([], {})
    err = capsys.readouterr().err
    assert f"Evidence of what failed is kept in {root} (1 folder(s)):" in err
    assert "test_x.py-test_y: trace.zip" in err


@pytest.mark.parametrize(
    ("nox_args", "selected"),
    [
        (["-s", "lint", "tests"], {"lint", "tests"}),
        (["--session=lint", "-e", "tests"], {"lint", "tests"}),
        (["-s", "tests", "--", "-k", "export"], {"tests"}),
        (["-t", "quick"], None),
        ([], None),
    ],
)
def test_the_sessions_named_on_the_command_line_are_read(
    nox_args: list[str], selected: set[str] | None
) -> None:
    assert dev.selected_sessions(nox_args) == selected


class Provisioned(Exception):
    """What the stand-in for provisioning raises: the quick path must never reach it."""


def checks_run(monkeypatch: pytest.MonkeyPatch, nox_args: list[str]) -> list[list[str]]:
    def provision(groups: object) -> None:
        raise Provisioned

    ran: list[list[str]] = []
    monkeypatch.setattr(dev, "provision", provision)
    monkeypatch.setattr(dev.bootstrap, "tools_environment", lambda env: {})
    monkeypatch.setattr(dev, "run_keeping_evidence", lambda args, env: ran.append(list(args)))
    dev.run_checks(nox_args, {})
    return ran


def test_lint_and_the_unit_tests_run_without_provisioning_or_an_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert checks_run(monkeypatch, ["-s", "lint", "tests"]) == [["-s", "lint", "tests"]]


def test_any_other_session_provisions_the_host_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: with a session that needs the engine, provisioning comes first."""
    with pytest.raises(Provisioned):
        checks_run(monkeypatch, ["-s", "lint", "build"])
    with pytest.raises(Provisioned):
        checks_run(monkeypatch, [])


@pytest.fixture
def locked_project(tmp_path: Path) -> tuple[Path, Path]:
    """A project (pyproject.toml, poetry.lock) and an empty session virtualenv."""
    project, venv = tmp_path / "project", tmp_path / "venv"
    project.mkdir()
    venv.mkdir()
    for name in ("pyproject.toml", "poetry.lock"):
        (project / name).write_text(f"{name} as locked\n")
    return project, venv


def test_a_session_virtualenv_holding_this_lock_install_needs_none(
    locked_project: tuple[Path, Path],
) -> None:
    project, venv = locked_project
    key = bootstrap.locked_install_key("main,dev", "poetry", project)
    assert not bootstrap.installed(venv, key)
    (venv / bootstrap.INSTALLED).write_text(key)
    assert bootstrap.installed(venv, key)
    assert bootstrap.locked_install_key("main,dev", "poetry", project) == key


def test_control_another_lock_or_other_groups_install_again(
    locked_project: tuple[Path, Path],
) -> None:
    project, venv = locked_project
    (venv / bootstrap.INSTALLED).write_text(bootstrap.locked_install_key("dev", "poetry", project))
    assert not bootstrap.installed(
        venv, bootstrap.locked_install_key("main,dev", "poetry", project)
    )
    (project / "poetry.lock").write_text("relocked\n")
    assert not bootstrap.installed(venv, bootstrap.locked_install_key("dev", "poetry", project))
