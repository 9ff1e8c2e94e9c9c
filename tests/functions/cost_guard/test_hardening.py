"""Second-round hardening of the cost guard (issue #22, items 10-13).

A malformed usage item never stops a run, an instant in the future never keeps a
model running, the over-cap figure survives a failed stop, and keep-warm windows
keep only the active version.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cost_guard.policy import Action, ModelVersion, PolicySettings, accrue, decide
from cost_guard.usage_store import parse_record
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.functions.cost_guard.test_handler import (  # noqa: F401  (the aws fixture)
    NOW,
    TABLE,
    Aws,
    aws,
    version_arn,
)

ATTRIBUTES = (
    "last_inference_at",
    "running_since",
    "minutes_today",
    "minutes_day",
    "accounted_at",
    "last_demand_at",
    "start_requested_at",
    "checked_at",
    "start_latencies",
    "use_summary",
    "recent_demand",
)
NUMBERS = st.one_of(
    st.integers(-(10**13), 10**13).map(str),  # seconds, milliseconds, nonsense
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.just(str(NOW.timestamp() + 6 * 3600)),  # six hours in the future
    st.text(max_size=8),
)
VALUES = st.one_of(
    NUMBERS.map(lambda n: {"N": n}),
    st.text(max_size=12).map(lambda t: {"S": t}),
    st.just({"L": [{"N": "x"}, {"S": "y"}, {"N": "1e30"}]}),
    st.just({"M": {}}),
    st.just({"BOOL": True}),
    st.just("not a DynamoDB value"),
)
ITEMS = st.dictionaries(st.sampled_from(ATTRIBUTES), VALUES, max_size=len(ATTRIBUTES))
POLICY = PolicySettings(idle_stop_minutes=15, daily_unit_hour_cap=24, billing="running")
PERIOD = 5


@settings(max_examples=300, deadline=None)
@given(item=ITEMS)
def test_no_billed_idle_model_survives_any_usage_item(item: dict[str, Any]) -> None:
    """Whatever the item holds, it is read without raising, and a RUNNING model nobody
    uses is stopped within idle_stop_minutes plus one period of the guard's first run."""
    usage, _, _ = parse_record(item)
    for tick in range(0, POLICY.idle_stop_minutes + 2 * PERIOD, PERIOD):
        now = NOW + timedelta(minutes=tick)
        usage = accrue(usage, now, "RUNNING", POLICY.billing)
        decision = decide(now, ModelVersion("v", "RUNNING", 1, True, usage), POLICY)
        if decision.action == Action.STOP:
            assert tick <= POLICY.idle_stop_minutes + PERIOD
            return
    pytest.fail(f"still running after {tick} minutes: {decision}")


def test_a_last_use_in_the_future_counts_as_now() -> None:
    usage, _, _ = parse_record(
        {"last_inference_at": {"N": str((NOW + timedelta(hours=6)).timestamp())}}
    )

    later = NOW + timedelta(minutes=15)
    stopped = decide(
        later, ModelVersion("v", "RUNNING", 1, True, accrue(usage, NOW, "RUNNING")), POLICY
    )

    assert stopped.reason == "idle"


@pytest.mark.parametrize(
    "item",
    [
        {"last_inference_at": {"N": "1763467200000"}},  # milliseconds
        {"minutes_today": {"S": "many"}},
        {"use_summary": {"S": "[1, 2"}},
        {"recent_demand": {"L": [{"N": "soon"}]}},
        {"start_latencies": {"S": "fast"}},
    ],
    ids=["ms-timestamp", "string-minutes", "broken-summary", "bad-demand", "bad-latencies"],
)
def test_one_malformed_item_never_stops_the_run(aws: Aws, item: dict[str, Any]) -> None:
    aws.dynamodb.put_item(
        TableName=TABLE, Item={"project_version_arn": {"S": version_arn("bad")}, **item}
    )
    aws.record_usage(
        "idle",
        last_inference_at=NOW - timedelta(hours=2),
        running_since=NOW - timedelta(hours=3),
        accounted_at=NOW - timedelta(minutes=5),
    )
    aws.list_versions(("bad", "RUNNING"), ("idle", "RUNNING"))
    aws.expect_stop("idle")

    outcomes = aws.run()

    assert [o.error for o in outcomes] == [None, None]
    assert outcomes[0].decision is not None
    assert outcomes[1].decision is not None
    assert outcomes[1].decision.action == Action.STOP


def test_a_failed_stop_still_reports_the_unit_hours_for_the_cap_alarm(aws: Aws) -> None:
    aws.record_usage(
        "capped",
        running_since=NOW - timedelta(hours=12),
        accounted_at=NOW - timedelta(minutes=5),
        minutes_today=24 * 60 - 5,
        minutes_day=0,
    )
    aws.dynamodb.update_item(
        TableName=TABLE,
        Key={"project_version_arn": {"S": version_arn("capped")}},
        UpdateExpression="SET minutes_day = :d",
        ExpressionAttributeValues={":d": {"S": NOW.date().isoformat()}},
    )
    aws.list_versions(("capped", "RUNNING"))
    aws.stubber.add_client_error("stop_project_version", "ThrottlingException", "slow down", 400)

    [outcome] = aws.run()

    assert outcome.error is not None
    assert outcome.unit_hours_today == pytest.approx(24)


def test_keep_warm_windows_keep_only_the_active_version() -> None:
    from datetime import time

    from cost_guard.policy import KeepWarmWindow, Usage

    window = KeepWarmWindow(frozenset({"Wed"}), time(0), time(23, 59), "UTC")
    warm = PolicySettings(idle_stop_minutes=15, daily_unit_hour_cap=24, keep_warm_windows=(window,))
    idle = Usage(running_since=NOW - timedelta(hours=2), last_inference_at=NOW - timedelta(hours=1))

    assert decide(NOW, ModelVersion("a", "RUNNING", 1, True, idle), warm).reason == "keep_warm"
    assert decide(NOW, ModelVersion("b", "RUNNING", 1, False, idle), warm).reason == "idle"
