"""What the routes do: resolve the image, call Rekognition, shape the answer.

Plain functions over injected boto3 clients (:class:`Clients`), so tests
call them with botocore ``Stubber`` and moto.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from cost_guard.usage_store import ACTIVE_POINTER_KEY
from imaging import CUSTOM_LABELS, FACES, ImageError, ImageLimits, check_image

from inference_api.errors import ApiError, from_rekognition
from inference_api.models import ImageRef

LARGEST_FACE_NOTE = (
    "SearchFacesByImage searches only the largest face in the image; "
    "searched_face is the face that was searched."
)
MODEL_POINTER_TTL_SECONDS = 60
USAGE_WRITE_INTERVAL_SECONDS = 60
STARTING_RETRY_AFTER_SECONDS = 120


@dataclass(frozen=True)
class Settings:
    """The function's configuration (from its environment)."""

    project_arn: str
    collection_id: str
    model_usage_table: str
    faces_table: str
    uploads_bucket: str
    auto_start: bool
    min_inference_units: int
    upload_url_expiry_seconds: int


@dataclass
class Clients:
    rekognition: Any
    s3: Any
    dynamodb: Any


@dataclass
class State:
    """Per-container caches: the model pointer (briefly) and last usage writes."""

    clock: Callable[[], float] = time.time
    pointer: tuple[float, str | None] | None = None
    usage_written: dict[str, float] = field(default_factory=dict)


def user_prefix(user_id: str) -> str:
    return f"users/{user_id}/"


def presign_upload(
    settings: Settings, clients: Clients, user_id: str, content_type: str, content_length: int
) -> dict[str, Any]:
    """A presigned PUT for one photo under the caller's prefix.

    Content-Type and Content-Length are signed: S3 refuses a PUT whose headers differ.
    """
    extension = "png" if content_type == "image/png" else "jpg"
    key = f"{user_prefix(user_id)}{uuid.uuid4()}.{extension}"
    url = clients.s3.generate_presigned_url(
        "put_object",
        Params={
            "Bucket": settings.uploads_bucket,
            "Key": key,
            "ContentType": content_type,
            "ContentLength": content_length,
        },
        ExpiresIn=settings.upload_url_expiry_seconds,
        HttpMethod="PUT",
    )
    return {
        "url": url,
        "method": "PUT",
        "s3_key": key,
        "headers": {"Content-Type": content_type, "Content-Length": str(content_length)},
        "expires_in": settings.upload_url_expiry_seconds,
    }


