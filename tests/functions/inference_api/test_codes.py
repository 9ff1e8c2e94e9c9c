"""POST /v1/codes: the code reader's handler on photos made by barcode libraries.

Real routing and events, moto for S3, botocore's Stubber for DetectText (its
request shape is checked against Rekognition's service model); every answer
is checked against docs/openapi.json's contract.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber
from inference_api import calls, codes, codes_handler, handler
from moto import mock_aws

from tests.support.api_events import (
    OTHER_USER,
    USER,
    LambdaContext,
    b64,
    check_contract,
    image_bytes,
    rest_event,
)
from tools.bench import code_images as ci

REGION = "ap-northeast-1"


@dataclass
class Api:
    stubber: Stubber
    clients: calls.Clients
    settings: codes.CodesSettings

    def call(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = codes_handler.lambda_handler(event, LambdaContext())
        body = json.loads(response["body"])
        check_contract(event, response["statusCode"], body)
        return response["statusCode"], body

    def upload(self, data: bytes, name: str = "photo.jpg", user: str = USER) -> str:
        key = f"users/{user}/{name}"
        self.clients.s3.put_object(Bucket="uploads", Key=key, Body=data, ContentType="image/jpeg")
        return key


def _api(monkeypatch: pytest.MonkeyPatch, text_fallback: bool) -> Iterator[Api]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION, config=handler.S3_CONFIG)
        s3.create_bucket(Bucket="uploads", CreateBucketConfiguration={"LocationConstraint": REGION})
        rekognition = boto3.client("rekognition", region_name=REGION)
        clients = calls.Clients(rekognition, s3, boto3.client("dynamodb", region_name=REGION))
        settings = codes.CodesSettings(uploads_bucket="uploads", text_fallback=text_fallback)
        monkeypatch.setattr(codes_handler, "settings", lambda: settings)
        monkeypatch.setattr(codes_handler, "clients", lambda: clients)
        with Stubber(rekognition) as stubber:
            yield Api(stubber, clients, settings)
            stubber.assert_no_pending_responses()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """A stage with the printed-ISBN fallback off (prod's default)."""
    yield from _api(monkeypatch, text_fallback=False)


@pytest.fixture
def api_with_text(monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """A stage with ``codes.text_fallback`` on (dev)."""
    yield from _api(monkeypatch, text_fallback=True)


def codes_event(image: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return rest_event("POST", "/v1/codes", {"image": image, **extra})


def read(api: Api, photo: bytes, **extra: Any) -> dict[str, Any]:
    status, body = api.call(codes_event({"bytes": b64(photo)}, **extra))
    assert status == 200, body
    return body


# --- every promised format, from a photo a library drew ------------------------------------


@pytest.mark.parametrize("fmt", list(ci.SAMPLES))
def test_each_format_is_read_with_its_text_and_a_normalised_box(api: Api, fmt: str) -> None:
    symbol = ci.symbol(fmt)
    left, top = 120, 90
    photo = ci.photo([ci.Placed(symbol, left, top)], (symbol.width + 300, symbol.height + 250))

    body = read(api, ci.jpeg(photo))

    assert [(c["format"], c["text"], c["source"]) for c in body["codes"]] == [
        (fmt, ci.SAMPLES[fmt], "barcode")
    ]
    box = body["codes"][0]["bounding_box"]
    width, height = photo.size
    # The symbol's bars or modules lie inside the pasted image (its quiet zone is white).
    assert left / width - 0.01 <= box["left"] <= (left + symbol.width) / width
    assert top / height - 0.01 <= box["top"] <= (top + symbol.height) / height
    assert box["left"] + box["width"] <= (left + symbol.width) / width + 0.01
    assert len(body["codes"][0]["polygon"]) == 4
    assert body["text_search"] == "off"


def test_a_books_barcode_gives_its_isbn_in_both_forms_and_never_the_price_add_on(
    api: Api,
) -> None:
    photo = ci.photo([ci.Placed(ci.book_barcode(add_on="51234"), 150, 120)], cover=True)

    body = read(api, ci.jpeg(photo))

    assert [(c["format"], c["text"]) for c in body["codes"]] == [("ean_13", ci.BOOK_ISBN)]
    assert body["codes"][0]["isbn"] == {"isbn13": ci.BOOK_ISBN, "isbn10": "4101010137"}
    assert "51234" not in json.dumps(body)


def test_a_979_isbn_has_no_isbn10(api: Api) -> None:
    photo = ci.photo([ci.Placed(ci.symbol("ean_13", ci.BOOK_979), 100, 100)])

    body = read(api, ci.jpeg(photo))

    assert body["codes"][0]["isbn"] == {"isbn13": ci.BOOK_979, "isbn10": None}


def test_a_japanese_books_two_barcodes_one_isbn_and_one_price_code(api: Api) -> None:
    photo = ci.photo(
        [
            ci.Placed(ci.symbol("ean_13", ci.BOOK_ISBN), 100, 60),
            ci.Placed(ci.symbol("ean_13", ci.JAPANESE_PRICE_CODE), 100, 420),
        ],
        (1100, 800),
        cover=True,
    )

    body = read(api, ci.jpeg(photo))

    by_text = {c["text"]: c for c in body["codes"]}
    assert set(by_text) == {ci.BOOK_ISBN, ci.JAPANESE_PRICE_CODE}
    assert by_text[ci.BOOK_ISBN]["isbn"] is not None
    assert by_text[ci.JAPANESE_PRICE_CODE]["isbn"] is None
    upper, lower = by_text[ci.BOOK_ISBN], by_text[ci.JAPANESE_PRICE_CODE]
    assert upper["bounding_box"]["top"] < lower["bounding_box"]["top"]


def test_several_codes_in_one_photo_are_all_answered(api: Api) -> None:
    placed = [
        ci.Placed(ci.symbol("qr_code"), 40, 40),
        ci.Placed(ci.symbol("ean_13"), 500, 60),
        ci.Placed(ci.symbol("data_matrix"), 60, 600),
        ci.Placed(ci.symbol("code_128", scale=3), 420, 650),
    ]
    photo = ci.photo(placed, (1400, 1000), cover=True, seed=3)

    body = read(api, ci.jpeg(photo))

    assert {c["format"] for c in body["codes"]} == {"qr_code", "ean_13", "data_matrix", "code_128"}


def test_a_photo_without_a_code_is_an_empty_answer_not_an_error(api: Api) -> None:
    body = read(api, ci.jpeg(ci.photo([], cover=True)))

    assert body == {"codes": [], "text_search": "off"}


def test_formats_restrict_what_is_read(api: Api) -> None:
    placed = [ci.Placed(ci.symbol("qr_code"), 40, 40), ci.Placed(ci.symbol("ean_13"), 500, 60)]
    photo = ci.jpeg(ci.photo(placed, (1200, 700)))

    body = read(api, photo, formats=["qr_code"])

    assert [c["format"] for c in body["codes"]] == ["qr_code"]


@pytest.mark.parametrize("kind", list(ci.MILD))
@pytest.mark.parametrize("fmt", ["qr_code", "ean_13"])
def test_phone_like_damage_is_still_read(api: Api, fmt: str, kind: str) -> None:
    """Each kind of damage at a fixed, moderate strength (``make bench`` measures rates over
    the wider seeded ranges of ``DEGRADATIONS``)."""
    body = read(api, ci.degraded_photo(fmt, kind, 0, ci.MILD))

    assert [c["text"] for c in body["codes"]] == [ci.SAMPLES[fmt]]


def test_exif_orientation_turns_boxes_with_the_photo(api: Api) -> None:
    """A phone photo stored sideways with EXIF orientation 6: the box is on the upright photo."""
    from PIL import Image

    upright = ci.photo([ci.Placed(ci.symbol("qr_code"), 40, 40)], (900, 600))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what the sensor wrote
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    import io

    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", exif=exif)

    body = read(api, buffer.getvalue())

    box = body["codes"][0]["bounding_box"]
    assert box["left"] < 0.4  # top-left, as the upright photo has it
    assert box["top"] < 0.6


def test_from_an_upload_key(api: Api) -> None:
    key = api.upload(ci.jpeg(ci.photo([ci.Placed(ci.symbol("qr_code"), 50, 50)])))

    status, body = api.call(codes_event({"s3_key": key}))

    assert status == 200
    assert body["codes"][0]["text"] == ci.SAMPLES["qr_code"]


# --- ISBN rules ------------------------------------------------------------------------------


def test_isbn_check_digit_and_prefix_rules() -> None:
    assert codes.isbn_of("9784101010137") == {"isbn13": "9784101010137", "isbn10": "4101010137"}
    assert codes.isbn_of("9784101010138") is None  # wrong check digit
    assert codes.isbn_of("4901234567894") is None  # a product EAN, not a book
    assert codes.isbn_of("9780306406157") == {"isbn13": "9780306406157", "isbn10": "0306406152"}
    assert codes.isbn_of("9791032305690") == {"isbn13": "9791032305690", "isbn10": None}
    assert codes.isbn_of("978410101013") is None  # 12 digits


@pytest.mark.parametrize(
    ("line", "isbn13"),
    [
        ("ISBN978-4-10-101013-7 C0193 ¥490E", "9784101010137"),
        ("ISBN 978-4-10-101013-7", "9784101010137"),
        ("ＩＳＢＮ９７８－４－１０－１０１０１３－７", "9784101010137"),  # full-width colophon
        ("ISBN-10: 0-306-40615-2", "9780306406157"),  # an older book's ISBN-10
        ("ISBN 978-4-10-101013-8", None),  # check digit wrong
        ("Tel 03-1234-5678", None),
    ],
)
def test_printed_isbns_are_kept_only_when_their_check_digit_holds(
    line: str, isbn13: str | None
) -> None:
    found = codes.printed_isbn(line)
    assert (found["isbn13"] if found else None) == isbn13


# --- the printed-ISBN fallback (DetectText) ----------------------------------------------------


def _line(text: str) -> dict[str, Any]:
    return {
        "DetectedText": text,
        "Type": "LINE",
        "Id": 0,
        "Confidence": 99.2,
        "Geometry": {
            "BoundingBox": {"Width": 0.5, "Height": 0.05, "Left": 0.2, "Top": 0.8},
            "Polygon": [
                {"X": 0.2, "Y": 0.8},
                {"X": 0.7, "Y": 0.8},
                {"X": 0.7, "Y": 0.85},
                {"X": 0.2, "Y": 0.85},
            ],
        },
    }


def test_a_colophon_without_barcode_gives_its_printed_isbn(api_with_text: Api) -> None:
    photo = ci.jpeg(ci.photo([], cover=True))
    api_with_text.stubber.add_response(
        "detect_text",
        {
            "TextDetections": [
                _line("ISBN978-4-10-101013-7 C0193"),
                _line("ISBN 978-4-10-101013-8"),  # misprinted: check digit wrong
                {**_line("ISBN978-4-10-101013-7"), "Type": "WORD", "ParentId": 0},
            ]
        },
        {"Image": {"Bytes": photo}},
    )

    body = read(api_with_text, photo)

    assert body["text_search"] == "done"
    assert [(c["source"], c["format"], c["isbn"]) for c in body["codes"]] == [
        ("text", "text", {"isbn13": "9784101010137", "isbn10": "4101010137"})
    ]
    assert body["codes"][0]["bounding_box"] == pytest.approx(
        {"left": 0.2, "top": 0.8, "width": 0.5, "height": 0.05}
    )


def test_an_upload_is_read_by_detect_text_from_s3(api_with_text: Api) -> None:
    key = api_with_text.upload(ci.jpeg(ci.photo([])))
    api_with_text.stubber.add_response(
        "detect_text",
        {"TextDetections": []},
        {"Image": {"S3Object": {"Bucket": "uploads", "Name": key}}},
    )

    status, body = api_with_text.call(codes_event({"s3_key": key}))

    assert (status, body) == (200, {"codes": [], "text_search": "done"})


def test_no_text_search_when_a_barcode_gave_the_isbn(api_with_text: Api) -> None:
    body = read(api_with_text, ci.jpeg(ci.photo([ci.Placed(ci.book_barcode(), 80, 80)])))

    assert body["text_search"] == "not_needed"  # the Stubber would fail on a DetectText call


def test_no_text_search_when_ean_13_was_not_asked_for(api_with_text: Api) -> None:
    body = read(api_with_text, ci.jpeg(ci.photo([])), formats=["qr_code"])

    assert body["text_search"] == "not_needed"


@pytest.mark.parametrize(
    ("aws_code", "http"),
    [
        ("ThrottlingException", 400),
        ("ProvisionedThroughputExceededException", 400),
        ("InternalServerError", 500),
        ("AccessDeniedException", 400),
        ("InvalidImageFormatException", 400),
    ],
)
def test_a_failed_text_search_still_answers_the_barcodes(
    api_with_text: Api, aws_code: str, http: int
) -> None:
    api_with_text.stubber.add_client_error(
        "detect_text", service_error_code=aws_code, http_status_code=http
    )
    photo = ci.jpeg(ci.photo([ci.Placed(ci.symbol("qr_code"), 50, 50)]))

    body = read(api_with_text, photo)

    assert body["text_search"] == "failed"
    assert [c["format"] for c in body["codes"]] == ["qr_code"]


# --- bad input: refused as every image route refuses it -------------------------------------

BAD_INPUTS = [
    ("missing-image", rest_event("POST", "/v1/codes", {}), 400, "invalid_request"),
    ("unknown-field", codes_event({"bytes": "AA=="}, colour="red"), 400, "invalid_request"),
    ("unknown-format", codes_event({"bytes": "AA=="}, formats=["hologram"]), 400, "invalid_request"),
    ("empty-formats", codes_event({"bytes": "AA=="}, formats=[]), 400, "invalid_request"),
    ("invalid-base64", codes_event({"bytes": "not base64!!"}), 400, "invalid_base64"),
    ("not-an-image", codes_event({"bytes": b64(b"hello world")}), 415, "unsupported_format"),
    ("gif", codes_event({"bytes": b64(image_bytes(100, 100, "GIF"))}), 415, "unsupported_format"),
    ("16px", codes_event({"bytes": b64(image_bytes(16, 200, "PNG"))}), 400, "image_too_small"),
    ("9000px", codes_event({"bytes": b64(image_bytes(9000, 100, "PNG"))}), 400, "image_dimensions"),
    ("truncated-jpeg", codes_event({"bytes": b64(image_bytes(640, 480)[:400])}), 400, "corrupt_image"),
    ("other-users-key", codes_event({"s3_key": f"users/{OTHER_USER}/a.jpg"}), 403, "forbidden_key"),
    ("escaping-key", codes_event({"s3_key": f"users/{USER}/../{OTHER_USER}/a.jpg"}), 403, "forbidden_key"),
    ("missing-key", codes_event({"s3_key": f"users/{USER}/nope.jpg"}), 404, "upload_not_found"),
    ("wrong-content-type", rest_event("POST", "/v1/codes", {"image": {"bytes": "AA=="}}, content_type="text/plain"), 415, "unsupported_media_type"),
    ("not-json", rest_event("POST", "/v1/codes", raw_body="{"), 400, "invalid_json"),
    ("no-user", rest_event("POST", "/v1/codes", {"image": {"bytes": "AA=="}}, user=None), 401, "unauthenticated"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("event", "status", "code"), [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_gets_the_documented_status_and_code(
    api: Api, event: dict[str, Any], status: int, code: str
) -> None:
    got_status, body = api.call(event)

    assert (got_status, body["error"]["code"]) == (status, code), body
    assert "Traceback" not in json.dumps(body)


def test_bytes_over_5_mb_are_413(api: Api) -> None:
    data = image_bytes(64, 64) + b"\x00" * (5 * 1024 * 1024)

    status, body = api.call(codes_event({"bytes": b64(data)}))

    assert (status, body["error"]["code"], body["error"]["field"]) == (
        413,
        "image_too_large",
        "image.bytes",
    )


def test_an_upload_over_15_mb_is_413(api: Api) -> None:
    key = api.upload(b"\xff\xd8" + b"\x00" * (15 * 1024 * 1024 + 1))

    status, body = api.call(codes_event({"s3_key": key}))

    assert (status, body["error"]["code"]) == (413, "image_too_large")


def test_a_read_timeout_inside_the_uploads_body_is_503(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = api.upload(ci.jpeg(ci.photo([])))
    real_get = api.clients.s3.get_object

    class TimingOutBody:
        def read(self) -> bytes:
            raise ReadTimeoutError(endpoint_url="https://uploads.s3.ap-northeast-1.amazonaws.com")

    def get_object(**params: Any) -> dict[str, Any]:
        return {**real_get(**params), "Body": TimingOutBody()}

    monkeypatch.setattr(api.clients.s3, "get_object", get_object)

    status, body = api.call(codes_event({"s3_key": key}))

    assert (status, body["error"]["code"]) == (503, "upstream_unavailable")


RECORDED = Path(__file__).resolve().parents[3] / "assets" / "web" / "recorded" / "codes.json"


def test_recorded_page_answer_is_the_handlers_answer(api: Api) -> None:
    """The offline preview's codes answer is what the handler answers for the book photo
    (``RECORD=1 pytest -k recorded_page_answer`` rewrites it)."""
    body = read(api, ci.book_back_photo())

    assert sorted(c["format"] for c in body["codes"]) == ["ean_13", "qr_code"]
    if os.environ.get("RECORD") == "1":
        RECORDED.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    assert json.loads(RECORDED.read_text()) == body


def test_only_the_code_route_is_served_by_the_code_readers_module() -> None:
    from inference_api.schema import ROUTES

    assert ("POST", "/v1/codes") in {(r.method, r.path) for r in ROUTES}
    assert "zxingcpp" not in handler.__dict__  # the API's handler never imports the decoder
