"""The bench's runtime measurements without an engine: each round says what it waits for. The
page steps they take need a real browser and engine: tests/integration (test_browser) and
`nox -s bench` take them."""

from __future__ import annotations

import pytest
from ner_build.bench import runtime
from ner_build.engine.docker import Docker


def test_each_start_of_the_ruler_image_is_announced_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seconds = iter([1.5, 2.5])
    monkeypatch.setattr(runtime, "time_to_ready", lambda docker, image: next(seconds))
    assert runtime.ruler_starts(Docker.from_string("docker"), "ruler", 2) == [1.5, 2.5]
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"==> bench: start of the entity-ruler image, run {n} of 2: `docker run`, then waiting "
        "for ready"
        for n in (1, 2)
    ]