def rekognition_image(
    settings: Settings, clients: Clients, user_id: str, image: ImageRef, limits: ImageLimits
) -> dict[str, Any]:
    """The ``Image`` argument for Rekognition, checked against ``limits``.

    :raises ApiError: 400 bad base64, 413/415/400 image limits, 403 a key
        outside the caller's prefix, 404 no such upload, 413 upload too big.
    """
    if image.bytes is not None:
        try:
            data = base64.b64decode(image.bytes, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(
                400, "invalid_base64", "image.bytes is not valid base64", "image.bytes"
            ) from None
        try:
            check_image(data, limits)
        except ImageError as exc:
            raise ApiError(exc.status, exc.code, str(exc), "image.bytes") from None
        return {"Bytes": data}
    key = image.s3_key or ""
    if not key.startswith(user_prefix(user_id)) or ".." in key:
        raise ApiError(
            403, "forbidden_key", "image.s3_key is not one of your uploads", "image.s3_key"
        )
    try:
        head = clients.s3.head_object(Bucket=settings.uploads_bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            raise ApiError(
                404,
                "upload_not_found",
                "no upload with that key (it may have expired)",
                "image.s3_key",
            ) from None
        raise ApiError(502, "upstream_error", "could not read the upload") from None
    if head["ContentLength"] > limits.max_s3_bytes:
        raise ApiError(
            413,
            "image_too_large",
            f"upload is {head['ContentLength']} bytes; {limits.api} accepts at most "
            f"{limits.max_s3_bytes} bytes from S3",
            "image.s3_key",
        )
    return {"S3Object": {"Bucket": settings.uploads_bucket, "Name": key}}


def active_version(settings: Settings, clients: Clients, state: State) -> str:
    """The promoted project version ARN (cached for a minute).

    :raises ApiError: 409 when no version has been promoted.
    """
    now = state.clock()
    if state.pointer is None or now - state.pointer[0] > MODEL_POINTER_TTL_SECONDS:
        item = clients.dynamodb.get_item(
            TableName=settings.model_usage_table,
            Key={"project_version_arn": {"S": ACTIVE_POINTER_KEY}},
        ).get("Item", {})
        state.pointer = (now, item.get("active_project_version_arn", {}).get("S"))
    arn = state.pointer[1]
    if arn is None:
        raise ApiError(
            409,
            "no_active_model",
            "no model version is promoted for this stage; train one and run "
            "'python -m tools.models promote VERSION'",
        )
    return arn


def _record_use(settings: Settings, clients: Clients, state: State, arn: str) -> None:
    """Last inference time, at most one write per model version per minute."""
    now = state.clock()
    if now - state.usage_written.get(arn, 0) < USAGE_WRITE_INTERVAL_SECONDS:
        return
    state.usage_written[arn] = now
    try:
        clients.dynamodb.update_item(
            TableName=settings.model_usage_table,
            Key={"project_version_arn": {"S": arn}},
            UpdateExpression="SET last_inference_at = :now",
            ConditionExpression=(
                "attribute_not_exists(last_inference_at) OR last_inference_at < :due"
            ),
            ExpressionAttributeValues={
                ":now": {"N": str(int(now))},
                ":due": {"N": str(int(now) - USAGE_WRITE_INTERVAL_SECONDS)},
            },
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise


def _model_not_running(settings: Settings, clients: Clients, arn: str) -> ApiError:
    versions = clients.rekognition.describe_project_versions(
        ProjectArn=settings.project_arn, VersionNames=[arn.split("/version/")[1].split("/")[0]]
    ).get("ProjectVersionDescriptions", [])
    status = versions[0]["Status"] if versions else "UNKNOWN"
    details: dict[str, object] = {"model_status": status, "project_version_arn": arn}
    retry = {"Retry-After": str(STARTING_RETRY_AFTER_SECONDS)}
    if status in {"STOPPED", "TRAINING_COMPLETED"} and settings.auto_start:
        clients.rekognition.start_project_version(
            ProjectVersionArn=arn, MinInferenceUnits=settings.min_inference_units
        )
        return ApiError(
            503,
            "model_starting",
            "the model was stopped and is starting now (this takes minutes); retry after the delay",
            headers=retry,
            details={**details, "model_status": "STARTING"},
        )
    return ApiError(
        503,
        "model_not_running",
        f"the model is {status}; retry after the delay"
        + ("" if settings.auto_start else " or ask an operator to start it"),
        headers=retry,
        details=details,
    )


def _box(box: dict[str, float] | None) -> dict[str, float] | None:
    if not box:
        return None
    return {"left": box["Left"], "top": box["Top"], "width": box["Width"], "height": box["Height"]}


def detect_labels(
    settings: Settings,
    clients: Clients,
    state: State,
    user_id: str,
    image: ImageRef,
    min_confidence: float | None,
    max_results: int | None,
) -> dict[str, Any]:
    """DetectCustomLabels on the active version; labels sorted by confidence."""
    rekognition_input = rekognition_image(settings, clients, user_id, image, CUSTOM_LABELS)
    arn = active_version(settings, clients, state)
    params: dict[str, Any] = {"ProjectVersionArn": arn, "Image": rekognition_input}
    if min_confidence is not None:
        params["MinConfidence"] = min_confidence
    if max_results is not None:
        params["MaxResults"] = max_results
    try:
        response = clients.rekognition.detect_custom_labels(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ResourceNotReadyException":
            raise _model_not_running(settings, clients, arn) from None
        raise from_rekognition(error.get("Code", ""), error.get("Message", "")) from None
    _record_use(settings, clients, state, arn)
    labels = sorted(response.get("CustomLabels", []), key=lambda label: -label["Confidence"])
    return {
        "project_version_arn": arn,
        "labels": [
            {
                "name": label["Name"],
                "confidence": label["Confidence"],
                "bounding_box": _box(label.get("Geometry", {}).get("BoundingBox")),
            }
            for label in labels
        ],
    }


def _call(fn: Callable[..., dict[str, Any]], **params: Any) -> dict[str, Any]:
    try:
        return fn(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise from_rekognition(error.get("Code", ""), error.get("Message", "")) from None


def search_faces(
    settings: Settings,
    clients: Clients,
    user_id: str,
    image: ImageRef,
    max_faces: int,
    threshold: float,
) -> dict[str, Any]:
    """SearchFacesByImage, each match named through the faces table."""
    rekognition_input = rekognition_image(settings, clients, user_id, image, FACES)
    try:
        response = clients.rekognition.search_faces_by_image(
            CollectionId=settings.collection_id,
            Image=rekognition_input,
            MaxFaces=max_faces,
            FaceMatchThreshold=threshold,
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if (
            error.get("Code") == "InvalidParameterException"
            and "face" in error.get("Message", "").lower()
        ):
            return {"note": LARGEST_FACE_NOTE, "searched_face": None, "matches": []}
        raise from_rekognition(error.get("Code", ""), error.get("Message", "")) from None
    matches = response.get("FaceMatches", [])
    people = _people(settings, clients, [m["Face"]["FaceId"] for m in matches])
    return {
        "note": LARGEST_FACE_NOTE,
        "searched_face": {
            "bounding_box": _box(response.get("SearchedFaceBoundingBox")),
            "confidence": response.get("SearchedFaceConfidence"),
        },
        "matches": [
            {
                "person_id": people.get(m["Face"]["FaceId"]),
                "face_id": m["Face"]["FaceId"],
                "similarity": m["Similarity"],
            }
            for m in sorted(matches, key=lambda m: -m["Similarity"])
        ],
    }


def _people(settings: Settings, clients: Clients, face_ids: list[str]) -> dict[str, str]:
    if not face_ids:
        return {}
    keys = [{"face_id": {"S": face_id}} for face_id in dict.fromkeys(face_ids)][:100]
    response = clients.dynamodb.batch_get_item(
        RequestItems={
            settings.faces_table: {"Keys": keys, "ProjectionExpression": "face_id, person_id"}
        }
    )
    return {
        item["face_id"]["S"]: item["person_id"]["S"]
        for item in response.get("Responses", {}).get(settings.faces_table, [])
        if "person_id" in item
    }


def analyze_faces(
    settings: Settings, clients: Clients, user_id: str, image: ImageRef
) -> dict[str, Any]:
    """DetectFaces with every attribute (age range, emotions, ...)."""
    rekognition_input = rekognition_image(settings, clients, user_id, image, FACES)
    response = _call(clients.rekognition.detect_faces, Image=rekognition_input, Attributes=["ALL"])
    return {
        "faces": [
            {
                "bounding_box": _box(face.get("BoundingBox")),
                "confidence": face.get("Confidence"),
                "age_range": {"low": face["AgeRange"]["Low"], "high": face["AgeRange"]["High"]}
                if "AgeRange" in face
                else None,
                "emotions": [
                    {"type": e["Type"], "confidence": e["Confidence"]}
                    for e in sorted(face.get("Emotions", []), key=lambda e: -e["Confidence"])
                ],
                "smile": face.get("Smile", {}).get("Value"),
                "eyeglasses": face.get("Eyeglasses", {}).get("Value"),
            }
            for face in response.get("FaceDetails", [])
        ]
    }


def list_models(settings: Settings, clients: Clients, state: State) -> dict[str, Any]:
    """Every version of the project, with status, and which one is active."""
    try:
        active: str | None = active_version(settings, clients, state)
    except ApiError:
        active = None
    paginator = clients.rekognition.get_paginator("describe_project_versions")
    try:
        versions = [
            v
            for page in paginator.paginate(ProjectArn=settings.project_arn)
            for v in page.get("ProjectVersionDescriptions", [])
        ]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise from_rekognition(error.get("Code", ""), error.get("Message", "")) from None
    return {
        "active_project_version_arn": active,
        "versions": [
            {
                "project_version_arn": v["ProjectVersionArn"],
                "status": v["Status"],
                "status_message": v.get("StatusMessage"),
                "created_at": v["CreationTimestamp"].isoformat()
                if v.get("CreationTimestamp")
                else None,
                "min_inference_units": v.get("MinInferenceUnits"),
                "active": v["ProjectVersionArn"] == active,
            }
            for v in versions
        ],
    }
