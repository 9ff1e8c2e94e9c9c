"""Face crops: each face Rekognition found, cut out of the photo (Pillow, in the function).

SearchUsersByImage searches only the largest face of the image it is given
(https://docs.aws.amazon.com/rekognition/latest/APIReference/API_SearchUsersByImage.html),
so a group photo is searched one crop per face. Each crop is the face's box
grown by :data:`MARGIN` of its size on every side (context helps the search
find the face again), clipped to the photo, re-encoded as JPEG and, when
smaller than the face APIs' 80 px a side, scaled up to it.

Boxes are ratios of the photo as Rekognition sees it: with its EXIF
orientation applied (``ImageOps.exif_transpose``). Pillow is imported here
only: the labels function never loads it (the faces function has the
project's native layer).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

MARGIN = 0.4
"""Share of the face's width and height added on each side of its box."""
MIN_CROP_SIDE = 80
"""The face APIs' minimum image side (https://docs.aws.amazon.com/rekognition/latest/dg/limits.html)."""
MIN_FACE_SIDE = 40
"""A face under 40 px is not searched: the smallest face Rekognition detects is
about 40 x 40 px in a 1920 x 1080 photo (the same limits page)."""


@dataclass(frozen=True)
class Crop:
    """One face's crop: JPEG bytes, or why there is none."""

    jpeg: bytes | None
    reason: str | None = None
    """``too_small`` when the face is under :data:`MIN_FACE_SIDE` px."""


def crops(data: bytes, boxes: list[dict[str, float]]) -> list[Crop]:
    """A crop per box (``{"Left", "Top", "Width", "Height"}`` ratios), in the same order.

    :raises OSError: Pillow cannot read ``data`` (it passed the header check: corrupt).
    """
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    width, height = image.size
    found: list[Crop] = []
    for box in boxes:
        left, top = box["Left"] * width, box["Top"] * height
        face_w, face_h = box["Width"] * width, box["Height"] * height
        if min(face_w, face_h) < MIN_FACE_SIDE:
            found.append(Crop(None, "too_small"))
            continue
        area = (
            max(0, round(left - MARGIN * face_w)),
            max(0, round(top - MARGIN * face_h)),
            min(width, round(left + face_w * (1 + MARGIN))),
            min(height, round(top + face_h * (1 + MARGIN))),
        )
        crop: Any = image.crop(area)
        short = min(crop.size)
        if short < MIN_CROP_SIDE:
            scale = MIN_CROP_SIDE / short
            crop = crop.resize((round(crop.size[0] * scale), round(crop.size[1] * scale)))
        out = io.BytesIO()
        crop.save(out, format="JPEG", quality=90)
        found.append(Crop(out.getvalue()))
    return found
