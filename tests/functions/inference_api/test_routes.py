"""Inference API handler: real routing, realistic events, Stubber for Rekognition, moto for S3/DynamoDB."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from inference_api import calls, faces, faces_handler, handler, images
from moto import mock_aws
from shared.pointer import POINTER_KEY as ACTIVE_POINTER_KEY

from tests.support.api_events import (
    OTHER_USER,
    USER,
    LambdaContext,
    api_settings,
    b64,
    check_contract,
    group_photo,
    image_bytes,
    reload_handler,
    rest_event,
)

REGION = "ap-northeast-1"
PROJECT = (
    "arn:aws:rekognition:ap-northeast-1:123456789012:project/imgrec-dev-custom-labels/1700000000000"
)
VERSION = "arn:aws:rekognition:ap-northeast-1:123456789012:project/imgrec-dev-custom-labels/version/v1/1700000000001"
SETTINGS = api_settings(
    project_arn=PROJECT,
    model_usage_table="usage",
    uploads_bucket="uploads",
)
JPEG = image_bytes(640, 480)
FACES_SETTINGS = faces.FacesSettings(collection_id="imgrec-dev-faces", uploads_bucket="uploads")


@dataclass
class Api:
    stubber: Stubber
    clients: calls.Clients

    def call(self, event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        response = handler.lambda_handler(event, LambdaContext())
        headers = {k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()}
        headers.update(response.get("headers") or {})
        body = json.loads(response["body"])
        check_contract(event, response["statusCode"], body)
        return response["statusCode"], body, headers

    def promote(self) -> None:
        self.clients.dynamodb.put_item(
            TableName="usage",
            Item={
                "project_version_arn": {"S": ACTIVE_POINTER_KEY},
                "active_project_version_arn": {"S": VERSION},
            },
        )

    def upload(self, user: str = USER, data: bytes = JPEG, name: str = "photo.jpg") -> str:
        key = f"users/{user}/{name}"
        self.clients.s3.put_object(Bucket="uploads", Key=key, Body=data, ContentType="image/jpeg")
        return key


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION, config=handler.S3_CONFIG)
        s3.create_bucket(Bucket="uploads", CreateBucketConfiguration={"LocationConstraint": REGION})
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for table, key in (("usage", "project_version_arn"),):
            dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        rekognition = boto3.client("rekognition", region_name=REGION)
        clients = calls.Clients(rekognition, s3, dynamodb)
        monkeypatch.setattr(handler, "settings", lambda: SETTINGS)
        monkeypatch.setattr(handler, "clients", lambda: clients)
        # The face routes are the faces function's (same resolver, its own settings).
        monkeypatch.setattr(faces_handler, "settings", lambda: FACES_SETTINGS)
        monkeypatch.setattr(faces_handler, "clients", lambda: clients)
        monkeypatch.setattr(
            handler, "STATE", calls.State(on_usage_write_failure=handler.usage_write_failed)
        )
        with Stubber(rekognition) as stubber:
            yield Api(stubber, clients)
            stubber.assert_no_pending_responses()


def labels_body(image: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"image": image, **extra}


# --- happy paths -------------------------------------------------------------


def test_labels_from_bytes_sorted_with_boxes_and_usage_recorded(api: Api) -> None:
    api.promote()
    api.stubber.add_response(
        "detect_custom_labels",
        {
            "CustomLabels": [
                {"Name": "without_qr", "Confidence": 12.5},
                {
                    "Name": "with_qr",
                    "Confidence": 97.1,
                    "Geometry": {
                        "BoundingBox": {"Left": 0.1, "Top": 0.2, "Width": 0.3, "Height": 0.4}
                    },
                },
            ]
        },
        {"ProjectVersionArn": VERSION, "Image": {"Bytes": JPEG}, "MinConfidence": 10.0},
    )

    status, body, _ = api.call(
        rest_event("POST", "/v1/labels", labels_body({"bytes": b64(JPEG)}, min_confidence=10))
    )

    assert status == 200
    assert body["model_version"] == "v1"
    assert [label["name"] for label in body["labels"]] == ["with_qr", "without_qr"]
    assert body["labels"][0]["bounding_box"] == {
        "left": 0.1,
        "top": 0.2,
        "width": 0.3,
        "height": 0.4,
    }
    item = api.clients.dynamodb.get_item(
        TableName="usage", Key={"project_version_arn": {"S": VERSION}}
    )
    assert "last_inference_at" in item["Item"]


def test_usage_is_written_at_most_once_a_minute(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    api.promote()
    writes: list[str] = []
    original = api.clients.dynamodb.update_item

    def counting_update_item(**kwargs: Any) -> Any:
        writes.append(kwargs["TableName"])
        return original(**kwargs)

    monkeypatch.setattr(api.clients.dynamodb, "update_item", counting_update_item)
    for _ in range(3):
        api.stubber.add_response("detect_custom_labels", {"CustomLabels": []})
        status, _, _ = api.call(rest_event("POST", "/v1/labels", labels_body({"bytes": b64(JPEG)})))
        assert status == 200

    assert writes == ["usage"]


def test_labels_from_own_upload_key(api: Api) -> None:
    api.promote()
    key = api.upload()
    api.stubber.add_response(
        "detect_custom_labels",
        {"CustomLabels": [{"Name": "book", "Confidence": 88.0}]},
        {"ProjectVersionArn": VERSION, "Image": {"S3Object": {"Bucket": "uploads", "Name": key}}},
    )

    status, body, _ = api.call(rest_event("POST", "/v1/labels", labels_body({"s3_key": key})))

    assert status == 200
    assert body["labels"] == [{"name": "book", "confidence": 88.0, "bounding_box": None}]


def test_upload_url_is_presigned_under_the_callers_prefix(api: Api) -> None:
    status, body, _ = api.call(
        rest_event("POST", "/v1/uploads", {"content_type": "image/png", "content_length": 1234})
    )

    assert status == 200
    assert body["s3_key"].startswith(f"users/{USER}/")
    assert body["s3_key"].endswith(".png")
    assert body["method"] == "PUT"
    assert "X-Amz-Signature=" in body["url"]
    assert "content-length" in body["url"].lower()  # signed header
    assert body["headers"] == {"Content-Type": "image/png", "Content-Length": "1234"}


def test_face_analysis_returns_age_and_emotions(api: Api) -> None:
    api.stubber.add_response(
        "detect_faces",
        {
            "FaceDetails": [
                {
                    "BoundingBox": {"Left": 0.1, "Top": 0.1, "Width": 0.5, "Height": 0.5},
                    "AgeRange": {"Low": 25, "High": 32},
                    "Emotions": [
                        {"Type": "CALM", "Confidence": 20.0},
                        {"Type": "HAPPY", "Confidence": 75.0},
                    ],
                    "Confidence": 99.0,
                }
            ]
        },
        {"Image": {"Bytes": JPEG}, "Attributes": ["ALL"]},
    )

    status, body, _ = api.call(
        rest_event("POST", "/v1/faces/analyze", {"image": {"bytes": b64(JPEG)}})
    )

    assert status == 200
    face = body["faces"][0]
    assert face["age_range"] == {"low": 25, "high": 32}
    assert [e["type"] for e in face["emotions"]] == ["HAPPY", "CALM"]


def test_models_lists_versions_and_marks_the_active_one(api: Api) -> None:
    api.promote()
    other = VERSION.replace("/v1/", "/v0/")
    api.stubber.add_response(
        "describe_project_versions",
        {
            "ProjectVersionDescriptions": [
                {"ProjectVersionArn": VERSION, "Status": "RUNNING", "MinInferenceUnits": 1},
                {"ProjectVersionArn": other, "Status": "STOPPED"},
            ]
        },
        {"ProjectArn": PROJECT, "MaxResults": 100},
    )

    status, body, _ = api.call(rest_event("GET", "/v1/models", content_type=None))

    assert status == 200
    assert body["active_model_version"] == "v1"
    assert [(v["model_version"], v["status"], v["active"]) for v in body["versions"]] == [
        ("v1", "RUNNING", True),
        ("v0", "STOPPED", False),
    ]
    assert "arn:" not in json.dumps(body)  # no account id for a phone user


# --- model state ---------------------------------------------------------------


def not_ready(api: Api, status: str, expected: dict[str, Any] | None = None) -> None:
    """DetectCustomLabels says the model is not ready; DescribeProjectVersions says ``status``."""
    api.stubber.add_client_error(
        "detect_custom_labels", service_error_code="ResourceNotReadyException"
    )
    api.stubber.add_response(
        "describe_project_versions",
        {"ProjectVersionDescriptions": [{"ProjectVersionArn": VERSION, "Status": status}]},
        expected,
    )


def test_stopped_model_is_started_on_demand_with_503_and_retry_after(api: Api) -> None:
    api.promote()
    not_ready(api, "STOPPED", {"ProjectArn": PROJECT, "VersionNames": ["v1"]})
    api.stubber.add_response(
        "start_project_version",
        {"Status": "STARTING"},
        {"ProjectVersionArn": VERSION, "MinInferenceUnits": 1},
    )

    status, body, headers = api.call(
        rest_event("POST", "/v1/labels", labels_body({"bytes": b64(JPEG)}))
    )

    assert status == 503
    assert body["error"]["code"] == "model_starting"
    assert body["error"]["model_status"] == "STARTING"
    assert int(headers["Retry-After"]) > 0


def test_starting_model_gives_model_not_running_and_no_second_start(api: Api) -> None:
    api.promote()
    not_ready(api, "STARTING", {"ProjectArn": PROJECT, "VersionNames": ["v1"]})

    status, body, headers = api.call(
        rest_event("POST", "/v1/labels", labels_body({"bytes": b64(JPEG)}))
    )

    assert (status, body["error"]["code"], body["error"]["model_status"]) == (
        503,
        "model_not_running",
        "STARTING",
    )
    assert "Retry-After" in headers


def test_no_promoted_model_is_409_with_what_to_do(api: Api) -> None:
    status, body, _ = api.call(rest_event("POST", "/v1/labels", labels_body({"bytes": b64(JPEG)})))

    assert status == 409
    assert body["error"]["code"] == "no_active_model"
    assert "promote" in body["error"]["message"]


@pytest.mark.parametrize(
    ("aws_code", "status", "code"),
    [
        ("ThrottlingException", 429, "throttled"),
        ("ProvisionedThroughputExceededException", 429, "throttled"),
        ("InvalidImageFormatException", 400, "invalid_image"),
        ("AccessDeniedException", 502, "upstream_access_denied"),
        ("InternalServerError", 503, "upstream_unavailable"),
    ],
)
def test_rekognition_errors_are_mapped(api: Api, aws_code: str, status: int, code: str) -> None:
    api.promote()
    api.stubber.add_client_error(
        "detect_custom_labels",
        service_error_code=aws_code,
        http_status_code=500 if aws_code == "InternalServerError" else 400,
    )

    got_status, body, headers = api.call(
        rest_event("POST", "/v1/labels", labels_body({"bytes": b64(JPEG)}))
    )

    assert (got_status, body["error"]["code"]) == (status, code)
    assert aws_code not in body["error"]["message"] or status == 400  # causes are logged, not sent
    if status in (429, 503):
        assert "Retry-After" in headers


# --- bad input matrix ------------------------------------------------------------


def _big_jpeg(size: int) -> bytes:
    return b"\xff\xd8\xff\xe0" + b"\x00" * (size - 4)


BAD_INPUTS = [
    ("malformed-json", rest_event("POST", "/v1/labels", raw_body="{not json"), 400, "invalid_json"),
    (
        "wrong-content-type",
        rest_event("POST", "/v1/labels", labels_body({"bytes": b64(JPEG)}), content_type="text/plain"),
        415,
        "unsupported_media_type",
    ),
    ("missing-image", rest_event("POST", "/v1/labels", {}), 400, "invalid_request"),
    ("both-bytes-and-key", rest_event("POST", "/v1/labels", labels_body({"bytes": "AA==", "s3_key": "k"})), 400, "invalid_request"),
    ("unknown-field", rest_event("POST", "/v1/labels", labels_body({"bytes": "AA=="}, colour="red")), 400, "invalid_request"),
    ("invalid-base64", rest_event("POST", "/v1/labels", labels_body({"bytes": "not base64!!"})), 400, "invalid_base64"),
    ("not-an-image", rest_event("POST", "/v1/labels", labels_body({"bytes": b64(b"hello world")})), 415, "unsupported_format"),
    ("gif", rest_event("POST", "/v1/labels", labels_body({"bytes": b64(image_bytes(100, 100, "GIF"))})), 415, "unsupported_format"),
    ("heic", rest_event("POST", "/v1/labels", labels_body({"bytes": b64(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64)})), 415, "unsupported_format"),
    ("1x1", rest_event("POST", "/v1/labels", labels_body({"bytes": b64(image_bytes(1, 1, "PNG"))})), 400, "image_too_small"),
    ("5000x5000", rest_event("POST", "/v1/labels", labels_body({"bytes": b64(image_bytes(5000, 5000, "PNG"))})), 400, "image_dimensions"),
    ("aspect-21-to-1", rest_event("POST", "/v1/labels", labels_body({"bytes": b64(image_bytes(2100, 100, "PNG"))})), 400, "image_aspect_ratio"),
    ("4MB-plus-1", rest_event("POST", "/v1/labels", labels_body({"bytes": b64(_big_jpeg(4 * 1024 * 1024 + 1))})), 413, "image_too_large"),
    ("face-79px", rest_event("POST", "/v1/faces/analyze", {"image": {"bytes": b64(image_bytes(79, 200))}}), 400, "image_too_small"),
    ("other-users-key", rest_event("POST", "/v1/labels", labels_body({"s3_key": f"users/{OTHER_USER}/a.jpg"})), 403, "forbidden_key"),
    ("escaping-key", rest_event("POST", "/v1/labels", labels_body({"s3_key": f"users/{USER}/../{OTHER_USER}/a.jpg"})), 403, "forbidden_key"),
    ("missing-key", rest_event("POST", "/v1/labels", labels_body({"s3_key": f"users/{USER}/nope.jpg"})), 404, "upload_not_found"),
    ("min-confidence-101", rest_event("POST", "/v1/labels", labels_body({"bytes": b64(JPEG)}, min_confidence=101)), 400, "invalid_request"),
    ("min-confidence-negative", rest_event("POST", "/v1/labels", labels_body({"bytes": b64(JPEG)}, min_confidence=-1)), 400, "invalid_request"),
    ("max-results-0", rest_event("POST", "/v1/labels", labels_body({"bytes": b64(JPEG)}, max_results=0)), 400, "invalid_request"),
    ("upload-gif-type", rest_event("POST", "/v1/uploads", {"content_type": "image/gif", "content_length": 10}), 400, "invalid_request"),
    ("upload-16MB", rest_event("POST", "/v1/uploads", {"content_type": "image/jpeg", "content_length": 16 * 1024 * 1024}), 400, "invalid_request"),
    ("unknown-route", rest_event("POST", "/v1/nothing", {}), 404, "not_found"),
    ("wrong-method", rest_event("DELETE", "/v1/labels"), 404, "not_found"),
    ("no-user", rest_event("POST", "/v1/labels", labels_body({"bytes": b64(JPEG)}), user=None), 401, "unauthenticated"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("event", "status", "code"), [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_gets_the_documented_status_and_code(
    api: Api, event: dict[str, Any], status: int, code: str
) -> None:
    api.promote()

    got_status, body, _ = api.call(event)

    assert (got_status, body["error"]["code"]) == (status, code), body
    assert got_status < 500
    assert set(body["error"]) >= {"code", "message", "field"}
    assert "Traceback" not in json.dumps(body)


def test_field_is_named_in_validation_errors(api: Api) -> None:
    status, body, _ = api.call(
        rest_event("POST", "/v1/labels", labels_body({"bytes": b64(JPEG)}, min_confidence=150))
    )

    assert status == 400
    assert body["error"]["field"] == "min_confidence"


def test_oversize_upload_key_is_413(api: Api) -> None:
    api.promote()
    key = api.upload(data=b"\xff\xd8" + b"\x00" * (15 * 1024 * 1024 + 1))

    status, body, _ = api.call(rest_event("POST", "/v1/labels", labels_body({"s3_key": key})))

    assert (status, body["error"]["code"]) == (413, "image_too_large")


def test_unexpected_failure_is_a_json_500_without_trace(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: Any, **__: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(images, "presign_upload", boom)

    status, body, _ = api.call(
        rest_event("POST", "/v1/uploads", {"content_type": "image/png", "content_length": 10})
    )

    assert status == 500
    assert body["error"]["code"] == "internal_error"
    assert "secret" not in json.dumps(body)


@pytest.fixture
def cors_handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The handler module as a stage with a web origin configures it, restored afterwards."""

    monkeypatch.setenv("ALLOWED_ORIGINS", "https://app.example.com")
    yield reload_handler()
    monkeypatch.delenv("ALLOWED_ORIGINS")
    reload_handler()


