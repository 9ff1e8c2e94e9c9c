"""Provisional labels while the model is not RUNNING: the nearest labelled photos vote.

The photo is embedded with the stage's Bedrock model (one InvokeModel, billed
per image), the ``provisional_k`` nearest labelled photos are read from the S3
Vectors index (one QueryVectors), and they vote
(:func:`shared.embeddings.vote`, similarity-weighted). The answer is marked
``source: "provisional"`` and shows the three nearest photos as short-lived
presigned thumbnails.

Anything that keeps a provisional answer from being given raises
:class:`NoProvisionalAnswerError` with a machine-readable ``reason``; the labels
route then answers the 503 it would have answered without provisional answers,
with that reason in ``details.provisional``:

===========================  =========================================================
reason                       when
===========================  =========================================================
``image_over_model_limits``  the photo is over the model's bytes or pixels (Titan G1:
                             25 MB, 2,048 px a side); the page sends 2,048 px at most
``embedding_throttled``      Bedrock ``ThrottlingException`` / ``ModelNotReadyException``
``embedding_access_denied``  ``AccessDeniedException``: model access never enabled in
                             the Bedrock console, or IAM
``embedding_refused``        ``ValidationException`` (an image the model will not read)
                             or an answer with no vector of the index's size
``embedding_unavailable``    Bedrock 5xx, timeouts, connection errors, no time left
``index_unavailable``        QueryVectors failed (throttled, 5xx, missing index...)
``index_empty``              the index holds no photo (``tools.models index`` not run)
``no_similar_photo``         no labelled photo reaches ``provisional_min_similarity``
``image_unavailable``        the upload could not be read back (gone, S3 failing)
===========================  =========================================================
"""

from __future__ import annotations

from typing import Any

from shared.embeddings import MODELS, Neighbour, similarity, vote, voters
from shared.imaging import read_header

from inference_api.calls import Clients, Settings, aws
from inference_api.errors import ApiError
from inference_api.images import read_upload

THUMBNAILS = 3
"""Nearest photos shown with a provisional answer."""
THUMBNAIL_URL_SECONDS = 300
"""Lifetime of a thumbnail's presigned GET: long enough to look, too short to pass on."""


class NoProvisionalAnswerError(Exception):
    """No provisional answer (module docstring for the ``reason`` values).

    :ivar reason: machine-readable, sent as ``details.provisional``.
    :ivar cause: for the log (AWS's code and message), never for the client.
    """

    def __init__(self, reason: str, cause: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


_BEDROCK_REASONS = {
    "ThrottlingException": "embedding_throttled",
    "ModelNotReadyException": "embedding_throttled",
    "ServiceQuotaExceededException": "embedding_throttled",
    "AccessDeniedException": "embedding_access_denied",
    "ValidationException": "embedding_refused",
    "ResourceNotFoundException": "embedding_access_denied",
}


def _image_bytes(settings: Settings, clients: Clients, rekognition_input: dict[str, Any]) -> bytes:
    if "Bytes" in rekognition_input:
        data: bytes = rekognition_input["Bytes"]
        return data
    key = rekognition_input["S3Object"]["Name"]
    try:
        return read_upload(settings, clients, key, "image.s3_key")
    except ApiError as exc:
        raise NoProvisionalAnswerError("image_unavailable", exc.cause) from None


def embed(settings: Settings, clients: Clients, data: bytes) -> list[float]:
    """The photo's vector from the stage's embedding model.

    :raises NoProvisionalAnswerError: over the model's limits, or Bedrock failed.
    """
    model = MODELS[settings.embedding_model]
    info = read_header(data)  # already checked against DetectCustomLabels' limits
    if len(data) > model.max_bytes or (
        model.max_side is not None and max(info.width, info.height) > model.max_side
    ):
        raise NoProvisionalAnswerError(
            "image_over_model_limits",
            f"{info.width}x{info.height} px, {len(data)} bytes; {model.model_id} takes "
            f"{model.max_bytes} bytes and {model.max_side} px a side",
        )
    try:
        answer = aws(
            clients,
            "bedrock",
            "invoke_model",
            modelId=model.model_id,
            body=model.request_body(data, info.format),
            contentType="application/json",
            accept="application/json",
        )
    except ApiError as exc:
        reason = _BEDROCK_REASONS.get(
            exc.aws_code or "",
            "embedding_throttled" if exc.status == 429 else "embedding_unavailable",
        )
        raise NoProvisionalAnswerError(reason, exc.cause) from None
    try:
        return model.vector(answer["body"].read())
    except ValueError as exc:
        raise NoProvisionalAnswerError("embedding_refused", str(exc)) from None


def nearest(settings: Settings, clients: Clients, vector: list[float]) -> list[Neighbour]:
    """The ``provisional_k`` nearest labelled photos (QueryVectors with metadata).

    :raises NoProvisionalAnswerError: the query failed or the index is empty.
    """
    try:
        answer = aws(
            clients,
            "s3vectors",
            "query_vectors",
            indexArn=settings.photo_index_arn,
            topK=settings.provisional_k,
            queryVector={"float32": vector},
            returnMetadata=True,
            returnDistance=True,
        )
    except ApiError as exc:
        raise NoProvisionalAnswerError("index_unavailable", exc.cause) from None
    found = []
    for entry in answer.get("vectors", []):
        metadata = entry.get("metadata") or {}
        label, key = metadata.get("label"), metadata.get("s3_key")
        distance = entry.get("distance")
        if isinstance(label, str) and isinstance(key, str) and isinstance(distance, int | float):
            found.append(Neighbour(label, similarity(float(distance)), key))
    if not found:
        raise NoProvisionalAnswerError("index_empty", "QueryVectors returned no labelled vector")
    return found


def answer(
    settings: Settings,
    clients: Clients,
    rekognition_input: dict[str, Any],
    min_confidence: float | None,
    max_results: int | None,
) -> dict[str, Any]:
    """Labels voted by the nearest labelled photos, and the nearest photos themselves.

    :returns: ``{"labels": [{name, confidence, bounding_box: None}], "neighbours":
        [{label, similarity, thumbnail_url}]}`` (at most :data:`THUMBNAILS` neighbours,
        nearest first; ``similarity`` is cosine, 0 to 1). ``min_confidence`` and
        ``max_results`` apply as they do to the model's labels.
    :raises NoProvisionalAnswerError: see the module docstring.
    """
    data = _image_bytes(settings, clients, rekognition_input)
    found = nearest(settings, clients, embed(settings, clients, data))
    k, floor = settings.provisional_k, settings.provisional_min_similarity
    votes = vote(found, k, floor)
    if not votes:
        best = max(n.similarity for n in found)
        raise NoProvisionalAnswerError(
            "no_similar_photo", f"nearest similarity {best:.3f} < min_similarity {floor:g}"
        )
    labels = [
        {"name": name, "confidence": round(confidence, 3), "bounding_box": None}
        for name, confidence in votes
        if min_confidence is None or confidence >= min_confidence
    ]
    if max_results is not None:
        labels = labels[:max_results]
    neighbours = [
        {
            "label": n.label,
            "similarity": round(n.similarity, 4),
            "thumbnail_url": clients.s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": settings.training_bucket, "Key": n.s3_key},
                ExpiresIn=THUMBNAIL_URL_SECONDS,
            ),
        }
        for n in voters(found, k, floor)[:THUMBNAILS]
    ]
    return {"labels": labels, "neighbours": neighbours}
