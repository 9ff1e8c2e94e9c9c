"""Feedback on labels answers: copies into the training data, pending review.

The review itself (the reviewers' routes) is :mod:`inference_api.review`.

Flow (README, "From a wrong answer to a promoted model"):

1. ``POST /v1/feedback``: a person says which label a photo really shows.
   Their upload is **copied** (never moved) from ``users/<sub>/...`` in the
   uploads bucket to ``feedback/<label>/<feedback_id>.<ext>`` in the training
   bucket, the folder-per-label layout ``tools.models manifest`` reads, and an
   item is written to the feedback table with status ``pending``.
2. A labels answer whose best label is under the stage's
   ``review_below_confidence`` is queued the same way by the API itself
   (``origin: low_confidence``, suggested label = the model's best one, or
   ``feedback/_unsorted/`` when it found none).
3. Reviewers (the Cognito group ``shared.layout.REVIEWERS_GROUP``) list pending items
   (``GET /v1/review``) and confirm, correct or discard each
   (``POST /v1/review``). Only ``confirmed`` items are used for training
   (the retraining workflow reads the table, not the prefix); a correction
   copies the object to the new label's folder and deletes the old copy; a
   discard deletes the copy.

Feedback ids are derived from the source (the upload's key), so a retried
request, or a person's feedback on an answer the API had already queued,
rewrites the same item and object instead of making a second one.

Table item (partition ``feedback_id``; index ``shared.layout.FEEDBACK_BY_STATUS_INDEX`` on
``status`` then ``created_at``): ``status`` (pending | confirmed |
discarded), ``created_at`` (ISO 8601 UTC), ``origin`` (person |
low_confidence), ``user_id`` (Cognito sub of who sent it), ``source_key``,
``training_key``, ``label`` (absent while unsorted), ``model_version``,
``answered`` (list of {name, confidence}), ``answered_label``,
``answered_confidence`` (percent), ``agreed`` (the person chose the model's
best label), ``answer_source`` (model | provisional: what gave the answer),
``reviewed_by``, ``reviewed_at``, ``trained_in`` (the version name of the first
training that used it), ``boxes`` (object detection: ``[{label, left, top, width,
height}]`` as ratios of the photo, the objects as the person drew them).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.imaging import HEADER_BYTES, TRAINING
from shared.layout import FEEDBACK_PREFIX, UNSORTED

from inference_api.calls import Clients, Settings, State, aws
from inference_api.errors import ApiError
from inference_api.images import NOT_FOUND_CODES, checked_image, own_upload, read_upload
from inference_api.model_versions import active_version, version_name

TRAINING_LIMITS = TRAINING
"""A feedback photo becomes a training image: :data:`shared.imaging.TRAINING`'s limits."""
LABEL_PATTERN = re.compile(r"^[^\W_][\w .\-]{0,99}$")
"""Labels are folder names: a letter or digit (any script) first, then letters,
digits, ``_``, ``-``, ``.`` or spaces, at most 100 characters (Custom Labels
allows 1-255: https://docs.aws.amazon.com/rekognition/latest/APIReference/API_DatasetLabelDescription.html)."""


def check_label(label: str, field_name: str = "label") -> str:
    """``label`` stripped and in Unicode NFC (so an NFD ``café`` is the same label as
    an NFC one), or 400 ``invalid_label`` naming the rule."""
    value = unicodedata.normalize("NFC", label).strip()
    if not LABEL_PATTERN.fullmatch(value) or value.endswith("."):
        raise ApiError(
            400,
            "invalid_label",
            f"{field_name} {label!r} is not a usable label: 1-100 letters, digits, spaces, "
            "'_', '-' or '.', starting with a letter or digit, not ending with '.'",
            field_name,
        )
    return value


def feedback_id_for(source: str) -> str:
    """32 hex characters derived from the source (an upload key or image bytes' digest)."""
    return hashlib.sha256(source.encode()).hexdigest()[:32]


def training_key(label: str | None, feedback_id: str, extension: str) -> str:
    return f"{FEEDBACK_PREFIX}{label or UNSORTED}/{feedback_id}.{extension}"


