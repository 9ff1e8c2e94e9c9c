"""Image limits of the Rekognition APIs, and a check of image bytes against them.

One place for the limits, used by the inference API (before calling AWS) and
by the model tools (before uploading training images).

Sources:

* DetectCustomLabels: image bytes up to 4 MB, S3 objects up to 15 MB, JPEG
  or PNG, 64 to 4096 pixels per side, aspect ratio at most 20:1
  (https://docs.aws.amazon.com/rekognition/latest/customlabels-dg/limits.html).
* Face APIs (DetectFaces, SearchFacesByImage, IndexFaces): bytes up to 5 MB,
  S3 objects up to 15 MB, JPEG or PNG, at least 80 pixels per side
  (https://docs.aws.amazon.com/rekognition/latest/dg/limits.html).
* Code reading (``POST /v1/codes``): decoded in the function, not by
  Rekognition. Bytes up to 5 MB (so the optional DetectText fallback, a
  non-storage Rekognition API, takes the same bytes), uploads up to 15 MB;
  sides from 32 px (smaller holds no readable code) to 8192 px, the project's
  own bound on memory and decode time (an 8192 x 8192 greyscale image is
  64 MB in the function's 1,024 MB).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MB = 1024 * 1024


@dataclass(frozen=True)
class ImageLimits:
    """Limits one Rekognition API puts on an image."""

    api: str
    max_bytes: int
    max_s3_bytes: int
    min_side: int
    max_side: int | None = None
    max_aspect_ratio: float | None = None


CUSTOM_LABELS = ImageLimits(
    "DetectCustomLabels", 4 * MB, 15 * MB, min_side=64, max_side=4096, max_aspect_ratio=20
)
FACES = ImageLimits("face APIs", 5 * MB, 15 * MB, min_side=80)
TRAINING = ImageLimits(
    "Custom Labels training", 15 * MB, 15 * MB, min_side=64, max_side=4096, max_aspect_ratio=20
)
"""Training images: JPEG or PNG, up to 15 MB, 64-4096 px per side, at most 20:1
(https://docs.aws.amazon.com/rekognition/latest/customlabels-dg/limits.html)."""
CODES = ImageLimits("code reading", 5 * MB, 15 * MB, min_side=32, max_side=8192)
"""What ``POST /v1/codes`` decodes (see the module docstring)."""
HEADER_BYTES = 256 * 1024
"""Bytes from the start of a stored image that hold its JPEG or PNG header (what
:func:`read_header` needs; a ranged GET reads no more, the size is checked apart)."""


@dataclass(frozen=True)
class ImageInfo:
    """Format (``"JPEG"`` or ``"PNG"``) and size in pixels read from an image's header."""

    format: str
    width: int
    height: int


class ImageError(ValueError):
    """An image Rekognition would reject.

    :ivar code: machine-readable reason (``unsupported_format``, ``image_too_large``,
        ``image_too_small``, ``image_dimensions``, ``image_aspect_ratio``, ``corrupt_image``).
    :ivar status: the HTTP status that fits (400, 413 or 415).
    """

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


_SIGNATURES = {
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"RIFF": "WebP or another RIFF format",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def read_header(data: bytes) -> ImageInfo:
    """Format and pixel size from the first bytes of a JPEG or PNG.

    :raises ImageError: 415 for another format (named when recognised), 400
        for a JPEG or PNG whose header cannot be read.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ImageError("corrupt_image", "PNG header is truncated or has no IHDR chunk")
        width, height = struct.unpack(">II", data[16:24])
        return ImageInfo("PNG", width, height)
    if data.startswith(b"\xff\xd8"):
        return ImageInfo("JPEG", *_jpeg_size(data))
    found = next((name for sig, name in _SIGNATURES.items() if data.startswith(sig)), None)
    if found is None and data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypheim"):
        found = "HEIC"
    what = f"a {found} image" if found else "not a JPEG or PNG image"
    raise ImageError(
        "unsupported_format", f"the image is {what}; Rekognition accepts JPEG or PNG", 415
    )


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ImageError("corrupt_image", "JPEG marker stream is damaged")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF_MARKERS:
            if i + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        if marker == 0xD9 or length < 2:
            break
        i += 2 + length
    raise ImageError("corrupt_image", "JPEG has no frame header (SOF) with its size")


def check_image(data: bytes, limits: ImageLimits) -> ImageInfo:
    """Check image bytes against ``limits``; return what was read.

    :raises ImageError: 413 over ``max_bytes``; 415 not JPEG/PNG; 400 for
        sides under ``min_side`` or over ``max_side``, or a too-wide aspect
        ratio. The message names the limit and the value found.
    """
    if len(data) > limits.max_bytes:
        raise ImageError(
            "image_too_large",
            f"image is {len(data)} bytes; {limits.api} accepts at most "
            f"{limits.max_bytes} bytes ({limits.max_bytes // MB} MB) as bytes, "
            f"{limits.max_s3_bytes // MB} MB through an upload",
            413,
        )
    info = read_header(data)
    short, long = sorted((info.width, info.height))
    if short < limits.min_side:
        raise ImageError(
            "image_too_small",
            f"image is {info.width}x{info.height} px; {limits.api} needs at least "
            f"{limits.min_side} px per side",
        )
    if limits.max_side is not None and long > limits.max_side:
        raise ImageError(
            "image_dimensions",
            f"image is {info.width}x{info.height} px; {limits.api} accepts at most "
            f"{limits.max_side} px per side",
        )
    if limits.max_aspect_ratio is not None and long / short > limits.max_aspect_ratio:
        raise ImageError(
            "image_aspect_ratio",
            f"image is {info.width}x{info.height} px (ratio {long / short:.1f}:1); "
            f"{limits.api} accepts at most {limits.max_aspect_ratio:g}:1",
        )
    return info
