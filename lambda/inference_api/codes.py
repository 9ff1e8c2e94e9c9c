"""``POST /v1/codes``: QR codes, barcodes and ISBNs read from the photo, with no model.

A barcode carries its content exactly, with check digits, so a decoder reads
any book's ISBN where a classifier can only name the books it was trained on,
and it answers in milliseconds for the cost of a Lambda invocation, whatever
state the Custom Labels model is in.

* Decoding: ZXing's C++ port (``zxing-cpp``) on the photo's greyscale pixels
  (Pillow decodes the JPEG/PNG and applies its EXIF orientation first, so
  boxes match the photo as the phone shows it). Every code in the photo is
  answered, in the decoder's reading order, with its box and corners
  normalised to the image's width and height like the labels answer.
* ISBNs: an EAN-13 that starts with 978 or 979 and whose check digit holds
  (``python-stdnum``'s ``stdnum.isbn``) gets ``isbn: {isbn13, isbn10}``;
  ``isbn10`` is null for 979 numbers, which have no ISBN-10 form. The 5-digit
  price add-on beside a book's barcode is never read (``EanAddOnSymbol.Ignore``),
  and the second EAN-13 on Japanese books (192..., the classification and
  price code) is answered as a plain EAN-13.
* Printed ISBNs (a colophon page, a worn cover): when the stage turns the
  fallback on, ``ean_13`` is among the asked formats and no barcode gave an
  ISBN, Rekognition DetectText (billed per image, no model to run) reads the
  photo's text lines; ``ISBN 978-4-...`` strings whose check digit holds are
  answered with ``source: "text"``. A failed fallback is logged and said in
  ``text_search``; the barcodes found are answered all the same.

This module is loaded only by the code reader's own function
(:mod:`inference_api.codes_handler`), whose layer holds the native wheels: the
labels function never imports it, so its cold start does not pay for them.
"""

from __future__ import annotations

import dataclasses
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import zxingcpp
from aws_lambda_powertools import Logger
from PIL import Image, ImageOps
from shared.imaging import CODES
from stdnum import isbn as stdnum_isbn

from inference_api.calls import Clients, aws
from inference_api.errors import ApiError
from inference_api.images import checked_image, read_upload, rekognition_image

logger = Logger(child=True)

READ_FORMATS: dict[str, Any] = {
    "qr_code": zxingcpp.BarcodeFormat.QRCode,
    "micro_qr_code": zxingcpp.BarcodeFormat.MicroQRCode,
    "rmqr_code": zxingcpp.BarcodeFormat.RMQRCode,
    "data_matrix": zxingcpp.BarcodeFormat.DataMatrix,
    "aztec": zxingcpp.BarcodeFormat.Aztec,
    "pdf417": zxingcpp.BarcodeFormat.PDF417,
    "ean_13": zxingcpp.BarcodeFormat.EAN13,
    "ean_8": zxingcpp.BarcodeFormat.EAN8,
    "upc_a": zxingcpp.BarcodeFormat.UPCA,
    "upc_e": zxingcpp.BarcodeFormat.UPCE,
    "code_128": zxingcpp.BarcodeFormat.Code128,
    "code_39": zxingcpp.BarcodeFormat.Code39,
    "code_93": zxingcpp.BarcodeFormat.Code93,
    "codabar": zxingcpp.BarcodeFormat.Codabar,
    "itf": zxingcpp.BarcodeFormat.ITF,
    "databar": zxingcpp.BarcodeFormat.DataBar,
}
"""The API's format names (``schema.CodeFormat``) -> what the decoder is asked to read."""
FORMATS = tuple(READ_FORMATS)
_VARIANTS = {
    "qr_code": ("QRCode", "QRCodeModel1", "QRCodeModel2"),
    "aztec": ("Aztec", "AztecCode", "AztecRune"),
    "pdf417": ("PDF417", "CompactPDF417", "MicroPDF417"),
    "ean_13": ("EAN13", "ISBN"),
    "code_39": ("Code39", "Code39Std", "Code39Ext", "Code32", "PZN"),
    "itf": ("ITF", "ITF14"),
    "databar": (
        "DataBar",
        "DataBarOmni",
        "DataBarStk",
        "DataBarStkOmni",
        "DataBarLtd",
        "DataBarExp",
        "DataBarExpStk",
    ),
}
NAME_OF: dict[str, str] = {
    variant: name
    for name, fmt in READ_FORMATS.items()
    for variant in _VARIANTS.get(name, (fmt.name,))
}
"""The decoder's format (and variant) names -> the API's format name."""
UPLOADS = dataclasses.replace(CODES, max_bytes=CODES.max_s3_bytes)
"""An upload's bytes, once read, are checked against the upload limit (15 MB)."""
TEXT_FALLBACK_FORMAT = "text"
ISBN_PREFIXES = ("978", "979")
"""The EAN-13 prefixes of books ("Bookland"): https://www.isbn-international.org/content/what-isbn."""
_PRINTED_ISBN = re.compile(r"ISBN(?:-?1[03])?[\s:]*((?:\d[\s-]?){9,12}[\dX])", re.IGNORECASE)
"""``ISBN 978-4-10-101013-7``, ``ISBN-13: 9784101010137``, ``ISBN4-10-101013-X`` (after NFKC,
so full-width digits and hyphens of Japanese colophons match too)."""


