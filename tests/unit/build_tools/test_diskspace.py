"""The free-space check `script/test` makes before anything runs, on this host's real file
systems (only the free figure is chosen by the test)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from ner_build import dev, diskspace
from ner_build.engine import setups
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed

from .support import DOCKER

GB = diskspace.GB


def test_a_file_system_short_of_space_is_named_with_what_is_free_and_what_to_do(
    tmp_path: Path,
) -> None:
    places = {"the checkout": tmp_path, "the cache": tmp_path / "cache"}
    (tmp_path / "cache").mkdir()
    need = diskspace.Need(20, "the reason")
    diskspace.check(places, need, free=lambda _: 21 * GB)  # the control: enough space passes
    with pytest.raises(CheckFailed) as refused:
        diskspace.check(places, need, free=lambda _: int(3.14 * GB))
    message = str(refused.value)
    assert "needs about 20 GB free (the reason)" in message
    assert f"3.1 GB free on the file system of the checkout ({tmp_path}), the cache" in message
    assert message.count("GB free on the file system") == 1  # one file system, named once
    assert "Emptying a build cache does not help" in message
    assert "Nothing was run" in message


def test_places_that_are_not_here_are_left_out(tmp_path: Path) -> None:
    found = diskspace.file_systems({"here": tmp_path, "remote": tmp_path / "absent"})
    assert [fs.places for fs in found] == [(f"here ({tmp_path})",)]
    assert found[0].free > 0


def test_the_need_is_the_cold_figure_less_what_the_build_caches_hold_but_never_under_warm() -> None:
    assert diskspace.needed({}).gb == diskspace.COLD_GB  # the control: empty caches
    assert diskspace.needed({}, 4 * GB).gb == diskspace.COLD_GB - 4
    warm = diskspace.needed({}, 40 * GB)
    assert warm.gb == diskspace.WARM_GB
    assert "less the 40.0 GB the engines' build caches hold" in warm.why


def test_the_threshold_set_in_the_environment_wins_or_is_refused() -> None:
    assert diskspace.needed({diskspace.NEEDED_ENV: "7.5"}, 40 * GB).gb == 7.5
    with pytest.raises(CheckFailed, match="is not a number of gigabytes"):
        diskspace.needed({diskspace.NEEDED_ENV: "lots"})


@pytest.mark.host
def test_script_test_checks_the_checkout_the_temporary_folder_and_the_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[dict[str, Path], diskspace.Need]] = []
    monkeypatch.setattr(diskspace, "check", lambda places, need: seen.append((dict(places), need)))
    dev.check_disk_space(Docker((DOCKER,)), {})
    places, need = seen[0]
    assert list(places.values())[:2] == [dev.ROOT, Path(tempfile.gettempdir())]
    assert len(places) == 3
    assert "GB the engines' build caches hold" in need.why
    dev.check_disk_space(Docker((DOCKER,)), {diskspace.NEEDED_ENV: "0"})
    assert len(seen) == 1  # 0 skips the check


@pytest.mark.host
def test_the_engine_reports_what_its_build_cache_holds(tmp_path: Path) -> None:
    """A build whose one step writes 2 MB leaves a cache of at least that (nothing is tagged:
    the result is written to a folder)."""
    docker = Docker((DOCKER,))
    base = os.environ.get("NER_BASE_IMAGE") or "ner-app-base:bookworm-python3"
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base} AS step\nRUN head -c 2000000 /dev/urandom > /blob\n"
        "FROM scratch\nCOPY --from=step /blob /\n"
    )
    built = docker.run("build", "--no-cache", f"--output=type=local,dest={tmp_path / 'out'}",
                       str(tmp_path))  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "out" / "blob").stat().st_size == 2_000_000
    assert docker.build_cache_bytes() >= 2_000_000


@pytest.mark.host
def test_every_provisioned_engine_answers_what_its_build_cache_holds() -> None:
    """Docker prints sizes as text, Podman as numbers and with no build-cache row: each is read
    without an error (the need then counts 0 for Podman)."""
    found = setups.find_engines(setups.ENGINES_DIR, {"DOCKER": DOCKER})
    assert len(found) > 1, f"no engine is provisioned in {setups.ENGINES_DIR}"
    for setup in found:
        held = setup.docker.build_cache_bytes()
        assert isinstance(held, int), (setup.name, held)
        assert held >= 0, (setup.name, held)
