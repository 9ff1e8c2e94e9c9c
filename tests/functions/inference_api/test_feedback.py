"""Feedback and the review queue through the real handler, AWS played by botocore's Stubber.

Every AWS request is checked in its exact shape (bucket, key, copy source,
condition expressions); AWS errors are raised as AWS sends them: S3's empty
403 to HeadObject, ``SlowDown`` (HTTP 503) to CopyObject, DynamoDB's
``ProvisionedThroughputExceededException`` and ``ConditionalCheckFailedException``.
Every answer is checked against the OpenAPI contract (``check_contract``).
"""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY
from inference_api import feedback, handler, review
from shared.imaging import HEADER_BYTES

from tests.functions.inference_api.test_faults import (  # noqa: F401  (the aws fixture)
    AWS_MESSAGE,
    BUCKET,
    POINTER_KEY,
    SETTINGS,
    USAGE_TABLE,
    VERSION,
    Aws,
    aws,
    logged,
)
from tests.support.api_events import OTHER_USER, USER, b64, image_bytes, rest_event

TRAINING = "imgrec-dev-training-123456789012"
FEEDBACK_TABLE = "Dev-Data-FeedbackTable-3ABCDEF"
FEEDBACK_SETTINGS = replace(
    SETTINGS, training_bucket=TRAINING, feedback_table=FEEDBACK_TABLE, review_below_confidence=50
)
KEY = f"users/{USER}/0f8fad5b-d9cb-469f-a165-70867728950e.jpg"
FID = feedback.feedback_id_for(KEY)
JPEG = image_bytes(640, 480)
LABELS = ["with_qr", "without_qr"]


