"""The cost guard Lambda: Stubber for Rekognition (request shapes checked), moto for the rest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from cost_guard import handler
from cost_guard.adaptive import UseSummary
from cost_guard.handler import GuardEnvironment, run_guard
from cost_guard.policy import PolicySettings
from cost_guard.usage_store import MAX_FOLDED
from moto import mock_aws
from shared.pointer import POINTER_KEY as ACTIVE_POINTER_KEY

REGION = "ap-northeast-1"
PROJECT = (
    "arn:aws:rekognition:ap-northeast-1:123456789012:project/imgrec-dev-custom-labels/1700000000000"
)
NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
TABLE = "model-usage"


def version_arn(name: str) -> str:
    return f"{PROJECT.rsplit('/', 1)[0]}/version/{name}/1700000000001"


@dataclass
class Aws:
    rekognition: Any
    stubber: Stubber
    dynamodb: Any
    sns: Any
    sqs: Any
    queue_url: str
    env: GuardEnvironment

    def record_usage(self, name: str, **attributes: datetime | float) -> None:
        item: dict[str, Any] = {"project_version_arn": {"S": version_arn(name)}}
        for key, value in attributes.items():
            item[key] = {"N": str(value.timestamp() if isinstance(value, datetime) else value)}
        self.dynamodb.put_item(TableName=TABLE, Item=item)

    def promote(self, name: str) -> None:
        self.dynamodb.put_item(
            TableName=TABLE,
            Item={
                "project_version_arn": {"S": ACTIVE_POINTER_KEY},
                "active_project_version_arn": {"S": version_arn(name)},
            },
        )

    def usage_item(self, name: str) -> dict[str, Any]:
        item: dict[str, Any] = self.dynamodb.get_item(
            TableName=TABLE, Key={"project_version_arn": {"S": version_arn(name)}}
        )["Item"]
        return item

    def list_versions(
        self, *statuses: tuple[str, str], next_page: list[tuple[str, str]] | None = None
    ) -> None:
        def describe(
            pairs: list[tuple[str, str]] | tuple[tuple[str, str], ...],
        ) -> list[dict[str, Any]]:
            return [
                {"ProjectVersionArn": version_arn(n), "Status": s, "MinInferenceUnits": 1}
                for n, s in pairs
            ]

        first: dict[str, Any] = {"ProjectVersionDescriptions": describe(statuses)}
        if next_page is not None:
            first["NextToken"] = "page-2"
        self.stubber.add_response("describe_project_versions", first, {"ProjectArn": PROJECT})
        if next_page is not None:
            self.stubber.add_response(
                "describe_project_versions",
                {"ProjectVersionDescriptions": describe(next_page)},
                {"ProjectArn": PROJECT, "NextToken": "page-2"},
            )

    def expect_stop(self, name: str) -> None:
        self.stubber.add_response(
            "stop_project_version", {"Status": "STOPPING"}, {"ProjectVersionArn": version_arn(name)}
        )

    def expect_start(self, name: str, units: int = 1) -> None:
        self.stubber.add_response(
            "start_project_version",
            {"Status": "STARTING"},
            {"ProjectVersionArn": version_arn(name), "MinInferenceUnits": units},
        )

    def notifications(self) -> list[list[dict[str, Any]]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]

    def run(self, now: datetime = NOW) -> list[handler.Outcome]:
        return run_guard(
            now, self.env, rekognition=self.rekognition, dynamodb=self.dynamodb, sns=self.sns
        )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "project_version_arn", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "project_version_arn", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="guard")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        rekognition = boto3.client("rekognition", region_name=REGION)
        env = GuardEnvironment(
            project_arn=PROJECT,
            usage_table=TABLE,
            topic_arn=topic,
            settings=PolicySettings(idle_stop_minutes=15, daily_unit_hour_cap=8),
        )
        with Stubber(rekognition) as stubber:
            yield Aws(rekognition, stubber, dynamodb, sns, sqs, queue_url, env)
            stubber.assert_no_pending_responses()


def test_idle_model_is_stopped_and_busy_model_kept(aws: Aws) -> None:
    aws.record_usage(
        "idle",
        last_inference_at=NOW - timedelta(minutes=16),
        running_since=NOW - timedelta(hours=1),
        accounted_at=NOW - timedelta(minutes=5),
    )
    aws.record_usage(
        "busy",
        last_inference_at=NOW - timedelta(minutes=1),
        running_since=NOW - timedelta(hours=1),
        accounted_at=NOW - timedelta(minutes=5),
    )
    aws.list_versions(("idle", "RUNNING"), ("busy", "RUNNING"))
    aws.expect_stop("idle")

    outcomes = aws.run()

    assert [(o.decision.action.value, o.decision.reason) for o in outcomes if o.decision] == [
        ("stop", "idle"),
        ("keep", "in_use"),
    ]
    [message] = aws.notifications()
    assert [(m["project_version_arn"], m["action"]) for m in message] == [
        (version_arn("idle"), "stop")
    ]


def test_one_failing_model_does_not_block_the_others(aws: Aws) -> None:
    for name in ("first", "second", "third"):
        aws.record_usage(
            name, running_since=NOW - timedelta(hours=1), accounted_at=NOW - timedelta(minutes=5)
        )
    aws.list_versions(("first", "RUNNING"), ("second", "RUNNING"), ("third", "RUNNING"))
    aws.expect_stop("first")
    aws.stubber.add_client_error(
        "stop_project_version",
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
        expected_params={"ProjectVersionArn": version_arn("second")},
    )
    aws.expect_stop("third")

    outcomes = aws.run()

    assert [o.error for o in outcomes] == [None, "ThrottlingException: Rate exceeded", None]
    [message] = aws.notifications()
    assert [m["error"] for m in message] == [None, "ThrottlingException: Rate exceeded", None]


def test_resource_in_use_is_reported_not_raised(aws: Aws) -> None:
    aws.record_usage(
        "busy-api", running_since=NOW - timedelta(hours=1), accounted_at=NOW - timedelta(minutes=5)
    )
    aws.list_versions(("busy-api", "RUNNING"))
    aws.stubber.add_client_error(
        "stop_project_version", service_error_code="ResourceInUseException"
    )

    [outcome] = aws.run()

    assert outcome.error is not None
    assert outcome.error.startswith("ResourceInUseException")


def test_second_run_changes_nothing_more(aws: Aws) -> None:
    aws.record_usage(
        "idle", running_since=NOW - timedelta(hours=1), accounted_at=NOW - timedelta(minutes=5)
    )
    aws.list_versions(("idle", "RUNNING"))
    aws.expect_stop("idle")
    aws.run()
    aws.notifications()
    # Next run: Rekognition reports STOPPING, then STOPPED. No stop or start call is stubbed,
    # so any call would fail the test.
    aws.list_versions(("idle", "STOPPING"))
    aws.list_versions(("idle", "STOPPED"))

    second = aws.run(NOW + timedelta(minutes=5))
    third = aws.run(NOW + timedelta(minutes=10))

    assert [o.decision.reason for o in second + third if o.decision] == [
        "transitional",
        "not_running",
    ]
    assert aws.notifications() == []


def test_version_without_a_record_is_idle_since_first_seen(aws: Aws) -> None:
    aws.list_versions(("fresh", "RUNNING"))
    aws.list_versions(("fresh", "RUNNING"))
    aws.expect_stop("fresh")

    [first] = aws.run()
    [later] = aws.run(NOW + timedelta(minutes=15))

    assert first.decision is not None
    assert first.decision.reason == "just_running"  # first seen RUNNING: never stopped then
    assert later.decision is not None
    assert later.decision.reason == "idle"
    assert float(aws.usage_item("fresh")["minutes_today"]["N"]) == pytest.approx(15)


def test_keep_warm_window_starts_the_promoted_version_with_configured_units(aws: Aws) -> None:
    from dataclasses import replace

    from cost_guard.policy import KeepWarmWindow

    window = KeepWarmWindow(frozenset({"Wed"}), datetime.min.time(), datetime.max.time(), "UTC")
    aws.env = replace(
        aws.env,
        settings=replace(aws.env.settings, keep_warm_windows=(window,), min_inference_units=2),
    )
    aws.promote("v2")
    aws.list_versions(("v1", "STOPPED"), ("v2", "TRAINING_COMPLETED"))
    aws.expect_start("v2", units=2)

    outcomes = aws.run()

    assert [o.decision.action.value for o in outcomes if o.decision] == ["keep", "start"]


def test_daily_cap_stops_a_busy_model(aws: Aws) -> None:
    aws.record_usage(
        "busy",
        last_inference_at=NOW,
        running_since=NOW - timedelta(hours=9),
        accounted_at=NOW - timedelta(minutes=5),
        minutes_today=8 * 60 - 1,
    )
    aws.dynamodb.update_item(
        TableName=TABLE,
        Key={"project_version_arn": {"S": version_arn("busy")}},
        UpdateExpression="SET minutes_day = :d",
        ExpressionAttributeValues={":d": {"S": NOW.date().isoformat()}},
    )
    aws.list_versions(("busy", "RUNNING"))
    aws.expect_stop("busy")

    [outcome] = aws.run()

    assert outcome.decision is not None
    assert outcome.decision.reason == "daily_cap"


def test_every_page_of_versions_is_handled(aws: Aws) -> None:
    aws.list_versions(("a", "STOPPED"), next_page=[("b", "FAILED")])

    outcomes = aws.run()

    assert [o.arn for o in outcomes] == [version_arn("a"), version_arn("b")]


def test_handler_logs_decisions_and_emits_metrics(
    aws: Aws,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = datetime.now(UTC)  # the handler reads the real clock
    aws.record_usage(
        "idle", running_since=now - timedelta(minutes=30), accounted_at=now - timedelta(minutes=1)
    )
    aws.list_versions(("idle", "RUNNING"))
    aws.expect_stop("idle")
    monkeypatch.setattr(handler, "_clients", lambda: (aws.rekognition, aws.dynamodb, aws.sns))
    monkeypatch.setattr(handler, "_environment", lambda: aws.env)

    result = handler.lambda_handler({"source": "aws.events"}, LambdaContextStub())

    assert result == {"versions": 1, "ModelsStopped": 1, "ModelsStarted": 0, "ModelErrors": 0}
    decisions = [r for r in caplog.records if r.getMessage() == "cost guard decision"]
    assert [(r.action, r.reason) for r in decisions] == [("stop", "idle")]  # type: ignore[attr-defined]
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    [emf] = [line for line in lines if "_aws" in line]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "PhoneImageRecognition"
    assert emf["ModelsStopped"] == [1.0]
    assert emf["ModelErrors"] == [0.0]


@dataclass
class LambdaContextStub:
    function_name: str = "cost-guard"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:ap-northeast-1:123456789012:function:cost-guard"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {},
            "missing environment variables: "
            "PROJECT_ARN, MODEL_USAGE_TABLE, TOPIC_ARN, POLICY_SETTINGS",
        ),
        (
            {
                "PROJECT_ARN": "p",
                "MODEL_USAGE_TABLE": "t",
                "TOPIC_ARN": "s",
                "POLICY_SETTINGS": "{}",
            },
            "POLICY_SETTINGS is not valid policy JSON",
        ),
    ],
)
def test_environment_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GuardEnvironment.from_env(env)


# --- the adaptive policy in production --------------------------------------------


def adaptive_env(aws: Aws, cap: float = 8) -> GuardEnvironment:
    return replace(
        aws.env,
        settings=PolicySettings(
            idle_stop_minutes=15,
            daily_unit_hour_cap=cap,
            policy="adaptive",
            adaptive=(("start_latency_minutes", 10),),
        ),
    )


def record_hourly_demand(
    aws: Aws, name: str, last: datetime, jobs: int = 150, unfolded: int = 1
) -> None:
    """An hourly job's history as the guard left it (the summary) plus the last
    ``unfolded`` demand minutes the inference API appended since."""
    minutes = [int((last - timedelta(hours=h)).timestamp() // 60) for h in reversed(range(jobs))]
    summary = UseSummary()
    for minute in minutes[:-unfolded]:
        summary = summary.observe(datetime.fromtimestamp(minute * 60, UTC))
    aws.dynamodb.put_item(
        TableName=TABLE,
        Item={
            "project_version_arn": {"S": version_arn(name)},
            "last_inference_at": {"N": str(int(last.timestamp()))},
            "use_summary": {"S": summary.to_json()},
            "recent_demand": {"L": [{"N": str(m)} for m in minutes[-unfolded:]]},
        },
    )


def test_adaptive_guard_folds_the_apis_demand_and_pre_starts_ahead_of_the_next_run(
    aws: Aws,
) -> None:
    aws.env = adaptive_env(aws)
    aws.promote("hourly")
    last = NOW - timedelta(minutes=46)
    record_hourly_demand(aws, "hourly", last)
    aws.list_versions(("hourly", "STOPPED"))
    aws.expect_start("hourly")

    [outcome] = aws.run()

    assert outcome.decision is not None
    assert (outcome.decision.action.value, outcome.decision.reason) == ("start", "pre_start")
    item = aws.usage_item("hourly")
    assert item["recent_demand"]["L"] == []  # folded and removed
    summary = UseSummary.from_json(item["use_summary"]["S"])
    assert sum(summary.gaps) == 149
    assert summary.last_use == int(last.timestamp() // 60)
    [notification] = aws.notifications()
    assert notification[0]["reason"] == "pre_start"


def test_adaptive_guard_never_pre_starts_over_the_daily_cap(aws: Aws) -> None:
    aws.env = adaptive_env(aws, cap=1)
    aws.promote("hourly")
    record_hourly_demand(aws, "hourly", NOW - timedelta(minutes=46))
    aws.dynamodb.update_item(
        TableName=TABLE,
        Key={"project_version_arn": {"S": version_arn("hourly")}},
        UpdateExpression="SET minutes_today = :m, minutes_day = :d",
        ExpressionAttributeValues={":m": {"N": "61"}, ":d": {"S": NOW.date().isoformat()}},
    )
    aws.list_versions(("hourly", "STOPPED"))

    [outcome] = aws.run()

    assert outcome.decision is not None
    assert outcome.decision.action.value == "keep"


def test_adaptive_guard_only_steers_the_active_version(aws: Aws) -> None:
    aws.env = adaptive_env(aws)
    aws.promote("other")
    record_hourly_demand(aws, "hourly", NOW - timedelta(minutes=46))
    aws.list_versions(("hourly", "STOPPED"))

    [outcome] = aws.run()

    assert outcome.decision is not None
    assert (outcome.decision.action.value, outcome.decision.reason) == ("keep", "not_running")


def test_demand_arriving_between_read_and_write_is_not_lost(aws: Aws) -> None:
    """The guard removes exactly the minutes it folded; the API's later appends stay."""
    from cost_guard.usage_store import read_record, write_accounting

    record_hourly_demand(aws, "hourly", NOW - timedelta(minutes=46), jobs=3, unfolded=3)
    usage, summary, recent = read_record(aws.dynamodb, TABLE, version_arn("hourly"))
    aws.dynamodb.update_item(
        TableName=TABLE,
        Key={"project_version_arn": {"S": version_arn("hourly")}},
        UpdateExpression="SET recent_demand = list_append(recent_demand, :m)",
        ExpressionAttributeValues={":m": {"L": [{"N": "99999999"}]}},
    )

    write_accounting(aws.dynamodb, TABLE, version_arn("hourly"), usage, summary, len(recent))

    item = aws.usage_item("hourly")
    assert item["recent_demand"]["L"] == [{"N": "99999999"}]
    assert UseSummary.from_json(item["use_summary"]["S"]) == summary


def test_at_most_a_bounded_number_of_demand_minutes_are_folded_per_run(aws: Aws) -> None:
    aws.env = adaptive_env(aws)
    aws.promote("hourly")
    record_hourly_demand(aws, "hourly", NOW - timedelta(minutes=46), jobs=80, unfolded=80)
    aws.list_versions(("hourly", "STOPPED"))

    aws.run()

    item = aws.usage_item("hourly")
    assert len(item["recent_demand"]["L"]) == 80 - MAX_FOLDED  # the rest waits for the next run
    assert sum(UseSummary.from_json(item["use_summary"]["S"]).gaps) == MAX_FOLDED - 1
