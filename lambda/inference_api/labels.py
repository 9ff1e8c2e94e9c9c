"""``POST /v1/labels``: DetectCustomLabels on the promoted version, and what a stopped model means.

A request the model is not running for is recorded as demand (the adaptive
idle policy learns from it) and answered 503 with ``Retry-After``; with
``auto_start_on_demand`` it also starts the model.
"""

from __future__ import annotations

from typing import Any

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


def _record_use(
    settings: Settings, clients: Clients, state: State, arn: str, *, served: bool = True
) -> None:
    """Record demand for ``arn``, at most one write per model version per minute.

    ``served``: a successful inference, so also the last inference time (the
    idle timeout's clock). Otherwise a request the model was not running for:
    demand all the same, which the adaptive idle policy learns from. Either way
    the minute is appended to ``recent_demand``, which the cost guard folds into
    the version's bounded summary every run (so the list holds at most a few
    entries per guard period).

    A failed write is reported to ``state.on_usage_write_failure`` and retried
    by the next request; it never fails the (already billed) inference.
    """
    now = state.clock()
    key = arn if served else f"{arn}#demand"
    previous = state.usage_written.get(key, 0)
    if now - previous < USAGE_WRITE_INTERVAL_SECONDS:
        return
    state.usage_written[key] = now
    clock = "last_inference_at" if served else "last_demand_at"
    sets = "last_inference_at = :now, last_demand_at = :now" if served else "last_demand_at = :now"
    try:
        aws(
            clients,
            "dynamodb",
            "update_item",
            TableName=settings.model_usage_table,
            Key={"project_version_arn": {"S": arn}},
            UpdateExpression=(
                f"SET {sets}, recent_demand = list_append("
                "if_not_exists(recent_demand, :empty), :minute)"
            ),
            ConditionExpression=f"attribute_not_exists({clock}) OR {clock} < :due",
            ExpressionAttributeValues={
                ":now": {"N": str(int(now))},
                ":due": {"N": str(int(now) - USAGE_WRITE_INTERVAL_SECONDS)},
                ":minute": {"L": [{"N": str(int(now // 60))}]},
                ":empty": {"L": []},
            },
        )
    except ApiError as exc:
        if exc.aws_code == "ConditionalCheckFailedException":
            return  # another container wrote it this minute
        state.usage_written[key] = previous
        if state.on_usage_write_failure is not None:
            state.on_usage_write_failure(exc)


def _model_not_running(settings: Settings, clients: Clients, arn: str) -> ApiError:
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
    if status in {"STOPPED", "TRAINING_COMPLETED"} and settings.auto_start:
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
        return ApiError(
            503,
            "model_starting",
            "the model was stopped and is starting now (this takes minutes); retry after the delay",
            headers=retry,
            details={**details, "model_status": "STARTING"},
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


def detect_labels(
    settings: Settings,
    clients: Clients,
    state: State,
    user_id: str,
    image: Any,
    min_confidence: float | None,
    max_results: int | None,
) -> dict[str, Any]:
    """DetectCustomLabels on the active version; labels sorted by confidence.

    An answer whose best label is under ``settings.review_below_confidence``
    is queued for review (:func:`inference_api.feedback.queue_low_confidence`).

    :returns: ``{"model_version": name, "labels": [{name, confidence, bounding_box}],
        "review_requested": bool}``.
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
            _record_use(settings, clients, state, arn, served=False)
            raise _model_not_running(settings, clients, arn) from None
        raise
    _record_use(settings, clients, state, arn)
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
        "model_version": version_name(arn),
        "labels": answer,
        "review_requested": feedback.queue_low_confidence(
            settings, clients, state, user_id, rekognition_input, arn, answer
        ),
    }
