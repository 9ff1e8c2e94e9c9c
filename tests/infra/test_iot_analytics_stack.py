"""IoT ingestion and analytics in the <Stage>-Service template."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from shared.layout import IOT_KINDS as KINDS

from stacks.service.analytics import BYTES_SCANNED_CUTOFF, NAMED_QUERIES
from stacks.service.iot_ingestion import rule_sql
from tests.conftest import resources_of_type

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template(service_template: dict[str, Any]) -> dict[str, Any]:
    return service_template


def rules(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["RuleName"]: r["Properties"]["TopicRulePayload"]
        for r in resources_of_type(template, "AWS::IoT::TopicRule").values()
    }


def role_statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    policies = [
        p["Properties"]
        for p in resources_of_type(template, "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    assert len(policies) == 1, role_id
    statements: list[dict[str, Any]] = policies[0]["PolicyDocument"]["Statement"]
    return statements


def test_one_rule_per_kind_with_trusted_fields_from_topic_and_clock(
    template: dict[str, Any], stage: str
) -> None:
    found = rules(template)

    assert set(found) == {f"imgrec_{stage}_{kind}" for kind in KINDS}
    for kind in KINDS:
        payload = found[f"imgrec_{stage}_{kind}"]
        sql = payload["Sql"]
        assert sql == rule_sql(kind)
        assert "*" not in sql.split("FROM")[0]  # no payload field can override the trusted ones
        assert "topic(2) AS device_id, timestamp() AS timestamp" in sql
        assert sql.endswith(f"FROM 'devices/+/{kind}'")
        assert payload["AwsIotSqlVersion"] == "2016-03-23"
        assert payload["RuleDisabled"] is False


def test_every_rule_stores_to_the_table_and_firehose_and_keeps_failures(
    template: dict[str, Any],
) -> None:
    for name, payload in rules(template).items():
        kinds = [next(iter(action)) for action in payload["Actions"]]
        assert kinds == ["DynamoDBv2", "Firehose"], name
        assert payload["Actions"][1]["Firehose"]["Separator"] == "\n"
        error = payload["ErrorAction"]["S3"]
        assert error["Key"].startswith("iot-errors/"), name
        assert "${newuuid()}" in error["Key"]


def test_each_rule_role_does_only_its_own_actions_on_its_own_resources(
    template: dict[str, Any],
) -> None:
    for name, payload in rules(template).items():
        kind = name.rsplit("_", 1)[1]
        role_arn = payload["Actions"][0]["DynamoDBv2"]["RoleArn"]
        role_id = role_arn["Fn::GetAtt"][0]
        assert payload["ErrorAction"]["S3"]["RoleArn"] == role_arn
        statements = role_statements(template, role_id)
        actions = sorted(json.dumps(s["Action"]) for s in statements)
        assert actions == sorted(
            [
                json.dumps("dynamodb:PutItem"),
                json.dumps(["firehose:PutRecord", "firehose:PutRecordBatch"]),
                json.dumps("s3:PutObject"),
            ]
        )
        by_action = {json.dumps(s["Action"]): json.dumps(s["Resource"]) for s in statements}
        assert "TablesDeviceEvents" in by_action[json.dumps("dynamodb:PutItem")]
        assert (
            f"{kind.capitalize()}Stream"
            in by_action[json.dumps(["firehose:PutRecord", "firehose:PutRecordBatch"])]
        )
        assert f"/iot-errors/{kind}/*" in by_action[json.dumps("s3:PutObject")]
        trust = resources_of_type(template, "AWS::IAM::Role")[role_id]["Properties"]
        [assume] = trust["AssumeRolePolicyDocument"]["Statement"]
        assert assume["Principal"] == {"Service": "iot.amazonaws.com"}
        assert "aws:SourceAccount" in json.dumps(assume["Condition"])


def test_firehose_buffers_into_date_partitions_encrypted(template: dict[str, Any]) -> None:
    streams = [
        s["Properties"]
        for s in resources_of_type(template, "AWS::KinesisFirehose::DeliveryStream").values()
    ]

    assert len(streams) == len(KINDS)
    prefixes = sorted(s["ExtendedS3DestinationConfiguration"]["Prefix"] for s in streams)
    assert prefixes == [f"iot/{kind}/dt=!{{timestamp:yyyy-MM-dd}}/" for kind in sorted(KINDS)]
    for stream in streams:
        destination = stream["ExtendedS3DestinationConfiguration"]
        assert destination["BufferingHints"] == {"IntervalInSeconds": 300, "SizeInMBs": 5}
        assert destination["CompressionFormat"] == "GZIP"
        assert destination["CloudWatchLoggingOptions"]["Enabled"] is True
        assert stream["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}


def device_policy(template: dict[str, Any]) -> list[dict[str, Any]]:
    [policy] = resources_of_type(template, "AWS::IoT::Policy").values()
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def resource_pattern(resource: Any) -> str:
    """An IoT policy resource (Fn::Join of the ARN) as a plain string with * wildcards."""
    if isinstance(resource, str):
        return resource
    parts = resource["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else "*" for p in parts)


def allowed(statements: list[dict[str, Any]], action: str, resource: str, thing: str) -> bool:
    """IoT policy evaluation for Allow statements: policy variable substituted, * wildcards."""
    for statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if action not in actions:
            continue
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        for pattern in map(resource_pattern, resources):
            concrete = pattern.replace("${iot:Connection.Thing.ThingName}", thing)
            regex = "^" + ".*".join(re.escape(part) for part in concrete.split("*")) + "$"
            if re.match(regex, resource):
                return True
    return False


ARN = "arn:aws:iot:ap-northeast-1:123456789012"


@pytest.mark.parametrize(
    ("action", "resource", "expected"),
    [
        ("iot:Connect", f"{ARN}:client/phone-1", True),
        ("iot:Connect", f"{ARN}:client/phone-2", False),
        ("iot:Publish", f"{ARN}:topic/devices/phone-1/events", True),
        ("iot:Publish", f"{ARN}:topic/devices/phone-1/telemetry", True),
        ("iot:Publish", f"{ARN}:topic/devices/phone-2/events", False),
        ("iot:Publish", f"{ARN}:topic/devices/phone-10/events", False),
        ("iot:Publish", f"{ARN}:topic/other/phone-1/events", False),
        ("iot:Publish", f"{ARN}:topic/$aws/things/phone-1/shadow/update", False),
        ("iot:Subscribe", f"{ARN}:topicfilter/devices/phone-1/commands", True),
        ("iot:Subscribe", f"{ARN}:topicfilter/devices/+/events", False),
        ("iot:Receive", f"{ARN}:topic/devices/phone-1/commands", True),
        ("iot:Receive", f"{ARN}:topic/devices/phone-2/commands", False),
        ("iot:UpdateThingShadow", f"{ARN}:thing/phone-1", False),
    ],
)
def test_device_policy_allows_only_the_things_own_topics(
    template: dict[str, Any], action: str, resource: str, expected: bool
) -> None:
    assert allowed(device_policy(template), action, resource, thing="phone-1") is expected


def test_device_policy_uses_the_thing_name_variable_and_requires_an_attached_thing(
    template: dict[str, Any],
) -> None:
    statements = device_policy(template)

    assert all("${iot:Connection.Thing.ThingName}" in json.dumps(s["Resource"]) for s in statements)
    connect = next(s for s in statements if s["Action"] == "iot:Connect")
    assert connect["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}


def test_glue_table_projects_partitions_so_no_crawler_is_needed(
    template: dict[str, Any], stage: str
) -> None:
    [table] = resources_of_type(template, "AWS::Glue::Table").values()
    table_input = table["Properties"]["TableInput"]
    parameters = table_input["Parameters"]

    assert table_input["Name"] == "device_messages"
    assert table["Properties"]["DatabaseName"] == f"imgrec_{stage}"
    assert [k["Name"] for k in table_input["PartitionKeys"]] == ["kind", "dt"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.kind.values"] == "events,telemetry"
    assert parameters["projection.dt.type"] == "date"
    assert parameters["storage.location.template"]["Fn::Join"][1][-1] == "/iot/${kind}/dt=${dt}/"
    assert resources_of_type(template, "AWS::Glue::Crawler") == {}


def test_athena_workgroup_encrypts_results_and_limits_bytes_scanned(
    template: dict[str, Any], stage: str
) -> None:
    [workgroup] = resources_of_type(template, "AWS::Athena::WorkGroup").values()
    configuration = workgroup["Properties"]["WorkGroupConfiguration"]

    assert workgroup["Properties"]["Name"] == f"imgrec-{stage}"
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["BytesScannedCutoffPerQuery"] == BYTES_SCANNED_CUTOFF
    assert configuration["ResultConfiguration"]["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_S3"
    }
    names = sorted(
        q["Properties"]["Name"]
        for q in resources_of_type(template, "AWS::Athena::NamedQuery").values()
    )
    assert names == sorted(NAMED_QUERIES)


@pytest.mark.parametrize("query_id", sorted(NAMED_QUERIES))
def test_named_queries_parse_as_athena_sql(query_id: str) -> None:
    sql = NAMED_QUERIES[query_id][1]

    [statement] = sqlglot.parse(sql, read="athena")

    assert statement is not None
    assert statement.find(sqlglot.exp.Table).name == "device_messages"  # type: ignore[union-attr]


def test_a_broken_query_does_not_parse() -> None:
    """The parser is strict enough to catch a typo (so the test above can fail)."""
    with pytest.raises(sqlglot.errors.ParseError):
        sqlglot.parse("SELECT device_id, count(* FROM device_messages GROUP BY 1", read="athena")


def test_dashboard_covers_api_models_and_rules(template: dict[str, Any], stage: str) -> None:
    [dashboard] = resources_of_type(template, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])

    for needle in (
        "AWS/ApiGateway",
        "5XXError",
        "Latency",
        "MaxUnitHoursToday",
        "ModelsStopped",
        "AWS/IoT",
    ):
        assert needle in body, needle
    assert f"imgrec_{stage}_events" in body


def test_dashboard_shows_feedback_agreement_and_retrainings(
    template: dict[str, Any], stage: str
) -> None:
    """The metric names are the ones the API and the retraining steps publish."""
    [dashboard] = resources_of_type(template, "AWS::CloudWatch::Dashboard").values()
    separator, parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"]
    widgets = json.loads(separator.join(p if isinstance(p, str) else "TOKEN" for p in parts))
    body = json.dumps(widgets)
    expressions = [
        metric[0]["expression"]
        for widget in widgets["widgets"]
        for metric in widget["properties"].get("metrics", [])
        if isinstance(metric[0], dict) and "expression" in metric[0]
    ]
    handler = (ROOT / "lambda" / "inference_api" / "handler.py").read_text()
    steps = (ROOT / "lambda" / "retraining" / "handler.py").read_text()

    for title in ("Feedback per label", "Agreement with the active model", "Retrainings"):
        assert title in body, title
    # One series per label: SEARCH over the label dimension the handler adds.
    search = (
        'SEARCH(\'{PhoneImageRecognition,label,service} MetricName="Feedback" '
        f"service=\"inference-api-{stage}\"', 'Sum', 86400)"
    )
    assert search in expressions
    assert search.replace("Feedback", "FeedbackAgreed") in expressions
    assert 'add_dimension(name="label"' in handler
    for metric in ("Feedback", "FeedbackAgreed"):
        assert f'name="{metric}"' in handler, metric
    assert "100 * SUM(agreed) / SUM(total)" in expressions
    for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed"):
        assert metric in body, metric
    for metric in ("CandidateF1", "ActiveF1"):
        assert metric in body, metric
        assert f'name="{metric}"' in steps, metric
    assert f"retraining-{stage}" in body


def test_outputs_name_the_device_policy_group_and_workgroup(template: dict[str, Any]) -> None:
    assert {"DevicePolicyName", "ThingGroupName", "AthenaWorkGroup"} <= set(template["Outputs"])
