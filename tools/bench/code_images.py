"""Photos of codes made by libraries, with the damage a phone camera does to them.

The tests and ``make bench`` read these instead of hand-typed fixtures. Each
symbol is drawn by a library other than the decoder wherever one exists
(``segno`` for QR and Micro QR, ``python-barcode`` for EAN/UPC, Code 128/39
and ITF), and by ZXing's own writer for the rest (DataMatrix, UPC-E, and an
EAN-13 with its 5-digit price add-on, which no other writer here draws).

Degradations, each seeded: rotation, scaling down, Gaussian blur, a
perspective (the phone held at an angle), low contrast, and a cover-like
background (a gradient with noise and print around the code), saved as JPEG.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import barcode
import numpy
import segno
import zxingcpp
from barcode.writer import ImageWriter
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

BOOK_ISBN = "9784101010137"
"""A valid 978 ISBN-13 (ISBN-10 4101010137)."""
BOOK_979 = "9791032305690"
"""A valid 979 ISBN-13 (no ISBN-10 form)."""
JAPANESE_PRICE_CODE = "1920193006001"
"""The second EAN-13 on Japanese books (192 + classification + price), valid check digit."""

SAMPLES: dict[str, str] = {
    "qr_code": "https://example.com/books/4101010137?from=phone",
    "micro_qr_code": "SHELF-12",
    "data_matrix": "PART-0042-LOT-7",
    "ean_13": BOOK_ISBN,
    "ean_8": "96385074",
    "upc_a": "036000291452",
    "upc_e": "01234565",
    "code_128": "PARCEL-2026-12-01",
    "code_39": "BIN-17",
    "itf": "12345678901231",
}
"""One content per format the API promises to read (check digits included where one is)."""


def _zxing(content: str, fmt: zxingcpp.BarcodeFormat, scale: int) -> Image.Image:
    written = zxingcpp.create_barcode(content, fmt).to_image(scale=scale, add_quiet_zones=True)
    height, width = written.shape[:2]
    pixels = bytes(memoryview(written))  # type: ignore[arg-type]  # zxing's Image is a buffer
    return Image.frombuffer("L", (width, height), pixels, "raw", "L", 0, 1).copy()


def _python_barcode(kind: str, content: str, module_width: float, **options: object) -> Image.Image:
    writer_options = {
        "module_width": module_width,
        "module_height": 14.0,
        "quiet_zone": 6.5,
        "write_text": False,
        "dpi": 300,
    }
    symbol = barcode.get_barcode_class(kind)(content, writer=ImageWriter(), **options)
    rendered: Image.Image = symbol.render(writer_options)
    return rendered.convert("L")


def symbol(fmt: str, content: str | None = None, *, scale: int = 4) -> Image.Image:
    """A clean symbol of ``fmt`` (the API's format name) holding ``content``.

    EAN/UPC contents hold their check digit (the writers check it).
    """
    text = content if content is not None else SAMPLES[fmt]
    module = 0.1 * scale
    if fmt == "qr_code":
        buffer = io.BytesIO()
        segno.make_qr(text, error="m").save(buffer, kind="png", scale=scale, border=4)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    if fmt == "micro_qr_code":
        buffer = io.BytesIO()
        segno.make_micro(text).save(buffer, kind="png", scale=scale + 2, border=2)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    if fmt == "ean_13":
        return _python_barcode("ean13", text[:12], module)
    if fmt == "ean_8":
        return _python_barcode("ean8", text[:7], module)
    if fmt == "upc_a":
        return _python_barcode("upca", text[:11], module)
    if fmt == "code_128":
        return _python_barcode("code128", text, module)
    if fmt == "code_39":
        return _python_barcode("code39", text, module, add_checksum=False)
    if fmt == "itf":
        return _python_barcode("itf", text, module)
    if fmt == "data_matrix":
        return _zxing(text, zxingcpp.BarcodeFormat.DataMatrix, scale + 2)
    if fmt == "upc_e":
        return _zxing(text, zxingcpp.BarcodeFormat.UPCE, scale)
    raise ValueError(f"no writer for {fmt}")


def book_barcode(isbn13: str = BOOK_ISBN, add_on: str = "51234", scale: int = 3) -> Image.Image:
    """An EAN-13 with its 5-digit price add-on to the right, as on a book's back cover."""
    return _zxing(f"{isbn13} {add_on}", zxingcpp.BarcodeFormat.EAN13, scale)


@dataclass(frozen=True)
class Placed:
    """A symbol and where its top-left corner goes on the photo (pixels)."""

    image: Image.Image
    left: int
    top: int


def photo(
    placed: Sequence[Placed],
    size: tuple[int, int] = (1200, 900),
    *,
    cover: bool = False,
    seed: int = 0,
) -> Image.Image:
    """A photo (RGB) with the symbols pasted on a plain or a cover-like background."""
    rng = random.Random(seed)  # noqa: S311  (test images, not secrets)
    width, height = size
    if cover:
        canvas = Image.linear_gradient("L").resize(size).convert("RGB")
        tint = Image.new("RGB", size, (rng.randrange(90, 200), rng.randrange(60, 160), 80))
        canvas = Image.blend(canvas, tint, 0.6)
        draw = ImageDraw.Draw(canvas)
        for _ in range(30):  # print around the code: titles, a blurb
            x, y = rng.randrange(width), rng.randrange(height)
            draw.text((x, y), "LOREM IPSUM 1234", fill=(rng.randrange(256),) * 3)
        noise = Image.effect_noise(size, 18).convert("RGB")
        canvas = Image.blend(canvas, noise, 0.15)
    else:
        canvas = Image.new("RGB", size, (236, 236, 230))
    for item in placed:
        # A white label under the symbol, as printed codes have.
        canvas.paste(item.image.convert("RGB"), (item.left, item.top))
    return canvas


def rotate(image: Image.Image, degrees: float) -> Image.Image:
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white")


def scale_down(image: Image.Image, factor: float) -> Image.Image:
    width, height = image.size
    return image.resize(
        (max(1, int(width * factor)), max(1, int(height * factor))), Image.Resampling.LANCZOS
    )


def blur(image: Image.Image, radius: float) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius))