@pytest.fixture
def api(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Aws:  # noqa: F811
    """The fault tests' stubbed clients, with a stage that takes feedback."""
    monkeypatch.setattr(handler, "settings", lambda: FEEDBACK_SETTINGS)
    return aws


def pointer(stub: Aws, labels: list[str] | None = LABELS) -> None:
    item: dict[str, Any] = {**POINTER_KEY, "active_project_version_arn": {"S": VERSION}}
    if labels:
        item["labels"] = {"SS": labels}
    stub.dynamodb.add_response(
        "get_item", {"Item": item}, {"TableName": USAGE_TABLE, "Key": POINTER_KEY}
    )


def head(stub: Aws, size: int = len(JPEG), key: str = KEY) -> None:
    stub.s3.add_response(
        "head_object",
        {"ContentLength": size, "ContentType": "image/jpeg"},
        {"Bucket": BUCKET, "Key": key},
    )


def first_bytes(stub: Aws, data: bytes = JPEG, key: str = KEY) -> None:
    """The ranged GET of the upload's header (at most 256 KB come back)."""
    part = data[:HEADER_BYTES]
    stub.s3.add_response(
        "get_object",
        {"Body": StreamingBody(io.BytesIO(part), len(part)), "ContentLength": len(part)},
        {"Bucket": BUCKET, "Key": key, "Range": f"bytes=0-{HEADER_BYTES - 1}"},
    )


def fresh(stub: Aws, item: dict[str, Any] | None = None) -> None:
    """The feedback item read before the copy: none yet (or ``item``)."""
    stub.dynamodb.add_response(
        "get_item",
        {"Item": item} if item else {},
        {"TableName": FEEDBACK_TABLE, "Key": {"feedback_id": {"S": FID}}, "ConsistentRead": True},
    )


def copied(stub: Aws, label: str, key: str = KEY, *, read: bool = True) -> str:
    """The copy into the training data (after the item was read, unless ``read`` is False)."""
    if read:
        fresh(stub)
    target = f"feedback/{label}/{FID}.jpg"
    stub.s3.add_response(
        "copy_object",
        {"CopyObjectResult": {"ETag": '"e"'}},
        {"Bucket": TRAINING, "Key": target, "CopySource": {"Bucket": BUCKET, "Key": key}},
    )
    return target


def body(label: str = "with_qr", **extra: Any) -> dict[str, Any]:
    return {
        "s3_key": KEY,
        "model_version": "qr-v1",
        "answered": [
            {"name": "without_qr", "confidence": 81.5},
            {"name": "with_qr", "confidence": 12.0},
        ],
        "label": label,
        **extra,
    }


def feedback_event(payload: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return rest_event("POST", "/v1/feedback", payload if payload is not None else body(**extra))


# --- POST /v1/feedback --------------------------------------------------------------


def test_feedback_copies_the_upload_and_records_it_pending(api: Aws) -> None:
    head(api)
    pointer(api)
    first_bytes(api)
    target = copied(api, "with_qr")
    api.dynamodb.add_response(
        "put_item",
        {},
        {
            "TableName": FEEDBACK_TABLE,
            "ReturnValues": "ALL_OLD",
            "ConditionExpression": "attribute_not_exists(feedback_id) OR #status = :pending",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":pending": {"S": "pending"}},
            "Item": {
                "feedback_id": {"S": FID},
                "status": {"S": "pending"},
                "created_at": ANY,
                "origin": {"S": "person"},
                "user_id": {"S": USER},
                "source_key": {"S": KEY},
                "training_key": {"S": target},
                "label": {"S": "with_qr"},
                "new_label": {"BOOL": False},
                "model_version": {"S": "qr-v1"},
                "answered": {
                    "L": [
                        {"M": {"name": {"S": "without_qr"}, "confidence": {"N": "81.500"}}},
                        {"M": {"name": {"S": "with_qr"}, "confidence": {"N": "12.000"}}},
                    ]
                },
                "agreed": {"BOOL": False},
                "answer_source": {"S": "model"},
                "answered_label": {"S": "without_qr"},
                "answered_confidence": {"N": "81.500"},
            },
        },
    )

    status, answer, _ = api.call(feedback_event())

    assert status == 200
    assert answer == {"feedback_id": FID, "status": "pending", "label": "with_qr", "agreed": False}


def test_feedback_on_a_queued_photo_moves_its_copy_to_the_right_label(api: Aws) -> None:
    """The API had queued it under the model's label; the person's label wins, one copy left."""
    head(api)
    pointer(api)
    first_bytes(api)
    copied(api, "with_qr")
    old = f"feedback/without_qr/{FID}.jpg"
    api.dynamodb.add_response("put_item", {"Attributes": {"training_key": {"S": old}}})
    api.s3.add_response("delete_object", {}, {"Bucket": TRAINING, "Key": old})

    status, answer, _ = api.call(feedback_event())

    assert (status, answer["label"]) == (200, "with_qr")


def test_a_new_label_is_accepted_only_when_said_so(api: Aws) -> None:
    head(api)
    pointer(api)

    status, answer, _ = api.call(feedback_event(label="ISBN 4798045733"))

    assert (status, answer["error"]["code"], answer["error"]["field"]) == (
        400,
        "unknown_label",
        "label",
    )
    assert "with_qr" in answer["error"]["message"]
    assert "new_label" in answer["error"]["message"]

    head(api)  # the pointer (and its labels) is cached for a minute: not read again
    first_bytes(api)
    copied(api, "ISBN 4798045733")
    api.dynamodb.add_response("put_item", {})
    status, answer, _ = api.call(feedback_event(label="ISBN 4798045733", new_label=True))
    assert (status, answer["label"]) == (200, "ISBN 4798045733")


@pytest.mark.parametrize(
    "label",
    ["a/b", "../x", "_unsorted", "x" * 101, "ends.", "tab\there", " "],
)
def test_labels_that_cannot_be_folder_names_are_refused(api: Aws, label: str) -> None:
    head(api)
    pointer(api)

    status, answer, _ = api.call(feedback_event(label=label, new_label=True))

    assert status == 400
    assert answer["error"]["code"] in {"invalid_label", "invalid_request"}
    assert answer["error"]["field"] == "label"


def test_someone_elses_upload_is_403_without_any_aws_call(api: Aws) -> None:
    status, answer, _ = api.call(feedback_event(body(s3_key=f"users/{OTHER_USER}/a.jpg")))

    assert (status, answer["error"]["code"], answer["error"]["field"]) == (
        403,
        "forbidden_key",
        "s3_key",
    )


def test_a_missing_upload_is_404_from_s3s_empty_403(api: Aws) -> None:
    """HeadObject without s3:ListBucket answers a missing key with an empty-bodied 403."""
    api.s3.add_client_error(
        "head_object", "403", "Forbidden", 403, expected_params={"Bucket": BUCKET, "Key": KEY}
    )

    status, answer, _ = api.call(feedback_event())

    assert (status, answer["error"]["code"]) == (404, "upload_not_found")


def test_an_upload_over_the_training_limit_is_413(api: Aws) -> None:
    head(api, size=15 * 1024 * 1024 + 1)

    status, answer, _ = api.call(feedback_event())

    assert (status, answer["error"]["code"], answer["error"]["field"]) == (
        413,
        "image_too_large",
        "s3_key",
    )


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (image_bytes(40, 40), 400, "image_too_small"),
        (image_bytes(5000, 300), 400, "image_dimensions"),
        (b"GIF89a" + b"\0" * 64, 415, "unsupported_format"),
    ],
)
def test_an_upload_rekognition_cannot_train_on_is_refused_before_any_copy(
    api: Aws, data: bytes, status: int, code: str
) -> None:
    head(api, size=len(data))
    pointer(api)
    first_bytes(api, data)

    got, answer, _ = api.call(feedback_event())

    assert (got, answer["error"]["code"]) == (status, code)


