"""The API's OpenAPI 3.1 description, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}


def _refusal(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


ENTITY = {
    "type": "object",
    "required": ["text", "label", "start", "end"],
    "properties": {
        "text": {"type": "string"},
        "label": {"type": "string", "description": "e.g. PERSON, ORG, GPE, DATE"},
        "start": {"type": "integer", "description": "offset of the first character"},
        "end": {"type": "integer", "description": "offset after the last character"},
    },
}
PIPELINE = {
    "type": "object",
    "required": ["name", "version", "sha256"],
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "sha256": {"type": ["string", "null"], "description": "of the pipeline's wheel"},
    },
}
DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "ner-app",
        "version": "1",
        "description": "Named entities in text, by the spaCy pipeline the server runs.",
    },
    "paths": {
        "/api/v1/entities": {
            "post": {
                "summary": "The entities of one text, or of each text of a list",
                "security": [{}, {"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {
                                        "type": "object",
                                        "required": ["text"],
                                        "properties": {"text": {"type": "string"}},
                                        "additionalProperties": False,
                                    },
                                    {
                                        "type": "object",
                                        "required": ["texts"],
                                        "properties": {
                                            "texts": {
                                                "type": "array",
                                                "items": {"type": "string"},
                                                "minItems": 1,
                                            }
                                        },
                                        "additionalProperties": False,
                                    },
                                ]
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "entities for `text`, or documents[i].entities for texts[i]",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["pipeline"],
                                    "properties": {
                                        "pipeline": PIPELINE,
                                        "entities": {"type": "array", "items": ENTITY},
                                        "documents": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "properties": {
                                                    "entities": {"type": "array", "items": ENTITY}
                                                },
                                            },
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "400": _refusal("the body is not UTF-8 or not JSON"),
                    "401": _refusal("NER_API_TOKEN is set and no matching bearer token was sent"),
                    "413": _refusal("the body is larger than NER_MAX_BATCH_BYTES"),
                    "415": _refusal("the content type is not application/json"),
                    "422": _refusal("wrong shape, too many texts, or a text empty or too long"),
                    "503": _refusal("the pipeline has not loaded yet (Retry-After) or failed"),
                },
            }
        }
    },
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "status"],
                "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
            }
        },
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
}
