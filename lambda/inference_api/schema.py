"""Request bodies of the API (pydantic, validated from the raw JSON by :mod:`inference_api.body`).

Schemas are built when first used (``defer_build``): a cold start pays only
for the model of the route it serves. ``tools.openapi`` writes them into
``docs/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

S3_KEY_MAX_BYTES = 1024


def s3_key_bytes(key: str) -> str:
    """``key`` when its UTF-8 form fits S3's 1,024-byte key limit (bytes, not characters:
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html).

    :raises ValueError: too long in bytes, or not encodable (a lone surrogate).
    """
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode (it holds a lone surrogate)") from None
    if size > S3_KEY_MAX_BYTES:
        raise ValueError(f"{size} bytes of UTF-8; S3 keys are at most {S3_KEY_MAX_BYTES} bytes")
    return key


"""S3 object keys are at most 1,024 bytes of UTF-8
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html)."""


class _Body(BaseModel):
    # strict: JSON true is not 1 and "12" is not 12 (a JSON integer is still a valid float).
    model_config = ConfigDict(extra="forbid", defer_build=True, strict=True)


class ImageRef(_Body):
    """An image as base64 ``bytes`` or as ``s3_key`` of an upload; exactly one."""

    bytes: str | None = Field(
        default=None,
        description="standard base64 of a JPEG or PNG; line breaks (Android's "
        "Base64.DEFAULT, MIME) are ignored; at most 4 MB (labels) or 5 MB (faces) decoded",
    )
    s3_key: str | None = Field(
        default=None,
        description="key returned by POST /v1/uploads (at most 1,024 bytes of UTF-8)",
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Show the size of ``bytes``, not megabytes of base64 (in logs)."""
        for name, value in super().__repr_args__():
            if name == "bytes" and isinstance(value, str):
                yield name, f"<{len(value)} base64 characters>"
            else:
                yield name, value

    @field_validator("s3_key")
    @classmethod
    def _s3_key_bytes(cls, key: str | None) -> str | None:
        return None if key is None else s3_key_bytes(key)

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageRef:
        if (self.bytes is None) == (self.s3_key is None):
            raise ValueError("give exactly one of image.bytes or image.s3_key")
        return self


class UploadRequest(_Body):
    content_type: Literal["image/jpeg", "image/png"]
    content_length: int = Field(gt=0, le=15 * 1024 * 1024, description="bytes, at most 15 MB")


class LabelsRequest(_Body):
    image: ImageRef
    min_confidence: float | None = Field(default=None, ge=0, le=100)
    max_results: int | None = Field(default=None, ge=1, le=1000)
    attempt: int = Field(
        default=1,
        ge=1,
        le=1000,
        description="1 for a new request, 2, 3... for its retries after a 503 "
        "(Retry-After): the cost guard learns demand from first attempts only",
    )
    require_model: bool = Field(
        default=False,
        description="true: only the custom model's answer will do; while it is not "
        "RUNNING the answer is 503 (as without provisional answers), never a provisional one",
    )


class FaceSearchRequest(_Body):
    image: ImageRef
    max_faces: int = Field(
        default=10,
        ge=1,
        le=10,
        description="faces searched at most, largest first (each is one billed "
        "SearchUsersByImage call); the others are answered not_searched",
    )
    face_match_threshold: float = Field(
        default=80,
        ge=0,
        le=100,
        description="percent: a face whose best person is under it is unknown",
    )


class FaceAnalyzeRequest(_Body):
    image: ImageRef


CodeFormat = Literal[
    "qr_code",
    "micro_qr_code",
    "rmqr_code",
    "data_matrix",
    "aztec",
    "pdf417",
    "ean_13",
    "ean_8",
    "upc_a",
    "upc_e",
    "code_128",
    "code_39",
    "code_93",
    "codabar",
    "itf",
    "databar",
]
"""The symbologies ``POST /v1/codes`` reads (``inference_api.codes.FORMATS``)."""


