"""The API's error type, its catalogue of error codes, and the mapping of AWS failures.

Every error leaves the API as ``{"error": {"code", "message", "field"}}``
with the status :data:`CATALOGUE` gives its code, never a stack trace or a
bare 500. Nothing AWS says reaches the client: AWS's error code and message
(which can hold ARNs, account ids and bucket names) go to the log through
:attr:`ApiError.cause`; the client gets our own message.

AWS errors, by what retrying can do (the classes of :mod:`shared.aws_errors`):

* throttling (``ThrottlingException``, ``ProvisionedThroughputExceededException``,
  ``RequestLimitExceeded``, ``LimitExceededException``, ``SlowDown``, HTTP 429):
  429 ``throttled`` with ``Retry-After``;
* AWS unavailable (HTTP 5xx, ``InternalServerError``, ``ServiceUnavailable``)
  and botocore's connection errors and timeouts (``ConnectTimeoutError``,
  ``ReadTimeoutError``, ``EndpointConnectionError``, ...): 503
  ``upstream_unavailable`` with ``Retry-After``;
* Rekognition refusing the image: 400 ``invalid_image`` / 413 ``image_too_large``;
* everything else (access denied, a missing table/collection/bucket, a
  malformed request of ours, missing credentials): 502, retrying does not
  help until an operator acts; the cause is in the log.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError
from shared.aws_errors import (
    ACCESS_DENIED,
    NOT_FOUND,
    THROTTLED,
    TRANSIENT_SDK_ERRORS,
    UNAVAILABLE,
    error_code,
    http_status,
)

THROTTLED_RETRY_AFTER_SECONDS = 2
UNAVAILABLE_RETRY_AFTER_SECONDS = 5

CATALOGUE: dict[str, tuple[int, str]] = {
    "invalid_json": (400, "the body is empty or not JSON (malformed, nested too deep, bad UTF-8)"),
    "invalid_request": (400, "the JSON does not match the route's schema; field names which"),
    "invalid_base64": (400, "image.bytes is not base64 (line breaks are accepted)"),
    "invalid_image": (400, "Rekognition could not read the image"),
    "corrupt_image": (400, "the JPEG or PNG header cannot be read"),
    "image_too_small": (400, "a side is under the API's minimum (64 px labels, 80 px faces)"),
    "image_dimensions": (400, "a side is over 4096 px (labels) or 8192 px (codes)"),
    "image_aspect_ratio": (400, "the aspect ratio is over 20:1 (labels)"),
    "invalid_label": (400, "a label that cannot be a folder name (1-100 letters, digits, _-. )"),
    "unknown_label": (400, "not a label of the project; new_label: true proposes a new one"),
    "label_required": (400, "confirming an item with no label, or correcting without one"),
    "unauthenticated": (401, "no signed-in user on the request"),
    "forbidden_key": (403, "image.s3_key is not under the caller's own uploads"),
    "not_reviewer": (403, "the caller is not in the Cognito group 'reviewers'"),
    "upload_not_found": (404, "no such upload (never made, or expired)"),
    "feedback_not_found": (404, "no feedback item with that id"),
    "not_found": (404, "no such route"),
    "no_active_model": (409, "no model version is promoted for the stage"),
    "already_reviewed": (409, "the feedback item was reviewed already (by someone else)"),
    "payload_too_large": (413, "the request is over API Gateway's 10 MB (answered by the gateway)"),
    "image_too_large": (413, "the image is over the API's byte limit (4 MB labels, 5 MB faces)"),
    "unsupported_media_type": (415, "the body is not sent as application/json"),
    "unsupported_format": (415, "the image is not JPEG or PNG"),
    "throttled": (429, "AWS or DynamoDB is throttling; retry after Retry-After seconds"),
    "internal_error": (500, "a bug; logged with the request id"),
    "upstream_access_denied": (502, "the function may not call an AWS API it needs (see logs)"),
    "upstream_not_found": (502, "an AWS resource of the stage is missing (see logs)"),
    "upstream_error": (502, "an AWS call failed in a way retrying does not fix (see logs)"),
    "model_starting": (503, "the model was stopped and this request started it; Retry-After"),
    "model_not_running": (503, "the model is not running (starting, stopping...); Retry-After"),
    "upstream_unavailable": (503, "AWS did not answer in time or had an outage; Retry-After"),
}
"""Every error code the API answers with: code -> (HTTP status, when). The
OpenAPI document lists them per status; a test checks each answer against it."""


@dataclass
class ApiError(Exception):
    """An error answer: HTTP ``status``, machine ``code``, human ``message``.

    :ivar field: the request field at fault (dotted path), if any.
    :ivar headers: extra response headers (``Retry-After``).
    :ivar details: extra members of the ``error`` object (model status...).
    :ivar cause: logged, never sent to the client (the AWS error behind a 502...).
    :ivar aws_code: the AWS error code behind the answer, if any (for callers
        that treat one code specially).
    """

    status: int
    code: str
    message: str
    field: str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    details: dict[str, object] = dataclasses.field(default_factory=dict)
    cause: str | None = None
    aws_code: str | None = None

    def body(self) -> dict[str, object]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "field": self.field,
                **self.details,
            }
        }


IMAGE_ERRORS: dict[str, tuple[int, str, str]] = {
    "InvalidImageFormatException": (
        400,
        "invalid_image",
        "Rekognition could not decode the image; send a JPEG or PNG",
    ),
    "ImageTooLargeException": (
        413,
        "image_too_large",
        "the image is over Rekognition's size or pixel limits",
    ),
    "InvalidS3ObjectException": (400, "invalid_image", "Rekognition could not read the upload"),
    "InvalidParameterException": (
        400,
        "invalid_image",
        "Rekognition refused the image (too small a face, or unreadable)",
    ),
}


def _retry_later(status: int, code: str, message: str, seconds: int) -> Callable[..., ApiError]:
    def answer(cause: str | None = None, aws_code: str | None = None) -> ApiError:
        headers = {"Retry-After": str(seconds)}
        return ApiError(status, code, message, headers=headers, cause=cause, aws_code=aws_code)

    return answer


throttled = _retry_later(
    429,
    "throttled",
    "AWS is throttling requests; retry after the delay given",
    THROTTLED_RETRY_AFTER_SECONDS,
)
"""429 ``throttled`` with ``Retry-After`` (``cause`` and ``aws_code`` for the log)."""
unavailable = _retry_later(
    503,
    "upstream_unavailable",
    "AWS did not answer in time; retry after the delay given",
    UNAVAILABLE_RETRY_AFTER_SECONDS,
)
"""503 ``upstream_unavailable`` with ``Retry-After`` (``cause`` and ``aws_code`` for the log)."""


def from_aws(exc: Exception, operation: str, field_name: str = "image") -> ApiError:
    """The answer for a failed AWS call (see the module docstring).

    :param exc: a botocore ``ClientError`` or ``BotoCoreError`` (anything else
        is a bug and becomes 502 ``upstream_error``).
    :param operation: the AWS operation, for the log (``DetectCustomLabels``).
    :param field_name: the request field an image error names.
    """
    if isinstance(exc, ClientError):
        code, http = error_code(exc), http_status(exc)
        message = exc.response.get("Error", {}).get("Message", "")
        cause = f"{operation}: {code} (HTTP {http}): {message}"
        if code in THROTTLED or http == 429:
            return throttled(cause, code)
        if code in IMAGE_ERRORS:
            status, api_code, message = IMAGE_ERRORS[code]
            return ApiError(status, api_code, message, field_name, cause=cause, aws_code=code)
        if code in ACCESS_DENIED:
            return ApiError(
                502,
                "upstream_access_denied",
                "the service is not allowed to make an AWS call it needs; the cause is logged",
                cause=cause,
                aws_code=code,
            )
        if code in NOT_FOUND:
            return ApiError(
                502,
                "upstream_not_found",
                "an AWS resource of this stage is missing; the cause is logged",
                cause=cause,
                aws_code=code,
            )
        if code in UNAVAILABLE or http >= 500:
            return unavailable(cause, code)
        return ApiError(
            502,
            "upstream_error",
            "an AWS call failed; the cause is logged",
            cause=cause,
            aws_code=code,
        )
    cause = f"{operation}: {type(exc).__name__}: {exc}"
    if isinstance(exc, TRANSIENT_SDK_ERRORS):
        return unavailable(cause, type(exc).__name__)
    kind = type(exc).__name__ if isinstance(exc, BotoCoreError) else "unexpected"
    return ApiError(
        502, "upstream_error", "an AWS call failed; the cause is logged", cause=cause, aws_code=kind
    )
