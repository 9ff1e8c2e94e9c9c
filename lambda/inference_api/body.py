"""Reading a request body: media type, API Gateway's base64 transport, JSON, schema.

One pass, one parser: pydantic validates the raw JSON text (its Rust
parser) straight into the route's model, so malformed JSON, nesting deeper
than the parser's recursion limit, integers too large to be a field's value,
bad UTF-8 and a top-level array or scalar all end as a 400 naming the field,
never as a 500, and an array is never cut to its first element.

Errors (:class:`inference_api.errors.ApiError`):

* 415 ``unsupported_media_type`` (field ``Content-Type``): not
  ``application/json``; the media type is matched case-insensitively
  (RFC 9110 section 8.3.1) and a ``charset`` other than UTF-8 is refused
  (JSON is UTF-8, RFC 8259 section 8.1);
* 400 ``invalid_json`` (field ``body``): empty, not JSON, or
  ``isBase64Encoded`` with a body that is not base64;
* 400 ``invalid_request`` (the field's dotted path, or ``body``): the JSON
  does not fit the route's model; unknown fields name the allowed ones.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from inference_api.errors import ApiError

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound="BaseModel")


def check_media_type(headers: Mapping[str, str]) -> None:
    """Accept ``application/json`` with no charset or ``charset=utf-8``, in any letter case.

    :param headers: the request headers, looked up case-insensitively by the caller.
    :raises ApiError: 415 ``unsupported_media_type``.
    """
    value = str(headers.get("content-type") or "")
    media_type, *parameters = (part.strip() for part in value.split(";"))
    charsets = [
        p.split("=", 1)[1].strip().strip('"').lower()
        for p in parameters
        if p.lower().startswith("charset=")
    ]
    if media_type.lower() == "application/json" and all(c in {"utf-8", "utf8"} for c in charsets):
        return
    raise ApiError(
        415,
        "unsupported_media_type",
        f"send the body as application/json (UTF-8), not {value or 'no Content-Type'}",
        "Content-Type",
    )


def raw_body(event: Mapping[str, Any]) -> str | bytes:
    """The body as sent: API Gateway's ``body``, base64-decoded when ``isBase64Encoded``.

    :raises ApiError: 400 ``invalid_json`` for an empty body or bad base64 transport.
    """
    body = event.get("body")
    if not body:
        raise ApiError(400, "invalid_json", "the body is empty; send a JSON object", "body")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(
                400,
                "invalid_json",
                "the body is marked base64-encoded (isBase64Encoded) but is not base64",
                "body",
            ) from None
    return str(body)


def parse(event: Mapping[str, Any], headers: Mapping[str, str], model: type[T]) -> T:
    """The request body as ``model``, after :func:`check_media_type` and :func:`raw_body`.

    :raises ApiError: 415 or 400 as the module docstring says.
    """
    from pydantic import ValidationError  # pydantic loads with the first body read

    check_media_type(headers)
    raw = raw_body(event)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise _from_validation(exc, model) from None
    except (ValueError, RecursionError) as exc:  # the parser gave up outside pydantic's errors
        raise ApiError(
            400, "invalid_json", f"the body is not valid JSON ({type(exc).__name__})", "body"
        ) from None


def _from_validation(exc: ValidationError, model: type[BaseModel]) -> ApiError:
    error = exc.errors(include_url=False, include_input=False)[0]
    location = [str(part) for part in error.get("loc", ())]
    field = ".".join(location) or "body"
    kind = error.get("type", "")
    if kind == "json_invalid":
        reason = str(error.get("ctx", {}).get("error", "malformed"))
        return ApiError(400, "invalid_json", f"the body is not valid JSON: {reason}", "body")
    if kind == "model_type" and not location:
        return ApiError(400, "invalid_request", "the body must be a JSON object", "body")
    if kind == "extra_forbidden":
        allowed = _fields_at(model, location[:-1])
        return ApiError(
            400,
            "invalid_request",
            f"unknown field {location[-1]!r}; allowed here: {', '.join(allowed) or 'none'}",
            field,
        )
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return ApiError(400, "invalid_request", message, field)


def _fields_at(model: Any, path: list[str]) -> list[str]:
    """The field names allowed at ``path`` (pydantic's ``loc``: field names, and list
    indexes, which stand for the list's item model)."""
    for name in path:
        if name.isdigit():
            continue
        fields = getattr(model, "model_fields", None)
        if not fields or name not in fields:
            return []
        model = _model_in(fields[name].annotation)
    return list(getattr(model, "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside an annotation (``X``, ``X | None``, ``list[X]``...)."""
    pending = [annotation]
    while pending:
        candidate = pending.pop(0)
        if hasattr(candidate, "model_fields"):
            return candidate
        pending.extend(getattr(candidate, "__args__", ()))
    return annotation
