"""Inference API: the routes the phone calls (API Gateway REST, Cognito-authorized).

Routes (all under ``/v1``; bodies are JSON; errors are
``{"error": {"code", "message", "field"}}``):

* ``POST /v1/uploads`` -> presigned S3 PUT under the caller's prefix.
* ``POST /v1/labels`` -> DetectCustomLabels on the stage's active model.
* ``POST /v1/faces/search`` -> SearchFacesByImage (largest face only, said so).
* ``POST /v1/faces/analyze`` -> DetectFaces with all attributes.
* ``GET /v1/models`` -> the project's versions and which is active.

Limits (checked before AWS is called): API Gateway payload 10 MB, Lambda
synchronous payload 6 MB (base64 adds a third, so about 4.5 MB of image),
image limits in :mod:`imaging`.
"""

import json
import os
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from inference_api import service
from inference_api.errors import ApiError
from inference_api.models import FaceAnalyzeRequest, FaceSearchRequest, LabelsRequest, UploadRequest

logger = Logger()
tracer = Tracer()
metrics = Metrics()
_ORIGINS = [o for o in os.environ.get("ALLOWED_ORIGINS", "").split(",") if o]
app = APIGatewayRestResolver(
    enable_validation=True,
    cors=CORSConfig(
        allow_origin=_ORIGINS[0],
        extra_origins=_ORIGINS[1:],
        allow_headers=["Authorization", "Content-Type"],
        # A page on another origin (the local preview) must read the delay of a 503/429.
        expose_headers=["Retry-After"],
        max_age=3600,
    )
    if _ORIGINS
    else None,
)
STATE = service.State()


@cache
def settings() -> service.Settings:
    """Read once per container from the environment the stack sets."""
    env = os.environ
    return service.Settings(
        project_arn=env["PROJECT_ARN"],
        collection_id=env["COLLECTION_ID"],
        model_usage_table=env["MODEL_USAGE_TABLE"],
        faces_table=env["FACES_TABLE"],
        uploads_bucket=env["UPLOADS_BUCKET"],
        auto_start=env.get("AUTO_START_ON_DEMAND", "false") == "true",
        min_inference_units=int(env.get("MIN_INFERENCE_UNITS", "1")),
        upload_url_expiry_seconds=int(env.get("UPLOAD_URL_EXPIRY_SECONDS", "300")),
    )


S3_CONFIG = Config(signature_version="s3v4", s3={"addressing_style": "virtual"})
"""SigV4 presigning, so Content-Type and Content-Length are signed headers."""


@cache
def clients() -> service.Clients:
    return service.Clients(
        boto3.client("rekognition"), boto3.client("s3", config=S3_CONFIG), boto3.client("dynamodb")
    )


def _user_id() -> str:
    claims = (
        (app.current_event.request_context.authorizer.claims or {}) if app.current_event else {}
    )
    sub = claims.get("sub")
    if not sub:
        raise ApiError(401, "unauthenticated", "no signed-in user on this request")
    return str(sub)


def _content_type_error(event: Mapping[str, Any]) -> ApiError | None:
    """A body that is not declared as JSON: 415 before any route runs."""
    if event.get("httpMethod") != "POST":
        return None
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    content_type = str(headers.get("content-type") or "")
    if content_type.split(";")[0].strip().lower() == "application/json":
        return None
    return ApiError(
        415,
        "unsupported_media_type",
        f"send the body as application/json, not {content_type or 'no content type'}",
        "Content-Type",
    )


@app.post("/v1/uploads")
@tracer.capture_method
def create_upload(body: Annotated[UploadRequest, Body()]) -> dict[str, Any]:
    return service.presign_upload(
        settings(), clients(), _user_id(), body.content_type, body.content_length
    )


@app.post("/v1/labels")
@tracer.capture_method
def labels(body: Annotated[LabelsRequest, Body()]) -> dict[str, Any]:
    result = service.detect_labels(
        settings(), clients(), STATE, _user_id(), body.image, body.min_confidence, body.max_results
    )
    metrics.add_metric(name="CustomLabelsInferences", unit=MetricUnit.Count, value=1)
    return result


@app.post("/v1/faces/search")
@tracer.capture_method
def faces_search(body: Annotated[FaceSearchRequest, Body()]) -> dict[str, Any]:
    return service.search_faces(
        settings(), clients(), _user_id(), body.image, body.max_faces, body.face_match_threshold
    )


@app.post("/v1/faces/analyze")
@tracer.capture_method
def faces_analyze(body: Annotated[FaceAnalyzeRequest, Body()]) -> dict[str, Any]:
    return service.analyze_faces(settings(), clients(), _user_id(), body.image)


@app.get("/v1/models")
@tracer.capture_method
def models() -> dict[str, Any]:
    _user_id()
    return service.list_models(settings(), clients(), STATE)


def _error(error: ApiError) -> Response[Any]:
    return Response(
        status_code=error.status,
        content_type="application/json",
        body=error.body(),
        headers=error.headers,
    )


@app.exception_handler(ApiError)
def handle_api_error(error: ApiError) -> Response[Any]:
    if error.status in (500, 502):
        logger.error(
            "request failed upstream",
            extra={"code": error.code, "detail": error.message, "cause": error.cause},
        )
    elif error.status == 503:
        logger.info("model not running", extra={"code": error.code, **error.details})
    return _error(error)


@app.exception_handler(RequestValidationError)
def handle_validation_error(error: RequestValidationError) -> Response[Any]:
    first = error.errors()[0] if error.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body",)]
    if first.get("type") == "json_invalid":
        return _error(ApiError(400, "invalid_json", "the body is not valid JSON", "body"))
    message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    return _error(ApiError(400, "invalid_request", message, ".".join(location) or "body"))


@app.exception_handler(BotoCoreError)
def handle_botocore_error(error: BotoCoreError) -> Response[Any]:
    logger.exception("AWS SDK error")
    return _error(ApiError(502, "upstream_error", "an AWS call failed; try again later"))


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
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy event in, proxy response out."""
    rejected = _content_type_error(event)
    if rejected is not None:
        return _proxy_response(rejected)
    try:
        return app.resolve(dict(event), context)
    except Exception:  # the last line of defence: never a bare 500 or a stack trace
        logger.exception("unhandled error")
        return _proxy_response(
            ApiError(500, "internal_error", "unexpected error; it was logged with the request id")
        )


def _proxy_response(error: ApiError) -> dict[str, Any]:
    """An error as an API Gateway proxy response, outside the resolver."""
    return {
        "statusCode": error.status,
        "headers": {"Content-Type": "application/json", **error.headers},
        "body": json.dumps(error.body()),
    }
