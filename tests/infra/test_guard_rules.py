"""AWS Control Tower's Guard rules at synth: every finding fixed or acknowledged in one table."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from stacks.checks.guard_rules import GUARD_ACKNOWLEDGEMENTS, PLUGIN
from tests.conftest import PROBE, Synth, covered, resources_of_type, violations


@pytest.fixture(scope="module")
def findings(unacknowledged_report: dict[str, Any]) -> set[tuple[str, str]]:
    """Every Guard finding on every stage (and the probe), nothing acknowledged."""
    return violations(unacknowledged_report, {PLUGIN})


@pytest.fixture(scope="module")
def project_findings(findings: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {
        (path, f"{PLUGIN}::{rule}") for path, rule in findings if not path.startswith(f"{PROBE}/")
    }


def test_the_guard_plugin_runs_at_every_synth_and_passes(synth: Synth) -> None:
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    [guard] = [p for p in report["pluginReports"] if p["pluginName"] == PLUGIN]

    assert guard.get("conclusion", "success") == "success"
    assert guard.get("violations", []) == []


def test_a_deliberately_broken_probe_stack_fails_the_guard_rules(
    findings: set[tuple[str, str]],
) -> None:
    probe_rules = {rule for path, rule in findings if path.startswith(f"{PROBE}/")}

    # A plain bucket: no access logging, no versioning, SSE-S3 only; a function outside a VPC.
    assert {
        "s3_bucket_logging_enabled_check",
        "s3_bucket_versioning_enabled_check",
        "lambda_inside_vpc_check",
    } <= probe_rules


def test_every_acknowledgement_still_matches_a_finding(
    project_findings: set[tuple[str, str]],
) -> None:
    stale = [
        row
        for row in GUARD_ACKNOWLEDGEMENTS
        if not any(covered(row, path, rule) for path, rule in project_findings)
    ]

    assert stale == [], "acknowledgements that match no finding any more: remove them"


def test_every_finding_is_covered_by_exactly_the_table(
    project_findings: set[tuple[str, str]],
) -> None:
    uncovered = sorted(
        (path, rule)
        for path, rule in project_findings
        if not any(covered(row, path, rule) for row in GUARD_ACKNOWLEDGEMENTS)
    )

    assert uncovered == []


def test_every_acknowledgement_names_its_control_and_an_aws_reason() -> None:
    for row in GUARD_ACKNOWLEDGEMENTS:
        assert row.rule_id.startswith(f"{PLUGIN}::"), row
        assert re.match(r"CT\.[A-Z0-9]+\.PR\.\d+: ", row.reason), row
        assert "aws" in row.reason.lower(), row
        assert "https://" in row.reason, row


def test_fixed_rather_than_acknowledged(service_template: dict[str, Any]) -> None:
    """Controls met by a change, not a row: the topic key's grants (CT.KMS.PR.3) and no
    test-invoke permissions on the API's function."""
    [key] = resources_of_type(service_template, "AWS::KMS::Key").values()
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    deny = [s for s in statements if s["Effect"] == "Deny"]

    assert deny == [
        {
            "Action": "kms:CreateGrant",
            "Condition": {
                "BoolIfExists": {
                    "kms:GrantIsForAWSResource": "false",
                    "aws:PrincipalIsAWSService": "false",
                }
            },
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Resource": "*",
        }
    ]
    permissions = resources_of_type(service_template, "AWS::Lambda::Permission")
    assert permissions
    assert not any("/test-invoke-stage/" in json.dumps(p) for p in permissions.values())
