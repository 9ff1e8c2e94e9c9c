"""The faces function in the <Stage>-Service template: its routes, its layer, its IAM."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import resources_of_type
from tests.infra.test_code_reader_stack import _functions, _policy_statements


@pytest.fixture(scope="module")
def template(service_template: dict[str, Any]) -> dict[str, Any]:
    return service_template


def _function(template: dict[str, Any], handler: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, function)] = [
        (k, v) for k, v in _functions(template).items() if v["Properties"]["Handler"] == handler
    ]
    return logical_id, function["Properties"]


def _actions(statements: list[dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for statement in statements:
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            found[action] = statement["Resource"]
    return found


def test_the_face_routes_go_to_the_faces_function_and_only_they(template: dict[str, Any]) -> None:
    faces_id, _ = _function(template, "inference_api.faces_handler.lambda_handler")
    methods = resources_of_type(template, "AWS::ApiGateway::Method")
    targets = {}
    for method in methods.values():
        props = method["Properties"]
        if props["HttpMethod"] == "OPTIONS":
            continue
        uri = json.dumps(props["Integration"]["Uri"])
        targets[props["ResourceId"]["Ref"]] = faces_id in uri
    faces_resources = [
        k for k, v in resources_of_type(template, "AWS::ApiGateway::Resource").items()
        if v["Properties"]["PathPart"] in {"search", "analyze"}
    ]  # fmt: skip
    assert sorted(r for r, is_faces in targets.items() if is_faces) == sorted(faces_resources)


def test_the_faces_function_has_the_native_layer_and_only_its_own_permissions(
    template: dict[str, Any],
) -> None:
    faces_id, props = _function(template, "inference_api.faces_handler.lambda_handler")
    [layer_id] = resources_of_type(template, "AWS::Lambda::LayerVersion")
    granted = _actions(_policy_statements(template, faces_id))

    assert {"Ref": layer_id} in props["Layers"]
    assert set(props["Environment"]["Variables"]) >= {"COLLECTION_ID", "UPLOADS_BUCKET"}
    assert "FACES_TABLE" not in props["Environment"]["Variables"]
    assert granted["rekognition:SearchUsersByImage"]["Fn::GetStackOutput"]["OutputName"].startswith(
        "PublishOutputFnGetAttRecognitionCollection"
    )
    assert granted["rekognition:DetectFaces"] == "*"  # no resource type exists for it
    assert json.dumps(granted["s3:GetObject"]).endswith('/users/*"]]}')
    assert not [a for a in granted if a.startswith("dynamodb:")]
    assert "rekognition:SearchFacesByImage" not in granted


def test_the_labels_function_no_longer_touches_faces(template: dict[str, Any]) -> None:
    api_id, props = _function(template, "inference_api.handler.lambda_handler")
    granted = _actions(_policy_statements(template, api_id))

    assert not [a for a in granted if "Face" in a or "User" in a]
    assert "COLLECTION_ID" not in props["Environment"]["Variables"]
    assert "Layers" not in props or len(props["Layers"]) == 1  # Powertools only