def extension_of(key: str) -> str:
    suffix = key.rsplit(".", 1)[-1].lower() if "." in key else ""
    return suffix if suffix in {"jpg", "jpeg", "png"} else "jpg"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _fold(label: str) -> str:
    """The form two labels are compared in: NFKC (full-width to ASCII), case-folded."""
    return unicodedata.normalize("NFKC", label).casefold()


def metric_label(label: str) -> str:
    """``label`` as a CloudWatch dimension value, which must be ASCII: itself when it is,
    else its Punycode form (RFC 3492, ``xn--`` as in domain names), reversible and
    distinct per label (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Dimension.html)."""
    if label.isascii():
        return label
    return "xn--" + label.encode("punycode").decode("ascii")


def check_known(state: State, label: str, *, new_label: bool, field_name: str = "label") -> str:
    """``label`` checked, and known to the promoted version unless ``new_label``.

    :raises ApiError: 400 ``invalid_label`` or ``unknown_label`` naming ``field_name``.
    """
    # Full-width or case variants of a known label are that label, never a new one.
    same = {_fold(known): known for known in state.known_labels}.get(_fold(label.strip()))
    label = same or check_label(label, field_name)
    if label not in state.known_labels and not new_label:
        known = sorted(state.known_labels)
        listed = ", ".join(known[:30]) + (" ..." if len(known) > 30 else "")
        raise ApiError(
            400,
            "unknown_label",
            f"{field_name} {label!r} is not a label of the project (known: {listed or 'none'}); "
            "send new_label: true to propose a new one",
            field_name,
        )
    return label


def _check_pixels(settings: Settings, clients: Clients, key: str, field_name: str) -> None:
    """Format and size from the upload's first bytes (a ranged GET), against training limits.

    An upload gone since HeadObject (NoSuchKey, or the 403 S3 gives a role that
    may not list) is 404; an empty one (S3 answers a range on it with 416
    ``InvalidRange``) is 400 ``corrupt_image``.
    """
    data = read_upload(settings, clients, key, field_name, first_bytes=HEADER_BYTES)
    checked_image(data, TRAINING_LIMITS, field_name)


def copy_into_training(
    settings: Settings, clients: Clients, source_key: str, target_key: str, source_bucket: str = ""
) -> None:
    """CopyObject into the training bucket, from the uploads bucket unless ``source_bucket``."""
    aws(
        clients,
        "s3",
        "copy_object",
        Bucket=settings.training_bucket,
        Key=target_key,
        CopySource={"Bucket": source_bucket or settings.uploads_bucket, "Key": source_key},
    )


def _pending_item(
    feedback_id: str,
    origin: str,
    user_id: str,
    source: str,
    target: str,
    model_version: str,
    answered: list[tuple[str, float]],
) -> dict[str, Any]:
    """A ``pending`` feedback item (the module docstring lists its attributes), with the
    answer's labels as (name, percent) and its best one as ``answered_label``."""
    item: dict[str, Any] = {
        "feedback_id": {"S": feedback_id},
        "status": {"S": "pending"},
        "created_at": {"S": now_iso()},
        "origin": {"S": origin},
        "user_id": {"S": user_id},
        "source_key": {"S": source},
        "training_key": {"S": target},
        "model_version": {"S": model_version},
        "answered": {
            "L": [
                {"M": {"name": {"S": name}, "confidence": {"N": f"{confidence:.3f}"}}}
                for name, confidence in answered
            ]
        },
    }
    best = max(answered, key=lambda a: a[1], default=None)
    if best is not None:
        item["answered_label"] = {"S": best[0]}
        item["answered_confidence"] = {"N": f"{best[1]:.3f}"}
    return item


def _item(settings: Settings, clients: Clients, feedback_id: str) -> dict[str, Any] | None:
    """The feedback item, read strongly consistent (a decision just made is seen)."""
    item: dict[str, Any] | None = aws(
        clients,
        "dynamodb",
        "get_item",
        TableName=settings.feedback_table,
        Key={"feedback_id": {"S": feedback_id}},
        ConsistentRead=True,
    ).get("Item")
    return item