class CodesRequest(_Body):
    image: ImageRef
    formats: list[CodeFormat] | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="read only these symbologies (faster, fewer false reads); all when omitted",
    )


class AnsweredLabel(_Body):
    name: str = Field(min_length=1, max_length=255)
    confidence: float = Field(ge=0, le=100, description="percent, as the labels answer gave it")


class FeedbackBox(_Body):
    """One object in the photo (object detection): its label and box, as ratios of the
    photo's width and height from its top-left corner."""

    label: str = Field(min_length=1, max_length=255)
    left: float = Field(ge=0, le=1)
    top: float = Field(ge=0, le=1)
    width: float = Field(gt=0, le=1)
    height: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _inside(self) -> FeedbackBox:
        if self.left + self.width > 1 + 1e-6 or self.top + self.height > 1 + 1e-6:
            raise ValueError("the box goes past the photo's right or bottom edge")
        return self


class FeedbackRequest(_Body):
    """What a person says of a labels answer: the photo really shows ``label``."""

    s3_key: str = Field(
        min_length=1,
        max_length=S3_KEY_MAX_BYTES,
        description="the upload the answer was for (POST /v1/uploads); yours only",
    )

    @field_validator("s3_key")
    @classmethod
    def _s3_key_bytes(cls, key: str) -> str:
        return s3_key_bytes(key)

    model_version: str = Field(
        min_length=1,
        max_length=255,
        pattern=r"^[a-zA-Z0-9_.\-]+$",
        description="model_version of the labels answer (a Rekognition version name: "
        "letters, digits, '_', '.', '-', as CreateProjectVersion allows)",
    )
    answered: list[AnsweredLabel] = Field(
        default_factory=list, max_length=50, description="the answer's labels, as given"
    )
    label: str = Field(
        min_length=1,
        max_length=255,
        description="the right label: one of the project's labels, or a new one with new_label",
    )
    new_label: bool = Field(
        default=False, description="label is a new label the project does not know yet"
    )
    boxes: list[FeedbackBox] | None = Field(
        default=None,
        max_length=50,
        description="object detection: every object in the photo with its box (at most 50, "
        "Custom Labels' limit per image); a box is wrong or missing: send them as they should "
        "be. Each box's label is a project label (or label itself when new_label)",
    )
    answer_source: Literal["model", "provisional"] = Field(
        default="model",
        description="the labels answer's source: feedback on a provisional answer is kept "
        "apart in the record, so the model's agreement rate is not mixed with the index's",
    )


class ReviewRequest(_Body):
    feedback_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    action: Literal["confirm", "correct", "discard"]
    label: str | None = Field(
        default=None, min_length=1, max_length=255, description="correct only: the right label"
    )
    new_label: bool = False
    boxes: list[FeedbackBox] | None = Field(
        default=None,
        max_length=50,
        description="object detection, confirm or correct: the boxes as they should be "
        "(they replace the item's)",
    )


# --- answers (documented in docs/openapi.json; tests validate real answers against them) ---


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class UploadResponse(_Answer):
    url: str = Field(description="presigned S3 PUT URL (SigV4); expires after expires_in seconds")
    method: Literal["PUT"]
    s3_key: str = Field(description="send it as image.s3_key to the recognition routes")
    headers: dict[str, str] = Field(description="send exactly these headers with the PUT")
    expires_in: int = Field(description="seconds")


class BoundingBox(_Answer):
    """Ratios of the image's width and height (0-1), from the top-left corner."""

    left: float
    top: float
    width: float
    height: float


class Label(_Answer):
    name: str
    confidence: float = Field(description="percent, 0-100")
    bounding_box: BoundingBox | None = Field(description="object-detection models only")


class Neighbour(_Answer):
    """A labelled photo near the one asked about (provisional answers only)."""

    label: str
    similarity: float = Field(ge=-1, le=1, description="cosine similarity of the embeddings")
    thumbnail_url: str = Field(description="presigned GET of the photo, valid for 5 minutes")


