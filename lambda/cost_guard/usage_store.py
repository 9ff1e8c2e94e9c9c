"""Reading and writing the model usage table (DynamoDB, low-level client).

Item per project version, partition key ``project_version_arn``:

========================  ====  ==================================================
attribute                 type  meaning
========================  ====  ==================================================
``last_inference_at``     N     epoch seconds of the last inference (inference API)
``running_since``         N     epoch seconds, first seen RUNNING (cost guard)
``minutes_today``         N     minutes RUNNING on ``minutes_day`` (cost guard)
``minutes_day``           S     UTC date ``YYYY-MM-DD`` of ``minutes_today``
``accounted_at``          N     epoch seconds up to which minutes are counted
========================  ====  ==================================================

One more item, key :data:`ACTIVE_POINTER_KEY`, is the stage's model pointer:
``active_project_version_arn`` (S) names the promoted version.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from cost_guard.policy import Usage
from cost_guard.table import ACTIVE_POINTER_KEY as ACTIVE_POINTER_KEY


def _time(item: dict[str, Any], name: str) -> datetime | None:
    value = item.get(name, {}).get("N")
    return datetime.fromtimestamp(float(value), UTC) if value is not None else None


def read_active_version(dynamodb: Any, table: str) -> str | None:
    """The promoted project version ARN, or None if none was promoted."""
    item = dynamodb.get_item(
        TableName=table, Key={"project_version_arn": {"S": ACTIVE_POINTER_KEY}}
    ).get("Item", {})
    value: str | None = item.get("active_project_version_arn", {}).get("S")
    return value


def read_usage(dynamodb: Any, table: str, arn: str) -> Usage:
    """The usage record of ``arn``; an empty :class:`Usage` if there is none."""
    item = dynamodb.get_item(
        TableName=table, Key={"project_version_arn": {"S": arn}}, ConsistentRead=True
    ).get("Item", {})
    day = item.get("minutes_day", {}).get("S")
    return Usage(
        last_inference_at=_time(item, "last_inference_at"),
        running_since=_time(item, "running_since"),
        minutes_today=float(item.get("minutes_today", {}).get("N", 0)),
        day=date.fromisoformat(day) if day else None,
        accounted_at=_time(item, "accounted_at"),
    )


def write_accounting(dynamodb: Any, table: str, arn: str, usage: Usage) -> None:
    """Store the guard's attributes of ``usage``; ``last_inference_at`` is the API's."""
    values: dict[str, Any] = {
        ":minutes": {"N": f"{usage.minutes_today:.3f}"},
        ":day": {"S": (usage.day or datetime.now(UTC).date()).isoformat()},
    }
    sets = ["minutes_today = :minutes", "minutes_day = :day"]
    removes = []
    for name, moment in (
        ("running_since", usage.running_since),
        ("accounted_at", usage.accounted_at),
    ):
        if moment is None:
            removes.append(name)
        else:
            sets.append(f"{name} = :{name}")
            values[f":{name}"] = {"N": str(int(moment.timestamp()))}
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    dynamodb.update_item(
        TableName=table,
        Key={"project_version_arn": {"S": arn}},
        UpdateExpression=expression,
        ExpressionAttributeValues=values,
    )
