"""Prometheus metrics at /metrics, through prometheus_client: the API's requests and latency,
the documents analysed, and how long the pipeline took to load."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram
from prometheus_client import generate_latest as exposition
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

REQUESTS = Counter(
    "ner_api_requests", "API requests, by route and HTTP status", ["route", "status"]
)
LATENCY = Histogram(
    "ner_api_request_seconds",
    "Time to answer an API request",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DOCUMENTS = Counter("ner_documents", "Texts analysed through the API")
PIPELINE_LOAD_SECONDS = Gauge(
    "ner_pipeline_load_seconds", "How long the pipeline took to load (0 until it has)"
)


async def metrics(_request: Request) -> Response:
    return Response(exposition(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def routes(prefix: str = "") -> list[Route]:
    """/metrics at the root, and under the base URL path when there is one."""
    return [Route(f"{base}/metrics", metrics) for base in dict.fromkeys(["", prefix])]