class LabelsResponse(_Answer):
    source: Literal["model", "provisional"] = Field(
        description="model: the custom model answered; provisional: the model is not "
        "RUNNING and the nearest labelled photos voted (similarity-weighted: a label's "
        "confidence is its voters' share of the summed similarity, docs/provisional.md)"
    )
    model_version: str = Field(
        description="name of the project version that answered (provisional: the active "
        "version, which is not running)"
    )
    labels: list[Label] = Field(description="highest confidence first")
    review_requested: bool = Field(
        description="the best label was under the stage's review threshold: the photo was "
        "queued for a reviewer (never for a provisional answer)"
    )
    model_status: str | None = Field(
        default=None, description="provisional only: the model's status (STARTING, STOPPED...)"
    )
    ready_in_minutes: int | None = Field(
        default=None,
        description="provisional only: minutes until the starting model is expected to run "
        "(the cost guard's measured starts); null when it is not starting",
    )
    start_reason: Literal["daily_cap", "sustained_demand"] | None = Field(
        default=None,
        description="provisional only: why a stopped model was not started (today's cap "
        "is spent; demand is not yet sustained)",
    )
    neighbours: list[Neighbour] | None = Field(
        default=None, description="provisional only: the nearest voters, nearest first (3 at most)"
    )


class Point(_Answer):
    """A corner, as ratios of the image's width and height (0-1) from the top-left corner."""

    x: float
    y: float


class Isbn(_Answer):
    isbn13: str = Field(description="13 digits, no hyphens; its check digit holds")
    isbn10: str | None = Field(description="10 characters (last may be X); null for 979 numbers")


class Code(_Answer):
    format: str = Field(
        description="symbology (one of the request's formats), or 'text' for an ISBN read "
        "from printed text"
    )
    text: str = Field(description="the decoded content (a URL, digits, any text)")
    source: Literal["barcode", "text"] = Field(
        description="barcode: decoded from the symbol; text: a printed ISBN found by "
        "Rekognition DetectText (the stage's fallback)"
    )
    bounding_box: BoundingBox
    polygon: list[Point] = Field(
        description="the code's corners, clockwise from top-left as read (a tilted code's "
        "box holds it, its polygon follows it)"
    )
    isbn: Isbn | None = Field(
        description="an EAN-13 starting 978/979 whose check digit holds (the 5-digit price "
        "add-on is never read), or a printed ISBN; null otherwise"
    )


class CodesResponse(_Answer):
    codes: list[Code] = Field(description="every code found, in reading order; empty if none")
    text_search: Literal["off", "not_needed", "done", "failed"] = Field(
        description="the printed-ISBN fallback (Rekognition DetectText, billed per image): "
        "off for this stage, not_needed (a barcode gave an ISBN, or ean_13 was not asked "
        "for), done, or failed (logged; the barcodes found are still answered)"
    )


class FeedbackResponse(_Answer):
    feedback_id: str
    status: Literal["pending", "confirmed"] = Field(
        description="pending: a reviewer confirms it before training; confirmed: a reviewer "
        "already confirmed this photo with this label (a re-send changes nothing)"
    )
    label: str
    agreed: bool = Field(description="the label is the answer's best label")


class ReviewItem(_Answer):
    feedback_id: str
    label: str | None = Field(description="suggested label; null when the model found none")
    answered_label: str | None
    answered_confidence: float | None = Field(description="percent")
    model_version: str | None
    origin: Literal["person", "low_confidence"]
    created_at: str | None = Field(description="ISO 8601")
    image_url: str = Field(description="presigned S3 GET of the photo, valid 300 seconds")
    boxes: list[FeedbackBox] | None = Field(
        default=None, description="object detection: the boxes sent with the feedback"
    )


class ReviewListResponse(_Answer):
    known_labels: list[str] = Field(description="labels of the promoted model version")
    items: list[ReviewItem] = Field(description="pending items, oldest first, at most 50")