def decided_answer(item: dict[str, Any], label: str) -> dict[str, Any]:
    """A re-send of feedback a reviewer has decided: the same answer when it agrees with
    the decision (confirmed with this label), else 409 ``already_reviewed``. A decision
    stands: nothing is copied, moved or reopened."""
    status = item.get("status", {}).get("S")
    decided_label = item.get("label", {}).get("S")
    if status == "confirmed" and decided_label == label:
        return {
            "feedback_id": item["feedback_id"]["S"],
            "status": "confirmed",
            "label": label,
            "agreed": bool(item.get("agreed", {}).get("BOOL", False)),
        }
    what = f"confirmed as {decided_label!r}" if status == "confirmed" else str(status)
    raise ApiError(
        409,
        "already_reviewed",
        f"a reviewer has decided this photo already ({what}); the decision stands",
        "s3_key",
    )


def _copy_upload(settings: Settings, clients: Clients, source: str, target: str) -> None:
    """Copy the caller's upload into the training bucket.

    CopyObject answers 403 both for a source that is gone (to a role that may not list the
    uploads bucket) and for a training bucket the function may not write. HeadObject tells
    them apart: the upload is gone (404 ``upload_not_found``), or it is there and the
    training bucket refused (502 ``upstream_access_denied``: an operator's problem).
    """
    try:
        copy_into_training(settings, clients, source, target)
    except ApiError as exc:
        if exc.aws_code not in NOT_FOUND_CODES:
            raise
        if exc.aws_code in {"403", "AccessDenied"}:
            try:
                aws(clients, "s3", "head_object", Bucket=settings.uploads_bucket, Key=source)
            except ApiError as head:
                if head.aws_code not in NOT_FOUND_CODES:
                    raise
            else:
                raise ApiError(
                    502,
                    "upstream_access_denied",
                    "the training bucket refused the copy; the cause is logged",
                    cause=exc.cause,
                    aws_code=exc.aws_code,
                ) from None
        raise ApiError(
            404, "upload_not_found", "no upload with that key", "s3_key", cause=exc.cause
        ) from None


@dataclass(frozen=True)
class _Ratios:
    """A box as ratios of the photo (what :func:`boxes_attribute` reads)."""

    left: float
    top: float
    width: float
    height: float


def boxes_attribute(boxes: list[tuple[str, Any]]) -> dict[str, Any]:
    """The item's ``boxes``: a list of ``{label, left, top, width, height}`` (ratios)."""
    return {
        "L": [
            {
                "M": {
                    "label": {"S": label},
                    **{
                        k: {"N": f"{getattr(box, k):.6f}"}
                        for k in ("left", "top", "width", "height")
                    },
                }
            }
            for label, box in boxes
        ]
    }


def submit(
    settings: Settings, clients: Clients, state: State, user_id: str, request: Any
) -> dict[str, Any]:
    """``POST /v1/feedback``: copy the caller's upload into the training data, pending review.

    Safe to retry: the item and the copy are keyed by the upload. Once a reviewer has
    decided the item, a re-send changes nothing (:func:`decided_answer`).

    :param request: an :class:`inference_api.schema.FeedbackRequest`.
    :returns: ``{"feedback_id", "status": "pending" | "confirmed", "label", "agreed"}``.
    :raises ApiError: 403 ``forbidden_key`` (not the caller's upload), 404
        ``upload_not_found``, 413/415/400 training image limits, 409
        ``no_active_model`` or ``already_reviewed``, 400 ``unknown_label`` /
        ``invalid_label``, and the AWS answers of :func:`inference_api.calls.aws`
        (429, 502, 503).
    """
    own_upload(settings, clients, user_id, request.s3_key, TRAINING_LIMITS, "s3_key")
    active_version(settings, clients, state)  # 409 without a promoted model; reads its labels
    label = check_known(state, request.label, new_label=request.new_label)
    boxes = [
        (
            label
            if box.label == request.label
            else check_known(state, box.label, new_label=False, field_name=f"boxes.{i}.label"),
            box,
        )
        for i, box in enumerate(request.boxes or [])
    ]
    _check_pixels(settings, clients, request.s3_key, "s3_key")
    feedback_id = feedback_id_for(request.s3_key)
    existing = _item(settings, clients, feedback_id)
    if existing is not None and existing.get("status", {}).get("S") != "pending":
        return decided_answer(existing, label)
    target = training_key(label, feedback_id, extension_of(request.s3_key))
    _copy_upload(settings, clients, request.s3_key, target)
    item = _pending_item(
        feedback_id,
        "person",
        user_id,
        request.s3_key,
        target,
        request.model_version,
        [(a.name, a.confidence) for a in request.answered],
    )
    agreed = item.get("answered_label", {}).get("S") == label
    item |= {
        "label": {"S": label},
        "new_label": {"BOOL": label not in state.known_labels},
        "agreed": {"BOOL": agreed},
        "answer_source": {"S": request.answer_source},
    }
    if request.boxes is not None:
        item["boxes"] = boxes_attribute(boxes)
    try:
        previous = aws(
            clients,
            "dynamodb",
            "put_item",
            TableName=settings.feedback_table,
            Item=item,
            ConditionExpression="attribute_not_exists(feedback_id) OR #status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":pending": {"S": "pending"}},
            ReturnValues="ALL_OLD",
        ).get("Attributes", {})
    except ApiError as exc:
        if exc.aws_code != "ConditionalCheckFailedException":
            raise
        decided = _item(settings, clients, feedback_id) or {}
        if decided.get("training_key", {}).get("S") != target:  # our copy is nobody's
            aws(clients, "s3", "delete_object", Bucket=settings.training_bucket, Key=target)
        return decided_answer(decided, label)
    old_key = previous.get("training_key", {}).get("S")
    if old_key and old_key != target:  # the queued copy under the model's label: now moved
        aws(clients, "s3", "delete_object", Bucket=settings.training_bucket, Key=old_key)
    return {"feedback_id": feedback_id, "status": "pending", "label": label, "agreed": agreed}


