from pathlib import Path

import pytest
from ner_build.engine import setups as engine_setups
from ner_build.errors import CheckFailed
from ner_build.proofs import engines


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_an_env_file_is_read_with_shell_quoting_and_comments(tmp_path: Path) -> None:
    env = write(
        tmp_path / "docker26.env",
        "# Docker 26 from a trixie root\n"
        "DOCKER='/opt/d26/docker --config /var/lib/ner-app/docker26-cli'\n"
        "\n"
        "DOCKER_HOST=unix:///var/lib/ner-app/trixie/run/docker26.sock\n",
    )
    assert engine_setups.read_env_file(env) == {
        "DOCKER": "/opt/d26/docker --config /var/lib/ner-app/docker26-cli",
        "DOCKER_HOST": "unix:///var/lib/ner-app/trixie/run/docker26.sock",
    }


@pytest.mark.parametrize("line", ["DOCKER=podman extra", "not an assignment", "1X=2"])
def test_a_malformed_line_is_refused_with_its_file_and_line(tmp_path: Path, line: str) -> None:
    env = write(tmp_path / "bad.env", f"DOCKER=podman\n{line}\n")
    with pytest.raises(CheckFailed, match=r"bad\.env:2: expected KEY=VALUE"):
        engine_setups.read_env_file(env)


def test_an_env_file_without_docker_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckFailed, match="sets no DOCKER"):
        engine_setups.read_env_file(write(tmp_path / "x.env", "DOCKER_HOST=unix:///x.sock\n"))


def test_the_default_engine_comes_first_then_the_env_files_by_name(tmp_path: Path) -> None:
    write(tmp_path / "podman.env", "DOCKER=podman\nCONTAINERS_CONF=/etc/ner.conf\n")
    write(tmp_path / "docker26.env", "DOCKER=docker\nDOCKER_HOST=unix:///d26.sock\n")
    write(tmp_path / "notes.txt", "not an engine\n")
    found = engine_setups.find_engines(tmp_path, {"DOCKER": "/opt/d20/docker"})
    assert [(s.name, s.env["DOCKER"]) for s in found] == [
        ("default", "/opt/d20/docker"),
        ("docker26", "docker"),
        ("podman", "podman"),
    ]
    assert found[2].docker.command == ("podman",)
    assert dict(found[2].docker.environment) == {"CONTAINERS_CONF": "/etc/ner.conf"}


def test_without_engines_dir_only_the_default_engine_is_found(tmp_path: Path) -> None:
    found = engine_setups.find_engines(tmp_path / "absent", {})
    assert [(s.name, s.env) for s in found] == [("default", {"DOCKER": "docker"})]


def test_fewer_engines_than_required_fail_saying_how_to_provision(tmp_path: Path) -> None:
    write(tmp_path / "podman.env", "DOCKER=podman\n")
    args, build_argv = engines.parser({}).parse_known_args(["--engines-dir", str(tmp_path)])
    with pytest.raises(CheckFailed) as error:
        engines.run(args, build_argv, {"DOCKER": "docker"})
    assert "Found 2 engine(s)" in str(error.value)
    assert "at least 3" in str(error.value)
    assert "tools/provision-debian docker26 podman" in str(error.value)


def test_named_reads_an_engines_env_file_and_none_when_absent(tmp_path: Path) -> None:
    write(tmp_path / "docker26.env", "DOCKER='docker -H unix:///run/d26.sock'\n")
    found = engine_setups.named("docker26", tmp_path)
    assert found == engine_setups.EngineSetup(
        "docker26", {"DOCKER": "docker -H unix:///run/d26.sock"}
    )
    assert engine_setups.named("podman", tmp_path) is None
