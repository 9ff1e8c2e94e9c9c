"""Shared fixtures: one synth of the whole app (every stage) per test session.

A Python CDK synth costs seconds (jsii starts a Node process); every
template test reads the templates produced here instead of synthesizing
again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import cx_api
from aws_cdk.assertions import Template

from app import build_app, new_app

# Lambda code under test reads Powertools settings at import, as it does in AWS
# (where the stack sets them); tests never reach a real X-Ray daemon or AWS.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tests")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "PhoneImageRecognition")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
for _credential in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ.setdefault(_credential, "testing")

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("dev", "prod")


def cdk_json_context() -> dict[str, Any]:
    """The ``context`` object of the repository's cdk.json (stages and feature flags)."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


@dataclass(frozen=True)
class Synth:
    """The result of synthesizing the app once."""

    assembly: cx_api.CloudAssembly
    outdir: Path

    def stack(self, name: str) -> cx_api.CloudFormationStackArtifact:
        return self.assembly.get_stack_by_name(name)

    def template_json(self, name: str) -> dict[str, Any]:
        template: dict[str, Any] = self.stack(name).template
        return template

    def template(self, name: str) -> Template:
        return Template.from_json(self.template_json(name))


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Every stage of cdk.json synthesized once, with cdk-nag and the Guard rules enforcing."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = new_app(context=cdk_json_context(), outdir=str(outdir))
    build_app(app)
    return Synth(assembly=app.synth(), outdir=outdir)


@pytest.fixture(scope="module", params=STAGES)
def stage(request: pytest.FixtureRequest) -> str:
    """Each stage of cdk.json in turn (module scope: one synth serves them all)."""
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def service_template(synth: Synth, stage: str) -> dict[str, Any]:
    """The stage's <Stage>-Service template."""
    return synth.template_json(f"{stage.capitalize()}-Service")


def data_stack_name(stage: str) -> str:
    return f"{stage.capitalize()}-Data"


def resources_of_type(template: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for every resource of ``cfn_type``."""
    return {k: v for k, v in template["Resources"].items() if v["Type"] == cfn_type}


def logical_id(template: dict[str, Any], cfn_type: str, startswith: str) -> str:
    """The one logical id of type ``cfn_type`` that starts with ``startswith``."""
    ids = [k for k in resources_of_type(template, cfn_type) if k.startswith(startswith)]
    assert len(ids) == 1, f"expected one {cfn_type} named {startswith}*, found {ids}"
    return ids[0]


def violations(report: dict[str, Any], plugins: set[str]) -> set[tuple[str, str]]:
    """(construct path, rule id) for every violation the named plugins put in a CDK report."""
    return {
        (construct["constructPath"], violation["ruleName"])
        for plugin in report["pluginReports"]
        if plugin["pluginName"] in plugins
        for violation in plugin.get("violations", [])
        for construct in violation["violatingConstructs"]
    }


PROBE = "PolicyProbe"


@pytest.fixture(scope="session")
def unacknowledged_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The validation report of every stage with nothing acknowledged, plus a probe stack
    that breaks rules of every plugin on purpose (proof that each plugin runs)."""
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_s3 as s3

    outdir = tmp_path_factory.mktemp("cdk.out.unacknowledged")
    app = new_app(context=cdk_json_context(), outdir=str(outdir))
    build_app(app, acknowledge_nag_findings=False)
    probe = cdk.Stack(app, PROBE)
    s3.Bucket(probe, "PlainBucket")
    lambda_.Function(
        probe,
        "PlainFunction",
        runtime=lambda_.Runtime.PYTHON_3_11,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
    )
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report: dict[str, Any] = json.loads(Path(outdir, "validation-report.json").read_text())
    return report
