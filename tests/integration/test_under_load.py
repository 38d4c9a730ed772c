"""A short soak (the bench runs it for 5 minutes): the hardened container, held to the memory
limit the README recommends, serves wrk's API load and rounds of browser sessions at once,
and stays ready throughout."""

from __future__ import annotations

from ner_build.bench import loadbench
from ner_build.engine.docker import Docker

SECONDS = 20
TEXT = "Ada Lovelace worked with Charles Babbage in London in 1843."


def test_api_and_pages_together_under_the_recommended_memory(image: str) -> None:
    soak = loadbench.soak(Docker.from_env(), image, loadbench.recommended_memory(), TEXT, SECONDS)
    assert soak.api.requests > 0
    assert soak.api.errors == 0
    assert soak.pages >= loadbench.SOAK_SESSIONS
    assert soak.page_errors == ()
    assert soak.health_failures == 0
