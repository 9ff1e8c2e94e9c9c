"""Feedback on labels answers, and the review queue that turns it into training data.

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
3. Reviewers (the Cognito group :data:`REVIEWERS_GROUP`) list pending items
   (``GET /v1/review``) and confirm, correct or discard each
   (``POST /v1/review``). Only ``confirmed`` items are used for training
   (the retraining workflow reads the table, not the prefix); a correction
   copies the object to the new label's folder and deletes the old copy; a
   discard deletes the copy.

Feedback ids are derived from the source (the upload's key), so a retried
request, or a person's feedback on an answer the API had already queued,
rewrites the same item and object instead of making a second one.

Table item (partition ``feedback_id``; index :data:`BY_STATUS_INDEX` on
``status`` then ``created_at``): ``status`` (pending | confirmed |
discarded), ``created_at`` (ISO 8601 UTC), ``origin`` (person |
low_confidence), ``user_id`` (Cognito sub of who sent it), ``source_key``,
``training_key``, ``label`` (absent while unsorted), ``model_version``,
``answered`` (list of {name, confidence}), ``answered_label``,
``answered_confidence`` (percent), ``agreed`` (the person chose the model's
best label), ``reviewed_by``, ``reviewed_at``, ``trained_in`` (the version
name of the first training that used it).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from imaging import HEADER_BYTES, TRAINING

from inference_api.errors import ApiError
from inference_api.service import (
    NOT_FOUND_CODES,
    Clients,
    Settings,
    State,
    active_version,
    aws,
    checked_image,
    own_upload,
    read_upload,
    version_name,
)

FEEDBACK_PREFIX = "feedback/"
UNSORTED = "_unsorted"
"""Folder of queued answers with no label yet (a label cannot start with ``_``)."""
REVIEWERS_GROUP = "reviewers"
BY_STATUS_INDEX = "by-status"
REVIEW_PAGE_SIZE = 50
IMAGE_URL_EXPIRY_SECONDS = 300
TRAINING_LIMITS = TRAINING
"""A feedback photo becomes a training image: :data:`imaging.TRAINING`'s limits."""
LABEL_PATTERN = re.compile(r"^[^\W_][\w .\-]{0,99}$")
"""Labels are folder names: a letter or digit (any script) first, then letters,
digits, ``_``, ``-``, ``.`` or spaces, at most 100 characters (Custom Labels
allows 1-255: https://docs.aws.amazon.com/rekognition/latest/APIReference/API_DatasetLabelDescription.html)."""


def check_label(label: str, field_name: str = "label") -> str:
    """``label`` stripped, or 400 ``invalid_label`` naming the rule."""
    value = label.strip()
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


def _extension(key: str) -> str:
    suffix = key.rsplit(".", 1)[-1].lower() if "." in key else ""
    return suffix if suffix in {"jpg", "jpeg", "png"} else "jpg"


def groups(claims: dict[str, Any]) -> frozenset[str]:
    """The Cognito groups of the caller from the authorizer's claims.

    API Gateway REST hands every claim over as a string: ``cognito:groups`` is
    ``"reviewers"`` for one group and ``"[a b]"`` for several; a list (direct
    invocation) and ``"a,b"`` are read too.
    """
    raw = claims.get("cognito:groups")
    if raw is None:
        return frozenset()
    if isinstance(raw, list | tuple):
        return frozenset(str(g) for g in raw)
    return frozenset(g for g in re.split(r"[\s,]+", str(raw).strip("[]")) if g)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_known(state: State, label: str, *, new_label: bool, field_name: str = "label") -> str:
    label = check_label(label, field_name)
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


def _copy(
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
        "created_at": {"S": _now()},
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


def submit(
    settings: Settings, clients: Clients, state: State, user_id: str, request: Any
) -> dict[str, Any]:
    """``POST /v1/feedback``: copy the caller's upload into the training data, pending review.

    :param request: an :class:`inference_api.models.FeedbackRequest`.
    :returns: ``{"feedback_id", "status": "pending", "label", "agreed"}``.
    :raises ApiError: 403 ``forbidden_key`` (not the caller's upload), 404
        ``upload_not_found``, 413/415/400 training image limits, 409
        ``no_active_model``, 400 ``unknown_label`` / ``invalid_label``, and
        the AWS answers of :func:`inference_api.service.aws` (429, 502, 503).
    """
    own_upload(settings, clients, user_id, request.s3_key, TRAINING_LIMITS, "s3_key")
    active_version(settings, clients, state)  # 409 without a promoted model; reads its labels
    label = _check_known(state, request.label, new_label=request.new_label)
    _check_pixels(settings, clients, request.s3_key, "s3_key")
    feedback_id = feedback_id_for(request.s3_key)
    target = training_key(label, feedback_id, _extension(request.s3_key))
    try:
        _copy(settings, clients, request.s3_key, target)
    except ApiError as exc:
        if exc.aws_code in NOT_FOUND_CODES:  # expired a moment ago
            raise ApiError(
                404, "upload_not_found", "no upload with that key", "s3_key", cause=exc.cause
            ) from None
        raise
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
    }
    previous = aws(
        clients,
        "dynamodb",
        "put_item",
        TableName=settings.feedback_table,
        Item=item,
        ReturnValues="ALL_OLD",
    ).get("Attributes", {})
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
            target = training_key(suggested, feedback_id, _extension(source))
            _copy(settings, clients, source, target)
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


