"""Realistic API Gateway REST proxy events (with Cognito claims) for handler tests."""

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


def check_contract(event: dict[str, Any], status: int, body: dict[str, Any]) -> None:
    """The answer is what docs/openapi.json promises for the route: its 200 schema, or an
    error code the route lists, with the catalogue's status, in the error schema."""
    from inference_api.errors import CATALOGUE
    from inference_api.models import ROUTES, ErrorResponse

    route = next(
        (r for r in ROUTES if (r.method, r.path) == (event["httpMethod"], event["path"])), None
    )
    if status == 200:
        assert route is not None
        route.response.model_validate(body)
        return
    ErrorResponse.model_validate(body)
    code = body["error"]["code"]
    assert CATALOGUE[code][0] == status, (code, status)
    if route is None:
        assert code == "not_found"
    else:
        assert code in route.errors, f"{code} is not documented for {route.path}"