def test_cors_headers_only_for_the_configured_origin(api: Api, cors_handler: Any) -> None:
    cors_handler.settings = lambda: SETTINGS
    cors_handler.clients = lambda: api.clients
    api.promote()
    api.stubber.add_response("describe_project_versions", {"ProjectVersionDescriptions": []})
    api.stubber.add_response("describe_project_versions", {"ProjectVersionDescriptions": []})

    def get(origin: str) -> dict[str, Any]:
        event = rest_event("GET", "/v1/models", content_type=None)
        event["headers"]["Origin"] = origin
        event["multiValueHeaders"]["Origin"] = [origin]
        response = cors_handler.lambda_handler(event, LambdaContext())
        assert response["statusCode"] == 200
        return {k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()}

    allowed = get("https://app.example.com")
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert allowed["Access-Control-Expose-Headers"] == "Retry-After"
    assert "Access-Control-Allow-Origin" not in get("https://evil.example.net")


# --- recorded answers the quick-test page is tested and previewed with --------

RECORDED = Path(__file__).resolve().parents[3] / "assets" / "web" / "recorded"
RECORDED_CASES = {
    # file: (route, Rekognition operation)
    "labels": ("/v1/labels", "detect_custom_labels"),
    "faces-search": ("/v1/faces/search", "search_users_by_image"),
    "faces-analyze": ("/v1/faces/analyze", "detect_faces"),
}


