"""Inference API: the routes the phone calls (API Gateway REST, Cognito-authorized).

Routes (all under ``/v1``; bodies are JSON; errors are
``{"error": {"code", "message", "field"}}`` with the codes of
:data:`inference_api.errors.CATALOGUE`):

* ``POST /v1/uploads`` -> presigned S3 PUT under the caller's prefix.
* ``POST /v1/labels`` -> DetectCustomLabels on the stage's active model; while it is
  not RUNNING, a provisional answer from the nearest labelled photos
  (:mod:`inference_api.provisional`) where the stage has them.
* ``POST /v1/faces/search``, ``/v1/faces/analyze`` -> everyone in the photo
  (the faces function, :mod:`inference_api.faces_handler`).
* ``GET /v1/models`` -> the project's versions by name and which is active.
* ``POST /v1/feedback`` -> the right label for an upload, copied into the
  training data pending review (:mod:`inference_api.feedback`).
* ``GET /v1/review``, ``POST /v1/review`` -> reviewers (Cognito group
  ``reviewers``) list pending feedback and confirm, correct or discard it.

Limits (checked before AWS is called): API Gateway payload 10 MB, Lambda
synchronous payload 6 MB (base64 adds a third, so about 4.5 MB of image),
image limits in :mod:`shared.imaging`.

Every answer to an allowed origin carries CORS headers, errors and 500s
included. X-Ray traces never hold a route's answer (presigned URLs, face
attributes): response capture is off and only botocore is patched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError
from shared import environment

from inference_api import body, calls, images, labels, model_versions
from inference_api.errors import ApiError, from_aws

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from pydantic import BaseModel

logger = Logger()
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()
_ORIGINS = [o for o in os.environ.get("ALLOWED_ORIGINS", "").split(",") if o]
CORS = (
    CORSConfig(
        allow_origin=_ORIGINS[0],
        extra_origins=_ORIGINS[1:],
        allow_headers=["Authorization", "Content-Type"],
        # A page on another origin (the local preview) must read the delay of a 503/429.
        expose_headers=["Retry-After"],
        max_age=3600,
    )
    if _ORIGINS
    else None
)
app = APIGatewayRestResolver(cors=CORS)


def _reported(what: str, metric: str) -> Callable[[ApiError], None]:
    """A write that failed after the (billed) answer: log it, count it; the answer stands."""

    def report(error: ApiError) -> None:
        logger.warning(f"{what} failed", extra={"code": error.aws_code, "cause": error.cause})
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)

    return report


usage_write_failed = _reported("usage write", "UsageWriteFailures")
"""A model's last use could not be recorded."""
review_queue_failed = _reported("review queue write", "ReviewQueueFailures")
"""A low-confidence answer could not be queued for review."""


def provisional_failed(reason: str, cause: str | None) -> None:
    """No provisional answer: the 503 stands; log why and count it by reason."""
    logger.warning("no provisional answer", extra={"reason": reason, "cause": cause})
    metrics.add_metric(name="ProvisionalUnavailable", unit=MetricUnit.Count, value=1)


STATE = calls.State(
    on_usage_write_failure=usage_write_failed,
    on_review_queue_failure=review_queue_failed,
    on_provisional_failure=provisional_failed,
)


@cache
def settings() -> calls.Settings:
    """Read once per container from the environment the stack sets."""
    return environment.load(calls.Settings, os.environ)


S3_CONFIG = calls.BUDGETS["s3"].config(signature_version="s3v4", s3={"addressing_style": "virtual"})
"""SigV4 presigning, so Content-Type and Content-Length are signed headers."""


def seconds_left() -> float:
    """Seconds until Lambda's timeout, from the context the resolver holds for the
    invocation; unbounded when there is none (or it cannot tell)."""
    remaining = getattr(getattr(app, "lambda_context", None), "get_remaining_time_in_millis", None)
    return float("inf") if remaining is None else float(remaining()) / 1000


@cache
def clients() -> calls.Clients:
    provisional = settings().provisional_enabled
    return calls.Clients(
        boto3.client("rekognition", config=calls.BUDGETS["rekognition"].config()),
        boto3.client("s3", config=S3_CONFIG),
        boto3.client("dynamodb", config=calls.BUDGETS["dynamodb"].config()),
        time_left=seconds_left,
        bedrock=boto3.client("bedrock-runtime", config=calls.BUDGETS["bedrock"].config())
        if provisional
        else None,
        s3vectors=boto3.client("s3vectors", config=calls.BUDGETS["s3vectors"].config())
        if provisional
        else None,
    )


def _claims() -> dict[str, Any]:
    """The Cognito authorizer's claims, or ``{}`` when the event has none: a direct
    invocation or a test console event may lack ``requestContext`` or its ``authorizer``."""
    context = app.current_event.raw_event.get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    claims = authorizer.get("claims") if isinstance(authorizer, dict) else None
    return dict(claims) if isinstance(claims, dict) else {}


