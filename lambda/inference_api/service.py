"""What the routes do: resolve the image, call Rekognition, shape the answer.

Plain functions over injected boto3 clients (:class:`Clients`), so tests
call them with botocore ``Stubber`` and moto.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, StubResponseError
from cost_guard.table import ACTIVE_POINTER_KEY
from imaging import CUSTOM_LABELS, FACES, ImageError, ImageInfo, ImageLimits, check_image

from inference_api.errors import ApiError, from_aws, throttled, unavailable

LARGEST_FACE_NOTE = (
    "SearchFacesByImage searches only the largest face in the image; "
    "searched_face is the face that was searched."
)
MODEL_POINTER_TTL_SECONDS = 60
USAGE_WRITE_INTERVAL_SECONDS = 60
STARTING_RETRY_AFTER_SECONDS = 120
START_FAILED_RETRY_AFTER_SECONDS = 10
"""A start that failed transiently (throttled, AWS busy): the retry starts it again."""
BATCH_GET_ATTEMPTS = 3
"""BatchGetItem rounds for UnprocessedKeys before the answer is 429 (never a silent drop)."""
RESERVE_SECONDS = 1.5
"""Time kept back from the function's timeout to log and answer after the last AWS call."""


@dataclass(frozen=True)
class ClientBudget:
    """Timeouts and retries of one AWS client, and the longest a call can take with them.

    botocore's standard retry mode waits ``rand(0, 1) * min(2 ** i, 20)``
    seconds before retry ``i`` when throttled (less otherwise):
    https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
    """

    connect_timeout: float
    read_timeout: float
    max_attempts: int

    @property
    def worst_case_seconds(self) -> float:
        backoff = float(sum(min(2 ** (i + 1), 20) for i in range(self.max_attempts - 1)))
        return self.max_attempts * (self.connect_timeout + self.read_timeout) + backoff

    def config(self, **extra: Any) -> Config:
        return Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": "standard", "total_max_attempts": self.max_attempts},
            **extra,
        )


BUDGETS = {
    # DetectCustomLabels on a 4 MB image answers in seconds; 6 s without a byte is a hang.
    "rekognition": ClientBudget(connect_timeout=1, read_timeout=6, max_attempts=2),
    "s3": ClientBudget(connect_timeout=1, read_timeout=2, max_attempts=2),
    "dynamodb": ClientBudget(connect_timeout=1, read_timeout=2, max_attempts=2),
}
"""Per client: every call either ends within ``worst_case_seconds`` or is not
started (:func:`aws`), so a hung call is the handler's own 503, never a Lambda
timeout. Worst cases: Rekognition 16 s, S3 and DynamoDB 8 s each."""


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
    training_bucket: str = ""
    feedback_table: str = ""
    review_below_confidence: float = 0
    """Percent: a labels answer whose best label is under it is queued for review (0: never)."""


@dataclass
class Clients:
    """boto3 clients, and the seconds the current invocation has left (``time_left``)."""

    rekognition: Any
    s3: Any
    dynamodb: Any
    time_left: Callable[[], float] = lambda: math.inf


@dataclass
class State:
    """Per-container caches: the model pointer (briefly) and last usage writes.

    :ivar on_usage_write_failure: told when recording a model's use failed
        (the answer is still returned: the inference was billed).
    """

    clock: Callable[[], float] = time.time
    pointer: tuple[float, str | None] | None = None
    usage_written: dict[str, float] = field(default_factory=dict)
    on_usage_write_failure: Callable[[ApiError], None] | None = None
    known_labels: frozenset[str] = frozenset()
    """Labels of the promoted version (the pointer item's ``labels``), read with the pointer."""
    on_review_queue_failure: Callable[[ApiError], None] | None = None
    """Told when a low-confidence answer could not be queued for review (the answer stands)."""


def aws(clients: Clients, service: str, operation: str, **params: Any) -> Any:
    """Call ``operation`` (boto3 method name) on one client, mapped to :class:`ApiError`.

    A call that could outlive the invocation (its client's worst case is
    more than the time left, less :data:`RESERVE_SECONDS`) is not started.

    :raises ApiError: :func:`inference_api.errors.from_aws`'s answer, or 503
        ``upstream_unavailable`` when there is no time left for the call.
    """
    budget = BUDGETS[service]
    left = clients.time_left() - RESERVE_SECONDS
    if left < budget.worst_case_seconds:
        raise unavailable(
            f"{operation}: not started, {left:.1f} s left < worst case "
            f"{budget.worst_case_seconds:.0f} s",
            "DeadlineExceeded",
        )
    try:
        return getattr(getattr(clients, service), operation)(**params)
    except (ClientError, BotoCoreError) as exc:
        if isinstance(exc, StubResponseError):  # botocore Stubber's mismatch: a test's bug
            raise
        raise from_aws(exc, operation) from None


