"""The shared basics the wings lean on: the one wait helper, bytes from a process, the digest
forms, and the engine setups' clear errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ner_build import digest, process, wait
from ner_build.engine import setups as engine_setups
from ner_build.errors import CheckFailed


def test_until_returns_as_soon_as_the_check_holds() -> None:
    calls = iter([False, False, True])
    assert wait.until(lambda: next(calls), timeout=5, poll=0.001)


def test_until_gives_up_at_the_deadline() -> None:
    started = time.monotonic()
    assert not wait.until(lambda: False, timeout=0.05, poll=0.01)
    assert 0.05 <= time.monotonic() - started < 2


def test_until_stops_at_once_when_what_should_make_it_true_has_ended() -> None:
    started = time.monotonic()
    assert not wait.until(lambda: False, timeout=30, alive=lambda: False)
    assert time.monotonic() - started < 1


def test_seconds_until_names_what_did_not_happen() -> None:
    with pytest.raises(CheckFailed, match="Timed out after 0 s waiting for the replica to leave"):
        wait.seconds_until(lambda: False, 0.02, "the replica to leave", poll=0.005)
    assert wait.seconds_until(lambda: True, 1, "nothing") == 0.0


def test_output_bytes_is_byte_for_byte_and_none_on_failure() -> None:
    assert process.output_bytes(["printf", "a\\r\\nb\\0"]) == b"a\r\nb\0"
    assert process.output_bytes(["false"]) is None


def test_the_digest_forms() -> None:
    assert digest.digest_of(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert digest.from_hex("ab") == "sha256:ab"


def test_digest_of_file_is_the_files_sha256_with_its_prefix(tmp_path: Path) -> None:
    path = tmp_path / "layer.tar"
    path.write_bytes(b"layer")
    assert digest.digest_of_file(path) == digest.digest_of(b"layer")


def test_a_missing_engine_setup_says_how_to_provision_it(tmp_path: Path) -> None:
    with pytest.raises(CheckFailed, match="tools/provision-debian docker26"):
        engine_setups.required("docker26", tmp_path)
    (tmp_path / "docker26.env").write_text("DOCKER=docker\nDOCKER_HOST=unix:///x.sock\n")
    assert engine_setups.required("docker26", tmp_path).env["DOCKER_HOST"] == "unix:///x.sock"


def test_an_empty_podman_store_needs_the_provisioned_podman(tmp_path: Path) -> None:
    with (
        pytest.raises(CheckFailed, match="provision-debian podman"),
        engine_setups.empty_podman_store("x", tmp_path),
    ):
        pass
