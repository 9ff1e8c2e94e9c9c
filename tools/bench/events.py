"""API Gateway REST proxy events (with Cognito claims) and a Lambda context.

What the benchmarks invoke the handlers with (``tools.bench.api``), and what
the handler tests build their requests from (``tests/support/api_events.py``).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from typing import Any

from PIL import Image

USER = "11111111-2222-3333-4444-555555555555"
OTHER_USER = "99999999-8888-7777-6666-555555555555"


def rest_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    user: str | None = USER,
    content_type: str | None = "application/json",
    raw_body: str | None = None,
    groups: str | None = None,
) -> dict[str, Any]:
    """``groups``: the ``cognito:groups`` claim as API Gateway REST passes it (a string:
    ``"reviewers"``, or ``"[a reviewers]"`` for several)."""
    headers = {"Host": "abc123.execute-api.ap-northeast-1.amazonaws.com"}
    if content_type:
        headers["Content-Type"] = content_type
    claims: dict[str, str] | None = (
        {"sub": user, "email": "someone@example.com", "token_use": "id"} if user else None
    )
    if claims is not None and groups is not None:
        claims["cognito:groups"] = groups
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "authorizer": {"claims": claims} if claims else None,
            "httpMethod": method,
            "path": f"/dev{path}",
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "requestTimeEpoch": 1763800000000,
            "resourcePath": path,
            "stage": "dev",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "phone"},
        },
        "body": raw_body
        if raw_body is not None
        else (json.dumps(body) if body is not None else None),
        "isBase64Encoded": False,
    }


def image_bytes(width: int, height: int, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class LambdaContext:
    function_name: str = "inference-api"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:ap-northeast-1:123456789012:function:inference-api"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    remaining_ms: int = 28_000
    """What Lambda's ``get_remaining_time_in_millis`` answers (the function's timeout is 28 s)."""

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


API_DEFAULTS: dict[str, Any] = {
    "auto_start": True,
    "min_inference_units": 1,
    "upload_url_expiry_seconds": 300,
    "training_bucket": "",
    "feedback_table": "",
    "review_below_confidence": 0,
    "daily_unit_hour_cap": 8,
    "sustained_minutes_with_requests": 0,
    "sustained_within_minutes": 15,
    "provisional_enabled": False,
    "provisional_k": 5,
    "provisional_min_similarity": 0.6,
    "embedding_model": "titan-multimodal-g1",
    "photo_index_arn": "",
    "usd_per_inference_unit_hour": 4,
}
"""The API function's settings a bench or test does not care about (a dev-like stage
without provisional answers); each names its own project, tables and bucket."""


def api_settings(**fields: Any) -> Any:
    """``inference_api.calls.Settings`` from :data:`API_DEFAULTS` and ``fields``."""
    from inference_api.calls import Settings

    return Settings(**{**API_DEFAULTS, **fields})


GROUP_FACES = (
    (0.08, 0.22, 0.2, 0.3),
    (0.4, 0.18, 0.22, 0.33),
    (0.72, 0.26, 0.18, 0.27),
)
"""Boxes (left, top, width, height ratios) of the three faces :func:`group_photo` draws:
the boxes of ``assets/web/recorded/rekognition/faces-search.json``."""


def group_photo(width: int = 960, height: int = 640) -> bytes:
    """A JPEG of three drawn "faces" (skin-coloured ovals with eyes) at :data:`GROUP_FACES`:
    the offline preview's and the tests' group photo (no real person's face)."""
    from PIL import ImageDraw

    image = Image.new("RGB", (width, height), (90, 120, 150))
    draw = ImageDraw.Draw(image)
    for left, top, w, h in GROUP_FACES:
        x0, y0, x1, y1 = left * width, top * height, (left + w) * width, (top + h) * height
        draw.ellipse((x0, y0, x1, y1), fill=(236, 196, 160))
        eye = (x1 - x0) / 10
        for cx in (x0 + (x1 - x0) * 0.33, x0 + (x1 - x0) * 0.67):
            cy = y0 + (y1 - y0) * 0.4
            draw.ellipse((cx - eye, cy - eye, cx + eye, cy + eye), fill=(40, 30, 30))
        draw.arc(
            (
                x0 + (x1 - x0) * 0.3,
                y0 + (y1 - y0) * 0.55,
                x1 - (x1 - x0) * 0.3,
                y1 - (y1 - y0) * 0.15,
            ),
            20,
            160,
            fill=(150, 60, 60),
            width=3,
        )
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
