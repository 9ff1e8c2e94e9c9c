"""``POST /v1/labels`` while the model is not RUNNING: provisional answers, and their faults.

Bedrock and S3 Vectors are played by botocore's ``Stubber`` (request shapes
checked against their service models, InvokeModel's body compared byte for
byte with the documented Titan shape) and by raw HTTP answers and transport
errors through botocore's own parser and retries. Every fault answers the 503
the stage gives without provisional answers, with the reason in
``error.provisional``.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.response import StreamingBody
from inference_api import handler, labels
from shared.embeddings import TITAN

from tests.functions.inference_api.test_faults import (
    AWS_MESSAGE,
    PROJECT,
    SETTINGS,
    USAGE_TABLE,
    VERSION,
    Aws,
    aws,  # noqa: F401 (the fixture)
    http_answer,
    labels_event,
    logged,
    transport_error,
)
from tests.support.api_events import b64, image_bytes, rest_event

INDEX = (
    "arn:aws:s3vectors:ap-northeast-1:123456789012:bucket/imgrec-dev-vectors/index/labelled-photos"
)
PROVISIONAL = replace(
    SETTINGS,
    provisional_enabled=True,
    photo_index_arn=INDEX,
    training_bucket="imgrec-dev-training",
)
PHOTO = image_bytes(640, 480)
VECTOR = [0.01 * (i % 7) for i in range(TITAN.dimension)]


@pytest.fixture(autouse=True)
def provisional_stage(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler, "settings", lambda: PROVISIONAL)


def not_running(aws: Aws, status: str, usage: dict[str, Any] | None = None) -> None:
    """DetectCustomLabels: not ready; demand recorded; DescribeProjectVersions: ``status``;
    the usage item read (STOPPED: the cap and sustained demand; STARTING: the estimate)."""
    aws.pointer()
    aws.rekognition.add_client_error(
        "detect_custom_labels", "ResourceNotReadyException", AWS_MESSAGE, 400
    )
    aws.dynamodb.add_response("update_item", {})
    aws.rekognition.add_response(
        "describe_project_versions",
        {"ProjectVersionDescriptions": [{"ProjectVersionArn": VERSION, "Status": status}]},
        {"ProjectArn": PROJECT, "VersionNames": ["qr-v1"]},
    )
    aws.dynamodb.add_response(
        "get_item",
        {"Item": usage or {}},
        {
            "TableName": USAGE_TABLE,
            "Key": {"project_version_arn": {"S": VERSION}},
            "ProjectionExpression": labels.USAGE_ATTRIBUTES,
        },
    )


def started(aws: Aws) -> None:
    aws.rekognition.add_response(
        "start_project_version",
        {"Status": "STARTING"},
        {"ProjectVersionArn": VERSION, "MinInferenceUnits": 1},
    )
    aws.dynamodb.add_response("update_item", {})  # start_requested_at


def embedded(aws: Aws, photo: bytes = PHOTO, vector: list[float] | None = None) -> None:
    body = json.dumps({"embedding": vector or VECTOR, "inputTextTokenCount": 0}).encode()
    aws.bedrock.add_response(
        "invoke_model",
        {"body": StreamingBody(io.BytesIO(body), len(body)), "contentType": "application/json"},
        {
            "modelId": "amazon.titan-embed-image-v1",
            "body": TITAN.request_body(photo, "JPEG"),
            "contentType": "application/json",
            "accept": "application/json",
        },
    )


def neighbours(*found: tuple[str, float]) -> list[dict[str, Any]]:
    return [
        {
            "key": f"k{i}",
            "distance": 1 - similarity,
            "metadata": {
                "label": label,
                "split": "train",
                "s3_key": f"datasets/qr/{label}/{i}.jpg",
            },
        }
        for i, (label, similarity) in enumerate(found)
    ]


def queried(aws: Aws, vectors: list[dict[str, Any]]) -> None:
    aws.s3vectors.add_response(
        "query_vectors",
        {"vectors": vectors, "distanceMetric": "cosine"},
        {
            "indexArn": INDEX,
            "topK": 5,
            "queryVector": {"float32": VECTOR},
            "returnMetadata": True,
            "returnDistance": True,
        },
    )


NEAR = neighbours(("with_qr", 0.9), ("with_qr", 0.8), ("without_qr", 0.7), ("without_qr", 0.3))


def test_a_stopped_model_is_started_and_the_nearest_photos_answer_meanwhile(aws: Aws) -> None:
    not_running(aws, "STOPPED")
    started(aws)
    embedded(aws)
    queried(aws, NEAR)

    status, body, _ = aws.call(labels_event())

    assert status == 200
    assert body["source"] == "provisional"
    assert (body["model_version"], body["model_status"]) == ("qr-v1", "STARTING")
    assert body["ready_in_minutes"] == round(labels.DEFAULT_START_MINUTES)
    assert [(x["name"], round(x["confidence"], 1)) for x in body["labels"]] == [
        ("with_qr", round(100 * 1.7 / 2.4, 1)),
        ("without_qr", round(100 * 0.7 / 2.4, 1)),
    ]
    assert all(x["bounding_box"] is None for x in body["labels"])
    assert [n["label"] for n in body["neighbours"]] == ["with_qr", "with_qr", "without_qr"]
    first = body["neighbours"][0]
    assert first["similarity"] == 0.9
    assert "imgrec-dev-training" in first["thumbnail_url"]
    assert "datasets/qr/with_qr/0.jpg" in first["thumbnail_url"]
    assert "X-Amz-Expires=300" in first["thumbnail_url"]
    assert body["review_requested"] is False


def test_a_starting_model_answers_provisionally_with_the_measured_wait(aws: Aws) -> None:
    now = time.time()
    usage = {
        "start_requested_at": {"N": str(int(now - 4 * 60))},
        "start_latencies": {"L": [{"N": "11"}, {"N": "13"}, {"N": "12"}]},
    }
    not_running(aws, "STARTING", usage)
    embedded(aws)
    queried(aws, NEAR)

    status, body, _ = aws.call(labels_event())

    assert (status, body["source"], body["model_status"]) == (200, "provisional", "STARTING")
    assert body["ready_in_minutes"] == 8  # median 12 measured, 4 gone


def test_require_model_keeps_the_503_and_calls_neither_bedrock_nor_the_index(aws: Aws) -> None:
    not_running(aws, "STARTING")
    event = rest_event(
        "POST", "/v1/labels", {"image": {"bytes": b64(PHOTO)}, "require_model": True}
    )

    status, body, headers = aws.call(event)

    assert (status, body["error"]["code"]) == (503, "model_not_running")
    assert "provisional" not in body["error"]
    assert int(headers["Retry-After"]) > 0


def test_min_confidence_and_max_results_apply_to_provisional_labels(aws: Aws) -> None:
    not_running(aws, "STARTING")
    embedded(aws)
    queried(aws, NEAR)
    event = rest_event(
        "POST",
        "/v1/labels",
        {"image": {"bytes": b64(PHOTO)}, "min_confidence": 50, "max_results": 1},
    )

    status, body, _ = aws.call(event)

    assert status == 200
    assert [x["name"] for x in body["labels"]] == ["with_qr"]


def test_a_running_model_answers_as_the_model(aws: Aws) -> None:
    aws.pointer()
    aws.rekognition.add_response(
        "detect_custom_labels", {"CustomLabels": [{"Name": "with_qr", "Confidence": 97.0}]}
    )
    aws.dynamodb.add_response("update_item", {})

    status, body, _ = aws.call(labels_event())

    assert (status, body["source"], body["labels"][0]["name"]) == (200, "model", "with_qr")
    assert "neighbours" not in body


def expect_503(aws: Aws, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    status, body, headers = aws.call(labels_event())
    assert (status, body["error"]["code"]) == (503, "model_not_running"), body
    assert body["error"]["provisional"] == reason
    assert body["error"]["model_status"] == "STARTING"
    assert int(headers["Retry-After"]) > 0
    assert reason in logged(caplog)


@pytest.mark.parametrize(
    ("code", "http", "reason"),
    [
        ("ThrottlingException", 429, "embedding_throttled"),
        ("ModelNotReadyException", 429, "embedding_throttled"),
        ("ServiceQuotaExceededException", 400, "embedding_throttled"),
        # Model access never enabled in the Bedrock console answers AccessDenied (403).
        ("AccessDeniedException", 403, "embedding_access_denied"),
        ("ValidationException", 400, "embedding_refused"),
        ("ModelTimeoutException", 408, "embedding_unavailable"),
        ("ModelErrorException", 424, "embedding_unavailable"),
        ("InternalServerException", 500, "embedding_unavailable"),
        ("ServiceUnavailableException", 503, "embedding_unavailable"),
    ],
)
def test_bedrock_faults_fall_back_to_the_503(
    aws: Aws, code: str, http: int, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    not_running(aws, "STARTING")
    aws.bedrock.add_client_error("invoke_model", code, AWS_MESSAGE, http)

    expect_503(aws, reason, caplog)


def test_a_bedrock_read_timeout_is_retried_then_falls_back(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    not_running(aws, "STARTING")
    client = aws.without_stubber("bedrock")
    attempts = transport_error(
        client, "InvokeModel", ReadTimeoutError(endpoint_url="https://bedrock-runtime")
    )

    expect_503(aws, "embedding_unavailable", caplog)
    assert len(attempts) == 2


def test_bedrock_throttling_as_raw_http_goes_through_botocores_parser(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    not_running(aws, "STARTING")
    client = aws.without_stubber("bedrock")
    body = json.dumps({"message": "Too many requests, please wait before trying again."})
    attempts = http_answer(client, "InvokeModel", 429, body.encode())

    expect_503(aws, "embedding_throttled", caplog)
    assert len(attempts) == 2


def test_an_answer_without_a_vector_falls_back(aws: Aws, caplog: pytest.LogCaptureFixture) -> None:
    not_running(aws, "STARTING")
    embedded(aws, vector=[0.5] * 3)

    expect_503(aws, "embedding_refused", caplog)


def test_a_photo_over_the_models_pixels_is_not_sent_to_bedrock(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    big = image_bytes(2100, 1000)
    not_running(aws, "STARTING")

    status, body, _ = aws.call(rest_event("POST", "/v1/labels", {"image": {"bytes": b64(big)}}))

    assert (status, body["error"]["provisional"]) == (503, "image_over_model_limits")


@pytest.mark.parametrize(
    ("code", "http"),
    [
        ("NotFoundException", 404),
        ("AccessDeniedException", 403),
        ("TooManyRequestsException", 429),
        ("ServiceUnavailableException", 503),
        ("ValidationException", 400),
        ("KmsDisabledException", 400),
    ],
)
def test_index_faults_fall_back_to_the_503(
    aws: Aws, code: str, http: int, caplog: pytest.LogCaptureFixture
) -> None:
    not_running(aws, "STARTING")
    embedded(aws)
    aws.s3vectors.add_client_error("query_vectors", code, AWS_MESSAGE, http)

    expect_503(aws, "index_unavailable", caplog)


def test_an_index_timeout_is_retried_then_falls_back(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    not_running(aws, "STARTING")
    embedded(aws)
    client = aws.without_stubber("s3vectors")
    attempts = transport_error(
        client, "QueryVectors", ReadTimeoutError(endpoint_url="https://s3vectors")
    )

    expect_503(aws, "index_unavailable", caplog)
    assert len(attempts) == 2


def test_an_empty_index_falls_back(aws: Aws, caplog: pytest.LogCaptureFixture) -> None:
    not_running(aws, "STARTING")
    embedded(aws)
    queried(aws, [])

    expect_503(aws, "index_empty", caplog)


def test_no_photo_similar_enough_falls_back_rather_than_an_empty_list(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    not_running(aws, "STARTING")
    embedded(aws)
    queried(aws, neighbours(("with_qr", 0.55), ("without_qr", 0.2)))

    expect_503(aws, "no_similar_photo", caplog)


def test_an_upload_is_read_back_for_the_embedding(aws: Aws) -> None:
    from tests.functions.inference_api.test_faults import BUCKET

    key = "users/11111111-2222-3333-4444-555555555555/0f8fad5b-d9cb-469f-a165-70867728950e.jpg"
    aws.head(key, len(PHOTO))
    not_running(aws, "STARTING")
    aws.s3.add_response(
        "get_object",
        {"Body": StreamingBody(io.BytesIO(PHOTO), len(PHOTO))},
        {"Bucket": BUCKET, "Key": key},
    )
    embedded(aws)
    queried(aws, NEAR)

    status, body, _ = aws.call(labels_event(s3_key=key))

    assert (status, body["source"]) == (200, "provisional")


def test_sustained_auto_start_waits_for_enough_minutes_of_demand(
    aws: Aws, monkeypatch: Any
) -> None:
    sustained = replace(PROVISIONAL, sustained_minutes_with_requests=3, sustained_within_minutes=10)
    monkeypatch.setattr(handler, "settings", lambda: sustained)
    minute = int(time.time() // 60)
    two_in_window = {
        "demand_window": {"L": [{"N": str(m)} for m in (minute - 30, minute - 2, minute)]}
    }
    not_running(aws, "STOPPED", two_in_window)  # 2 of the 3 needed within 10 minutes
    embedded(aws)
    queried(aws, NEAR)

    status, body, _ = aws.call(labels_event())

    assert (status, body["source"], body["model_status"]) == (200, "provisional", "STOPPED")
    assert body["start_reason"] == "sustained_demand"
    assert body["ready_in_minutes"] is None


def test_sustained_demand_starts_the_model(aws: Aws, monkeypatch: Any) -> None:
    sustained = replace(PROVISIONAL, sustained_minutes_with_requests=3, sustained_within_minutes=10)
    monkeypatch.setattr(handler, "settings", lambda: sustained)
    minute = int(time.time() // 60)
    # Recorded by this request's own demand write just before: its minute is in.
    window = {"demand_window": {"L": [{"N": str(m)} for m in (minute - 5, minute - 2, minute)]}}
    not_running(aws, "STOPPED", window)
    started(aws)
    embedded(aws)
    queried(aws, NEAR)

    status, body, _ = aws.call(labels_event())

    assert (status, body["model_status"], body["start_reason"]) == (200, "STARTING", None)


def test_without_provisional_answers_the_503_has_no_provisional_reason(
    aws: Aws, monkeypatch: Any
) -> None:
    monkeypatch.setattr(handler, "settings", lambda: SETTINGS)
    not_running(aws, "STARTING")

    status, body, _ = aws.call(labels_event())

    assert (status, body["error"]["code"]) == (503, "model_not_running")
    assert "provisional" not in body["error"]