class ReviewResponse(_Answer):
    feedback_id: str
    status: Literal["confirmed", "discarded"]
    label: str | None


class Person(_Answer):
    name: str = Field(description="the person's name, as enrolled (any script)")
    user_id: str = Field(description="the collection's UserId for that name")
    similarity: float = Field(description="percent, 0-100")


class FoundFace(_Answer):
    bounding_box: BoundingBox | None
    confidence: float | None = Field(description="percent: that this is a face")
    status: Literal["matched", "unknown", "not_searched"] = Field(
        description="matched: a person at or over face_match_threshold; unknown: nobody is; "
        "not_searched: see reason"
    )
    person: Person | None = Field(description="the best match when matched")
    reason: Literal["over_limit", "too_small", "unsearchable", "no_time_left"] | None = Field(
        description="why a face was not searched: past max_faces, under 40 px, its crop "
        "held no face Rekognition could search, or the function's time ran out"
    )


class FaceSearchResponse(_Answer):
    faces: list[FoundFace] = Field(description="every face found, largest first; [] for none")
    faces_found: int = Field(ge=0)
    faces_searched: int = Field(ge=0, description="SearchUsersByImage calls made (billed)")


class AgeRange(_Answer):
    low: int
    high: int


class Emotion(_Answer):
    type: str
    confidence: float


class FaceDetail(_Answer):
    bounding_box: BoundingBox | None
    confidence: float | None
    age_range: AgeRange | None
    emotions: list[Emotion] = Field(description="most confident first")
    smile: bool | None
    eyeglasses: bool | None


class FaceAnalyzeResponse(_Answer):
    faces: list[FaceDetail]


class ModelVersion(_Answer):
    model_version: str = Field(description="version name (no ARN: it holds the account id)")
    status: str = Field(description="Rekognition's status: RUNNING, STOPPED, TRAINING_COMPLETED...")
    created_at: str | None = Field(description="ISO 8601")
    active: bool = Field(description="the promoted version the API answers with")


class ModelUsage(_Answer):
    """Inference-unit hours by the cost guard's last accounting (every few minutes), and
    what they cost at the stage's price: an estimate, not the bill."""

    today_unit_hours: float = Field(ge=0, description="UTC day")
    month_unit_hours: float = Field(ge=0, description="UTC month")
    usd_per_unit_hour: float = Field(gt=0)
    today_usd: float = Field(ge=0)
    month_usd: float = Field(ge=0)


class ModelsResponse(_Answer):
    active_model_version: str | None
    labels: list[str] = Field(
        description="labels of the promoted version, for feedback (empty before a promotion)"
    )
    versions: list[ModelVersion] = Field(description="newest first, at most 100")
    usage: ModelUsage | None = Field(
        default=None,
        description="the active version's billed inference-unit hours by the cost guard's "
        "records (null before a promotion or when they cannot be read)",
    )


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    code: str = Field(description="machine-readable; see the responses of each route")
    message: str = Field(description="for people; never AWS's own text")
    field: str | None = Field(description="the request field at fault (dotted path), if any")
    model_status: str | None = Field(default=None, description="503 model_* answers only")
    model_version: str | None = Field(default=None, description="503 model_* answers only")
    ready_in_minutes: int | None = Field(
        default=None, description="503 model_* answers of a starting model: expected minutes"
    )
    provisional: str | None = Field(
        default=None,
        description="503 model_* answers of a stage with provisional answers: why none was "
        "given (image_over_model_limits, embedding_throttled, embedding_access_denied, "
        "embedding_refused, embedding_unavailable, index_unavailable, index_empty, "
        "no_similar_photo, image_unavailable)",
    )


class ErrorResponse(_Answer):
    error: ErrorDetail


