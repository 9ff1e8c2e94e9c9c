"""The committed OpenAPI document is the one the code generates."""

from __future__ import annotations

import json

from tools import openapi


def test_committed_openapi_document_is_current() -> None:
    assert openapi.DOCUMENT.read_text() == openapi.generate(), "run: python -m tools.openapi"


def test_openapi_lists_every_route_with_its_body_schema() -> None:
    document = json.loads(openapi.generate())

    assert set(document["paths"]) == {
        "/v1/uploads",
        "/v1/labels",
        "/v1/faces/search",
        "/v1/faces/analyze",
        "/v1/models",
    }
    labels = document["paths"]["/v1/labels"]["post"]["requestBody"]["content"]["application/json"]
    assert labels["schema"]["$ref"].endswith("/LabelsRequest")
    min_confidence = document["components"]["schemas"]["LabelsRequest"]["properties"][
        "min_confidence"
    ]
    assert json.dumps(min_confidence).count("100") >= 1
