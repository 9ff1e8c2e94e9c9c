"""``POST /v1/labels``: DetectCustomLabels on the promoted version, and what a stopped model means.

A request the model is not running for is recorded as demand (the adaptive
idle policy learns from it); with ``auto_start_on_demand`` it also starts the
model (``sustained``: once requests came in enough different minutes). It is
answered 200 with ``source: "provisional"`` from the nearest labelled photos
where the stage has them (:mod:`inference_api.provisional`), else, or when the
client sends ``require_model``, 503 with ``Retry-After``.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from shared.dynamodb_values import number, numbers
from shared.imaging import CUSTOM_LABELS

from inference_api import feedback
from inference_api.calls import Clients, Settings, State, aws
from inference_api.errors import ApiError
from inference_api.images import bounding_box, rekognition_image
from inference_api.model_versions import active_version, version_name

USAGE_WRITE_INTERVAL_SECONDS = 60
STARTING_RETRY_AFTER_SECONDS = 120
START_FAILED_RETRY_AFTER_SECONDS = 10
"""A start that failed transiently (throttled, AWS busy): the retry starts it again."""
SUSTAINED_RETRY_AFTER_SECONDS = 60
"""A stopped model waiting for sustained demand: a retry a minute later counts again."""
DEFAULT_START_MINUTES = 15.0
"""A start's expected length before the cost guard has measured one (AWS: minutes,
up to about 30; the median of the guard's ``start_latencies`` once it has some)."""
USAGE_ATTRIBUTES = "minutes_today, minutes_day, demand_window, start_requested_at, start_latencies"


