"""The photo of a request: base64 bytes or the caller's own upload, checked before AWS sees it.

Uploads live under ``users/<Cognito sub>/`` of the uploads bucket
(:data:`shared.layout.UPLOADS_PREFIX`); a caller may name only their own.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from shared.imaging import ImageError, ImageInfo, ImageLimits, check_image
from shared.layout import user_prefix

from inference_api.calls import Clients, Settings, aws
from inference_api.errors import ApiError, from_aws


def presign_upload(
    settings: Settings, clients: Clients, user_id: str, content_type: str, content_length: int
) -> dict[str, Any]:
    """A presigned PUT for one photo under the caller's prefix.

    Content-Type and Content-Length are signed: S3 refuses a PUT whose headers differ.
    """
    extension = "png" if content_type == "image/png" else "jpg"
    key = f"{user_prefix(user_id)}{uuid.uuid4()}.{extension}"
    try:
        url = clients.s3.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": settings.uploads_bucket,
                "Key": key,
                "ContentType": content_type,
                "ContentLength": content_length,
            },
            ExpiresIn=settings.upload_url_expiry_seconds,
            HttpMethod="PUT",
        )
    except (ClientError, BotoCoreError) as exc:  # no credentials to sign with
        raise from_aws(exc, "generate_presigned_url") from None
    return {
        "url": url,
        "method": "PUT",
        "s3_key": key,
        "headers": {"Content-Type": content_type, "Content-Length": str(content_length)},
        "expires_in": settings.upload_url_expiry_seconds,
    }


_WHITESPACE = str.maketrans("", "", " \t\r\n")


def decode_base64(text: str) -> bytes:
    """Image bytes from standard base64 (RFC 4648 section 4, ``+/`` and ``=`` padding).

    Line breaks and other ASCII whitespace are ignored, so line-wrapped
    base64 (Android's ``Base64.DEFAULT``, MIME) is accepted.

    :raises ApiError: 400 ``invalid_base64`` naming ``image.bytes``; a
        ``data:`` URL prefix and URL-safe base64 (``-_``) are named as such.
    """
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.b64decode(text.translate(_WHITESPACE), validate=True)
    except (binascii.Error, ValueError):
        pass
    if text.startswith("data:"):
        hint = "send the base64 alone, without the data: URL prefix"
    elif "-" in text or "_" in text:
        hint = "it looks like URL-safe base64; use the standard alphabet (+ and /)"
    else:
        hint = "use standard base64 (A-Z a-z 0-9 + / and = padding; line breaks are allowed)"
    raise ApiError(400, "invalid_base64", f"image.bytes is not valid base64: {hint}", "image.bytes")


NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound", "403", "AccessDenied"})
"""HeadObject on a missing key answers 403 (not 404) to a role without
``s3:ListBucket`` (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).
The function may read ``users/*`` and is deliberately not allowed to list the
bucket (it would see every user's keys), so a 403 on the caller's own key
means the upload does not exist (expired or never made)."""


class UploadsBucket(Protocol):
    """What :func:`own_upload` reads of a function's settings."""

    @property
    def uploads_bucket(self) -> str: ...


def own_upload(
    settings: UploadsBucket,
    clients: Clients,
    user_id: str,
    key: str,
    limits: ImageLimits,
    field_name: str,
) -> int:
    """Check that ``key`` is one of the caller's uploads, exists and fits ``limits``.

    :returns: its size in bytes (HeadObject's ``ContentLength``).
    :raises ApiError: 403 ``forbidden_key`` outside the caller's prefix, 404
        ``upload_not_found``, 413 ``image_too_large`` over ``limits.max_s3_bytes``.
    """
    if not key.startswith(user_prefix(user_id)) or ".." in key:
        raise ApiError(403, "forbidden_key", f"{field_name} is not one of your uploads", field_name)
    try:
        head = aws(clients, "s3", "head_object", Bucket=settings.uploads_bucket, Key=key)
    except ApiError as exc:
        if exc.aws_code in NOT_FOUND_CODES:
            raise ApiError(
                404,
                "upload_not_found",
                "no upload with that key (it may have expired)",
                field_name,
                cause=exc.cause,
            ) from None
        raise
    size = int(head["ContentLength"])
    if size > limits.max_s3_bytes:
        raise ApiError(
            413,
            "image_too_large",
            f"upload is {size} bytes; {limits.api} accepts at most "
            f"{limits.max_s3_bytes} bytes from S3",
            field_name,
        )
    return size


def checked_image(data: bytes, limits: ImageLimits, field_name: str) -> ImageInfo:
    """:func:`shared.imaging.check_image` with its refusal as the API's error naming ``field_name``.

    :raises ApiError: 413 over the byte limit, 415 not JPEG/PNG, 400 sides or ratio.
    """
    try:
        return check_image(data, limits)
    except ImageError as exc:
        raise ApiError(exc.status, exc.code, str(exc), field_name) from None


def rekognition_image(
    settings: UploadsBucket, clients: Clients, user_id: str, image: Any, limits: ImageLimits
) -> dict[str, Any]:
    """The ``Image`` argument for Rekognition, checked against ``limits``.

    :param image: an :class:`inference_api.schema.ImageRef`.
    :raises ApiError: 400 bad base64, 413/415/400 image limits, 403 a key
        outside the caller's prefix, 404 no such upload, 413 upload too big.
    """
    if image.bytes is not None:
        data = decode_base64(image.bytes)
        checked_image(data, limits, "image.bytes")
        return {"Bytes": data}
    key = image.s3_key or ""
    own_upload(settings, clients, user_id, key, limits, "image.s3_key")
    return {"S3Object": {"Bucket": settings.uploads_bucket, "Name": key}}


def read_upload(
    settings: UploadsBucket,
    clients: Clients,
    key: str,
    field_name: str,
    first_bytes: int | None = None,
) -> bytes:
    """GetObject of an upload the caller owns (:func:`own_upload` checked it): all of it,
    or its ``first_bytes``.

    An upload gone since HeadObject (NoSuchKey, or the 403 S3 gives a role that
    may not list) is 404; an empty one read by range (S3 answers 416
    ``InvalidRange``) is 400 ``corrupt_image``. A timeout while the body streams
    is botocore's ``ReadTimeoutError``, which the handler answers 503 like any.
    """
    params: dict[str, Any] = {"Bucket": settings.uploads_bucket, "Key": key}
    if first_bytes is not None:
        params["Range"] = f"bytes=0-{first_bytes - 1}"
    try:
        answer = aws(clients, "s3", "get_object", **params)
    except ApiError as exc:
        if exc.aws_code in NOT_FOUND_CODES:
            raise ApiError(
                404, "upload_not_found", "no upload with that key", field_name, cause=exc.cause
            ) from None
        if exc.aws_code == "InvalidRange":
            raise ApiError(
                400, "corrupt_image", "the upload is empty", field_name, cause=exc.cause
            ) from None
        raise
    data: bytes = answer["Body"].read()
    return data


def bounding_box(box: dict[str, float] | None) -> dict[str, float] | None:
    """Rekognition's ``BoundingBox`` (ratios of the image) in the API's lower-case keys."""
    if not box:
        return None
    return {"left": box["Left"], "top": box["Top"], "width": box["Width"], "height": box["Height"]}
