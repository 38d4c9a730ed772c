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
    assert "tools/provision-debian docker26 containerd-store podman" in str(error.value)


def test_named_reads_an_engines_env_file_and_none_when_absent(tmp_path: Path) -> None:
    write(tmp_path / "docker26.env", "DOCKER='docker -H unix:///run/d26.sock'\n")
    found = engine_setups.named("docker26", tmp_path)
    assert found == engine_setups.EngineSetup(
        "docker26", {"DOCKER": "docker -H unix:///run/d26.sock"}
    )
    assert engine_setups.named("podman", tmp_path) is None


def test_the_table_shows_the_config_digest_of_each_and_the_manifest_where_a_store_names_by_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(engines, "SUMMARY", tmp_path / "engines.json")
    config, manifest = "sha256:" + "c" * 64, "sha256:" + "m" * 64
    engines.report([
        engines.Outcome("default", "Docker (built-in BuildKit) 20.10.24+dfsg1", config, 12.0),
        engines.Outcome("containerd-store", "Docker (buildx) 26.1.5", config, 30.0, None, manifest),
    ])  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert "image ID (config digest)" in lines[1]
    assert lines[2].endswith(config)
    assert lines[3].startswith("containerd-store")
    assert lines[3].endswith(config)
    assert "named by its manifest digest" in lines[4]
    assert lines[4].endswith(manifest)
    assert lines[2].index(config) == lines[3].index(config) == lines[4].index(manifest)
    assert len(lines) == 5


def test_the_manifest_line_lines_up_when_every_engine_name_is_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(engines, "SUMMARY", tmp_path / "engines.json")
    config, manifest = "sha256:" + "c" * 64, "sha256:" + "m" * 64
    engines.report([engines.Outcome("cs", "Docker 26", config, 30.0, None, manifest)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].index(config) == lines[3].index(manifest)
    assert "named by its manifest digest  " in lines[3]
