"""The free-space check `script/test` makes before anything runs, on this host's real file
systems (only the free figure is chosen by the test)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from ner_build import dev, diskspace
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed

from .support import DOCKER

GB = diskspace.GB


def test_a_file_system_short_of_space_is_named_with_what_is_free_and_what_to_do(
    tmp_path: Path,
) -> None:
    places = {"the checkout": tmp_path, "the cache": tmp_path / "cache"}
    (tmp_path / "cache").mkdir()
    diskspace.check(places, 20, free=lambda _: 21 * GB)  # the control: enough space passes
    with pytest.raises(CheckFailed) as refused:
        diskspace.check(places, 20, free=lambda _: int(3.14 * GB))
    message = str(refused.value)
    assert "needs about 20 GB free" in message
    assert f"3.1 GB free on the file system of the checkout ({tmp_path}), the cache" in message
    assert message.count("GB free on the file system") == 1  # one file system, named once
    assert "docker builder prune" in message
    assert "Nothing was run" in message


def test_places_that_are_not_here_are_left_out(tmp_path: Path) -> None:
    found = diskspace.file_systems({"here": tmp_path, "remote": tmp_path / "absent"})
    assert [fs.places for fs in found] == [(f"here ({tmp_path})",)]
    assert found[0].free > 0


def test_the_threshold_comes_from_the_environment_or_is_refused() -> None:
    assert diskspace.needed_gb({}) == diskspace.NEEDED_GB
    assert diskspace.needed_gb({diskspace.NEEDED_ENV: "7.5"}) == 7.5
    with pytest.raises(CheckFailed, match="is not a number of gigabytes"):
        diskspace.needed_gb({diskspace.NEEDED_ENV: "lots"})


@pytest.mark.host
def test_script_test_checks_the_checkout_the_temporary_folder_and_the_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[dict[str, Path]] = []
    monkeypatch.setattr(diskspace, "check", lambda places, needed: seen.append(dict(places)))
    dev.check_disk_space(Docker((DOCKER,)), {})
    assert list(seen[0].values())[:2] == [dev.ROOT, Path(tempfile.gettempdir())]
    assert len(seen[0]) == 3
    dev.check_disk_space(Docker((DOCKER,)), {diskspace.NEEDED_ENV: "0"})
    assert len(seen) == 1  # 0 skips the check