def queue_low_confidence(
    settings: Settings,
    clients: Clients,
    state: State,
    user_id: str,
    image: dict[str, Any],
    arn: str,
    labels: list[dict[str, Any]],
) -> bool:
    """Queue a labels answer for review when its best label is under the threshold.

    :param image: the ``Image`` argument Rekognition was given (bytes or S3 object).
    :param labels: the answer's labels (``name``, ``confidence``), best first.
    :returns: whether it was queued. A failure is reported to
        ``state.on_review_queue_failure`` and never fails the (billed) answer.
    """
    best = labels[0] if labels else None
    suggested: str | None = best["name"] if best else None
    if settings.review_below_confidence <= 0 or not settings.feedback_table:
        return False
    if best is not None and best["confidence"] >= settings.review_below_confidence:
        return False
    try:
        if "S3Object" in image:
            source = image["S3Object"]["Name"]
            feedback_id = feedback_id_for(source)
            target = training_key(suggested, feedback_id, extension_of(source))
            copy_into_training(settings, clients, source, target)
        else:
            data: bytes = image["Bytes"]
            source = f"bytes:{hashlib.sha256(data).hexdigest()}"
            feedback_id = feedback_id_for(source)
            extension = "png" if data.startswith(b"\x89PNG") else "jpg"
            target = training_key(suggested, feedback_id, extension)
            aws(
                clients,
                "s3",
                "put_object",
                Bucket=settings.training_bucket,
                Key=target,
                Body=data,
                ContentType=f"image/{'png' if extension == 'png' else 'jpeg'}",
            )
        item = _pending_item(
            feedback_id,
            "low_confidence",
            user_id,
            source,
            target,
            version_name(arn),
            [(x["name"], x["confidence"]) for x in labels[:10]],
        )
        if suggested is not None:
            item["label"] = {"S": suggested}
        boxed = [x for x in labels if x.get("bounding_box")]
        if boxed:  # object detection: the reviewer starts from the model's boxes
            item["boxes"] = boxes_attribute(
                [(x["name"], _Ratios(**x["bounding_box"])) for x in boxed[:50]]
            )
        # A person's feedback on this photo may already be there: never overwrite it.
        aws(
            clients,
            "dynamodb",
            "put_item",
            TableName=settings.feedback_table,
            Item=item,
            ConditionExpression="attribute_not_exists(feedback_id)",
        )
    except ApiError as exc:
        if exc.aws_code == "ConditionalCheckFailedException":
            return True
        if state.on_review_queue_failure is not None:
            state.on_review_queue_failure(exc)
        return False
    return True