@pytest.mark.parametrize(
    ("code", "http", "status", "answer"),
    [
        ("NoSuchKey", 404, 404, "upload_not_found"),  # expired between HEAD and GET
        ("AccessDenied", 403, 404, "upload_not_found"),  # the same, to a role that may not list
        ("InvalidRange", 416, 400, "corrupt_image"),  # an empty upload has no byte 0
        ("InternalError", 500, 503, "upstream_unavailable"),
    ],
)
def test_the_header_read_failing_is_answered_as_what_it_means(
    api: Aws, code: str, http: int, status: int, answer: str
) -> None:
    head(api)
    pointer(api)
    api.s3.add_client_error("get_object", code, "S3 says so", http)

    got, body_, _ = api.call(feedback_event())

    assert (got, body_["error"]["code"]) == (status, answer)


def test_no_promoted_model_is_409(api: Aws) -> None:
    head(api)
    api.dynamodb.add_response("get_item", {}, {"TableName": USAGE_TABLE, "Key": POINTER_KEY})

    status, answer, _ = api.call(feedback_event())

    assert (status, answer["error"]["code"]) == (409, "no_active_model")


def test_throttled_copy_is_429_and_nothing_is_recorded(api: Aws) -> None:
    head(api)
    pointer(api)
    first_bytes(api)
    fresh(api)
    api.s3.add_client_error("copy_object", "SlowDown", "Please reduce your request rate.", 503)

    status, answer, headers = api.call(feedback_event())

    assert (status, answer["error"]["code"]) == (429, "throttled")
    assert int(headers["Retry-After"]) > 0


def test_an_upload_expiring_during_the_copy_is_404(api: Aws) -> None:
    head(api)
    pointer(api)
    first_bytes(api)
    fresh(api)
    api.s3.add_client_error("copy_object", "NoSuchKey", "The specified key does not exist.", 404)

    status, answer, _ = api.call(feedback_event())

    assert (status, answer["error"]["code"]) == (404, "upload_not_found")


def test_throttled_table_write_is_429(api: Aws) -> None:
    head(api)
    pointer(api)
    first_bytes(api)
    copied(api, "with_qr")
    api.dynamodb.add_client_error(
        "put_item", "ProvisionedThroughputExceededException", AWS_MESSAGE, 400
    )

    status, answer, _ = api.call(feedback_event())

    assert (status, answer["error"]["code"]) == (429, "throttled")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({k: v for k, v in body().items() if k != "label"}, "label"),
        (body(answered=[{"name": "x", "confidence": 101}]), "answered.0.confidence"),
        (body(new_label="yes"), "new_label"),
        (body(extra=1), "extra"),
    ],
)
def test_bad_bodies_name_the_field(api: Aws, payload: dict[str, Any], field: str) -> None:
    status, answer, _ = api.call(feedback_event(payload))

    assert (status, answer["error"]["code"], answer["error"]["field"]) == (
        400,
        "invalid_request",
        field,
    )


