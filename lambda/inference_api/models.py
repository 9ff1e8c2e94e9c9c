"""Request bodies of the API (pydantic, validated from the raw JSON by :mod:`inference_api.body`).

Schemas are built when first used (``defer_build``): a cold start pays only
for the model of the route it serves. ``tools.openapi`` writes them into
``docs/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

S3_KEY_MAX_BYTES = 1024
"""S3 object keys are at most 1,024 bytes of UTF-8
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html)."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ImageRef(_Body):
    """An image as base64 ``bytes`` or as ``s3_key`` of an upload; exactly one."""

    bytes: str | None = Field(
        default=None,
        description="standard base64 of a JPEG or PNG; line breaks (Android's "
        "Base64.DEFAULT, MIME) are ignored; at most 4 MB (labels) or 5 MB (faces) decoded",
    )
    s3_key: str | None = Field(
        default=None,
        description="key returned by POST /v1/uploads (at most 1,024 bytes of UTF-8)",
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Show the size of ``bytes``, not megabytes of base64 (in logs)."""
        for name, value in super().__repr_args__():
            if name == "bytes" and isinstance(value, str):
                yield name, f"<{len(value)} base64 characters>"
            else:
                yield name, value

    @field_validator("s3_key")
    @classmethod
    def _s3_key_bytes(cls, key: str | None) -> str | None:
        if key is None:
            return key
        try:
            size = len(key.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValueError("not valid Unicode (it holds a lone surrogate)") from None
        if size > S3_KEY_MAX_BYTES:
            raise ValueError(f"{size} bytes of UTF-8; S3 keys are at most {S3_KEY_MAX_BYTES} bytes")
        return key

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageRef:
        if (self.bytes is None) == (self.s3_key is None):
            raise ValueError("give exactly one of image.bytes or image.s3_key")
        return self


class UploadRequest(_Body):
    content_type: Literal["image/jpeg", "image/png"]
    content_length: int = Field(gt=0, le=15 * 1024 * 1024, description="bytes, at most 15 MB")


class LabelsRequest(_Body):
    image: ImageRef
    min_confidence: float | None = Field(default=None, ge=0, le=100)
    max_results: int | None = Field(default=None, ge=1, le=1000)


class FaceSearchRequest(_Body):
    image: ImageRef
    max_faces: int = Field(default=5, ge=1, le=4096)
    face_match_threshold: float = Field(default=80, ge=0, le=100)


class FaceAnalyzeRequest(_Body):
    image: ImageRef
