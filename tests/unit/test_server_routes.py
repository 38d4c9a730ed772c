"""The readiness route's paths, with and without Streamlit's base URL path."""

import pytest

from ner_app.server import readiness_routes


@pytest.mark.parametrize(
    ("base", "paths"),
    [("", ["/readyz"]), ("ner", ["/readyz", "/ner/readyz"]), ("/a/b/", ["/readyz", "/a/b/readyz"])],
)
def test_readyz_is_routed_at_the_root_and_under_the_prefix(base: str, paths: list[str]) -> None:
    assert [route.path for route in readiness_routes(base)] == paths
