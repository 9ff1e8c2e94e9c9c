"""``python -m tools.openapi``: write the API's OpenAPI document from its contract.

The document (``docs/openapi.json``) is generated from the routes, request
and answer models of ``lambda/inference_api/schema.py`` (``ROUTES``) and the
error catalogue of ``lambda/inference_api/errors.py`` (every code with its
status), so it cannot drift from the code: ``tests/tools/test_openapi.py`` fails if
the committed copy is stale, and validates the handler's real answers
against the answer schemas. ``--check`` exits 1 instead of writing when it
differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tools import ROOT

DOCUMENT = ROOT / "docs" / "openapi.json"
REF = "#/components/schemas/{model}"
DESCRIPTION = (
    "Routes under /v1 of the stage's API Gateway URL (stack output ApiUrl). Every request "
    "needs a Cognito ID token of the stage's user pool in the Authorization header. Bodies "
    "are JSON (Content-Type application/json, UTF-8; the media type is matched in any letter "
    'case). Errors are JSON: {"error": {"code", "message", "field"}}, the codes listed per '
    "status below; AWS's own messages never appear in them (they are logged). 429 and 503 "
    "carry Retry-After (seconds). Limits: request body 10 MB (API Gateway); image bytes 4 MB "
    "for labels and 5 MB for faces after base64 decoding (standard alphabet; line breaks "
    "such as Android's Base64.DEFAULT are ignored); uploads up to 15 MB through POST "
    "/v1/uploads; S3 keys up to 1,024 bytes of UTF-8."
)


def _responses(route: Any, catalogue: dict[str, tuple[int, str]]) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": "OK",
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model=route.response.__name__)}}
            },
        }
    }
    by_status: dict[int, list[str]] = {}
    for code in route.errors:
        by_status.setdefault(catalogue[code][0], []).append(code)
    for status in sorted(by_status):
        codes = by_status[status]
        lines = "; ".join(f"`{code}`: {catalogue[code][1]}" for code in codes)
        response: dict[str, Any] = {
            "description": lines,
            "content": {
                "application/json": {
                    "schema": {"$ref": REF.format(model="ErrorResponse")},
                    "examples": {
                        code: {"value": {"error": {"code": code, "message": "...", "field": None}}}
                        for code in codes
                    },
                }
            },
        }
        if status in (429, 503):
            response["headers"] = {
                "Retry-After": {
                    "description": "seconds to wait before retrying",
                    "schema": {"type": "integer"},
                }
            }
        responses[str(status)] = response
    return responses


def generate() -> str:
    from inference_api.errors import CATALOGUE
    from inference_api.schema import ROUTES, ErrorResponse
    from pydantic import BaseModel
    from pydantic.json_schema import models_json_schema

    models: set[type[BaseModel]] = {ErrorResponse}
    for route in ROUTES:
        models.update(m for m in (route.request, route.response) if m is not None)
    _, schemas = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
    paths: dict[str, Any] = {}
    for route in ROUTES:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": f"{route.method.lower()}_{route.path.strip('/').replace('/', '_')}",
            "security": [{"CognitoIdToken": []}],
            "responses": _responses(route, CATALOGUE),
        }
        if route.request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": REF.format(model=route.request.__name__)}
                    }
                },
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Phone image recognition API",
            "version": "1.0.0",
            "description": DESCRIPTION,
        },
        "paths": paths,
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                "CognitoIdToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "the ID token of a user of the stage's Cognito user pool",
                }
            },
        },
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.openapi", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/openapi.json is stale")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != text:
            print(f"{DOCUMENT} is stale: run python -m tools.openapi", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.parent.mkdir(exist_ok=True)
    DOCUMENT.write_text(text)
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
