"""The edge in prod and the API's front door (issue #22, items 18-23): WAF keys, rule
groups and logging, the access log's fields, Cognito's attribute settings, the Region rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Synth, resources_of_type


def _only(template: dict[str, Any], cfn_type: str) -> dict[str, Any]:
    [resource] = resources_of_type(template, cfn_type).values()
    props: dict[str, Any] = resource["Properties"]
    return props


def test_prod_waf_limits_each_caller_not_each_edge_address(synth: Synth) -> None:
    acl = _only(synth.template_json("Prod-Service"), "AWS::WAFv2::WebACL")
    rules = {r["Name"]: r for r in acl["Rules"]}

    assert acl["Scope"] == "REGIONAL"
    caller = rules["rate-per-caller"]["Statement"]["RateBasedStatement"]
    assert caller["AggregateKeyType"] == "CUSTOM_KEYS"
    assert caller["CustomKeys"] == [
        {
            "Header": {
                "Name": "authorization",
                "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
            }
        }
    ]
    forwarded = rules["rate-per-forwarded-ip"]["Statement"]["RateBasedStatement"]
    assert forwarded["AggregateKeyType"] == "FORWARDED_IP"
    assert forwarded["ForwardedIPConfig"] == {
        "HeaderName": "X-Forwarded-For",
        "FallbackBehavior": "MATCH",
    }
    assert "rate-per-ip" not in rules


def test_prod_waf_knows_bad_inputs_and_bad_addresses(synth: Synth) -> None:
    acl = _only(synth.template_json("Prod-Service"), "AWS::WAFv2::WebACL")
    groups = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in acl["Rules"]
        if "ManagedRuleGroupStatement" in r["Statement"]
    }

    assert groups == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    }
    assert len({r["Priority"] for r in acl["Rules"]}) == len(acl["Rules"])


def test_prod_waf_logs_with_the_token_redacted(synth: Synth) -> None:
    template = synth.template_json("Prod-Service")
    logging = _only(template, "AWS::WAFv2::LoggingConfiguration")
    groups = [
        g["Properties"]["LogGroupName"]
        for g in resources_of_type(template, "AWS::Logs::LogGroup").values()
        if str(g["Properties"].get("LogGroupName", "")).startswith("aws-waf-logs-")
    ]

    assert logging["RedactedFields"] == [{"SingleHeader": {"Name": "authorization"}}]
    assert groups == ["aws-waf-logs-imgrec-prod-api"]
    assert "aws-waf-logs-imgrec-prod-api" in json.dumps(logging["LogDestinationConfigs"])


def test_dev_has_no_waf(synth: Synth) -> None:
    template = synth.template_json("Dev-Service")

    assert resources_of_type(template, "AWS::WAFv2::WebACL") == {}
    assert resources_of_type(template, "AWS::WAFv2::LoggingConfiguration") == {}


@pytest.mark.parametrize("stage", ["Dev", "Prod"])
def test_the_access_log_says_who_called_and_what_was_answered(synth: Synth, stage: str) -> None:
    api_stage = _only(synth.template_json(f"{stage}-Service"), "AWS::ApiGateway::Stage")
    fields = json.loads(api_stage["AccessLogSetting"]["Format"])

    assert fields["sub"] == "$context.authorizer.claims.sub"
    for name, variable in {
        "errorMessage": "$context.error.message",
        "errorResponseType": "$context.error.responseType",
        "wafResponseCode": "$context.wafResponseCode",
        "userAgent": "$context.identity.userAgent",
        "integrationLatency": "$context.integrationLatency",
    }.items():
        assert fields[name] == variable


@pytest.mark.parametrize("stage", ["Dev", "Prod"])
def test_users_cannot_rewrite_their_profile_and_email_changes_wait_for_verification(
    synth: Synth, stage: str
) -> None:
    data = synth.template_json(f"{stage}-Data")
    web = synth.template_json(f"{stage}-Web")
    pool = _only(data, "AWS::Cognito::UserPool")
    clients = [
        c["Properties"]
        for template in (data, web)
        for c in resources_of_type(template, "AWS::Cognito::UserPoolClient").values()
    ]

    assert pool["UserAttributeUpdateSettings"] == {
        "AttributesRequireVerificationBeforeUpdate": ["email"]
    }
    assert len(clients) == 2
    for client in clients:
        assert client["WriteAttributes"] == []


@pytest.mark.parametrize("stage", ["Dev", "Prod"])
def test_a_region_without_custom_labels_fails_the_deploy_at_once(synth: Synth, stage: str) -> None:
    from stacks.config import CUSTOM_LABELS_REGIONS

    rules = synth.template_json(f"{stage}-Data")["Rules"]
    [assertion] = rules["CustomLabelsRegion"]["Assertions"]

    assert assertion["Assert"] == {
        "Fn::Contains": [list(CUSTOM_LABELS_REGIONS), {"Ref": "AWS::Region"}]
    }
    assert "deploy to one of us-east-1" in assertion["AssertDescription"]
