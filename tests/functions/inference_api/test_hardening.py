"""Second-round hardening of the API and the review queue (issue #22, items 1-8).

Each test plays AWS with botocore's Stubber, raising errors in the shapes the API
references give (S3's 403 to a copy whose source a role may not list, DynamoDB's
``ConditionalCheckFailedException``, Rekognition's ``InvalidParameterException``).
"""

from __future__ import annotations

from typing import Any

from tests.functions.inference_api.test_faults import (  # noqa: F401  (the aws fixture)
    AWS_MESSAGE,
    BUCKET,
    Aws,
    aws,
)
from tests.functions.inference_api.test_feedback import (  # noqa: F401  (the api fixture)
    FID,
    KEY,
    TRAINING,
    _get,
    _update,
    api,
    body,
    copied,
    feedback_event,
    first_bytes,
    fresh,
    head,
    pending_item,
    pointer,
    review_event,
)
from tests.support.api_events import USER, image_bytes, rest_event

JPEG = image_bytes(640, 480)


# --- 1-4: the request and its caller ----------------------------------------------------


def test_an_unknown_field_inside_a_list_item_is_named_with_what_is_allowed(api: Aws) -> None:
    payload = body(answered=[{"name": "with_qr", "confidence": 12.0, "box": [1, 2]}])

    status, answer, _ = api.call(feedback_event(payload))

    assert (status, answer["error"]["code"]) == (400, "invalid_request")
    assert answer["error"]["field"] == "answered.0.box"
    assert "allowed here: name, confidence" in answer["error"]["message"]


def test_a_feedback_key_over_1024_bytes_is_refused_before_s3_sees_it(api: Aws) -> None:
    key = f"users/{USER}/" + "é" * 500 + ".jpg"  # 500 characters, 1,000 bytes of them
    assert len(key) < 1024 < len(key.encode())

    status, answer, _ = api.call(feedback_event(body(s3_key=key)))

    assert (status, answer["error"]["field"]) == (400, "s3_key")
    assert "bytes of UTF-8" in answer["error"]["message"]


def test_an_invocation_without_request_context_is_401(aws: Aws) -> None:
    event = rest_event("GET", "/v1/models")
    del event["requestContext"]

    status, answer, _ = aws.call(event)

    assert (status, answer["error"]["code"]) == (401, "unauthenticated")


# --- 5-8: decisions stand, races and retries end well, a broken bucket is ours ---------


def _decided(label: str = "with_qr", status: str = "confirmed") -> dict[str, Any]:
    return {**pending_item(label, status=status), "agreed": {"BOOL": True}}


def test_feedback_sent_again_after_a_confirmation_changes_nothing(api: Aws) -> None:
    head(api)
    pointer(api)
    first_bytes(api)
    fresh(api, _decided("with_qr"))

    status, answer, _ = api.call(feedback_event())

    assert status == 200
    assert answer == {"feedback_id": FID, "status": "confirmed", "label": "with_qr", "agreed": True}


def test_feedback_with_another_label_after_a_decision_is_409_and_moves_nothing(
    api: Aws,
) -> None:
    head(api)
    pointer(api)
    first_bytes(api)
    fresh(api, _decided("with_qr"))

    status, answer, _ = api.call(feedback_event(body(label="without_qr")))

    assert (status, answer["error"]["code"]) == (409, "already_reviewed")
    assert "confirmed as 'with_qr'" in answer["error"]["message"]


def test_feedback_racing_a_decision_removes_its_own_copy_and_is_409(api: Aws) -> None:
    head(api)
    pointer(api)
    first_bytes(api)
    target = copied(api, "without_qr")
    api.dynamodb.add_client_error(
        "put_item", "ConditionalCheckFailedException", "The conditional request failed", 400
    )
    _get(api, _decided("with_qr"))
    api.s3.add_response("delete_object", {}, {"Bucket": TRAINING, "Key": target})

    status, answer, _ = api.call(feedback_event(body(label="without_qr")))

    assert (status, answer["error"]["code"]) == (409, "already_reviewed")


def test_a_reviewer_whose_copy_source_was_deleted_by_the_winner_gets_409(api: Aws) -> None:
    _get(api, pending_item())
    pointer(api)
    api.s3.add_client_error("copy_object", "NoSuchKey", "The specified key does not exist.", 404)
    _get(api, _decided("with_qr", status="discarded"))

    status, answer, _ = api.call(review_event("correct", label="without_qr"))

    assert (status, answer["error"]["code"]) == (409, "already_reviewed")


