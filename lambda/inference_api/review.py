"""The review queue: reviewers list pending feedback and confirm, correct or discard it.

Only members of the Cognito group :data:`shared.layout.REVIEWERS_GROUP` may
(``GET /v1/review``, ``POST /v1/review``). Only ``confirmed`` items are used for
training (the retraining workflow reads the table, not the prefix); a
correction copies the object to the new label's folder and deletes the old
copy; a discard deletes the copy. :mod:`inference_api.feedback` describes the items.
"""

from __future__ import annotations

import re
from typing import Any

from shared.layout import FEEDBACK_BY_STATUS_INDEX, REVIEWERS_GROUP

from inference_api.calls import Clients, Settings, State, aws
from inference_api.errors import ApiError
from inference_api.feedback import (
    boxes_attribute,
    check_known,
    copy_into_training,
    extension_of,
    now_iso,
    training_key,
)
from inference_api.images import NOT_FOUND_CODES
from inference_api.model_versions import active_version

REVIEW_PAGE_SIZE = 50
IMAGE_URL_EXPIRY_SECONDS = 300


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


def _boxes(item: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The item's boxes (object detection) as the API shows them, None when it has none."""
    listed = item.get("boxes", {}).get("L")
    if not isinstance(listed, list):
        return None
    boxes = []
    for entry in listed:
        fields = entry.get("M", {}) if isinstance(entry, dict) else {}
        try:
            boxes.append(
                {
                    "label": fields["label"]["S"],
                    **{k: float(fields[k]["N"]) for k in ("left", "top", "width", "height")},
                }
            )
        except (KeyError, TypeError, ValueError):
            continue  # a malformed box of an old item: the others still show
    return boxes


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
        IndexName=FEEDBACK_BY_STATUS_INDEX,
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
                "boxes": _boxes(item),
            }
        )
    return {"known_labels": sorted(state.known_labels), "items": answer}


def _decided(
    settings: Settings,
    clients: Clients,
    state: State,
    item: dict[str, Any],
    request: Any,
) -> dict[str, Any]:
    """A review of an item already decided: the same decision again (a retry, by anyone)
    finishes what it started and answers as the first did; another is 409."""
    status, label = _s(item, "status"), _s(item, "label")
    same = (request.action == "discard" and status == "discarded") or (
        status == "confirmed" and request.action in {"confirm", "correct"}
    )
    if same and request.action == "correct":
        active_version(settings, clients, state)
        same = check_known(state, request.label or "", new_label=request.new_label) == label
    if not same:
        raise ApiError(
            409,
            "already_reviewed",
            f"this item was already reviewed ({status}"
            + (f" as {label!r}" if label and status == "confirmed" else "")
            + ")",
            "feedback_id",
        )
    # What the first request may not have finished: the discarded copy, the pre-move copy.
    for key in (
        _s(item, "training_key") if status == "discarded" else None,
        _s(item, "previous_training_key"),
    ):
        if key:
            aws(clients, "s3", "delete_object", Bucket=settings.training_bucket, Key=key)
    return {"feedback_id": request.feedback_id, "status": status, "label": label}


def review(
    settings: Settings,
    clients: Clients,
    state: State,
    user_id: str,
    caller_groups: frozenset[str],
    request: Any,
) -> dict[str, Any]:
    """``POST /v1/review``: confirm, correct (with ``label``) or discard one pending item.

    Each action is safe to retry and finishes what it started: the same decision sent
    again (after a throttled delete, a lost answer) completes the deletes and answers as
    the first did. A reviewer who loses a race to another gets 409 ``already_reviewed``.

    :param request: an :class:`inference_api.schema.ReviewRequest`.
    :returns: ``{"feedback_id", "status", "label"}`` after the change.
    :raises ApiError: 403 ``not_reviewer``; 404 ``feedback_not_found``; 409
        ``already_reviewed`` (someone else decided otherwise first); 400 ``label_required``
        (confirming an unsorted item, or correcting without a label),
        ``unknown_label``, ``invalid_label``; the AWS answers of :func:`aws`.
    """
    _require_reviewer(caller_groups)
    key = {"feedback_id": {"S": request.feedback_id}}

    def current() -> dict[str, Any] | None:
        found: dict[str, Any] | None = aws(
            clients,
            "dynamodb",
            "get_item",
            TableName=settings.feedback_table,
            Key=key,
            ConsistentRead=True,
        ).get("Item")
        return found

    item = current()
    if item is None:
        raise ApiError(404, "feedback_not_found", "no feedback with that id", "feedback_id")
    if _s(item, "status") != "pending":
        return _decided(settings, clients, state, item, request)
    old_key = str(_s(item, "training_key"))
    label = _s(item, "label")
    new_key = old_key
    if request.action == "correct":
        if not request.label:
            raise ApiError(400, "label_required", "correct needs the right label", "label")
        active_version(settings, clients, state)
        label = check_known(state, request.label, new_label=request.new_label)
        new_key = training_key(label, request.feedback_id, extension_of(old_key))
    elif request.action == "confirm" and not label:
        raise ApiError(
            400, "label_required", "this item has no label yet: correct it with one", "label"
        )
    if new_key != old_key:
        try:
            copy_into_training(
                settings, clients, old_key, new_key, source_bucket=settings.training_bucket
            )
        except ApiError as exc:
            # The other reviewer's correct or discard deleted the copy meanwhile.
            decided = current() if exc.aws_code in NOT_FOUND_CODES else None
            if decided is None or _s(decided, "status") == "pending":
                raise
            return _decided(settings, clients, state, decided, request)
    status = "discarded" if request.action == "discard" else "confirmed"
    values: dict[str, Any] = {
        ":status": {"S": status},
        ":pending": {"S": "pending"},
        ":by": {"S": user_id},
        ":at": {"S": now_iso()},
        ":key": {"S": new_key},
    }
    sets = "#status = :status, reviewed_by = :by, reviewed_at = :at, training_key = :key"
    if new_key != old_key:
        sets += ", previous_training_key = :old"
        values[":old"] = {"S": old_key}
    if label:
        sets += ", label = :label, agreed = :agreed"
        values[":label"] = {"S": label}
        values[":agreed"] = {"BOOL": label == _s(item, "answered_label")}
    if request.action != "discard" and request.boxes is not None:
        # The reviewer's boxes replace the person's (object detection).
        active_version(settings, clients, state)  # the project's labels, to check each box's
        checked = [
            (
                check_known(
                    state, b.label, new_label=request.new_label, field_name=f"boxes.{i}.label"
                ),
                b,
            )
            for i, b in enumerate(request.boxes)
        ]
        sets += ", boxes = :boxes"
        values[":boxes"] = boxes_attribute(checked)
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
        decided = current() if exc.aws_code == "ConditionalCheckFailedException" else None
        if new_key != old_key and (decided is None or _s(decided, "training_key") != new_key):
            # Nobody points at the new copy (unless the winner chose the same label).
            aws(clients, "s3", "delete_object", Bucket=settings.training_bucket, Key=new_key)
        if decided is not None:
            return _decided(settings, clients, state, decided, request)
        raise
    if request.action == "discard" or new_key != old_key:
        aws(clients, "s3", "delete_object", Bucket=settings.training_bucket, Key=old_key)
    return {"feedback_id": request.feedback_id, "status": status, "label": label}