# --- low-confidence answers go to the queue ---------------------------------------------


def labels_answer(stub: Aws, confidence: float | None) -> None:
    stub.rekognition.add_response(
        "detect_custom_labels",
        {"CustomLabels": [{"Name": "with_qr", "Confidence": confidence}] if confidence else []},
    )
    stub.dynamodb.add_response("update_item", {})


def test_a_low_confidence_answer_is_queued_for_review(api: Aws) -> None:
    head(api)
    pointer(api)
    labels_answer(api, 31.0)
    target = copied(api, "with_qr", read=False)
    api.dynamodb.add_response(
        "put_item",
        {},
        {
            "TableName": FEEDBACK_TABLE,
            "Item": ANY,
            "ConditionExpression": "attribute_not_exists(feedback_id)",
        },
    )

    status, answer, _ = api.call(rest_event("POST", "/v1/labels", {"image": {"s3_key": KEY}}))

    assert (status, answer["review_requested"]) == (200, True)
    assert target == f"feedback/with_qr/{FID}.jpg"


def test_an_answer_with_no_label_is_queued_unsorted_from_its_bytes(api: Aws) -> None:
    pointer(api)
    labels_answer(api, None)
    api.s3.add_response(
        "put_object",
        {},
        {"Bucket": TRAINING, "Key": ANY, "Body": JPEG, "ContentType": "image/jpeg"},
    )
    api.dynamodb.add_response("put_item", {})

    status, answer, _ = api.call(rest_event("POST", "/v1/labels", {"image": {"bytes": b64(JPEG)}}))

    assert (status, answer["review_requested"], answer["labels"]) == (200, True, [])


def test_a_confident_answer_is_not_queued(api: Aws) -> None:
    pointer(api)
    labels_answer(api, 97.0)

    status, answer, _ = api.call(rest_event("POST", "/v1/labels", {"image": {"bytes": b64(JPEG)}}))

    assert (status, answer["review_requested"]) == (200, False)


def test_a_failed_queue_write_keeps_the_billed_answer(
    api: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    head(api)
    pointer(api)
    labels_answer(api, 31.0)
    copied(api, "with_qr", read=False)
    api.dynamodb.add_client_error(
        "put_item", "ProvisionedThroughputExceededException", AWS_MESSAGE, 400
    )

    status, answer, _ = api.call(rest_event("POST", "/v1/labels", {"image": {"s3_key": KEY}}))

    assert (status, answer["review_requested"]) == (200, False)
    assert answer["labels"][0]["name"] == "with_qr"
    assert "review queue write failed" in logged(caplog)


# --- the review queue --------------------------------------------------------------------


def pending_item(label: str | None = "with_qr", status: str = "pending") -> dict[str, Any]:
    item: dict[str, Any] = {
        "feedback_id": {"S": FID},
        "status": {"S": status},
        "created_at": {"S": "2026-11-20T09:00:00+00:00"},
        "origin": {"S": "low_confidence"},
        "training_key": {"S": f"feedback/{label or '_unsorted'}/{FID}.jpg"},
        "model_version": {"S": "qr-v1"},
        "answered_label": {"S": "with_qr"},
        "answered_confidence": {"N": "31.000"},
    }
    if label:
        item["label"] = {"S": label}
    return item


def review_event(action: str, *, groups: str | None = "reviewers", **extra: Any) -> dict[str, Any]:
    return rest_event(
        "POST", "/v1/review", {"feedback_id": FID, "action": action, **extra}, groups=groups
    )


@pytest.mark.parametrize("groups", [None, "admins", "[admins readers]"])
def test_only_reviewers_may_review(api: Aws, groups: str | None) -> None:
    for event in (
        rest_event("GET", "/v1/review", groups=groups),
        review_event("confirm", groups=groups),
    ):
        status, answer, _ = api.call(event)
        assert (status, answer["error"]["code"]) == (403, "not_reviewer")


def test_the_queue_lists_pending_items_oldest_first_with_short_lived_image_urls(api: Aws) -> None:
    pointer(api)
    api.dynamodb.add_response(
        "query",
        {"Items": [pending_item()]},
        {
            "TableName": FEEDBACK_TABLE,
            "IndexName": "by-status",
            "KeyConditionExpression": "#status = :pending",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":pending": {"S": "pending"}},
            "ScanIndexForward": True,
            "Limit": 50,
        },
    )

    status, answer, _ = api.call(rest_event("GET", "/v1/review", groups="[admins reviewers]"))

    assert status == 200
    assert answer["known_labels"] == LABELS
    [item] = answer["items"]
    assert (item["feedback_id"], item["label"], item["origin"]) == (
        FID,
        "with_qr",
        "low_confidence",
    )
    url = urlsplit(item["image_url"])
    assert url.netloc.startswith(TRAINING)
    assert url.path == f"/feedback/with_qr/{FID}.jpg"
    assert parse_qs(url.query)["X-Amz-Expires"] == ["300"]