def user_prefix(user_id: str) -> str:
    return f"users/{user_id}/"


def version_name(arn: str) -> str:
    """``qr-v1`` from ``arn:aws:rekognition:...:project/p/version/qr-v1/1700000000000``."""
    return arn.split("/version/", 1)[-1].split("/", 1)[0]


def presign_upload(
    settings: Settings, clients: Clients, user_id: str, content_type: str, content_length: int
) -> dict[str, Any]:
    """A presigned PUT for one photo under the caller's prefix.

    Content-Type and Content-Length are signed: S3 refuses a PUT whose headers differ.
    """
    extension = "png" if content_type == "image/png" else "jpg"
    key = f"{user_prefix(user_id)}{uuid.uuid4()}.{extension}"
    try:
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
    except (ClientError, BotoCoreError) as exc:  # no credentials to sign with
        raise from_aws(exc, "generate_presigned_url") from None
    return {
        "url": url,
        "method": "PUT",
        "s3_key": key,
        "headers": {"Content-Type": content_type, "Content-Length": str(content_length)},
        "expires_in": settings.upload_url_expiry_seconds,
    }


_WHITESPACE = str.maketrans("", "", " \t\r\n")


def decode_base64(text: str) -> bytes:
    """Image bytes from standard base64 (RFC 4648 section 4, ``+/`` and ``=`` padding).

    Line breaks and other ASCII whitespace are ignored, so line-wrapped
    base64 (Android's ``Base64.DEFAULT``, MIME) is accepted.

    :raises ApiError: 400 ``invalid_base64`` naming ``image.bytes``; a
        ``data:`` URL prefix and URL-safe base64 (``-_``) are named as such.
    """
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.b64decode(text.translate(_WHITESPACE), validate=True)
    except (binascii.Error, ValueError):
        pass
    if text.startswith("data:"):
        hint = "send the base64 alone, without the data: URL prefix"
    elif "-" in text or "_" in text:
        hint = "it looks like URL-safe base64; use the standard alphabet (+ and /)"
    else:
        hint = "use standard base64 (A-Z a-z 0-9 + / and = padding; line breaks are allowed)"
    raise ApiError(400, "invalid_base64", f"image.bytes is not valid base64: {hint}", "image.bytes")


NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound", "403", "AccessDenied"})
"""HeadObject on a missing key answers 403 (not 404) to a role without
``s3:ListBucket`` (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).
The function may read ``users/*`` and is deliberately not allowed to list the
bucket (it would see every user's keys), so a 403 on the caller's own key
means the upload does not exist (expired or never made)."""


class UploadsBucket(Protocol):
    """What :func:`own_upload` reads of a function's settings."""

    @property
    def uploads_bucket(self) -> str: ...


def own_upload(
    settings: UploadsBucket,
    clients: Clients,
    user_id: str,
    key: str,
    limits: ImageLimits,
    field_name: str,
) -> int:
    """Check that ``key`` is one of the caller's uploads, exists and fits ``limits``.

    :returns: its size in bytes (HeadObject's ``ContentLength``).
    :raises ApiError: 403 ``forbidden_key`` outside the caller's prefix, 404
        ``upload_not_found``, 413 ``image_too_large`` over ``limits.max_s3_bytes``.
    """
    if not key.startswith(user_prefix(user_id)) or ".." in key:
        raise ApiError(403, "forbidden_key", f"{field_name} is not one of your uploads", field_name)
    try:
        head = aws(clients, "s3", "head_object", Bucket=settings.uploads_bucket, Key=key)
    except ApiError as exc:
        if exc.aws_code in NOT_FOUND_CODES:
            raise ApiError(
                404,
                "upload_not_found",
                "no upload with that key (it may have expired)",
                field_name,
                cause=exc.cause,
            ) from None
        raise
    size = int(head["ContentLength"])
    if size > limits.max_s3_bytes:
        raise ApiError(
            413,
            "image_too_large",
            f"upload is {size} bytes; {limits.api} accepts at most "
            f"{limits.max_s3_bytes} bytes from S3",
            field_name,
        )
    return size


