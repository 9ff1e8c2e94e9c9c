"""Model versions: the stage's promoted version (the model pointer) and the project's list.

The pointer item is :mod:`shared.pointer`'s; here it is read through
:func:`inference_api.calls.aws` and cached per container for
:data:`MODEL_POINTER_TTL_SECONDS`.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from shared import pointer
from shared.dynamodb_values import number

from inference_api.calls import Clients, Settings, State, aws
from inference_api.errors import ApiError

MODEL_POINTER_TTL_SECONDS = 60


def version_name(arn: str) -> str:
    """``qr-v1`` from ``arn:aws:rekognition:...:project/p/version/qr-v1/1700000000000``."""
    return arn.split("/version/", 1)[-1].split("/", 1)[0]


def active_version(settings: Settings, clients: Clients, state: State) -> str:
    """The promoted project version ARN (cached for a minute).

    :raises ApiError: 409 when no version has been promoted; the DynamoDB
        answers of :func:`aws` (429 throttled, 502 missing table...).
    """
    now = state.clock()
    if state.pointer is None or now - state.pointer[0] > MODEL_POINTER_TTL_SECONDS:
        current = pointer.read(
            partial(aws, clients, "dynamodb", "get_item"), settings.model_usage_table
        )
        state.pointer = (now, current.arn)
        state.known_labels = current.labels
    arn = state.pointer[1]
    if arn is None:
        raise ApiError(
            409,
            "no_active_model",
            "no model version is promoted for this stage; train one and run "
            "'python -m tools.models promote VERSION'",
        )
    return arn


MAX_LISTED_VERSIONS = 100


def list_models(settings: Settings, clients: Clients, state: State) -> dict[str, Any]:
    """The project's versions as a phone user needs them: name, status, created, active.

    No ARNs (they hold the account id), no status messages (they can name
    buckets and manifests) and no inference units: operators see those with
    ``python -m tools.models status``. At most :data:`MAX_LISTED_VERSIONS`,
    newest first (DescribeProjectVersions' order).

    :returns: ``{"active_model_version": name | None, "labels": [the promoted version's
        labels], "versions": [{model_version, status, created_at (ISO 8601), active}],
        "usage": :func:`usage` of the active version}``.
    """
    try:
        active: str | None = active_version(settings, clients, state)
    except ApiError as exc:
        if exc.code != "no_active_model":
            raise
        active = None
    versions = aws(
        clients,
        "rekognition",
        "describe_project_versions",
        ProjectArn=settings.project_arn,
        MaxResults=MAX_LISTED_VERSIONS,
    ).get("ProjectVersionDescriptions", [])
    return {
        "active_model_version": version_name(active) if active else None,
        "labels": sorted(state.known_labels) if active else [],
        "versions": [
            {
                "model_version": version_name(v["ProjectVersionArn"]),
                "status": v["Status"],
                "created_at": v["CreationTimestamp"].isoformat()
                if v.get("CreationTimestamp")
                else None,
                "active": v["ProjectVersionArn"] == active,
            }
            for v in versions
        ],
        "usage": usage(settings, clients, state, active) if active else None,
    }


def usage(settings: Settings, clients: Clients, state: State, arn: str) -> dict[str, Any] | None:
    """Today's and this month's billed inference-unit hours of ``arn`` by the cost guard's
    records (``cost_guard.usage_store``: ``minutes_today`` on ``minutes_day``,
    ``minutes_month`` in ``minutes_month_of``), priced at the stage's
    ``usd_per_inference_unit_hour``; None when the item cannot be read (the list stands)."""
    try:
        item = aws(
            clients,
            "dynamodb",
            "get_item",
            TableName=settings.model_usage_table,
            Key={"project_version_arn": {"S": arn}},
            ProjectionExpression="minutes_today, minutes_day, minutes_month, minutes_month_of",
        ).get("Item", {})
    except ApiError:
        return None
    now = time.gmtime(state.clock())

    def minutes(count: str, of: str, current: str) -> float:
        value = number(item.get(count)) if item.get(of, {}).get("S") == current else None
        return value if value is not None and value >= 0 else 0.0

    units = settings.min_inference_units
    today = minutes("minutes_today", "minutes_day", time.strftime("%Y-%m-%d", now)) / 60 * units
    month = minutes("minutes_month", "minutes_month_of", time.strftime("%Y-%m", now)) / 60 * units
    price = settings.usd_per_inference_unit_hour
    return {
        "today_unit_hours": round(today, 3),
        "month_unit_hours": round(month, 3),
        "usd_per_unit_hour": price,
        "today_usd": round(today * price, 2),
        "month_usd": round(month * price, 2),
    }