def _update(stub: Aws, status: str, label: str, key: str, moved_from: str | None = None) -> None:
    moved = {":old": {"S": moved_from}} if moved_from else {}
    stub.dynamodb.add_response(
        "update_item",
        {},
        {
            "TableName": FEEDBACK_TABLE,
            "Key": {"feedback_id": {"S": FID}},
            "UpdateExpression": "SET #status = :status, reviewed_by = :by, reviewed_at = :at, "
            "training_key = :key"
            + (", previous_training_key = :old" if moved_from else "")
            + ", label = :label, agreed = :agreed",
            "ConditionExpression": "#status = :pending",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":status": {"S": status},
                ":pending": {"S": "pending"},
                ":by": {"S": USER},
                ":at": ANY,
                ":key": {"S": key},
                ":label": {"S": label},
                ":agreed": {"BOOL": label == "with_qr"},
                **moved,
            },
        },
    )


def _get(stub: Aws, item: dict[str, Any] | None) -> None:
    stub.dynamodb.add_response(
        "get_item",
        {"Item": item} if item else {},
        {"TableName": FEEDBACK_TABLE, "Key": {"feedback_id": {"S": FID}}, "ConsistentRead": True},
    )


def test_confirm_marks_the_item_for_training(api: Aws) -> None:
    _get(api, pending_item())
    _update(api, "confirmed", "with_qr", f"feedback/with_qr/{FID}.jpg")

    status, answer, _ = api.call(review_event("confirm"))

    assert status == 200
    assert answer == {"feedback_id": FID, "status": "confirmed", "label": "with_qr"}


def test_correct_copies_to_the_right_label_then_deletes_the_old_copy(api: Aws) -> None:
    old, new = f"feedback/with_qr/{FID}.jpg", f"feedback/without_qr/{FID}.jpg"
    _get(api, pending_item())
    pointer(api)
    api.s3.add_response(
        "copy_object",
        {},
        {"Bucket": TRAINING, "Key": new, "CopySource": {"Bucket": TRAINING, "Key": old}},
    )
    _update(api, "confirmed", "without_qr", new, moved_from=old)
    api.s3.add_response("delete_object", {}, {"Bucket": TRAINING, "Key": old})

    status, answer, _ = api.call(review_event("correct", label="without_qr"))

    assert (status, answer["label"], answer["status"]) == (200, "without_qr", "confirmed")


def test_discard_deletes_the_copy(api: Aws) -> None:
    key = f"feedback/with_qr/{FID}.jpg"
    _get(api, pending_item())
    _update(api, "discarded", "with_qr", key)
    api.s3.add_response("delete_object", {}, {"Bucket": TRAINING, "Key": key})

    status, answer, _ = api.call(review_event("discard"))

    assert (status, answer["status"]) == (200, "discarded")


