"""``POST /v1/faces/search``: everyone in the photo, each face cut out and searched as people.

Rekognition is botocore's ``Stubber`` (DetectFaces and SearchUsersByImage in their exact
request shapes); the crops are made by Pillow from photos drawn in the test, with faces
at known boxes, and read back from the requests.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from inference_api import calls, face_crops, faces, faces_handler, handler
from PIL import Image

from tests.support.api_events import (
    LambdaContext,
    b64,
    check_contract,
    group_photo,
    rest_event,
)
from tools.bench.events import GROUP_FACES

SETTINGS = faces.FacesSettings(collection_id="imgrec-dev-faces", uploads_bucket="uploads")
SKIN = (236, 196, 160)


class Api:
    def __init__(self, rekognition: Any, stubber: Stubber) -> None:
        self.rekognition = rekognition
        self.stubber = stubber
        self.crops: list[bytes] = []
        rekognition.meta.events.register(
            "before-parameter-build.rekognition.SearchUsersByImage",
            lambda params, **_: self.crops.append(params["Image"]["Bytes"]),
        )

    def call(self, photo: bytes, **body: Any) -> tuple[int, dict[str, Any]]:
        event = rest_event("POST", "/v1/faces/search", {"image": {"bytes": b64(photo)}, **body})
        response = faces_handler.lambda_handler(event, LambdaContext())
        answer = json.loads(response["body"])
        check_contract(event, response["statusCode"], answer)
        return response["statusCode"], answer

    def detected(self, photo: bytes, *boxes: tuple[float, float, float, float]) -> None:
        self.stubber.add_response(
            "detect_faces",
            {
                "FaceDetails": [
                    {
                        "BoundingBox": {"Left": x, "Top": y, "Width": w, "Height": h},
                        "Confidence": 99.0,
                    }
                    for x, y, w, h in boxes
                ]
            },
            {"Image": {"Bytes": photo}},
        )

    def searched(self, user: str | None, similarity: float = 99.0) -> None:
        matches = (
            [{"Similarity": similarity, "User": {"UserId": user, "UserStatus": "ACTIVE"}}]
            if user
            else []
        )
        self.stubber.add_response(
            "search_users_by_image",
            {"UserMatches": matches},
            {
                "CollectionId": "imgrec-dev-faces",
                "Image": {"Bytes": ANY},
                "UserMatchThreshold": 80.0,
                "MaxUsers": 1,
            },
        )


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    rekognition = boto3.client("rekognition", region_name="ap-northeast-1")
    clients = calls.Clients(rekognition, boto3.client("s3", region_name="ap-northeast-1"), None)
    monkeypatch.setattr(faces_handler, "settings", lambda: SETTINGS)
    monkeypatch.setattr(faces_handler, "clients", lambda: clients)
    monkeypatch.setattr(handler, "clients", lambda: clients)
    with Stubber(rekognition) as stubber:
        yield Api(rekognition, stubber)
        stubber.assert_no_pending_responses()


def pixel(image: Image.Image, x: int, y: int) -> tuple[int, ...]:
    value = image.convert("RGB").getpixel((x, y))
    assert isinstance(value, tuple)
    return tuple(int(v) for v in value)


def centre_colour(jpeg: bytes) -> tuple[int, ...]:
    with Image.open(io.BytesIO(jpeg)) as image:
        return pixel(image, image.width // 2, image.height // 2)


def near(colour: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 20) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


def test_a_group_photo_names_everyone_and_marks_the_stranger_unknown(api: Api) -> None:
    photo = group_photo()
    api.detected(photo, *GROUP_FACES)
    # Searched largest first: the middle face, then the left, then the right one.
    api.searched("n:5cfldznnsa", 97.4)  # 花子
    api.searched("taro", 99.1)
    api.searched(None)

    status, body = api.call(photo)

    assert status == 200
    assert (body["faces_found"], body["faces_searched"]) == (3, 3)
    people = [(f["status"], f["person"] and f["person"]["name"]) for f in body["faces"]]
    assert people == [("matched", "花子"), ("matched", "taro"), ("unknown", None)]
    assert body["faces"][0]["bounding_box"]["left"] == GROUP_FACES[1][0]
    # Each search got that face's own crop: the drawn face fills its centre.
    assert len(api.crops) == 3
    assert all(near(centre_colour(crop), SKIN) for crop in api.crops)
    sizes = [Image.open(io.BytesIO(crop)).size for crop in api.crops]
    middle = GROUP_FACES[1]
    assert sizes[0] == (round(960 * middle[2] * 1.8), round(640 * middle[3] * 1.8))


def test_a_photo_with_no_face_is_an_answer_not_an_error(api: Api) -> None:
    photo = group_photo()
    api.detected(photo)

    status, body = api.call(photo)

    assert (status, body) == (200, {"faces": [], "faces_found": 0, "faces_searched": 0})


def test_faces_past_max_faces_are_answered_not_searched(api: Api) -> None:
    photo = group_photo()
    api.detected(photo, *GROUP_FACES)
    api.searched("n:5cfldznnsa")  # the largest (middle) face only

    status, body = api.call(photo, max_faces=1)

    assert status == 200
    reasons = [(f["status"], f["reason"]) for f in body["faces"]]
    assert reasons == [
        ("matched", None),
        ("not_searched", "over_limit"),
        ("not_searched", "over_limit"),
    ]
    assert (body["faces_found"], body["faces_searched"]) == (3, 1)


def test_a_face_too_small_to_search_is_answered_not_searched(api: Api) -> None:
    photo = group_photo()
    api.detected(photo, (0.5, 0.9, 0.02, 0.03))  # 19 x 19 px: under Rekognition's 40 px

    status, body = api.call(photo)

    assert status == 200
    assert [(f["status"], f["reason"]) for f in body["faces"]] == [("not_searched", "too_small")]
    assert api.crops == []


def test_a_crop_rekognition_finds_no_face_in_is_said_so(api: Api) -> None:
    photo = group_photo()
    api.detected(photo, GROUP_FACES[0])
    api.stubber.add_client_error(
        "search_users_by_image",
        "InvalidParameterException",
        "There are no faces in the image. Should be at least 1.",
        400,
    )

    status, body = api.call(photo)

    assert status == 200
    assert (body["faces"][0]["status"], body["faces"][0]["reason"]) == (
        "not_searched",
        "unsearchable",
    )


@pytest.mark.parametrize(
    ("code", "http", "status", "answer"),
    [
        ("ThrottlingException", 400, 429, "throttled"),
        ("ProvisionedThroughputExceededException", 400, 429, "throttled"),
        ("AccessDeniedException", 400, 502, "upstream_access_denied"),
        ("ResourceNotFoundException", 400, 502, "upstream_not_found"),
        ("InternalServerError", 500, 503, "upstream_unavailable"),
    ],
)
def test_search_faults_are_answered_as_botocore_raises_them(
    api: Api, code: str, http: int, status: int, answer: str
) -> None:
    photo = group_photo()
    api.detected(photo, GROUP_FACES[0])
    api.stubber.add_client_error("search_users_by_image", code, "details", http)

    got, body = api.call(photo)

    assert (got, body["error"]["code"]) == (status, answer)


def test_detect_faces_refusing_the_image_is_413(api: Api) -> None:
    photo = group_photo()
    api.stubber.add_client_error("detect_faces", "ImageTooLargeException", "too big", 400)

    status, body = api.call(photo)

    assert (status, body["error"]["code"]) == (413, "image_too_large")


# --- the crops, on photos drawn with faces at known boxes --------------------------------


def drawn(width: int, height: int, box: tuple[int, int, int, int]) -> bytes:
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), box)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_a_crop_is_the_face_and_its_margin_clipped_to_the_photo() -> None:
    photo = drawn(1000, 800, (100, 200, 300, 450))  # a 200 x 250 face
    box = {"Left": 0.1, "Top": 0.25, "Width": 0.2, "Height": 0.3125}

    [crop] = face_crops.crops(photo, [box])

    assert crop.jpeg is not None
    image = Image.open(io.BytesIO(crop.jpeg))
    # 40% margin each side: left 100-80=20, top 200-100=100, right 300+80, bottom 450+100.
    assert image.size == (360, 450)
    assert near(centre_colour(crop.jpeg), (255, 0, 0))
    assert near(pixel(image, 5, 5), (0, 0, 255))


def test_a_face_at_the_edge_is_clipped_not_padded() -> None:
    photo = drawn(400, 300, (0, 0, 100, 100))
    [crop] = face_crops.crops(photo, [{"Left": 0.0, "Top": 0.0, "Width": 0.25, "Height": 1 / 3}])

    assert crop.jpeg is not None
    assert Image.open(io.BytesIO(crop.jpeg)).size == (140, 140)


def test_a_small_crop_is_scaled_up_to_the_face_apis_minimum() -> None:
    photo = drawn(100, 100, (30, 30, 75, 75))  # a 45 px face: crop 81 x 81 then clipped
    [crop] = face_crops.crops(photo, [{"Left": 0.3, "Top": 0.3, "Width": 0.45, "Height": 0.45}])

    assert crop.jpeg is not None
    assert min(Image.open(io.BytesIO(crop.jpeg)).size) >= face_crops.MIN_CROP_SIDE


def test_a_face_under_40_px_gets_no_crop() -> None:
    photo = drawn(1000, 1000, (0, 0, 30, 30))

    [crop] = face_crops.crops(photo, [{"Left": 0.0, "Top": 0.0, "Width": 0.03, "Height": 0.03}])

    assert (crop.jpeg, crop.reason) == (None, "too_small")


def test_exif_orientation_is_applied_as_rekognition_does() -> None:
    image = Image.new("RGB", (400, 200), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 100, 100))  # top-left, before rotation
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, quality=95)

    # Displayed upright the photo is 200 x 400 and the red square is at the top right.
    [crop] = face_crops.crops(
        out.getvalue(), [{"Left": 0.5, "Top": 0.0, "Width": 0.5, "Height": 0.25}]
    )

    assert crop.jpeg is not None
    assert near(centre_colour(crop.jpeg), (255, 0, 0), tolerance=40)
