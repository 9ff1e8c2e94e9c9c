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
``last_demand_at``        N     epoch seconds of the last 503 answered (inference API,
                                retries included: a client is waiting)
``demand_minute``         N     epoch minute of the last demand appended (inference API)
``start_requested_at``    N     epoch seconds of the start under way (API or guard)
``checked_at``            N     epoch seconds of the guard's previous run
``start_latencies``       L     minutes each recent start took, as the guard measured
``recent_demand``         L     epoch minutes of demand not yet folded (inference API
                                appends at most one a minute; the guard folds them)
``minutes_month``         N     billed minutes in ``minutes_month_of`` (cost guard)
``minutes_month_of``      S     UTC month ``YYYY-MM`` of ``minutes_month``
``demand_window``         L     epoch minutes with demand, the last hour's (inference API
                                appends with ``recent_demand``; the guard trims it)
``use_summary``           S     the adaptive policy's bounded summary (JSON, a few KB;
                                :class:`cost_guard.adaptive.UseSummary`)
========================  ====  ==================================================

One more item, key ``"active"``, is the stage's model pointer
(:mod:`shared.pointer` reads and writes it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from shared import pointer
from shared.dynamodb_values import number

from cost_guard.adaptive import UseSummary
from cost_guard.policy import DEMAND_WINDOW_MINUTES, Usage

LATEST_EPOCH_SECONDS = 4_102_444_800
"""2100-01-01: a larger "epoch second" is no time of ours (milliseconds, say)."""


def _number(item: dict[str, Any], name: str) -> float | None:
    """Attribute ``name`` as a finite number, or None when it is absent or malformed
    (a string, a map, NaN): one bad attribute never stops the guard's run."""
    return number(item.get(name))


def _time(item: dict[str, Any], name: str) -> datetime | None:
    """Attribute ``name`` as an instant (epoch seconds); None when absent, malformed or
    impossible (negative, or past 2100: milliseconds written as seconds)."""
    value = _number(item, name)
    if value is None or not 0 <= value < LATEST_EPOCH_SECONDS:
        return None
    return datetime.fromtimestamp(value, UTC)


def read_active_version(dynamodb: Any, table: str) -> str | None:
    """The promoted project version ARN, or None if none was promoted."""
    return pointer.read(dynamodb.get_item, table).arn


MAX_FOLDED = 50
"""Demand minutes removed from ``recent_demand`` per write (UpdateExpression stays small);
more wait for the next run."""


def read_usage(dynamodb: Any, table: str, arn: str) -> Usage:
    """The usage record of ``arn``; an empty :class:`Usage` if there is none."""
    return read_record(dynamodb, table, arn)[0]


def read_record(dynamodb: Any, table: str, arn: str) -> tuple[Usage, UseSummary, list[int]]:
    """The usage record of ``arn``, its demand summary and the demand minutes not yet
    folded into it (oldest first); empty ones if there is no item."""
    item = dynamodb.get_item(
        TableName=table, Key={"project_version_arn": {"S": arn}}, ConsistentRead=True
    ).get("Item", {})
    return parse_record(item)


def parse_record(item: dict[str, Any]) -> tuple[Usage, UseSummary, list[int]]:
    """:func:`read_record` of an item already read; never raises on a malformed item: each
    attribute that cannot be read is left out (the guard then treats the version as
    unused since it first sees it, so a billed idle model is still stopped)."""
    raw_summary = item.get("use_summary")
    text = raw_summary.get("S") if isinstance(raw_summary, dict) else None
    try:
        summary = UseSummary.from_json(text if isinstance(text, str) else None)
    except (TypeError, ValueError, AttributeError, RecursionError):
        summary = UseSummary()
    demand = item.get("recent_demand")
    entries = demand.get("L", []) if isinstance(demand, dict) else []
    recent = []
    for entry in entries if isinstance(entries, list) else []:
        minute = number(entry)
        if minute is not None and 0 <= minute < LATEST_EPOCH_SECONDS / 60:
            recent.append(int(minute))
    return _usage(item), summary, recent


def _usage(item: dict[str, Any]) -> Usage:
    raw_day = item.get("minutes_day")
    day_text = raw_day.get("S") if isinstance(raw_day, dict) else None
    try:
        day = date.fromisoformat(day_text) if isinstance(day_text, str) else None
    except ValueError:
        day = None
    minutes = _number(item, "minutes_today")
    raw_latencies = item.get("start_latencies")
    listed = raw_latencies.get("L", []) if isinstance(raw_latencies, dict) else []
    latencies = tuple(
        x
        for x in (number(v) for v in (listed if isinstance(listed, list) else []))
        if x is not None and 0 < x < 24 * 60
    )
    raw_month = item.get("minutes_month_of")
    month = raw_month.get("S") if isinstance(raw_month, dict) else None
    month_minutes = _number(item, "minutes_month")
    raw_window = item.get("demand_window")
    window_entries = raw_window.get("L", []) if isinstance(raw_window, dict) else []
    window = tuple(
        int(m)
        for m in (number(v) for v in (window_entries if isinstance(window_entries, list) else []))
        if m is not None and 0 <= m < LATEST_EPOCH_SECONDS / 60
    )
    return Usage(
        last_inference_at=_time(item, "last_inference_at"),
        running_since=_time(item, "running_since"),
        minutes_today=minutes if minutes is not None and minutes >= 0 else 0.0,
        day=day,
        accounted_at=_time(item, "accounted_at"),
        last_demand_at=_time(item, "last_demand_at"),
        start_requested_at=_time(item, "start_requested_at"),
        checked_at=_time(item, "checked_at"),
        start_latencies=latencies,
        minutes_month=month_minutes if month_minutes is not None and month_minutes >= 0 else 0.0,
        month=month if isinstance(month, str) and len(month) == 7 else None,
        demand_window=window,
    )


def write_accounting(
    dynamodb: Any,
    table: str,
    arn: str,
    usage: Usage,
    summary: UseSummary | None = None,
    folded: int = 0,
) -> None:
    """Store the guard's attributes of ``usage`` (``last_inference_at`` is the API's), and
    with ``summary`` the demand summary, removing the ``folded`` oldest demand minutes.

    The API only appends to ``recent_demand``, so the first ``folded`` entries are the
    ones the guard read and folded.
    """
    values: dict[str, Any] = {
        ":minutes": {"N": f"{usage.minutes_today:.3f}"},
        ":day": {"S": (usage.day or datetime.now(UTC).date()).isoformat()},
    }
    sets = ["minutes_today = :minutes", "minutes_day = :day"]
    removes: list[str] = []
    sets.append("start_latencies = :latencies")
    values[":latencies"] = {"L": [{"N": f"{x:.2f}"} for x in usage.start_latencies]}
    if usage.month is not None:
        sets += ["minutes_month = :month_minutes", "minutes_month_of = :month"]
        values[":month_minutes"] = {"N": f"{usage.minutes_month:.3f}"}
        values[":month"] = {"S": usage.month}
    if usage.checked_at is not None:
        # Leading entries older than the window (the API appends in minute order).
        oldest = int(usage.checked_at.timestamp() // 60) - DEMAND_WINDOW_MINUTES
        stale = next(
            (i for i, m in enumerate(usage.demand_window) if m >= oldest),
            len(usage.demand_window),
        )
        removes.extend(f"demand_window[{i}]" for i in range(min(stale, MAX_FOLDED)))
    for name, moment in (
        ("running_since", usage.running_since),
        ("accounted_at", usage.accounted_at),
        ("start_requested_at", usage.start_requested_at),
        ("checked_at", usage.checked_at),
    ):
        if moment is None:
            removes.append(name)
        else:
            sets.append(f"{name} = :{name}")
            values[f":{name}"] = {"N": str(int(moment.timestamp()))}
    if summary is not None:
        sets.append("use_summary = :summary")
        values[":summary"] = {"S": summary.to_json()}
        removes.extend(f"recent_demand[{i}]" for i in range(min(folded, MAX_FOLDED)))
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    dynamodb.update_item(
        TableName=table,
        Key={"project_version_arn": {"S": arn}},
        UpdateExpression=expression,
        ExpressionAttributeValues=values,
    )
