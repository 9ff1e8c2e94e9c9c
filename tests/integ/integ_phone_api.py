"""Integration test: deploy a stage to a real account, exercise the API, destroy it.

Run by ``@aws-cdk/integ-runner`` (``make integ`` with AWS credentials: deploy,
assert, destroy; ``make test`` verifies the committed snapshot offline).

The stage ``integ`` (stacks ``Integ-Data``, ``Integ-Service``, ``Integ-Web``)
is dev's configuration with ``retain_data`` off, so destroy removes every
resource. Assertions (``aws-cdk.integ-tests-alpha``), in order:

1. a test user is created in the stage's user pool (``AdminCreateUser``);
2. the API stage answers a request without a token with the Cognito
   authorizer's 401 (API Gateway and the authorizer are wired);
3. the inference function, invoked with events shaped as API Gateway sends
   them after the authorizer (claims with a test ``sub``), answers
   ``POST /v1/uploads`` with a presigned URL (200), ``POST /v1/labels`` with
   409 ``no_active_model`` (no model is trained in a test run) and
   ``POST /v1/faces/analyze`` on the shipped test photo with 200 (real
   DetectFaces), ``GET /v1/review`` with 403 ``not_reviewer`` without the
   group and 200 with it (the real Query on the feedback table's status
   index, through the function's real role).

Why the function is invoked directly for (3): the user pool requires TOTP MFA
for every sign-in, which an assertion cannot answer, so no ID token can be
obtained unattended; (2) covers the gateway, (3) the function against the
real Rekognition, S3 and DynamoDB with the real IAM role.

The app is a plain ``cdk.App``: the assertion stack's own providers are test
scaffolding, and the stage's stacks pass cdk-nag and the Guard rules in the
project's main synth.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

import aws_cdk as cdk  # noqa: E402
from aws_cdk import assertions  # noqa: E402
from aws_cdk import integ_tests_alpha as integ  # noqa: E402

from stacks.config import parse_stage  # noqa: E402
from stacks.stage import add_stage_stacks  # noqa: E402
from tests.support.api_events import rest_event  # noqa: E402 (API Gateway's REST proxy event shape)

PHOTO = ROOT / "assets" / "test-photos" / "shelf.jpg"
TEST_USER = "someone@example.com"
"""The address tests.api_events' events carry in their claims."""
TEST_SUB = "00000000-0000-4000-8000-000000000001"
"""The ``sub`` claim of the invoked events (AdminCreateUser lists attributes unordered)."""


def stage_config() -> Any:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    dev = {**context["stages"]["dev"], "retain_data": False}
    return parse_stage("integ", dev)


def build(app: cdk.App) -> integ.IntegTest:
    stacks = add_stage_stacks(app, stage_config())
    test = integ.IntegTest(
        app,
        "PhoneApi",
        test_cases=[stacks.data, stacks.service, stacks.web],
        diff_assets=False,
        stack_update_workflow=False,
    )
    user_pool_id = stacks.data.identity.user_pool.user_pool_id
    created = test.assertions.aws_api_call(
        "CognitoIdentityServiceProvider",
        "adminCreateUser",
        {
            "UserPoolId": user_pool_id,
            "Username": TEST_USER,
            "MessageAction": "SUPPRESS",
            "UserAttributes": [{"Name": "email", "Value": TEST_USER}],
        },
    )
    created.expect(integ.ExpectedResult.object_like({"User": {"Enabled": True}}))

    unauthenticated = test.assertions.http_api_call(
        f"{stacks.service.inference_api.api.url}v1/models"
    )
    unauthenticated.expect(integ.ExpectedResult.object_like({"status": 401}))

    function = stacks.service.inference_api.function.function_name
    photo = base64.b64encode(PHOTO.read_bytes()).decode()
    calls: tuple[tuple[str, str, Any, str | None, int], ...] = (
        ("POST", "/v1/uploads", {"content_type": "image/jpeg", "content_length": 1000}, None, 200),
        ("POST", "/v1/labels", {"image": {"bytes": photo}}, None, 409),
        ("POST", "/v1/faces/analyze", {"image": {"bytes": photo}}, None, 200),
        ("GET", "/v1/review", None, None, 403),
        ("GET", "/v1/review", None, "reviewers", 200),
    )
    previous: integ.IApiCall = created
    for method, path, body, groups, status in calls:
        call = test.assertions.invoke_function(
            function_name=function,
            payload=json.dumps(rest_event(method, path, body, user=TEST_SUB, groups=groups)),
        )
        call.expect(
            integ.ExpectedResult.object_like(
                {
                    "Payload": assertions.Match.serialized_json(
                        assertions.Match.object_like({"statusCode": status})
                    )
                }
            )
        )
        previous.next(call)
        previous = call
    return test


if __name__ == "__main__":
    application = cdk.App()
    build(application)
    application.synth()