def _update_usage(
    settings: Settings, clients: Clients, arn: str, condition: str | None, **update: Any
) -> bool:
    """One UpdateItem on ``arn``'s usage item; False when its condition failed (another
    container wrote it first)."""
    if condition is not None:
        update["ConditionExpression"] = condition
    try:
        aws(
            clients,
            "dynamodb",
            "update_item",
            TableName=settings.model_usage_table,
            Key={"project_version_arn": {"S": arn}},
            **update,
        )
    except ApiError as exc:
        if exc.aws_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _record_use(
    settings: Settings,
    clients: Clients,
    state: State,
    arn: str,
    *,
    served: bool = True,
    attempt: int = 1,
) -> None:
    """Record one request for ``arn`` in its usage item (``cost_guard.usage_store``).

    * **Demand** (what the adaptive policy learns from): one event per request, at
      its first attempt (``attempt == 1``), served or not. Its epoch minute is
      appended to ``recent_demand`` at most once per minute (``demand_minute``
      guards it across containers), exactly the minutes the cost simulator replays;
      and to ``demand_window``, which ``sustained`` auto-start reads (the guard folds
      ``recent_demand`` away each run, and trims ``demand_window`` to the last hour).
    * **Clocks**: a served request sets ``last_inference_at`` (the idle timeout's
      clock); one answered 503, first attempt or retry, sets ``last_demand_at`` (a
      client is waiting: the guard does not stop the model under it). At most one
      write per clock per minute.

    A failed write is reported to ``state.on_usage_write_failure`` and retried
    by the next request; it never fails the (already billed) inference.
    """
    now = state.clock()
    minute = int(now // 60)
    clock = "last_inference_at" if served else "last_demand_at"
    try:
        if attempt == 1 and state.usage_written.get(f"{arn}#minute", -1) < minute:
            state.usage_written[f"{arn}#minute"] = minute
            appended = _update_usage(
                settings,
                clients,
                arn,
                "attribute_not_exists(demand_minute) OR demand_minute < :minute",
                UpdateExpression=(
                    f"SET {clock} = :now, demand_minute = :minute, recent_demand = "
                    "list_append(if_not_exists(recent_demand, :empty), :minutes), "
                    "demand_window = list_append(if_not_exists(demand_window, :empty), :minutes)"
                ),
                ExpressionAttributeValues={
                    ":now": {"N": str(int(now))},
                    ":minute": {"N": str(minute)},
                    ":minutes": {"L": [{"N": str(minute)}]},
                    ":empty": {"L": []},
                },
            )
            if appended:
                state.usage_written[f"{arn}#{clock}"] = now
                return
        previous = state.usage_written.get(f"{arn}#{clock}", 0)
        if now - previous < USAGE_WRITE_INTERVAL_SECONDS:
            return
        state.usage_written[f"{arn}#{clock}"] = now
        _update_usage(
            settings,
            clients,
            arn,
            f"attribute_not_exists({clock}) OR {clock} < :due",
            UpdateExpression=f"SET {clock} = :now",
            ExpressionAttributeValues={
                ":now": {"N": str(int(now))},
                ":due": {"N": str(int(now) - USAGE_WRITE_INTERVAL_SECONDS)},
            },
        )
    except ApiError as exc:
        state.usage_written.pop(f"{arn}#minute", None)
        state.usage_written.pop(f"{arn}#{clock}", None)
        if state.on_usage_write_failure is not None:
            state.on_usage_write_failure(exc)


def _usage_item(settings: Settings, clients: Clients, arn: str) -> dict[str, Any]:
    """The attributes of ``arn``'s usage item the start decision and the wait estimate read."""
    item: dict[str, Any] = aws(
        clients,
        "dynamodb",
        "get_item",
        TableName=settings.model_usage_table,
        Key={"project_version_arn": {"S": arn}},
        ProjectionExpression=USAGE_ATTRIBUTES,
    ).get("Item", {})
    return item


def _cap_spent(settings: Settings, state: State, item: dict[str, Any]) -> bool:
    """Whether today's ``daily_unit_hour_cap`` is billed by the cost guard's last
    accounting (the usage item's ``minutes_today`` on ``minutes_day``, UTC)."""
    today = time.strftime("%Y-%m-%d", time.gmtime(state.clock()))
    if item.get("minutes_day", {}).get("S") != today:
        return False
    minutes = float(item.get("minutes_today", {}).get("N", "0"))
    return minutes / 60 * settings.min_inference_units >= settings.daily_unit_hour_cap


def sustained(settings: Settings, state: State, item: dict[str, Any]) -> bool:
    """Whether first attempts came in at least ``sustained_minutes_with_requests``
    different minutes of the last ``sustained_within_minutes``, by the usage item's
    ``demand_window`` (read after this request's own minute was recorded, when it is a
    first attempt); always true when the setting is 0."""
    needed = settings.sustained_minutes_with_requests
    if needed <= 0:
        return True
    now_minute = int(state.clock() // 60)
    window = settings.sustained_within_minutes
    minutes = {int(m) for m in numbers(item, "demand_window") if 0 <= now_minute - m < window}
    return len(minutes) >= needed


def ready_in_minutes(state: State, item: dict[str, Any]) -> int | None:
    """Minutes until a starting model is expected to run: the median measured start
    (or :data:`DEFAULT_START_MINUTES`) less the time since the start was requested; at
    least 1. None when no start is recorded."""
    requested = number(item.get("start_requested_at"))
    if requested is None:
        return None
    latencies = numbers(item, "start_latencies")
    typical = statistics.median(latencies) if latencies else DEFAULT_START_MINUTES
    elapsed = (state.clock() - requested) / 60
    return max(1, math.ceil(typical - elapsed))


def _model_not_running(settings: Settings, clients: Clients, state: State, arn: str) -> ApiError:
    """The 503 for DetectCustomLabels' ``ResourceNotReadyException``; starts the model if allowed.

    Every failure on the way is still a 503 with ``Retry-After`` (the model is
    not running whatever else happened), except access and configuration
    errors, which are 502 because retrying cannot help.
    """
    name = version_name(arn)
    try:
        versions = aws(
            clients,
            "rekognition",
            "describe_project_versions",
            ProjectArn=settings.project_arn,
            VersionNames=[name],
        ).get("ProjectVersionDescriptions", [])
        status = versions[0]["Status"] if versions else "UNKNOWN"
        cause = None
    except ApiError as exc:
        if exc.status == 502:
            return exc
        status, cause = "UNKNOWN", exc.cause
    details: dict[str, object] = {"model_status": status, "model_version": name}
    retry = {"Retry-After": str(STARTING_RETRY_AFTER_SECONDS)}
    if status == "STARTING":
        try:
            details["ready_in_minutes"] = ready_in_minutes(
                state, _usage_item(settings, clients, arn)
            )
        except ApiError:
            details["ready_in_minutes"] = None  # the estimate only; the answer stands
    if status in {"STOPPED", "TRAINING_COMPLETED"} and settings.auto_start:
        try:
            item = _usage_item(settings, clients, arn)
            spent = _cap_spent(settings, state, item)
        except ApiError as exc:
            if exc.status == 502:
                return exc
            return ApiError(
                503,
                "model_not_running",
                "the model is stopped and today's spend could not be checked; retry after "
                "the delay to start it",
                headers={"Retry-After": str(START_FAILED_RETRY_AFTER_SECONDS)},
                details=details,
                cause=exc.cause,
            )
        if spent:
            return ApiError(
                503,
                "model_not_running",
                f"the model is stopped and today's cap of {settings.daily_unit_hour_cap:g} "
                "inference-unit hours is spent; it can start again tomorrow (UTC) or when an "
                "operator raises daily_unit_hour_cap",
                headers=retry,
                details={**details, "reason": "daily_cap"},
            )
        if not sustained(settings, state, item):
            return ApiError(
                503,
                "model_not_running",
                "the model is stopped; it starts once requests come in "
                f"{settings.sustained_minutes_with_requests} different minutes of "
                f"{settings.sustained_within_minutes} (auto_start_on_demand: sustained)",
                headers={"Retry-After": str(SUSTAINED_RETRY_AFTER_SECONDS)},
                details={**details, "reason": "sustained_demand"},
            )
        try:
            aws(
                clients,
                "rekognition",
                "start_project_version",
                ProjectVersionArn=arn,
                MinInferenceUnits=settings.min_inference_units,
            )
        except ApiError as exc:
            if exc.aws_code == "ResourceInUseException":
                pass  # another request started it first: it is starting
            elif exc.aws_code == "LimitExceededException":
                return ApiError(
                    503,
                    "model_not_running",
                    "the model is stopped and could not be started: the account's "
                    "Rekognition limit (inference units or concurrent starts) is reached; "
                    "retry later or ask an operator",
                    headers=retry,
                    details=details,
                    cause=exc.cause,
                )
            elif exc.status == 502:
                return exc
            else:
                return ApiError(
                    503,
                    "model_not_running",
                    "the model is stopped and starting it failed for now; retry after the "
                    "delay to start it again",
                    headers={"Retry-After": str(START_FAILED_RETRY_AFTER_SECONDS)},
                    details=details,
                    cause=exc.cause,
                )
        else:
            _record_start(settings, clients, state, arn)
        return ApiError(
            503,
            "model_starting",
            "the model was stopped and is starting now (this takes minutes); retry after the delay",
            headers=retry,
            details={
                **details,
                "model_status": "STARTING",
                "ready_in_minutes": ready_in_minutes(state, item)
                or math.ceil(DEFAULT_START_MINUTES),
            },
        )
    return ApiError(
        503,
        "model_not_running",
        f"the model is {status}; retry after the delay"
        + ("" if settings.auto_start else " or ask an operator to start it"),
        headers=retry,
        details=details,
        cause=cause,
    )


def _record_start(settings: Settings, clients: Clients, state: State, arn: str) -> None:
    """``start_requested_at`` on the usage item: the guard measures the start's latency
    and, billed from the start request, counts the cap from it."""
    now = int(state.clock())
    try:
        _update_usage(
            settings,
            clients,
            arn,
            None,
            UpdateExpression="SET start_requested_at = :now",
            ExpressionAttributeValues={":now": {"N": str(now)}},
        )
    except ApiError as exc:
        if state.on_usage_write_failure is not None:
            state.on_usage_write_failure(exc)


def detect_labels(
    settings: Settings,
    clients: Clients,
    state: State,
    user_id: str,
    image: Any,
    min_confidence: float | None,
    max_results: int | None,
    attempt: int = 1,
    require_model: bool = False,
) -> dict[str, Any]:
    """DetectCustomLabels on the active version; labels sorted by confidence.

    ``attempt`` is the client's (1 for a new request): demand is recorded once per
    request, not again for its retries (:func:`_record_use`).

    An answer whose best label is under ``settings.review_below_confidence``
    is queued for review (:func:`inference_api.feedback.queue_low_confidence`).

    :returns: ``{"source": "model", "model_version": name, "labels": [{name,
        confidence, bounding_box}], "review_requested": bool}``; while the model is not
        RUNNING, :func:`provisional_answer`'s answer where the stage has one and the
        client did not send ``require_model``.
    :raises ApiError: 503 while the model is not running and there is no provisional
        answer (``details.provisional`` says why, when one was tried).
    """
    rekognition_input = rekognition_image(settings, clients, user_id, image, CUSTOM_LABELS)
    arn = active_version(settings, clients, state)
    params: dict[str, Any] = {"ProjectVersionArn": arn, "Image": rekognition_input}
    if min_confidence is not None:
        params["MinConfidence"] = min_confidence
    if max_results is not None:
        params["MaxResults"] = max_results
    try:
        response = aws(clients, "rekognition", "detect_custom_labels", **params)
    except ApiError as exc:
        if exc.aws_code == "ResourceNotReadyException":
            _record_use(settings, clients, state, arn, served=False, attempt=attempt)
            not_running = _model_not_running(settings, clients, state, arn)
            if settings.provisional_enabled and not require_model and not_running.status == 503:
                return provisional_answer(
                    settings,
                    clients,
                    state,
                    rekognition_input,
                    not_running,
                    min_confidence,
                    max_results,
                )
            raise not_running from None
        raise
    _record_use(settings, clients, state, arn, attempt=attempt)
    labels = sorted(response.get("CustomLabels", []), key=lambda label: -label["Confidence"])
    answer = [
        {
            "name": label["Name"],
            "confidence": label["Confidence"],
            "bounding_box": bounding_box(label.get("Geometry", {}).get("BoundingBox")),
        }
        for label in labels
    ]
    return {
        "source": "model",
        "model_version": version_name(arn),
        "labels": answer,
        "review_requested": feedback.queue_low_confidence(
            settings, clients, state, user_id, rekognition_input, arn, answer
        ),
    }


def provisional_answer(
    settings: Settings,
    clients: Clients,
    state: State,
    rekognition_input: dict[str, Any],
    not_running: ApiError,
    min_confidence: float | None,
    max_results: int | None,
) -> dict[str, Any]:
    """The 200 answered instead of ``not_running`` (the model's 503) from the nearest
    labelled photos (:func:`inference_api.provisional.answer`).

    :returns: ``{"source": "provisional", "model_version", "model_status",
        "ready_in_minutes" (int or None), "start_reason" (why it is not starting, or
        None), "labels", "neighbours", "review_requested": False}``.
    :raises ApiError: ``not_running``, with ``details.provisional`` the reason, when
        there is no provisional answer (told to ``state.on_provisional_failure``).
    """
    from inference_api import provisional  # only while the model is not running

    try:
        voted = provisional.answer(
            settings, clients, rekognition_input, min_confidence, max_results
        )
    except provisional.NoProvisionalAnswerError as exc:
        not_running.details["provisional"] = exc.reason
        if state.on_provisional_failure is not None:
            state.on_provisional_failure(exc.reason, exc.cause)
        raise not_running from None
    details = not_running.details
    return {
        "source": "provisional",
        "model_version": details["model_version"],
        "model_status": details["model_status"],
        "ready_in_minutes": details.get("ready_in_minutes"),
        "start_reason": details.get("reason"),
        **voted,
        "review_requested": False,
    }
