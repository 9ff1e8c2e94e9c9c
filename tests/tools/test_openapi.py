"""The committed OpenAPI document is the one the code generates, and it documents every answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inference_api.errors import CATALOGUE
from inference_api.schema import ROUTES, FaceAnalyzeResponse, FaceSearchResponse, LabelsResponse

from tools import openapi

RECORDED = Path(__file__).resolve().parents[2] / "assets" / "web" / "recorded"


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
        "/v1/feedback",
        "/v1/review",
        "/v1/codes",
    }
    assert set(document["paths"]["/v1/review"]) == {"get", "post"}
    codes = document["paths"]["/v1/codes"]["post"]
    assert codes["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/CodesRequest"
    )
    assert "forbidden_key" in codes["responses"]["403"]["description"]
    feedback = document["paths"]["/v1/feedback"]["post"]
    assert feedback["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/FeedbackRequest"
    )
    assert "unknown_label" in feedback["responses"]["400"]["description"]
    assert "forbidden_key" in feedback["responses"]["403"]["description"]
    assert (
        "not_reviewer" in document["paths"]["/v1/review"]["get"]["responses"]["403"]["description"]
    )
    labels = document["paths"]["/v1/labels"]["post"]["requestBody"]["content"]["application/json"]
    assert labels["schema"]["$ref"].endswith("/LabelsRequest")
    min_confidence = document["components"]["schemas"]["LabelsRequest"]["properties"][
        "min_confidence"
    ]
    assert json.dumps(min_confidence).count("100") >= 1


def test_bad_bodies_are_documented_as_400_not_422() -> None:
    document = json.loads(openapi.generate())

    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert "422" not in operation["responses"], (method, path)
            if method == "post":
                assert "invalid_request" in operation["responses"]["400"]["description"]
                assert "unsupported_media_type" in operation["responses"]["415"]["description"]


def test_every_status_the_handler_can_answer_is_documented_with_retry_after_where_due() -> None:
    document = json.loads(openapi.generate())
    labels = document["paths"]["/v1/labels"]["post"]["responses"]

    assert set(labels) == {
        "200",
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "415",
        "429",
        "500",
        "502",
        "503",
    }
    assert "Retry-After" in labels["429"]["headers"]
    assert "Retry-After" in labels["503"]["headers"]
    for code in ("model_starting", "model_not_running", "upstream_unavailable"):
        assert code in labels["503"]["content"]["application/json"]["examples"]


def test_every_catalogued_code_is_answered_by_some_route() -> None:
    used = {code for route in ROUTES for code in route.errors}

    assert set(CATALOGUE) - used == {"not_found"}  # no route: the answer to unknown paths


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("labels", LabelsResponse),
        ("faces-search", FaceSearchResponse),
        ("faces-analyze", FaceAnalyzeResponse),
    ],
)
def test_the_handlers_recorded_answers_fit_the_documented_schemas(
    name: str, model: type[LabelsResponse | FaceSearchResponse | FaceAnalyzeResponse]
) -> None:
    # tests/functions/inference_api/test_routes.py keeps these files equal to the handler's
    # real answers.
    model.model_validate_json((RECORDED / f"{name}.json").read_text())
