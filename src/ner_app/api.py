"""The JSON API, on the same server as the page: `POST /api/v1/entities` and its description at
`GET /api/v1/openapi.json`.

A request is checked before the pipeline sees it, each refusal a 4xx with a JSON body that
says what to do: the bearer token when NER_API_TOKEN is set (401), the content type (415), the
body's size (413, read no further than NER_MAX_BATCH_BYTES), UTF-8 and JSON (400), the shape
and each text (422, with the same limits as the page). Until the pipeline has loaded it answers
503 with Retry-After. Texts go through `nlp.pipe` in a worker thread, off the event loop.
"""

from __future__ import annotations

import functools
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ner_app import metrics
from ner_app.inputs import InputError, check_text
from ner_app.readiness import Readiness
from ner_app.settings import Settings, SettingsError

PREFIX = "/api/v1"
JSON = "application/json"


class Refusal(Exception):
    """A request the API refuses: its status and the message for the caller."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


@dataclass(frozen=True)
class AskedTexts:
    """What a checked request asks for: its texts, and whether it gave one text or a list."""

    texts: list[str]
    single: bool


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def check_token(request: Request, token: str) -> None:
    if not token:
        return
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip(), token):
        raise Refusal(
            401,
            "This API needs a bearer token: send `Authorization: Bearer TOKEN` with the token "
            "the server was given in NER_API_TOKEN.",
            {"WWW-Authenticate": 'Bearer realm="ner-app"'},
        )


def check_content_type(request: Request) -> None:
    media_type, _, parameters = request.headers.get("content-type", "").partition(";")
    charset = parameters.strip().lower().removeprefix("charset=").strip('"')
    if media_type.strip().lower() != JSON or (charset and charset not in ("utf-8", "utf8")):
        raise Refusal(
            415,
            f"Send the body as {JSON} (UTF-8), e.g. `Content-Type: {JSON}`; "
            f"got {request.headers.get('content-type') or 'no content type'!r}.",
        )


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, read no further than max_bytes."""
    too_big = Refusal(
        413,
        f"The request body is larger than {max_bytes:,} bytes: send fewer or shorter texts in "
        "each request (the limit is NER_MAX_BATCH_BYTES).",
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise too_big
    return bytes(body)


def parse_body(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as failure:
        raise Refusal(
            400, f"The body is not valid UTF-8 (byte {failure.start:,}): encode it as UTF-8."
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as failure:
        raise Refusal(
            400,
            f"The body is not valid JSON ({failure.msg} at line {failure.lineno}, column "
            f'{failure.colno}): send {{"text": "..."}} or {{"texts": ["...", "..."]}}.',
        ) from None


def texts_of(document: Any, settings: Settings) -> AskedTexts:
    """The texts a parsed body asks for, each checked as the page checks it."""
    shape = 'Send {"text": "..."} or {"texts": ["...", "..."]}.'
    keys = set(document) if isinstance(document, dict) else set()
    if len(keys) != 1 or not keys <= {"text", "texts"}:
        raise Refusal(422, f"The body must be a JSON object with one key, text or texts. {shape}")
    single = "text" in document
    texts = [document["text"]] if single else document["texts"]
    if not isinstance(texts, list) or not texts:
        raise Refusal(422, f"texts must be a non-empty list of strings. {shape}")
    if len(texts) > settings.max_batch_docs:
        raise Refusal(
            422,
            f"{len(texts):,} texts is more than {settings.max_batch_docs:,} per request: split "
            "them over several requests (the limit is NER_MAX_BATCH_DOCS).",
        )
    for index, text in enumerate(texts):
        where = "text" if single else f"texts[{index}]"
        if not isinstance(text, str):
            raise Refusal(422, f"{where} is a {type(text).__name__}, not a string. {shape}")
        try:
            check_text(text, settings.max_chars)
        except InputError as failure:
            raise Refusal(422, f"{where}: {failure}") from None
    return AskedTexts(texts, single)


@functools.cache
def pipeline_limiter() -> anyio.CapacityLimiter:
    """One request at a time in the pipeline; the others wait their turn. spaCy holds the GIL
    for most of a call, so requests run side by side in threads only slow each other (measured
    in docs/running.md, "The JSON API and metrics"). Made on first use, in the server's event
    loop."""
    return anyio.CapacityLimiter(1)


def settings_or_refusal() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as failure:
        raise Refusal(503, f"The server is misconfigured: {failure}") from None


def entities_of(texts: list[str], model: str) -> tuple[list[list[dict[str, Any]]], Any]:
    """Each text's entities (through nlp.pipe), and the loaded pipeline."""
    from ner_app.analysis import extract_entities
    from ner_app.loader import cached_pipeline

    nlp = cached_pipeline(model)
    found = [
        [
            {"text": e.text, "label": e.label, "start": e.start, "end": e.end}
            for e in extract_entities(doc)
        ]
        for doc in nlp.pipe(texts)
    ]
    return found, nlp


def pipeline_fields(nlp: Any, model: str) -> dict[str, Any]:
    from ner_app.pipeline import describe, package_sha256

    info = describe(nlp)
    return {"name": info.name, "version": info.version, "sha256": package_sha256(model)}


async def entities(request: Request, readiness: Readiness) -> JSONResponse:
    """POST /api/v1/entities."""
    try:
        settings = settings_or_refusal()
        check_token(request, settings.api_token)
        check_content_type(request)
        asked = texts_of(parse_body(await read_body(request, settings.max_batch_bytes)), settings)
        status, body = readiness.report()
        if status != 200:
            reason = body.get("error") or body.get("reason") or body.get("status")
            raise Refusal(503, f"The pipeline is not ready ({reason}): retry shortly.",
                          {"Retry-After": "2"})  # fmt: skip
    except Refusal as refusal:
        return error(refusal.status, str(refusal), refusal.headers)
    found, nlp = await anyio.to_thread.run_sync(
        entities_of, asked.texts, settings.model, limiter=pipeline_limiter()
    )
    metrics.DOCUMENTS.inc(len(found))
    documents = [{"entities": ents} for ents in found]
    result: dict[str, Any] = {"pipeline": pipeline_fields(nlp, settings.model)}
    result |= {"entities": found[0]} if asked.single else {"documents": documents}
    return JSONResponse(result)


async def openapi(_request: Request) -> JSONResponse:
    """GET /api/v1/openapi.json."""
    from ner_app.openapi import DOCUMENT

    return JSONResponse(DOCUMENT)


def routes(readiness: Readiness, prefix: str = "") -> list[Route]:
    """The API's routes, at the root and under the page's base URL path when it has one."""

    async def post(request: Request) -> JSONResponse:
        started = time.perf_counter()
        response = await entities(request, readiness)
        metrics.LATENCY.labels("entities").observe(time.perf_counter() - started)
        metrics.REQUESTS.labels("entities", str(response.status_code)).inc()
        return response

    found = []
    for base in dict.fromkeys(["", prefix]):
        found += [
            Route(f"{base}{PREFIX}/entities", post, methods=["POST"]),
            Route(f"{base}{PREFIX}/openapi.json", openapi, methods=["GET"]),
        ]
    return found