def checked_image(data: bytes, limits: ImageLimits, field_name: str) -> ImageInfo:
    """:func:`imaging.check_image` with its refusal as the API's error naming ``field_name``.

    :raises ApiError: 413 over the byte limit, 415 not JPEG/PNG, 400 sides or ratio.
    """
    try:
        return check_image(data, limits)
    except ImageError as exc:
        raise ApiError(exc.status, exc.code, str(exc), field_name) from None


def rekognition_image(
    settings: UploadsBucket, clients: Clients, user_id: str, image: Any, limits: ImageLimits
) -> dict[str, Any]:
    """The ``Image`` argument for Rekognition, checked against ``limits``.

    :param image: an :class:`inference_api.models.ImageRef`.
    :raises ApiError: 400 bad base64, 413/415/400 image limits, 403 a key
        outside the caller's prefix, 404 no such upload, 413 upload too big.
    """
    if image.bytes is not None:
        data = decode_base64(image.bytes)
        checked_image(data, limits, "image.bytes")
        return {"Bytes": data}
    key = image.s3_key or ""
    own_upload(settings, clients, user_id, key, limits, "image.s3_key")
    return {"S3Object": {"Bucket": settings.uploads_bucket, "Name": key}}


def read_upload(
    settings: UploadsBucket,
    clients: Clients,
    key: str,
    field_name: str,
    first_bytes: int | None = None,
) -> bytes:
    """GetObject of an upload the caller owns (:func:`own_upload` checked it): all of it,
    or its ``first_bytes``.

    An upload gone since HeadObject (NoSuchKey, or the 403 S3 gives a role that
    may not list) is 404; an empty one read by range (S3 answers 416
    ``InvalidRange``) is 400 ``corrupt_image``. A timeout while the body streams
    is botocore's ``ReadTimeoutError``, which the handler answers 503 like any.
    """
    params: dict[str, Any] = {"Bucket": settings.uploads_bucket, "Key": key}
    if first_bytes is not None:
        params["Range"] = f"bytes=0-{first_bytes - 1}"
    try:
        answer = aws(clients, "s3", "get_object", **params)
    except ApiError as exc:
        if exc.aws_code in NOT_FOUND_CODES:
            raise ApiError(
                404, "upload_not_found", "no upload with that key", field_name, cause=exc.cause
            ) from None
        if exc.aws_code == "InvalidRange":
            raise ApiError(
                400, "corrupt_image", "the upload is empty", field_name, cause=exc.cause
            ) from None
        raise
    data: bytes = answer["Body"].read()
    return data


def active_version(settings: Settings, clients: Clients, state: State) -> str:
    """The promoted project version ARN (cached for a minute).

    :raises ApiError: 409 when no version has been promoted; the DynamoDB
        answers of :func:`aws` (429 throttled, 502 missing table...).
    """
    now = state.clock()
    if state.pointer is None or now - state.pointer[0] > MODEL_POINTER_TTL_SECONDS:
        item = aws(
            clients,
            "dynamodb",
            "get_item",
            TableName=settings.model_usage_table,
            Key={"project_version_arn": {"S": ACTIVE_POINTER_KEY}},
        ).get("Item", {})
        state.pointer = (now, item.get("active_project_version_arn", {}).get("S"))
        state.known_labels = frozenset(item.get("labels", {}).get("SS", []))
    arn = state.pointer[1]
    if arn is None:
        raise ApiError(
            409,
            "no_active_model",
            "no model version is promoted for this stage; train one and run "
            "'python -m tools.models promote VERSION'",
        )
    return arn