@dataclass(frozen=True)
class CodesSettings:
    """The code reader's configuration (its function's environment, read by
    :func:`shared.environment.load`)."""

    uploads_bucket: str
    text_fallback: bool = field(metadata={"env": "CODES_TEXT_FALLBACK"})
    """Look for printed ISBNs with Rekognition DetectText when no barcode gave one."""


def isbn_of(text: str) -> dict[str, str | None] | None:
    """``{"isbn13", "isbn10"}`` when ``text`` is an ISBN-13 (978/979, check digit holds).

    ``text`` is the digits of an EAN-13. ``isbn10`` is None for 979 numbers.
    """
    if len(text) != 13 or not text.startswith(ISBN_PREFIXES) or not stdnum_isbn.is_valid(text):
        return None
    isbn10 = stdnum_isbn.to_isbn10(text) if text.startswith("978") else None
    return {"isbn13": text, "isbn10": isbn10}


def printed_isbn(line: str) -> dict[str, str | None] | None:
    """The ISBN in a printed text line, as :func:`isbn_of` answers it, if its check digit holds.

    ISBN-10s (older books print them) are answered in both forms.
    """
    match = _PRINTED_ISBN.search(unicodedata.normalize("NFKC", line).replace("\u2010", "-"))
    if match is None:
        return None
    number = stdnum_isbn.compact(match.group(1))
    if not stdnum_isbn.is_valid(number):
        return None
    return isbn_of(stdnum_isbn.to_isbn13(number))


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def _geometry(points: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """Box and polygon (ratios, clamped to 0-1) from corners given as ratios."""
    polygon = [{"x": _clamp(x), "y": _clamp(y)} for x, y in points]
    xs, ys = [p["x"] for p in polygon], [p["y"] for p in polygon]
    return {
        "bounding_box": {
            "left": min(xs),
            "top": min(ys),
            "width": max(xs) - min(xs),
            "height": max(ys) - min(ys),
        },
        "polygon": polygon,
    }


def greyscale(data: bytes) -> Image.Image:
    """The photo as 8-bit greyscale pixels, turned as its EXIF orientation says.

    :raises ApiError: 400 ``corrupt_image`` when the JPEG/PNG cannot be decoded
        past its header (truncated, damaged).
    """
    try:
        with Image.open(io.BytesIO(data)) as opened:
            upright = ImageOps.exif_transpose(opened)
            pixels = upright.convert("L")
            pixels.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ApiError(
            400, "corrupt_image", f"the image cannot be decoded: {type(exc).__name__}", "image"
        ) from None
    return pixels


MATRIX_FORMATS = frozenset(
    {"qr_code", "micro_qr_code", "rmqr_code", "data_matrix", "aztec", "pdf417"}
)
"""2-D symbols carry Reed-Solomon error correction; a linear code has one check digit at
most, so the decoder can now and then read a damaged one two ways."""
BINARIZERS = (
    zxingcpp.Binarizer.LocalAverage,
    zxingcpp.Binarizer.GlobalHistogram,
    zxingcpp.Binarizer.FixedThreshold,
)


def _overlap(a: dict[str, float], b: dict[str, float]) -> float:
    """Intersection over the smaller box (0-1)."""
    width = min(a["left"] + a["width"], b["left"] + b["width"]) - max(a["left"], b["left"])
    height = min(a["top"] + a["height"], b["top"] + b["height"]) - max(a["top"], b["top"])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min(a["width"] * a["height"], b["width"] * b["height"]) or 1e-9
    return min(1.0, width * height / smaller)


def _settle_conflicts(pixels: Image.Image, codes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two different texts read from one linear symbol (same format, overlapping boxes):
    re-read the region with each of :data:`BINARIZERS` and keep only the texts most of
    those reads give. What is dropped is logged by the caller (``conflicting_reads``)."""
    conflicted: set[int] = set()
    for i, a in enumerate(codes):
        for j in range(i + 1, len(codes)):
            b = codes[j]
            if (
                a["format"] == b["format"]
                and a["format"] not in MATRIX_FORMATS
                and a["text"] != b["text"]
                and _overlap(a["bounding_box"], b["bounding_box"]) > 0.5
            ):
                conflicted.update((i, j))
    if not conflicted:
        return codes
    width, height = pixels.size
    kept = [code for k, code in enumerate(codes) if k not in conflicted]
    for k in sorted(conflicted):
        box = codes[k]["bounding_box"]
        margin_x, margin_y = 0.15 * box["width"], box["height"] + 0.05
        region = pixels.crop(
            (
                int(max(0.0, box["left"] - margin_x) * width),
                int(max(0.0, box["top"] - margin_y) * height),
                int(min(1.0, box["left"] + box["width"] + margin_x) * width),
                int(min(1.0, box["top"] + box["height"] + margin_y) * height),
            )
        )
        votes = sum(
            any(
                r.text == codes[k]["_raw"]
                for r in zxingcpp.read_barcodes(region, formats=codes[k]["_read_as"], binarizer=b)
            )
            for b in BINARIZERS
        )
        if votes * 2 > len(BINARIZERS):
            kept.append(codes[k])
    return sorted(kept, key=codes.index)


def read_barcodes(pixels: Image.Image, formats: Sequence[str] = FORMATS) -> list[dict[str, Any]]:
    """Every code of ``formats`` (the API's names) in ``pixels``, in the API's answer shape.

    EAN/UPC texts are the digits printed under the bars: 13 for EAN-13, 12 for
    UPC-A, 8 for UPC-E and EAN-8 (the decoder gives every one as a GTIN-13).
    """
    wanted = set(formats)
    found = zxingcpp.read_barcodes(
        pixels,
        formats=zxingcpp.BarcodeFormats([READ_FORMATS[name] for name in formats]),
        try_rotate=True,
        try_downscale=True,
        try_invert=True,
        ean_add_on_symbol=zxingcpp.EanAddOnSymbol.Ignore,
    )
    width, height = pixels.size
    codes = []
    for barcode in found:
        name = NAME_OF.get(barcode.format.name)
        if name is None or name not in wanted or not barcode.valid:
            continue
        p = barcode.position
        corners = (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
        text = barcode.text
        if name == "ean_13" and text.startswith("0") and "upc_a" in wanted:
            name = "upc_a"  # GS1: a UPC-A is the EAN-13 whose first digit is 0
        if name == "upc_a" and len(text) == 13:
            text = text[1:]
        elif name == "upc_e":
            extra: Any = barcode.extra  # {"UPCE": "01234565"}: the printed 8 digits
            text = str(extra.get("UPCE", text)) if isinstance(extra, dict) else text
        codes.append(
            {
                "format": name,
                "text": text,
                "source": "barcode",
                **_geometry([(c.x / width, c.y / height) for c in corners]),
                "isbn": isbn_of(text) if name == "ean_13" else None,
                "_raw": barcode.text,
                "_read_as": barcode.format,
            }
        )
    settled = _settle_conflicts(pixels, codes)
    if len(settled) < len(codes):
        dropped = [c["format"] for c in codes if c not in settled]
        logger.warning("conflicting reads of one symbol dropped", extra={"formats": dropped})
    for code in settled:
        del code["_raw"], code["_read_as"]
    return settled


def printed_isbns(detections: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Codes (``source: "text"``) for the ISBNs in DetectText's ``LINE`` detections."""
    codes = []
    for detection in detections:
        if detection.get("Type") != "LINE":
            continue
        number = printed_isbn(detection.get("DetectedText", ""))
        if number is None:
            continue
        geometry = detection.get("Geometry", {})
        corners = [(p["X"], p["Y"]) for p in geometry.get("Polygon", [])]
        if not corners:
            box = geometry.get("BoundingBox", {})
            left, top = box.get("Left", 0.0), box.get("Top", 0.0)
            right, bottom = left + box.get("Width", 0.0), top + box.get("Height", 0.0)
            corners = [(left, top), (right, top), (right, bottom), (left, bottom)]
        codes.append(
            {
                "format": TEXT_FALLBACK_FORMAT,
                "text": detection["DetectedText"],
                "source": "text",
                **_geometry(corners),
                "isbn": number,
            }
        )
    return codes


def _image_bytes(
    settings: CodesSettings, clients: Clients, user_id: str, image: Any
) -> tuple[bytes, dict[str, Any]]:
    """The photo's bytes and the ``Image`` argument DetectText would take for it.

    :raises ApiError: as the other image routes refuse an image (bad base64,
        limits, someone else's key, no such upload).
    """
    reference = rekognition_image(settings, clients, user_id, image, CODES)
    if "Bytes" in reference:
        return reference["Bytes"], reference
    data = read_upload(settings, clients, image.s3_key, "image.s3_key")
    checked_image(data, UPLOADS, "image.s3_key")
    return data, reference


def read_codes(
    settings: CodesSettings,
    clients: Clients,
    user_id: str,
    image: Any,
    formats: Sequence[str] | None,
    on_text_search_failure: Any = None,
) -> dict[str, Any]:
    """The ``POST /v1/codes`` answer for one photo.

    :param image: an :class:`inference_api.schema.ImageRef`.
    :param formats: the API's format names; None reads every one of :data:`FORMATS`.
    :param on_text_search_failure: told the :class:`ApiError` of a failed DetectText.
    :returns: ``{"codes": [...], "text_search": ...}`` (``schema.CodesResponse``).
    :raises ApiError: the image refusals of the other routes; 400 ``corrupt_image``.
    """
    asked = list(dict.fromkeys(formats)) if formats else list(FORMATS)
    data, reference = _image_bytes(settings, clients, user_id, image)
    codes = read_barcodes(greyscale(data), asked)
    if not settings.text_fallback:
        text_search = "off"
    elif "ean_13" not in asked or any(code["isbn"] for code in codes):
        text_search = "not_needed"
    else:
        try:
            answer = aws(clients, "rekognition", "detect_text", Image=reference)
        except ApiError as exc:
            text_search = "failed"
            if on_text_search_failure is not None:
                on_text_search_failure(exc)
        else:
            text_search = "done"
            codes.extend(printed_isbns(answer.get("TextDetections", [])))
    return {"codes": codes, "text_search": text_search}