def test_someone_else_reviewed_first_is_409_and_the_new_copy_is_removed(api: Aws) -> None:
    old, new = f"feedback/with_qr/{FID}.jpg", f"feedback/without_qr/{FID}.jpg"
    _get(api, pending_item())
    pointer(api)
    api.s3.add_response("copy_object", {})
    api.dynamodb.add_client_error(
        "update_item", "ConditionalCheckFailedException", "The conditional request failed", 400
    )
    _get(api, {**pending_item(status="confirmed"), "reviewed_by": {"S": "someone else"}})
    api.s3.add_response("delete_object", {}, {"Bucket": TRAINING, "Key": new})

    status, answer, _ = api.call(review_event("correct", label="without_qr"))

    assert (status, answer["error"]["code"]) == (409, "already_reviewed")
    assert old != new


@pytest.mark.parametrize(
    ("item", "event", "status", "code"),
    [
        (pending_item(status="confirmed"), review_event("discard"), 409, "already_reviewed"),
        (None, review_event("confirm"), 404, "feedback_not_found"),
        (pending_item(label=None), review_event("confirm"), 400, "label_required"),
        (pending_item(), review_event("correct"), 400, "label_required"),
    ],
)
def test_review_refusals(
    api: Aws, item: dict[str, Any] | None, event: dict[str, Any], status: int, code: str
) -> None:
    _get(api, item)

    got, answer, _ = api.call(event)

    assert (got, answer["error"]["code"]) == (status, code)


def test_review_bodies_are_validated(api: Aws) -> None:
    status, answer, _ = api.call(review_event("approve"))
    assert (status, answer["error"]["field"]) == (400, "action")
    status, answer, _ = api.call(
        rest_event(
            "POST", "/v1/review", {"feedback_id": "../x", "action": "confirm"}, groups="reviewers"
        )
    )
    assert (status, answer["error"]["field"]) == (400, "feedback_id")


@pytest.mark.parametrize(
    ("claim", "groups"),
    [
        ("reviewers", {"reviewers"}),
        ("[admins reviewers]", {"admins", "reviewers"}),
        ("admins,reviewers", {"admins", "reviewers"}),
        (["reviewers"], {"reviewers"}),
        (None, set()),
    ],
)
def test_group_claims_in_every_shape(claim: Any, groups: set[str]) -> None:
    claims = {"sub": USER} if claim is None else {"sub": USER, "cognito:groups": claim}
    assert review.groups(claims) == groups


# --- object detection: boxes in feedback --------------------------------------------------

BOXES = [
    {"label": "with_qr", "left": 0.1, "top": 0.2, "width": 0.3, "height": 0.25},
    {"label": "without_qr", "left": 0.5, "top": 0.5, "width": 0.2, "height": 0.2},
]


def test_feedback_boxes_are_stored_with_the_item(api: Aws) -> None:
    head(api)
    pointer(api)
    first_bytes(api)
    copied(api, "with_qr")
    stored: list[dict[str, Any]] = []
    api.clients.dynamodb.meta.events.register(
        "before-parameter-build.dynamodb.PutItem", lambda params, **_: stored.append(params)
    )
    api.dynamodb.add_response("put_item", {})

    status, answer, _ = api.call(feedback_event(boxes=BOXES))

    assert (status, answer["status"]) == (200, "pending")
    [put] = stored

    def stored_box(label: str, left: str, top: str, width: str, height: str) -> dict[str, Any]:
        numbers = {"left": left, "top": top, "width": width, "height": height}
        return {"M": {"label": {"S": label}, **{k: {"N": v} for k, v in numbers.items()}}}

    assert put["Item"]["boxes"] == {
        "L": [
            stored_box("with_qr", "0.100000", "0.200000", "0.300000", "0.250000"),
            stored_box("without_qr", "0.500000", "0.500000", "0.200000", "0.200000"),
        ]
    }


