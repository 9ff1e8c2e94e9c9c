"""The inference API in the <Stage>-Service template: auth everywhere, limits, logs, IAM, WAF."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import resources_of_type


@pytest.fixture(scope="module")
def template(service_template: dict[str, Any]) -> dict[str, Any]:
    return service_template


def api_methods(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        k: v["Properties"]
        for k, v in resources_of_type(template, "AWS::ApiGateway::Method").items()
    }


def test_every_route_is_behind_the_cognito_authorizer(template: dict[str, Any]) -> None:
    [authorizer_id] = resources_of_type(template, "AWS::ApiGateway::Authorizer")
    methods = api_methods(template)
    routes = {(m["HttpMethod"], k) for k, m in methods.items() if m["HttpMethod"] != "OPTIONS"}

    assert len(routes) == 9  # uploads, labels, faces x2, models, feedback, review GET/POST, codes
    for resource_id, method in methods.items():
        if method["HttpMethod"] == "OPTIONS":
            # CORS preflight: browsers send it without credentials (Fetch standard).
            assert method["Integration"]["Type"] == "MOCK", resource_id
            continue
        assert method["AuthorizationType"] == "COGNITO_USER_POOLS", resource_id
        assert method["AuthorizerId"] == {"Ref": authorizer_id}, resource_id
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert method["Integration"]["TimeoutInMillis"] <= 29000
        # No validator without models: the handler validates bodies (issue #22, item 22).
        assert "RequestValidatorId" not in method
    assert resources_of_type(template, "AWS::ApiGateway::RequestValidator") == {}


def test_authorizer_uses_the_data_stacks_user_pool(template: dict[str, Any]) -> None:
    authorizer = next(iter(resources_of_type(template, "AWS::ApiGateway::Authorizer").values()))

    [provider] = authorizer["Properties"]["ProviderARNs"]
    assert provider["Fn::GetStackOutput"]["OutputName"].startswith(
        "PublishOutputFnGetAttIdentityUserPool"
    )


def test_stage_throttles_traces_and_logs_json(template: dict[str, Any], stage: str) -> None:
    props = next(iter(resources_of_type(template, "AWS::ApiGateway::Stage").values()))["Properties"]
    expected_rate, expected_burst = {"dev": (10, 20), "prod": (50, 100)}[stage]

    assert props["StageName"] == stage
    assert props["TracingEnabled"] is True
    [settings] = props["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == expected_rate
    assert settings["ThrottlingBurstLimit"] == expected_burst
    access_format = json.loads(props["AccessLogSetting"]["Format"])
    assert {"requestId", "ip", "status", "sub"} <= set(access_format)


def test_cors_only_for_configured_origins(template: dict[str, Any], stage: str) -> None:
    options = [m for m in api_methods(template).values() if m["HttpMethod"] == "OPTIONS"]

    if stage == "prod":  # no web origins configured
        assert options == []
    else:
        headers = options[0]["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
        assert (
            headers["method.response.header.Access-Control-Allow-Origin"]
            == "'http://localhost:5173'"
        )


def test_oversize_bodies_get_a_json_413_that_names_the_limit(template: dict[str, Any]) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources_of_type(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    body = responses["REQUEST_TOO_LARGE"]["ResponseTemplates"]["application/json"]

    parsed = json.loads(body)
    assert parsed["error"]["code"] == "payload_too_large"
    assert "10 MB" in parsed["error"]["message"]
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "UNAUTHORIZED", "THROTTLED"} <= set(responses)


def test_function_memory_timeout_and_runtime(template: dict[str, Any]) -> None:
    [function] = [
        v["Properties"]
        for k, v in resources_of_type(template, "AWS::Lambda::Function").items()
        if k.startswith("InferenceApiFunction")
    ]

    assert function["MemorySize"] == 1024
    assert function["Timeout"] == 28  # under API Gateway's 29 s integration timeout
    assert function["Runtime"] == "python3.14"
    assert function["TracingConfig"] == {"Mode": "Active"}


def test_function_permissions_are_scoped(template: dict[str, Any], stage: str) -> None:
    [policy] = [
        v["Properties"]["PolicyDocument"]["Statement"]
        for k, v in resources_of_type(template, "AWS::IAM::Policy").items()
        if k.startswith("InferenceApiFunction")
    ]
    by_action = {json.dumps(s["Action"]): s["Resource"] for s in policy}

    versions = by_action[
        json.dumps(["rekognition:DetectCustomLabels", "rekognition:StartProjectVersion"])
    ]
    assert versions["Fn::Join"][1][-1] == f":project/imgrec-{stage}-custom-labels/version/*"
    # The face routes are the faces function's (tests/infra/test_face_reader_stack.py).
    assert not [a for a in by_action if "Face" in a or "User" in a]
    uploads = by_action[json.dumps(["s3:GetObject", "s3:PutObject"])]
    assert uploads["Fn::Join"][1][-1] == "/users/*"
    assert "StorageUploads" in json.dumps(uploads)
    # Only actions without resource-level permissions get "*" (merged into one statement).
    star = [a for a, r in by_action.items() if r == "*"]
    assert star == [json.dumps(["xray:PutTelemetryRecords", "xray:PutTraceSegments"])]
    assert json.dumps("dynamodb:BatchGetItem") not in by_action  # no faces table any more
    # Feedback: copies under feedback/ of the training bucket only, the table without its
    # indexes, and Query on the status index alone.
    copies = by_action[json.dumps(["s3:DeleteObject", "s3:GetObject", "s3:PutObject"])]
    assert copies["Fn::Join"][1][-1] == "/feedback/*"
    assert "StorageTraining" in json.dumps(copies)
    items = by_action[json.dumps(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"])]
    assert "TablesFeedback" in json.dumps(items)
    assert "index" not in json.dumps(items)
    query = by_action[json.dumps("dynamodb:Query")]
    assert query["Fn::Join"][1][-1] == "/index/by-status"


def test_waf_rate_rule_only_where_configured(template: dict[str, Any], stage: str) -> None:
    acls = list(resources_of_type(template, "AWS::WAFv2::WebACL").values())

    if stage == "dev":
        assert acls == []
        return
    [acl] = acls
    rules = {r["Name"]: r for r in acl["Properties"]["Rules"]}
    rate = rules["rate-per-caller"]["Statement"]["RateBasedStatement"]
    assert rate["Limit"] == 1000
    assert rate["Limit"] >= 10  # AWS minimum
    overrides = rules["aws-common"]["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"]
    assert overrides == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    [association] = resources_of_type(template, "AWS::WAFv2::WebACLAssociation").values()
    assert "/stages/" in json.dumps(association["Properties"]["ResourceArn"])


def test_api_url_is_an_output(template: dict[str, Any]) -> None:
    assert "ApiUrl" in template["Outputs"]


def test_function_outlasts_every_aws_call_and_traces_keep_no_answers(
    template: dict[str, Any],
) -> None:
    from inference_api import calls

    [function] = [
        f["Properties"]
        for f in resources_of_type(template, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "inference_api.handler.lambda_handler"
    ]
    variables = function["Environment"]["Variables"]

    assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert function["TracingConfig"] == {"Mode": "Active"}
    for name, budget in calls.BUDGETS.items():
        # A call that starts with the whole invocation ahead of it ends before Lambda's timeout.
        assert budget.worst_case_seconds + calls.RESERVE_SECONDS < function["Timeout"], name


def test_api_may_read_but_not_list_uploads(template: dict[str, Any]) -> None:
    """Why a 403 from HeadObject on the caller's own key is answered as 404
    (see ``inference_api/images.py``)."""
    documents = json.dumps(
        [
            p["Properties"]["PolicyDocument"]
            for k, p in resources_of_type(template, "AWS::IAM::Policy").items()
            if k.startswith("InferenceApi")
        ]
    )

    assert "s3:GetObject" in documents
    assert "s3:ListBucket" not in documents


def test_feedback_settings_reach_the_function(template: dict[str, Any], stage: str) -> None:
    [function] = [
        v["Properties"]
        for k, v in resources_of_type(template, "AWS::Lambda::Function").items()
        if k.startswith("InferenceApiFunction")
    ]
    variables = function["Environment"]["Variables"]

    assert variables["REVIEW_BELOW_CONFIDENCE"] == {"dev": "50", "prod": "60"}[stage]
    assert "StorageTraining" in json.dumps(variables["TRAINING_BUCKET"])
    assert "TablesFeedback" in json.dumps(variables["FEEDBACK_TABLE"])
