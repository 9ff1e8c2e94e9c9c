"""AWS failures, by what retrying can do.

Codes from the API references of Rekognition, S3 and DynamoDB, e.g.
https://docs.aws.amazon.com/rekognition/latest/APIReference/API_StartProjectVersion.html,
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_GetItem.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html:

* :data:`THROTTLED`: the caller should slow down and retry (HTTP 429 too);
* :data:`UNAVAILABLE` (and any HTTP 5xx), and botocore's connection errors and
  timeouts :data:`TRANSIENT_SDK_ERRORS`: AWS did not answer; retry later;
* :data:`ACCESS_DENIED`, :data:`NOT_FOUND`: retrying does not help until an
  operator acts.

The inference API turns these into its answers (``inference_api.errors``); the
retraining workflow into Step Functions retries (``retraining.steps``).
"""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

THROTTLED = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "SlowDown",
        "TooManyRequestsException",
    }
)
UNAVAILABLE = frozenset({"InternalServerError", "ServiceUnavailable", "InternalError"})
ACCESS_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "403"})
NOT_FOUND = frozenset({"ResourceNotFoundException", "NoSuchBucket"})
TRANSIENT_SDK_ERRORS = (
    ConnectTimeoutError,
    ReadTimeoutError,
    EndpointConnectionError,
    ConnectionClosedError,
)
"""botocore's errors for a connection that failed or an answer that never came."""


def error_code(exc: ClientError) -> str:
    """The ``Error.Code`` of a botocore ``ClientError`` (``""`` when absent)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    """The HTTP status of a botocore ``ClientError`` (0 when absent)."""
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def is_retryable(exc: BaseException) -> bool:
    """Throttled, unavailable (5xx) or a transient connection error: worth retrying."""
    if isinstance(exc, ClientError):
        code, status = error_code(exc), http_status(exc)
        return code in THROTTLED or code in UNAVAILABLE or status == 429 or status >= 500
    return isinstance(exc, TRANSIENT_SDK_ERRORS)