def _require_reviewer(caller_groups: frozenset[str]) -> None:
    if REVIEWERS_GROUP not in caller_groups:
        raise ApiError(
            403,
            "not_reviewer",
            f"only members of the Cognito group '{REVIEWERS_GROUP}' may review feedback; "
            "ask an administrator to add you",
        )


def _s(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return str(value) if value is not None else None


def _n(item: dict[str, Any], name: str) -> float | None:
    value = item.get(name, {}).get("N")
    return float(value) if value is not None else None


def list_pending(
    settings: Settings, clients: Clients, state: State, caller_groups: frozenset[str]
) -> dict[str, Any]:
    """``GET /v1/review``: the oldest :data:`REVIEW_PAGE_SIZE` pending items, with image URLs.

    :returns: ``{"known_labels": [...], "items": [{feedback_id, label, answered_label,
        answered_confidence, model_version, origin, created_at, image_url}]}``; image
        URLs are presigned GETs of the training copy, valid :data:`IMAGE_URL_EXPIRY_SECONDS`.
    :raises ApiError: 403 ``not_reviewer``; the AWS answers of :func:`aws`.
    """
    _require_reviewer(caller_groups)
    try:
        active_version(settings, clients, state)
    except ApiError as exc:
        if exc.code != "no_active_model":
            raise
    items = aws(
        clients,
        "dynamodb",
        "query",
        TableName=settings.feedback_table,
        IndexName=BY_STATUS_INDEX,
        KeyConditionExpression="#status = :pending",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":pending": {"S": "pending"}},
        ScanIndexForward=True,
        Limit=REVIEW_PAGE_SIZE,
    ).get("Items", [])
    answer = []
    for item in items:
        key = _s(item, "training_key")
        url = clients.s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": settings.training_bucket, "Key": key},
            ExpiresIn=IMAGE_URL_EXPIRY_SECONDS,
        )
        answer.append(
            {
                "feedback_id": _s(item, "feedback_id"),
                "label": _s(item, "label"),
                "answered_label": _s(item, "answered_label"),
                "answered_confidence": _n(item, "answered_confidence"),
                "model_version": _s(item, "model_version"),
                "origin": _s(item, "origin") or "person",
                "created_at": _s(item, "created_at"),
                "image_url": url,
            }
        )
    return {"known_labels": sorted(state.known_labels), "items": answer}


def review(
    settings: Settings,
    clients: Clients,
    state: State,
    user_id: str,
    caller_groups: frozenset[str],
    request: Any,
) -> dict[str, Any]:
    """``POST /v1/review``: confirm, correct (with ``label``) or discard one pending item.

    :param request: an :class:`inference_api.models.ReviewRequest`.
    :returns: ``{"feedback_id", "status", "label"}`` after the change.
    :raises ApiError: 403 ``not_reviewer``; 404 ``feedback_not_found``; 409
        ``already_reviewed`` (someone else was first); 400 ``label_required``
        (confirming an unsorted item, or correcting without a label),
        ``unknown_label``, ``invalid_label``; the AWS answers of :func:`aws`.
    """
    _require_reviewer(caller_groups)
    key = {"feedback_id": {"S": request.feedback_id}}
    item = aws(clients, "dynamodb", "get_item", TableName=settings.feedback_table, Key=key).get(
        "Item"
    )
    if item is None:
        raise ApiError(404, "feedback_not_found", "no feedback with that id", "feedback_id")
    if _s(item, "status") != "pending":
        raise ApiError(
            409,
            "already_reviewed",
            f"this item was already reviewed ({_s(item, 'status')})",
            "feedback_id",
        )
    old_key = str(_s(item, "training_key"))
    label = _s(item, "label")
    new_key = old_key
    if request.action == "correct":
        if not request.label:
            raise ApiError(400, "label_required", "correct needs the right label", "label")
        active_version(settings, clients, state)
        label = _check_known(state, request.label, new_label=request.new_label)
        new_key = training_key(label, request.feedback_id, _extension(old_key))
    elif request.action == "confirm" and not label:
        raise ApiError(
            400, "label_required", "this item has no label yet: correct it with one", "label"
        )
    if new_key != old_key:
        _copy(settings, clients, old_key, new_key, source_bucket=settings.training_bucket)
    status = "discarded" if request.action == "discard" else "confirmed"
    values: dict[str, Any] = {
        ":status": {"S": status},
        ":pending": {"S": "pending"},
        ":by": {"S": user_id},
        ":at": {"S": _now()},
        ":key": {"S": new_key},
    }
    sets = "#status = :status, reviewed_by = :by, reviewed_at = :at, training_key = :key"
    if label:
        sets += ", label = :label, agreed = :agreed"
        values[":label"] = {"S": label}
        values[":agreed"] = {"BOOL": label == _s(item, "answered_label")}
    try:
        aws(
            clients,
            "dynamodb",
            "update_item",
            TableName=settings.feedback_table,
            Key=key,
            UpdateExpression=f"SET {sets}",
            ConditionExpression="#status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )
    except ApiError as exc:
        if new_key != old_key:  # nobody points at the new copy
            aws(clients, "s3", "delete_object", Bucket=settings.training_bucket, Key=new_key)
        if exc.aws_code == "ConditionalCheckFailedException":
            raise ApiError(
                409, "already_reviewed", "someone reviewed this item first", "feedback_id"
            ) from None
        raise
    if request.action == "discard" or new_key != old_key:
        aws(clients, "s3", "delete_object", Bucket=settings.training_bucket, Key=old_key)
    return {"feedback_id": request.feedback_id, "status": status, "label": label}
