"""cdk-nag: no unacknowledged finding, and no acknowledgement that matches nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.checks.nag import ACKNOWLEDGEMENTS
from tests.conftest import PROBE, Synth, covered, violations

PACKS = {"AwsSolutions", "Serverless"}


@pytest.fixture(scope="module")
def findings(unacknowledged_report: dict[str, Any]) -> set[tuple[str, str]]:
    """Every finding of both packs on every stage (and the probe), nothing acknowledged."""
    return violations(unacknowledged_report, PACKS)


@pytest.fixture(scope="module")
def unacknowledged_findings(findings: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The findings on the project's own stacks."""
    return {(path, rule) for path, rule in findings if not path.startswith(f"{PROBE}/")}


def test_synth_with_acknowledgements_reports_no_violation(synth: Synth) -> None:
    report = json.loads((synth.outdir / "validation-report.json").read_text())

    assert violations(report, {p["pluginName"] for p in report["pluginReports"]}) == set()
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
        if not any(covered(row, path, rule) for path, rule in unacknowledged_findings)
    ]

    assert stale == [], "acknowledgements that match no finding any more: remove them"


def test_every_finding_is_covered_by_exactly_the_table(
    unacknowledged_findings: set[tuple[str, str]],
) -> None:
    uncovered = sorted(
        (path, rule)
        for path, rule in unacknowledged_findings
        if not any(covered(row, path, rule) for row in ACKNOWLEDGEMENTS)
    )

    assert uncovered == []


def test_every_acknowledgement_gives_an_aws_reason() -> None:
    for row in ACKNOWLEDGEMENTS:
        assert len(row.reason) > 40, row
        assert "aws" in row.reason.lower(), row
