"""The tools share the engine with the user's work: removing a tag they made never takes an
image something else uses, and never fails because something else uses it.

`Docker.untag` is what every tool and test uses to remove the tags it made. The case that broke
the test command beside a running `script/up`: a container of someone else's runs an image whose
last tag is ours. `image rm TAG` then refuses ("must force"); untag removes only the tag.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from ner_build.engine.docker import Docker, Podman
from ner_build.result import BuildResult

TAG = f"ner-app-untag-{os.getpid()}:only"


@pytest.fixture
def engine() -> Docker:
    return Docker.from_env()


@pytest.fixture
def only_tagged(engine: Docker, built: BuildResult) -> Iterator[str]:
    """An image of the suite's own whose one tag is TAG (the built image plus a label); its ID.
    Removed afterwards with whatever container still uses it."""
    maker = engine.run("create", built.ref, check=True).stdout.strip()
    committed = engine.run("commit", "--change=LABEL ner-app.untag-test=1", maker, TAG, check=True)
    engine.run("rm", maker, check=True)
    image_id = engine.image_id(TAG) or committed.stdout.strip()
    yield image_id
    for name, _ in engine.containers_using(image_id):
        engine.run("rm", "--force", name)
    engine.run("image", "rm", "--force", image_id)


@pytest.fixture
def neighbour_name() -> str:
    return f"ner-app-untag-neighbour-{os.getpid()}"


def run_neighbour(engine: Docker, image_id: str, name: str, *, start: bool) -> None:
    """Someone else's container of the image, by its ID (as `script/up` runs its image)."""
    command = ["run", "--detach"] if start else ["create"]
    engine.run(*command, f"--name={name}", "--read-only", "--tmpfs=/tmp", image_id, check=True)


def test_control_image_rm_of_the_last_tag_of_a_running_containers_image_refuses(
    engine: Docker, only_tagged: str, neighbour_name: str
) -> None:
    run_neighbour(engine, only_tagged, neighbour_name, start=True)
    refused = engine.run(*engine.engine.remove_command, TAG)
    assert refused.returncode != 0, "the plain removal the tests used to do"
    assert engine.image_id(TAG) == only_tagged


def test_untag_removes_our_tag_and_leaves_the_running_containers_image(
    engine: Docker, only_tagged: str, neighbour_name: str
) -> None:
    run_neighbour(engine, only_tagged, neighbour_name, start=True)
    assert engine.untag(TAG) is None
    assert engine.image_id(TAG) is None
    assert engine.image_id(only_tagged) == only_tagged
    assert engine.containers_using(only_tagged) == [(neighbour_name, True)]


def test_untag_never_removes_the_image_of_a_stopped_container(
    engine: Docker, only_tagged: str, neighbour_name: str
) -> None:
    """Podman untags. Docker can only force, which would delete the image a stopped container
    still needs: there the tag stays, and untag says why."""
    run_neighbour(engine, only_tagged, neighbour_name, start=False)
    reason = engine.untag(TAG)
    if engine.engine is Podman:
        assert (reason, engine.image_id(TAG)) == (None, None)
    else:
        assert reason is not None
        assert neighbour_name in reason
    assert engine.image_id(only_tagged) == only_tagged
    assert engine.containers_using(only_tagged) == [(neighbour_name, False)]


def test_untag_of_an_unused_image_removes_it(engine: Docker, only_tagged: str) -> None:
    assert engine.untag(TAG) is None
    assert engine.image_id(only_tagged) is None


def test_untag_of_a_tag_beside_the_users_own_keeps_theirs(engine: Docker, only_tagged: str) -> None:
    users = f"ner-app-users-own-{os.getpid()}:latest"
    engine.run("tag", only_tagged, users, check=True)
    try:
        assert engine.untag(TAG) is None
        assert engine.image_id(users) == only_tagged
    finally:
        engine.run("image", "rm", "--no-prune", users)