def _record_use(
    settings: Settings, clients: Clients, state: State, arn: str, *, served: bool = True
) -> None:
    """Record demand for ``arn``, at most one write per model version per minute.

    ``served``: a successful inference, so also the last inference time (the
    idle timeout's clock). Otherwise a request the model was not running for:
    demand all the same, which the adaptive idle policy learns from. Either way
    the minute is appended to ``recent_demand``, which the cost guard folds into
    the version's bounded summary every run (so the list holds at most a few
    entries per guard period).

    A failed write is reported to ``state.on_usage_write_failure`` and retried
    by the next request; it never fails the (already billed) inference.
    """
    now = state.clock()
    key = arn if served else f"{arn}#demand"
    previous = state.usage_written.get(key, 0)
    if now - previous < USAGE_WRITE_INTERVAL_SECONDS:
        return
    state.usage_written[key] = now
    clock = "last_inference_at" if served else "last_demand_at"
    sets = "last_inference_at = :now, last_demand_at = :now" if served else "last_demand_at = :now"
    try:
        aws(
            clients,
            "dynamodb",
            "update_item",
            TableName=settings.model_usage_table,
            Key={"project_version_arn": {"S": arn}},
            UpdateExpression=(
                f"SET {sets}, recent_demand = list_append("
                "if_not_exists(recent_demand, :empty), :minute)"
            ),
            ConditionExpression=f"attribute_not_exists({clock}) OR {clock} < :due",
            ExpressionAttributeValues={
                ":now": {"N": str(int(now))},
                ":due": {"N": str(int(now) - USAGE_WRITE_INTERVAL_SECONDS)},
                ":minute": {"L": [{"N": str(int(now // 60))}]},
                ":empty": {"L": []},
            },
        )
    except ApiError as exc:
        if exc.aws_code == "ConditionalCheckFailedException":
            return  # another container wrote it this minute
        state.usage_written[key] = previous
        if state.on_usage_write_failure is not None:
            state.on_usage_write_failure(exc)


def _model_not_running(settings: Settings, clients: Clients, arn: str) -> ApiError:
    """The 503 for DetectCustomLabels' ``ResourceNotReadyException``; starts the model if allowed.

    Every failure on the way is still a 503 with ``Retry-After`` (the model is
    not running whatever else happened), except access and configuration
    errors, which are 502 because retrying cannot help.
    """
    name = version_name(arn)
    try:
        versions = aws(
            clients,
            "rekognition",
            "describe_project_versions",
            ProjectArn=settings.project_arn,
            VersionNames=[name],
        ).get("ProjectVersionDescriptions", [])
        status = versions[0]["Status"] if versions else "UNKNOWN"
        cause = None
    except ApiError as exc:
        if exc.status == 502:
            return exc
        status, cause = "UNKNOWN", exc.cause
    details: dict[str, object] = {"model_status": status, "model_version": name}
    retry = {"Retry-After": str(STARTING_RETRY_AFTER_SECONDS)}
    if status in {"STOPPED", "TRAINING_COMPLETED"} and settings.auto_start:
        try:
            aws(
                clients,
                "rekognition",
                "start_project_version",
                ProjectVersionArn=arn,
                MinInferenceUnits=settings.min_inference_units,
            )
        except ApiError as exc:
            if exc.aws_code == "ResourceInUseException":
                pass  # another request started it first: it is starting
            elif exc.aws_code == "LimitExceededException":
                return ApiError(
                    503,
                    "model_not_running",
                    "the model is stopped and could not be started: the account's "
                    "Rekognition limit (inference units or concurrent starts) is reached; "
                    "retry later or ask an operator",
                    headers=retry,
                    details=details,
                    cause=exc.cause,
                )
            elif exc.status == 502:
                return exc
            else:
                return ApiError(
                    503,
                    "model_not_running",
                    "the model is stopped and starting it failed for now; retry after the "
                    "delay to start it again",
                    headers={"Retry-After": str(START_FAILED_RETRY_AFTER_SECONDS)},
                    details=details,
                    cause=exc.cause,
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
        cause=cause,
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
    image: Any,
    min_confidence: float | None,
    max_results: int | None,
) -> dict[str, Any]:
    """DetectCustomLabels on the active version; labels sorted by confidence.

    An answer whose best label is under ``settings.review_below_confidence``
    is queued for review (:func:`inference_api.feedback.queue_low_confidence`).

    :returns: ``{"model_version": name, "labels": [{name, confidence, bounding_box}],
        "review_requested": bool}``.
    """
    rekognition_input = rekognition_image(settings, clients, user_id, image, CUSTOM_LABELS)
    arn = active_version(settings, clients, state)
    params: dict[str, Any] = {"ProjectVersionArn": arn, "Image": rekognition_input}
    if min_confidence is not None:
        params["MinConfidence"] = min_confidence
    if max_results is not None:
        params["MaxResults"] = max_results
    try:
        response = aws(clients, "rekognition", "detect_custom_labels", **params)
    except ApiError as exc:
        if exc.aws_code == "ResourceNotReadyException":
            _record_use(settings, clients, state, arn, served=False)
            raise _model_not_running(settings, clients, arn) from None
        raise
    _record_use(settings, clients, state, arn)
    labels = sorted(response.get("CustomLabels", []), key=lambda label: -label["Confidence"])
    answer = [
        {
            "name": label["Name"],
            "confidence": label["Confidence"],
            "bounding_box": _box(label.get("Geometry", {}).get("BoundingBox")),
        }
        for label in labels
    ]
    from inference_api import feedback  # feedback imports this module

    return {
        "model_version": version_name(arn),
        "labels": answer,
        "review_requested": feedback.queue_low_confidence(
            settings, clients, state, user_id, rekognition_input, arn, answer
        ),
    }


def search_faces(
    settings: Settings,
    clients: Clients,
    user_id: str,
    image: Any,
    max_faces: int,
    threshold: float,
) -> dict[str, Any]:
    """SearchFacesByImage, each match named through the faces table."""
    rekognition_input = rekognition_image(settings, clients, user_id, image, FACES)
    try:
        response = aws(
            clients,
            "rekognition",
            "search_faces_by_image",
            CollectionId=settings.collection_id,
            Image=rekognition_input,
            MaxFaces=max_faces,
            FaceMatchThreshold=threshold,
        )
    except ApiError as exc:
        # No face in the image: InvalidParameterException "There are no faces in the image".
        if exc.aws_code == "InvalidParameterException" and "face" in (exc.cause or "").lower():
            return {"note": LARGEST_FACE_NOTE, "searched_face": None, "matches": []}
        raise
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
    """face_id -> person_id through BatchGetItem (at most 100 keys, MaxFaces caps it).

    ``UnprocessedKeys`` (DynamoDB's partial answer under throttling) are asked
    again up to :data:`BATCH_GET_ATTEMPTS` rounds in all, then the answer is
    429: a match is never returned nameless because a read was throttled.
    """
    people: dict[str, str] = {}
    if not face_ids:
        return people
    keys = [{"face_id": {"S": face_id}} for face_id in dict.fromkeys(face_ids)][:100]
    request: dict[str, Any] = {
        settings.faces_table: {"Keys": keys, "ProjectionExpression": "face_id, person_id"}
    }
    for _ in range(BATCH_GET_ATTEMPTS):
        response = aws(clients, "dynamodb", "batch_get_item", RequestItems=request)
        for item in response.get("Responses", {}).get(settings.faces_table, []):
            if "person_id" in item:
                people[item["face_id"]["S"]] = item["person_id"]["S"]
        request = response.get("UnprocessedKeys") or {}
        if not request:
            return people
    raise throttled(
        f"batch_get_item: UnprocessedKeys after {BATCH_GET_ATTEMPTS} rounds", "UnprocessedKeys"
    )


def analyze_faces(settings: Settings, clients: Clients, user_id: str, image: Any) -> dict[str, Any]:
    """DetectFaces with every attribute (age range, emotions, ...)."""
    rekognition_input = rekognition_image(settings, clients, user_id, image, FACES)
    response = aws(
        clients, "rekognition", "detect_faces", Image=rekognition_input, Attributes=["ALL"]
    )
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


MAX_LISTED_VERSIONS = 100


def list_models(settings: Settings, clients: Clients, state: State) -> dict[str, Any]:
    """The project's versions as a phone user needs them: name, status, created, active.

    No ARNs (they hold the account id), no status messages (they can name
    buckets and manifests) and no inference units: operators see those with
    ``python -m tools.models status``. At most :data:`MAX_LISTED_VERSIONS`,
    newest first (DescribeProjectVersions' order).

    :returns: ``{"active_model_version": name | None, "labels": [the promoted version's
        labels], "versions": [{model_version, status, created_at (ISO 8601), active}]}``.
    """
    try:
        active: str | None = active_version(settings, clients, state)
    except ApiError as exc:
        if exc.code != "no_active_model":
            raise
        active = None
    versions = aws(
        clients,
        "rekognition",
        "describe_project_versions",
        ProjectArn=settings.project_arn,
        MaxResults=MAX_LISTED_VERSIONS,
    ).get("ProjectVersionDescriptions", [])
    return {
        "active_model_version": version_name(active) if active else None,
        "labels": sorted(state.known_labels) if active else [],
        "versions": [
            {
                "model_version": version_name(v["ProjectVersionArn"]),
                "status": v["Status"],
                "created_at": v["CreationTimestamp"].isoformat()
                if v.get("CreationTimestamp")
                else None,
                "active": v["ProjectVersionArn"] == active,
            }
            for v in versions
        ],
    }
