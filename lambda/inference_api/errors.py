"""The API's error type and the mapping of Rekognition errors to HTTP answers.

Every error leaves the API as ``{"error": {"code", "message", "field"}}``
with a fitting status, never a stack trace or a bare 500.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class ApiError(Exception):
    """An error answer: HTTP ``status``, machine ``code``, human ``message``.

    :ivar field: the request field at fault (dotted path), if any.
    :ivar headers: extra response headers (``Retry-After``).
    :ivar details: extra members of the ``error`` object (model status...).
    """

    status: int
    code: str
    message: str
    field: str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    details: dict[str, object] = dataclasses.field(default_factory=dict)
    cause: str | None = None
    """Logged, never sent to the client (e.g. the AWS error behind a 502)."""

    def body(self) -> dict[str, object]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "field": self.field,
                **self.details,
            }
        }


THROTTLED = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "LimitExceededException"}
)


def from_rekognition(code: str, message: str, field_name: str = "image") -> ApiError:
    """Map a Rekognition error code to an answer (the caller handles model-not-running)."""
    if code in THROTTLED:
        return ApiError(
            429,
            "throttled",
            "Rekognition is throttling requests; retry after the delay given",
            headers={"Retry-After": "2"},
        )
    if code in {
        "InvalidImageFormatException",
        "ImageTooLargeException",
        "InvalidParameterException",
    }:
        return ApiError(
            400, "invalid_image", f"Rekognition rejected the image: {message}", field_name
        )
    if code == "InvalidS3ObjectException":
        return ApiError(
            400, "invalid_image", f"Rekognition cannot read the upload: {message}", field_name
        )
    if code == "AccessDeniedException":
        return ApiError(
            502, "upstream_access_denied", "the service is not allowed to call Rekognition"
        )
    if code == "ResourceNotFoundException":
        return ApiError(
            502, "upstream_not_found", "a Rekognition resource of this stage is missing (see logs)"
        )
    return ApiError(502, "upstream_error", "Rekognition failed; try again later")
