"""cdk-nag: no unacknowledged finding, and no acknowledgement that matches nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3

from app import build_app
from stacks.nag import ACKNOWLEDGEMENTS
from tests.conftest import Synth, cdk_json_context

PACKS = {"AwsSolutions", "Serverless"}


def violations(report: dict[str, Any]) -> set[tuple[str, str]]:
    """(construct path, rule id) for every violation in a CDK validation report."""
    return {
        (construct["constructPath"], violation["ruleName"])
        for plugin in report["pluginReports"]
        for violation in plugin.get("violations", [])
        for construct in violation["violatingConstructs"]
    }


PROBE = "NagProbe"


def add_probe_stack(app: cdk.App) -> None:
    """A stack that breaks rules of both packs on purpose: proof the packs run."""
    probe = cdk.Stack(app, PROBE)
    s3.Bucket(probe, "PlainBucket")
    lambda_.Function(
        probe,
        "PlainFunction",
        runtime=lambda_.Runtime.PYTHON_3_11,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
    )


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:
    """Every finding of both packs on every stage (and the probe), nothing acknowledged."""
    outdir = tmp_path_factory.mktemp("cdk.out.unacknowledged")
    app = cdk.App(context=cdk_json_context(), outdir=str(outdir))
    build_app(app, acknowledge_nag_findings=False)
    add_probe_stack(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads(Path(outdir, "validation-report.json").read_text())
    return violations(report)


@pytest.fixture(scope="module")
def unacknowledged_findings(findings: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The findings on the project's own stacks."""
    return {(path, rule) for path, rule in findings if not path.startswith(f"{PROBE}/")}


def test_synth_with_acknowledgements_reports_no_violation(synth: Synth) -> None:
    report = json.loads((synth.outdir / "validation-report.json").read_text())

    assert violations(report) == set()
    assert all(p.get("conclusion", "success") == "success" for p in report["pluginReports"])


def test_both_rule_packs_are_registered(findings: set[tuple[str, str]]) -> None:
    """The probe's plain bucket and function break rules of both packs."""
    probe_rules = {rule for path, rule in findings if path.startswith(f"{PROBE}/")}

    assert {rule.split("-", 1)[0] for rule in probe_rules} == PACKS
    assert "AwsSolutions-S10" in probe_rules  # bucket without SSL-only policy
    assert "AwsSolutions-L1" in probe_rules  # function on an old runtime


def test_every_acknowledgement_still_matches_a_finding(
    unacknowledged_findings: set[tuple[str, str]],
) -> None:
    stale = [
        row
        for row in ACKNOWLEDGEMENTS
        if not any(row.matches(path, rule) for path, rule in unacknowledged_findings)
    ]

    assert stale == [], "acknowledgements that match no finding any more: remove them"


def test_every_finding_is_covered_by_exactly_the_table(
    unacknowledged_findings: set[tuple[str, str]],
) -> None:
    uncovered = sorted(
        (path, rule)
        for path, rule in unacknowledged_findings
        if not any(row.matches(path, rule) for row in ACKNOWLEDGEMENTS)
    )

    assert uncovered == []


def test_every_acknowledgement_gives_an_aws_reason() -> None:
    for row in ACKNOWLEDGEMENTS:
        assert len(row.reason) > 40, row
        assert "aws" in row.reason.lower(), row
