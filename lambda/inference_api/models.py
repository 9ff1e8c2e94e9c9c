"""Request bodies of the API (pydantic; Powertools validates them before a route runs)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageRef(_Body):
    """An image as base64 ``bytes`` or as ``s3_key`` of an upload; exactly one."""

    bytes: str | None = Field(default=None, description="base64 of a JPEG or PNG")
    s3_key: str | None = Field(
        default=None, max_length=1024, description="key returned by POST /v1/uploads"
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Show the size of ``bytes``, not megabytes of base64 (Powertools logs route args)."""
        for name, value in super().__repr_args__():
            if name == "bytes" and isinstance(value, str):
                yield name, f"<{len(value)} base64 characters>"
            else:
                yield name, value

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
