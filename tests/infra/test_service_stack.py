"""The <Stage>-Service stack: the cost guard's schedule, permissions, encryption and alarms."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from stacks.config import parse_stage
from stacks.data.stack import DataStack
from stacks.service.stack import ServiceStack
from tests.conftest import Synth, cdk_json_context, resources_of_type

CAPS = {"dev": 10, "prod": 12}
PERIOD_SECONDS = {"dev": 300, "prod": 300}


@pytest.fixture(scope="module")
def template(service_template: dict[str, Any]) -> dict[str, Any]:
    return service_template


def only(template: dict[str, Any], cfn_type: str, prefix: str = "CostGuard") -> dict[str, Any]:
    """The one resource of ``cfn_type`` whose logical id starts with ``prefix``."""
    return template["Resources"][logical_id_of(template, cfn_type, prefix)]  # type: ignore[no-any-return]


def logical_id_of(template: dict[str, Any], cfn_type: str, prefix: str = "CostGuard") -> str:
    [resource_id] = [k for k in resources_of_type(template, cfn_type) if k.startswith(prefix)]
    return resource_id


def test_guard_runs_on_schedule_with_retries_and_a_dead_letter_queue(
    template: dict[str, Any], stage: str
) -> None:
    rule = only(template, "AWS::Events::Rule")["Properties"]
    queue_id = logical_id_of(template, "AWS::SQS::Queue")

    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    [target] = rule["Targets"]
    assert target["Arn"] == {
        "Fn::GetAtt": [logical_id_of(template, "AWS::Lambda::Function"), "Arn"]
    }
    assert target["RetryPolicy"] == {
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": PERIOD_SECONDS[stage],
    }
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}


def test_function_defaults(template: dict[str, Any], stage: str) -> None:
    props = only(template, "AWS::Lambda::Function")["Properties"]
    settings = json.loads(props["Environment"]["Variables"]["POLICY_SETTINGS"])

    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    assert props["MemorySize"] == 256
    assert props["Timeout"] == 60
    assert props["ReservedConcurrentExecutions"] == 1
    assert props["Handler"] == "cost_guard.handler.lambda_handler"
    assert settings["daily_unit_hour_cap"] == CAPS[stage]
    assert set(settings) == {
        "idle_stop_minutes",
        "daily_unit_hour_cap",
        "min_inference_units",
        "keep_warm_windows",
        "schedule_period_minutes",
        "policy",
        "adaptive",
        "billing",
    }
    assert settings["policy"] == "adaptive"
    assert settings["billing"] == "from_start_request"  # the conservative default
    assert settings["adaptive"]["start_latency_minutes"] == 10
    assert settings["adaptive"]["weekly_pre_start"] is False
    log_group = only(template, "AWS::Logs::LogGroup")["Properties"]
    assert log_group["RetentionInDays"] == {"dev": 14, "prod": 365}[stage]


def test_powertools_comes_from_the_pinned_public_layer_parameter(template: dict[str, Any]) -> None:
    props = only(template, "AWS::Lambda::Function")["Properties"]
    [layer] = props["Layers"]
    parameter = template["Parameters"][layer["Ref"]]

    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == "/aws/service/powertools/python/arm64/python3.14/3.37.0"


def test_role_can_do_only_its_own_actions_on_its_own_resources(
    template: dict[str, Any], stage: str
) -> None:
    role = only(template, "AWS::IAM::Role")["Properties"]
    statements = only(template, "AWS::IAM::Policy")["Properties"]["PolicyDocument"]["Statement"]
    by_action = {json.dumps(s["Action"]): s["Resource"] for s in statements}

    assert "ManagedPolicyArns" not in role
    assert all(s["Effect"] == "Allow" for s in statements)
    assert set(by_action) == {
        json.dumps(["logs:CreateLogStream", "logs:PutLogEvents"]),
        json.dumps("sqs:SendMessage"),
        json.dumps(["xray:PutTelemetryRecords", "xray:PutTraceSegments"]),
        json.dumps("rekognition:DescribeProjectVersions"),
        json.dumps(["rekognition:StartProjectVersion", "rekognition:StopProjectVersion"]),
        json.dumps(["dynamodb:GetItem", "dynamodb:UpdateItem"]),
        json.dumps("sns:Publish"),
        json.dumps(["kms:Decrypt", "kms:GenerateDataKey"]),
    }
    assert by_action[json.dumps("rekognition:DescribeProjectVersions")]["Fn::GetStackOutput"][
        "OutputName"
    ].startswith("PublishOutputFnGetAttRecognitionProject")
    versions = by_action[
        json.dumps(["rekognition:StartProjectVersion", "rekognition:StopProjectVersion"])
    ]
    assert versions["Fn::Join"][1][-1] == f":project/imgrec-{stage}-custom-labels/version/*"
    table = by_action[json.dumps(["dynamodb:GetItem", "dynamodb:UpdateItem"])]
    assert table["Fn::GetStackOutput"]["OutputName"].startswith(
        "PublishOutputFnGetAttTablesModelUsage"
    )
    # Only X-Ray, which has no resource-level permissions, gets "*".
    star = [a for a, r in by_action.items() if r == "*"]
    assert star == [json.dumps(["xray:PutTelemetryRecords", "xray:PutTraceSegments"])]


def test_topic_is_encrypted_with_a_rotating_key_that_alarms_may_use(
    synth: Synth, stage: str
) -> None:
    template = synth.template(f"{stage.capitalize()}-Service")
    key_id = logical_id_of(synth.template_json(f"{stage.capitalize()}-Service"), "AWS::KMS::Key")

    template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
    )
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                            }
                        )
                    ]
                )
            },
        },
    )
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_alarms_notify_the_topic(template: dict[str, Any], stage: str) -> None:
    topic_id = logical_id_of(template, "AWS::SNS::Topic")
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    }

    assert set(alarms) == {
        "Errors",
        "ModelErrors",
        "ApproximateNumberOfMessagesVisible",
        "MaxUnitHoursToday",
    }
    assert all(a["AlarmActions"] == [{"Ref": topic_id}] for a in alarms.values())
    over_cap = alarms["MaxUnitHoursToday"]
    assert over_cap["Threshold"] == CAPS[stage]
    assert over_cap["ComparisonOperator"] == "GreaterThanThreshold"
    assert over_cap["Dimensions"] == [{"Name": "service", "Value": f"cost-guard-{stage}"}]
    assert alarms["ModelErrors"]["Namespace"] == "PhoneImageRecognition"


def test_email_subscription_only_when_configured(template: dict[str, Any]) -> None:
    # Neither stage in cdk.json names an address; tests/infra/test_config covers parsing one.
    assert resources_of_type(template, "AWS::SNS::Subscription") == {}


def test_dead_letter_queue_is_encrypted_and_ssl_only(synth: Synth, stage: str) -> None:
    template = synth.template(f"{stage.capitalize()}-Service")

    template.has_resource_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_stage_with_notification_email_subscribes_it() -> None:
    config = parse_stage("qa", {"notification_email": "ops@example.com", "retain_data": False})
    app = cdk.App(context=cdk_json_context())
    data = DataStack(app, "Qa-Data", config=config)
    service = ServiceStack(app, "Qa-Service", config=config, data=data)

    Template.from_stack(service).has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )
