"""The integration test app, checked offline: committed snapshots and what it asserts.

``make integ`` (``tools.integ``) deploys it to a real account; here it is only
synthesized, as integ-runner's snapshot check would (see ``tools/integ.py``
for why integ-runner itself cannot read aws-cdk-lib 2.275's assemblies).
Refresh with ``make snapshot-update`` when the stacks change on purpose.
"""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import aws_cdk as cdk
import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension
from syrupy.matchers import path_type

from tests.conftest import ROOT, cdk_json_context
from tests.infra.test_snapshots import without_churn

INTEG_APP = ROOT / "tests" / "integ" / "integ_phone_api.py"
MASK = path_type(
    mapping={
        r"^(.*)\.S3Key$": (str,),
        r"^(.*)\.SourceObjectKeys\.\d+$": (str,),
        # The assertion custom resources carry the synth time, so they run on every deploy.
        r"^Resources\.[^.]+\.Properties\.salt$": (str,),
    },
    regex=True,
)
STACKS = ("Integ-Data", "Integ-Service", "Integ-Web", "PhoneApiDefaultTestDeployAssertEAFA7AF6")


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("integ_phone_api", INTEG_APP)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The integ app synthesized as the CDK CLI runs it from the project root (cdk.json context)."""
    app = cdk.App(context=cdk_json_context(), outdir=str(tmp_path_factory.mktemp("cdk.out.integ")))
    _load().build(app)
    return {stack.stack_name: stack.template for stack in app.synth().stacks}


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack_name", STACKS)
def test_integ_template_snapshot(
    templates: dict[str, dict[str, Any]], snapshot_json: SnapshotAssertion, stack_name: str
) -> None:
    assert without_churn(templates[stack_name]) == snapshot_json(matcher=MASK)


def _assertions(templates: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    resources = templates[STACKS[-1]]["Resources"].values()
    return [r["Properties"] for r in resources if r["Type"].startswith("Custom::DeployAssert")]


def test_the_api_is_exercised_as_the_issue_asks(templates: dict[str, dict[str, Any]]) -> None:
    calls = _assertions(templates)
    [create_user] = [c for c in calls if c.get("api") == "adminCreateUser"]
    [unauthenticated] = [c for c in calls if "url" in c.get("parameters", {})]
    invokes = [c for c in calls if c.get("api") == "invoke"]

    assert json.loads(create_user["expected"]) == {"$ObjectLike": {"User": {"Enabled": True}}}
    assert '"status":401' in unauthenticated["expected"]
    answers = []
    for invoke in invokes:
        event = json.loads(json.loads(invoke["parameters"]["Payload"]))
        expected = json.loads(invoke["expected"])["$ObjectLike"]["Payload"]["pattern"]["pattern"]
        claims = event["requestContext"]["authorizer"]["claims"]
        answers.append(
            (
                event["httpMethod"],
                event["path"],
                claims.get("cognito:groups"),
                expected["statusCode"],
                json.loads(event["body"]) if event["body"] else None,
            )
        )
    photo = base64.b64encode(Path(ROOT, "assets", "test-photos", "shelf.jpg").read_bytes()).decode()
    assert answers == [
        ("POST", "/v1/uploads", None, 200, {"content_type": "image/jpeg", "content_length": 1000}),
        ("POST", "/v1/labels", None, 409, {"image": {"bytes": photo}}),
        ("POST", "/v1/faces/analyze", None, 200, {"image": {"bytes": photo}}),
        ("GET", "/v1/review", None, 403, None),  # not a reviewer
        ("GET", "/v1/review", "reviewers", 200, None),  # the real Query through the real role
    ]


def test_every_assertion_reports_a_result(templates: dict[str, dict[str, Any]]) -> None:
    outputs = templates[STACKS[-1]].get("Outputs", {})

    assert len([o for o in outputs if o.startswith("AssertionResults")]) == len(
        _assertions(templates)
    )


def test_the_integ_stage_leaves_nothing_behind(templates: dict[str, dict[str, Any]]) -> None:
    for name in STACKS[:3]:
        retained = [
            logical_id
            for logical_id, resource in templates[name]["Resources"].items()
            if resource.get("DeletionPolicy") == "Retain"
        ]
        assert retained == [], name