@pytest.mark.parametrize("case", sorted(RECORDED_CASES))
def test_recorded_page_responses_are_the_handlers_answers(api: Api, case: str) -> None:
    route, operation = RECORDED_CASES[case]
    api.promote()
    rekognition_answer = json.loads((RECORDED / "rekognition" / f"{case}.json").read_text())
    photo = JPEG
    if case == "faces-search":  # the group photo: one DetectFaces, one search per face
        photo = group_photo()
        api.stubber.add_response("detect_faces", rekognition_answer["DetectFaces"])
        for found in rekognition_answer["SearchUsersByImage"]:
            api.stubber.add_response(operation, found)
    else:
        api.stubber.add_response(operation, rekognition_answer)
    body: dict[str, Any] = {"image": {"s3_key": api.upload(data=photo)}}
    if case == "labels":
        body.update(min_confidence=0, max_results=50)  # what the page sends

    status, answer, _ = api.call(rest_event("POST", route, body))

    assert status == 200
    path = RECORDED / f"{case}.json"
    if os.environ.get("RECORD") == "1":
        path.write_text(json.dumps(answer, indent=2, ensure_ascii=False) + "\n")
    assert json.loads(path.read_text()) == answer, f"{path} is stale: rerun with RECORD=1"


def test_demand_is_recorded_for_the_adaptive_policy_served_or_not(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A served inference and a request the model was not running for both append their
    minute to recent_demand (the cost guard folds it), once a minute; a retry
    (``attempt`` > 1) is not demand again, but says a client is waiting."""
    clock = [1_800_000_000.0]
    monkeypatch.setattr(handler.STATE, "clock", lambda: clock[0])

    def usage() -> dict[str, Any]:
        item: dict[str, Any] = api.clients.dynamodb.get_item(
            TableName="usage", Key={"project_version_arn": {"S": VERSION}}
        )["Item"]
        return item

    def ask(attempt: int = 1) -> int:
        body = {**labels_body({"bytes": b64(JPEG)}), "attempt": attempt}
        status, _, _ = api.call(rest_event("POST", "/v1/labels", body))
        return status

    api.promote()
    not_ready(api, "STARTING")
    assert ask() == 503
    assert "last_inference_at" not in usage()
    assert [int(v["N"]) for v in usage()["recent_demand"]["L"]] == [30_000_000]
    assert usage()["last_demand_at"] == {"N": "1800000000"}

    clock[0] += 120  # the client's retry, after Retry-After: not demand again
    not_ready(api, "STARTING")
    assert ask(attempt=2) == 503
    assert len(usage()["recent_demand"]["L"]) == 1
    assert usage()["last_demand_at"] == {"N": "1800000120"}

    clock[0] += 120
    api.stubber.add_response("detect_custom_labels", {"CustomLabels": []})
    assert ask(attempt=3) == 200  # served: the idle clock, no demand
    assert usage()["last_inference_at"] == {"N": "1800000240"}
    assert len(usage()["recent_demand"]["L"]) == 1

    clock[0] += 60
    api.stubber.add_response("detect_custom_labels", {"CustomLabels": []})
    assert ask() == 200  # a new request, served: demand in its minute
    api.stubber.add_response("detect_custom_labels", {"CustomLabels": []})
    assert ask() == 200  # another in the same minute: that minute is recorded already
    assert [int(v["N"]) for v in usage()["recent_demand"]["L"]] == [30_000_000, 30_000_005]


# --- one demand stream: what the API records is what the simulator replays --------


def _replay_through_the_api(
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
    timeline: list[str],
    arrivals: list[int],
    *,
    send_attempts: bool,
    start: float,
    retry_after: int,
    patience: int,
) -> list[int]:
    """Every request of ``arrivals`` (minutes from ``start``) sent to the handler with its
    client's retries every ``retry_after`` minutes until served (the model's status in each
    minute is the simulator's ``timeline``); the epoch minutes the API appended to
    ``recent_demand``."""
    clock = [start]
    monkeypatch.setattr(handler.STATE, "clock", lambda: clock[0])
    events = [(minute, 1) for minute in arrivals]  # (minute, attempt)
    while events:
        events.sort()
        minute, attempt = events.pop(0)
        clock[0] = start + minute * 60 + attempt  # seconds apart within a minute
        if timeline[minute] == "RUNNING":
            api.stubber.add_response("detect_custom_labels", {"CustomLabels": []})
        else:
            not_ready(api, "STARTING")
        body = {**labels_body({"bytes": b64(JPEG)}), "attempt": attempt if send_attempts else 1}
        status, _, _ = api.call(rest_event("POST", "/v1/labels", body))
        asked = minute - (attempt - 1) * retry_after
        if status == 503 and minute + retry_after - asked <= patience:
            events.append((minute + retry_after, attempt + 1))
    item = api.clients.dynamodb.get_item(
        TableName="usage", Key={"project_version_arn": {"S": VERSION}}
    )["Item"]
    return [int(v["N"]) for v in item["recent_demand"]["L"]]


def test_the_api_records_the_demand_stream_the_simulator_replays(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from cost_guard.policy import PolicySettings

    from tools.cost.simulator import SimulationSettings, Trace, simulate_guard

    begin = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    arrivals = [0, 0, 1, 3, 7, 7, 12, 13, 30, 31, 45, 80, 81, 81, 95]
    trace = Trace(
        [begin + timedelta(minutes=m, seconds=5) for m in arrivals],
        begin,
        begin + timedelta(hours=3),
    )
    settings = SimulationSettings(
        policy=PolicySettings(idle_stop_minutes=15, daily_unit_hour_cap=8),
        schedule_period_minutes=5,
        auto_start_on_demand=True,
        start_latency_minutes=10,
    )
    timeline: list[str] = []
    simulated: list[int] = []
    simulate_guard(trace, settings, timeline=timeline, demand=simulated)
    assert "STOPPED" in timeline  # retries really happen
    assert "RUNNING" in timeline
    api.promote()

    recorded = _replay_through_the_api(
        api,
        monkeypatch,
        timeline,
        arrivals,
        send_attempts=True,
        start=begin.timestamp(),
        retry_after=settings.retry_after_minutes,
        patience=settings.client_patience_minutes,
    )

    assert recorded == simulated


def test_retries_sent_as_new_requests_would_count_demand_again(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old stream: every retry is recorded as demand, which the simulator never replays."""
    begin = 1_798_000_000 - 1_798_000_000 % 60
    timeline = ["STARTING"] * 10 + ["RUNNING"] * 5
    api.promote()

    recorded = _replay_through_the_api(
        api,
        monkeypatch,
        timeline,
        [0],
        send_attempts=False,
        start=begin,
        retry_after=2,
        patience=30,
    )
    api.stubber.assert_no_pending_responses()

    assert recorded == [begin // 60 + m for m in (0, 2, 4, 6, 8, 10)]