def test_a_retried_discard_finishes_the_delete_the_first_attempt_could_not(api: Aws) -> None:
    key = f"feedback/with_qr/{FID}.jpg"
    _get(api, pending_item())
    _update(api, "discarded", "with_qr", key)
    api.s3.add_client_error("delete_object", "SlowDown", "Please reduce your request rate.", 503)
    _get(api, _decided("with_qr", status="discarded"))
    api.s3.add_response("delete_object", {}, {"Bucket": TRAINING, "Key": key})

    first = api.call(review_event("discard"))
    retry = api.call(review_event("discard"))

    assert (first[0], first[1]["error"]["code"]) == (429, "throttled")
    assert retry[0] == 200
    assert retry[1] == {"feedback_id": FID, "status": "discarded", "label": "with_qr"}


def test_a_retried_correction_removes_the_copy_it_moved_from(api: Aws) -> None:
    old, new = f"feedback/with_qr/{FID}.jpg", f"feedback/without_qr/{FID}.jpg"
    corrected = {
        **_decided("without_qr"),
        "training_key": {"S": new},
        "previous_training_key": {"S": old},
    }
    _get(api, corrected)
    pointer(api)
    api.s3.add_response("delete_object", {}, {"Bucket": TRAINING, "Key": old})

    status, answer, _ = api.call(review_event("correct", label="without_qr"))

    assert (status, answer["status"], answer["label"]) == (200, "confirmed", "without_qr")


def test_a_different_decision_on_a_decided_item_is_409(api: Aws) -> None:
    _get(api, _decided("with_qr"))

    status, answer, _ = api.call(review_event("discard"))

    assert (status, answer["error"]["code"]) == (409, "already_reviewed")


def test_a_training_bucket_refusing_the_copy_is_502_not_an_expired_upload(api: Aws) -> None:
    head(api)
    pointer(api)
    first_bytes(api)
    fresh(api)
    api.s3.add_client_error("copy_object", "AccessDenied", AWS_MESSAGE, 403)
    head(api)  # the upload is still there: the training bucket refused

    status, answer, _ = api.call(feedback_event())

    assert (status, answer["error"]["code"]) == (502, "upstream_access_denied")


def test_a_copy_refused_because_the_upload_is_gone_is_404(api: Aws) -> None:
    head(api)
    pointer(api)
    first_bytes(api)
    fresh(api)
    api.s3.add_client_error("copy_object", "AccessDenied", AWS_MESSAGE, 403)
    api.s3.add_client_error("head_object", "403", "Forbidden", 403)

    status, answer, _ = api.call(feedback_event())

    assert (status, answer["error"]["code"]) == (404, "upload_not_found")
    assert BUCKET not in str(answer)


# --- 9: labels as people type them, metrics CloudWatch can store ----------------------


def test_label_variants_are_the_known_label() -> None:
    import unicodedata

    from inference_api import feedback
    from inference_api.calls import State

    state = State(known_labels=frozenset({"with_qr", "café", "本"}))
    nfd = unicodedata.normalize("NFD", "café")

    assert nfd != "café"
    assert feedback.check_known(state, nfd, new_label=False) == "café"
    assert feedback.check_known(state, "ｗｉｔｈ＿ｑｒ", new_label=False) == "with_qr"  # noqa: RUF001
    assert feedback.check_known(state, "WITH_QR", new_label=True) == "with_qr"
    assert feedback.check_known(state, "ほん", new_label=True) == "ほん"  # really new


def test_label_metrics_use_ascii_dimension_values() -> None:
    from inference_api import feedback

    assert feedback.metric_label("with_qr") == "with_qr"
    assert feedback.metric_label("本").startswith("xn--")
    assert feedback.metric_label("本").isascii()
    assert feedback.metric_label("本") != feedback.metric_label("ほん")


def test_a_model_version_that_cannot_be_one_is_refused(api: Aws) -> None:
    status, answer, _ = api.call(feedback_event(body(model_version="qr v1; drop")))

    assert (status, answer["error"]["field"]) == (400, "model_version")