def low_contrast(image: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Contrast(image).enhance(factor)


def perspective(image: Image.Image, strength: float) -> Image.Image:
    """The photo as seen from one side: the right edge shrinks by ``strength`` (0-0.4)."""
    width, height = image.size
    dy = strength * height / 2
    # Output corners (0,0) (w,0) (w,h) (0,h) come from these input points.
    source = [(0, 0), (width, -dy), (width, height + dy), (0, height)]
    coefficients = _perspective_coefficients(
        [(0, 0), (width, 0), (width, height), (0, height)], source
    )
    return image.transform(
        image.size,
        Image.Transform.PERSPECTIVE,
        coefficients,
        Image.Resampling.BICUBIC,
        fillcolor="white",
    )


def _perspective_coefficients(
    target: Sequence[tuple[float, float]], source: Sequence[tuple[float, float]]
) -> list[float]:
    """The 8 coefficients Pillow's PERSPECTIVE transform takes (an 8x8 linear solve)."""
    rows: list[list[float]] = []
    rhs: list[float] = []
    for (x, y), (u, v) in zip(target, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rhs.append(u)
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.append(v)
    return [float(c) for c in numpy.linalg.solve(numpy.array(rows), numpy.array(rhs))]


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


Degradation = Callable[[Image.Image, random.Random], Image.Image]
DEGRADATIONS: dict[str, Degradation] = {
    "rotated": lambda im, rng: rotate(im, rng.uniform(-35, 35)),
    "scaled_down": lambda im, rng: scale_down(im, rng.uniform(0.45, 0.7)),
    "blurred": lambda im, rng: blur(im, rng.uniform(0.8, 1.6)),
    "perspective": lambda im, rng: perspective(im, rng.uniform(0.1, 0.25)),
    "low_contrast": lambda im, rng: low_contrast(im, rng.uniform(0.25, 0.4)),
}
"""Phone-like damage, each drawn from a seeded range (what ``make bench`` reports per kind)."""


MILD: dict[str, Degradation] = {
    "rotated": lambda im, rng: rotate(im, 20),
    "scaled_down": lambda im, rng: scale_down(im, 0.6),
    "blurred": lambda im, rng: blur(im, 1.0),
    "perspective": lambda im, rng: perspective(im, 0.15),
    "low_contrast": lambda im, rng: low_contrast(im, 0.35),
}
"""The same damage at one fixed, moderate strength each (what the handler tests read)."""


def degraded_photo(
    fmt: str, kind: str, seed: int, degradations: dict[str, Degradation] = DEGRADATIONS
) -> bytes:
    """A cover-like JPEG photo holding one ``fmt`` symbol damaged as ``kind`` says."""
    rng = random.Random(f"{fmt}/{kind}/{seed}")  # noqa: S311  (test images)
    code = symbol(fmt, scale=3)
    scene = photo(
        [Placed(code, rng.randrange(40, 200), rng.randrange(40, 200))],
        (code.width + 400, code.height + 400),
        cover=True,
        seed=seed,
    )
    return jpeg(degradations[kind](scene, rng), quality=rng.randrange(70, 92))


def book_back_photo() -> bytes:
    """The back of a book as a phone sees it: the ISBN barcode with its price add-on, a QR
    code to the publisher's page, on a cover-like background (the offline preview's answer
    ``assets/web/recorded/codes.json`` is the handler's answer for it)."""
    placed = [
        Placed(book_barcode(), 90, 110),
        Placed(symbol("qr_code", scale=4), 700, 80),
    ]
    return jpeg(rotate(photo(placed, (1100, 560), cover=True, seed=7), 4), quality=88)