@pytest.mark.parametrize(
    ("boxes", "field"),
    [
        ([{**BOXES[0], "left": 0.9}], "boxes.0"),  # past the right edge
        ([{**BOXES[0], "width": 0}], "boxes.0.width"),
        ([{**BOXES[0], "top": -0.1}], "boxes.0.top"),
        ([BOXES[0]] * 51, "boxes"),
    ],
)
def test_a_bad_box_is_400_naming_it(api: Aws, boxes: list[dict[str, Any]], field: str) -> None:
    status, answer, _ = api.call(feedback_event(boxes=boxes))

    assert (status, answer["error"]["code"]) == (400, "invalid_request")
    assert answer["error"]["field"] == field


def test_a_box_of_an_unknown_label_is_400_naming_the_box(api: Aws) -> None:
    head(api)
    pointer(api)

    status, answer, _ = api.call(feedback_event(boxes=[{**BOXES[0], "label": "qr_code"}]))

    assert (status, answer["error"]["code"], answer["error"]["field"]) == (
        400,
        "unknown_label",
        "boxes.0.label",
    )


def test_the_queue_shows_an_items_boxes_and_a_reviewer_replaces_them(api: Aws) -> None:
    boxed = {
        **pending_item(),
        "boxes": {"L": [{"M": {"label": {"S": "with_qr"}, "left": {"N": "0.1"}, "top": {"N": "0.2"},
                               "width": {"N": "0.3"}, "height": {"N": "0.25"}}}]},
    }  # fmt: skip
    pointer(api)
    api.dynamodb.add_response("query", {"Items": [boxed]})

    status, answer, _ = api.call(rest_event("GET", "/v1/review", groups="reviewers"))

    assert status == 200
    assert answer["items"][0]["boxes"] == [
        {"label": "with_qr", "left": 0.1, "top": 0.2, "width": 0.3, "height": 0.25}
    ]

    _get(api, boxed)
    updates: list[dict[str, Any]] = []
    api.clients.dynamodb.meta.events.register(
        "before-parameter-build.dynamodb.UpdateItem", lambda params, **_: updates.append(params)
    )
    api.dynamodb.add_response("update_item", {})
    moved = [{**BOXES[0], "left": 0.15}]

    status, answer, _ = api.call(review_event("confirm", boxes=moved))

    assert (status, answer["status"]) == (200, "confirmed")
    [update] = updates
    assert update["UpdateExpression"].endswith(", boxes = :boxes")
    [box] = update["ExpressionAttributeValues"][":boxes"]["L"]
    assert box["M"]["left"] == {"N": "0.150000"}


def test_a_reviewers_box_of_an_unknown_label_is_400(api: Aws) -> None:
    _get(api, pending_item())
    pointer(api)

    status, answer, _ = api.call(review_event("confirm", boxes=[{**BOXES[0], "label": "cat"}]))

    assert (status, answer["error"]["code"], answer["error"]["field"]) == (
        400,
        "unknown_label",
        "boxes.0.label",
    )


def test_a_low_confidence_detection_is_queued_with_the_models_boxes(api: Aws) -> None:
    head(api)
    pointer(api)
    box = {"Left": 0.25, "Top": 0.5, "Width": 0.125, "Height": 0.25}
    api.rekognition.add_response(
        "detect_custom_labels",
        {
            "CustomLabels": [
                {"Name": "with_qr", "Confidence": 31.0, "Geometry": {"BoundingBox": box}}
            ]
        },
    )
    api.dynamodb.add_response("update_item", {})
    copied(api, "with_qr", read=False)
    stored: list[dict[str, Any]] = []
    api.clients.dynamodb.meta.events.register(
        "before-parameter-build.dynamodb.PutItem", lambda params, **_: stored.append(params)
    )
    api.dynamodb.add_response("put_item", {})

    status, answer, _ = api.call(rest_event("POST", "/v1/labels", {"image": {"s3_key": KEY}}))

    assert (status, answer["review_requested"]) == (200, True)
    [box_item] = stored[0]["Item"]["boxes"]["L"]
    assert box_item["M"]["label"] == {"S": "with_qr"}
    assert {k: box_item["M"][k]["N"] for k in ("left", "top", "width", "height")} == {
        "left": "0.250000",
        "top": "0.500000",
        "width": "0.125000",
        "height": "0.250000",
    }