IMAGE_ERRORS = (
    "invalid_base64",
    "invalid_image",
    "corrupt_image",
    "image_too_small",
    "image_dimensions",
    "image_aspect_ratio",
    "forbidden_key",
    "upload_not_found",
    "image_too_large",
    "unsupported_format",
)
BODY_ERRORS = ("invalid_json", "invalid_request", "unsupported_media_type", "payload_too_large")
COMMON_ERRORS = (
    "unauthenticated",
    "throttled",
    "internal_error",
    "upstream_access_denied",
    "upstream_not_found",
    "upstream_error",
    "upstream_unavailable",
)
MODEL_ERRORS = ("no_active_model", "model_starting", "model_not_running")
LABEL_ERRORS = ("invalid_label", "unknown_label")
UPLOAD_ERRORS = (
    "forbidden_key",
    "upload_not_found",
    "image_too_large",
    "unsupported_format",
    "corrupt_image",
    "image_too_small",
    "image_dimensions",
    "image_aspect_ratio",
)


@dataclass(frozen=True)
class Route:
    """One route of the contract: its body, its answer and every error code it can give."""

    method: str
    path: str
    summary: str
    request: type[BaseModel] | None
    response: type[BaseModel]
    errors: tuple[str, ...]


ROUTES = (
    Route(
        "POST",
        "/v1/uploads",
        "A presigned S3 PUT for one photo (JPEG or PNG, up to 15 MB) under your own prefix",
        UploadRequest,
        UploadResponse,
        BODY_ERRORS + COMMON_ERRORS,
    ),
    Route(
        "POST",
        "/v1/labels",
        "Custom labels of the stage's promoted model version (DetectCustomLabels)",
        LabelsRequest,
        LabelsResponse,
        BODY_ERRORS + IMAGE_ERRORS + MODEL_ERRORS + COMMON_ERRORS,
    ),
    Route(
        "POST",
        "/v1/faces/search",
        "Who is in the photo: every face (up to max_faces, largest first) searched among "
        "the stage's people (DetectFaces, then SearchUsersByImage on each face's crop)",
        FaceSearchRequest,
        FaceSearchResponse,
        BODY_ERRORS + IMAGE_ERRORS + COMMON_ERRORS,
    ),
    Route(
        "POST",
        "/v1/faces/analyze",
        "Age range, emotions, smile and glasses of every face (DetectFaces)",
        FaceAnalyzeRequest,
        FaceAnalyzeResponse,
        BODY_ERRORS + IMAGE_ERRORS + COMMON_ERRORS,
    ),
    Route(
        "POST",
        "/v1/codes",
        "QR codes, barcodes and ISBNs in the photo, decoded in milliseconds with no model "
        "(and printed ISBNs through DetectText where the stage turns it on)",
        CodesRequest,
        CodesResponse,
        BODY_ERRORS + IMAGE_ERRORS + COMMON_ERRORS,
    ),
    Route(
        "GET",
        "/v1/models",
        "The project's versions by name and status, and which one is promoted",
        None,
        ModelsResponse,
        COMMON_ERRORS,
    ),
    Route(
        "POST",
        "/v1/feedback",
        "Say which label your upload really shows: it is copied into the training data, "
        "pending review",
        FeedbackRequest,
        FeedbackResponse,
        BODY_ERRORS
        + UPLOAD_ERRORS
        + LABEL_ERRORS
        + ("no_active_model", "already_reviewed")
        + COMMON_ERRORS,
    ),
    Route(
        "GET",
        "/v1/review",
        "Reviewers: the pending feedback, oldest first",
        None,
        ReviewListResponse,
        ("not_reviewer", *COMMON_ERRORS),
    ),
    Route(
        "POST",
        "/v1/review",
        "Reviewers: confirm, correct or discard one pending item; only confirmed items train",
        ReviewRequest,
        ReviewResponse,
        BODY_ERRORS
        + LABEL_ERRORS
        + ("not_reviewer", "feedback_not_found", "already_reviewed", "label_required")
        + ("no_active_model",)
        + COMMON_ERRORS,
    ),
)
"""The API's contract, written into ``docs/openapi.json`` by ``python -m tools.openapi``."""