def _user_id() -> str:
    """The caller's Cognito ``sub`` from the authorizer's claims.

    :raises ApiError: 401 when the event carries no claims (not through the authorizer).
    """
    sub = _claims().get("sub")
    if not sub:
        raise ApiError(401, "unauthenticated", "no signed-in user on this request")
    return str(sub)


M = TypeVar("M", bound="BaseModel")


def _body(model: type[M]) -> M:
    event = app.current_event
    return body.parse(event.raw_event, event.headers, model)


def _schema() -> Any:
    from inference_api import schema  # built when a body is first read

    return schema


@app.post("/v1/uploads")
@tracer.capture_method(capture_response=False)
def create_upload() -> dict[str, Any]:
    user = _user_id()
    request = _body(_schema().UploadRequest)
    return images.presign_upload(
        settings(), clients(), user, request.content_type, request.content_length
    )


@app.post("/v1/labels")
@tracer.capture_method(capture_response=False)
def detect_labels() -> dict[str, Any]:
    user = _user_id()
    request = _body(_schema().LabelsRequest)
    result = labels.detect_labels(
        settings(),
        clients(),
        STATE,
        user,
        request.image,
        request.min_confidence,
        request.max_results,
        request.attempt,
        request.require_model,
    )
    if result["source"] == "model":
        metrics.add_metric(name="CustomLabelsInferences", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="ProvisionalAnswers", unit=MetricUnit.Count, value=1)
    return result


@app.get("/v1/models")
@tracer.capture_method(capture_response=False)
def list_models() -> dict[str, Any]:
    _user_id()
    return model_versions.list_models(settings(), clients(), STATE)


@app.post("/v1/feedback")
@tracer.capture_method(capture_response=False)
def send_feedback() -> dict[str, Any]:
    user = _user_id()
    request = _body(_schema().FeedbackRequest)
    from inference_api import feedback

    result = feedback.submit(settings(), clients(), STATE, user, request)
    metrics.add_dimension(name="label", value=feedback.metric_label(result["label"]))
    metrics.add_metric(name="Feedback", unit=MetricUnit.Count, value=1)
    metrics.add_metric(
        name="FeedbackAgreed", unit=MetricUnit.Count, value=1 if result["agreed"] else 0
    )
    return result


@app.get("/v1/review")
@tracer.capture_method(capture_response=False)
def review_queue() -> dict[str, Any]:
    _user_id()
    from inference_api import review

    return review.list_pending(settings(), clients(), STATE, review.groups(_claims()))


@app.post("/v1/review")
@tracer.capture_method(capture_response=False)
def review_item() -> dict[str, Any]:
    user = _user_id()
    request = _body(_schema().ReviewRequest)
    from inference_api import review

    result = review.review(settings(), clients(), STATE, user, review.groups(_claims()), request)
    metrics.add_metric(name=f"Review{request.action.title()}", unit=MetricUnit.Count, value=1)
    return result


def _error(error: ApiError) -> Response[Any]:
    return Response(
        status_code=error.status,
        content_type="application/json",
        body=error.body(),
        headers=error.headers,
    )


@app.exception_handler(ApiError)
def handle_api_error(error: ApiError) -> Response[Any]:
    return _logged(error)


def _logged(error: ApiError) -> Response[Any]:
    """The answer for ``error``, after logging its cause (which never goes to the client)."""
    extra = {"code": error.code, "status": error.status, "aws_code": error.aws_code}
    if error.status >= 500 and error.status != 503:
        logger.error("request failed upstream", extra={**extra, "cause": error.cause})
    elif error.cause is not None:
        logger.warning("request answered from an AWS error", extra={**extra, "cause": error.cause})
    elif error.status == 503:
        logger.info("model not running", extra={**extra, **error.details})
    return _error(error)


INTERNAL_ERROR = ApiError(
    500, "internal_error", "unexpected error; it was logged with the request id"
)


@app.exception_handler(Exception)
def handle_unexpected(error: Exception) -> Response[Any]:
    """The last line of defence inside the resolver: a JSON 500 (or the AWS answer), with CORS."""
    if isinstance(error, ClientError | BotoCoreError):
        return _logged(from_aws(error, "unmapped call"))
    logger.exception("unhandled error")
    return _error(INTERNAL_ERROR)


@app.not_found
def handle_not_found(_: Exception) -> Response[Any]:
    event = app.current_event
    return _error(
        ApiError(
            404,
            "not_found",
            f"no route {event.http_method} {event.path}; see the API's OpenAPI document",
        )
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy event in, proxy response out."""
    try:
        return app.resolve(dict(event), context)
    except Exception:  # outside the resolver's handlers: never a bare 500 or a stack trace
        logger.exception("unhandled error outside the resolver")
        return _proxy_response(INTERNAL_ERROR, event)


def _proxy_response(error: ApiError, event: Mapping[str, Any]) -> dict[str, Any]:
    """An error as an API Gateway proxy response, outside the resolver (CORS included)."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    cors = CORS.to_dict(headers.get("origin")) if CORS else {}
    return {
        "statusCode": error.status,
        "headers": {"Content-Type": "application/json", **cors, **error.headers},
        "body": json.dumps(error.body()),
    }
