"""Image embedding models on Amazon Bedrock, and the vector index of the labelled photos.

One place for what the provisional answers need to know about a model: its
id, Regions, input limits, vector size, InvokeModel body and price. The
stacks (IAM, config validation), the labels function (embedding a photo) and
the index builder (embedding the training photos) all read it.

Sources:

* Titan Multimodal Embeddings G1 (``amazon.titan-embed-image-v1``): request
  ``{"inputImage": <base64>, "embeddingConfig": {"outputEmbeddingLength":
  256|384|1024}}``, response ``{"embedding": [...], "message": ...}``; images
  up to 25 MB and 2,048 x 2,048 px (Bedrock user guide, "Amazon Titan
  Multimodal Embeddings G1" and its model parameters page). Regions: the
  Bedrock user guide's model-support tables
  (https://docs.aws.amazon.com/bedrock/latest/userguide/models-regions.html).
* Amazon Nova Multimodal Embeddings (``amazon.nova-2-multimodal-embeddings-v1:0``):
  request ``{"taskType": "SINGLE_EMBEDDING", "singleEmbeddingParams":
  {"embeddingPurpose": ..., "embeddingDimension": 256|384|1024|3072, "image":
  {"format": "jpeg"|"png", "source": {"bytes": <base64>}}}}``, response
  ``{"embeddings": [{"embeddingType": ..., "embedding": [...]}]}`` (Nova user
  guide, "Complete embeddings request and response schema"). Region: US East
  (N. Virginia) at launch; check the model card before pinning another.
* Prices: on-demand, per input image, from https://aws.amazon.com/bedrock/pricing/
  (USD, us-east-1, as read when this was written: re-read before relying on a
  figure; :data:`PRICE_CHECKED` says when).

The vector index (S3 Vectors) holds one vector per labelled photo, keyed
:func:`vector_key` of its S3 key, with the metadata of :data:`METADATA_KEYS`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

PRICE_CHECKED = "2025-11"
"""When the prices below were read off the Bedrock pricing page."""

INDEX_NAME = "labelled-photos"
"""The S3 Vectors index in the stage's vector bucket."""
DISTANCE_METRIC = "cosine"
"""S3 Vectors' cosine distance is ``1 - cosine similarity`` (0 same direction, 2 opposite)."""
METADATA_KEYS = ("label", "split", "s3_key", "etag")
"""Metadata of each vector: its photo's ``label``, ``split`` (``train``, ``test`` or
``feedback``), the photo's ``s3_key`` in the training bucket and its ``etag`` (what the
index builder compares to skip unchanged photos). ``s3_key`` and ``etag`` are
non-filterable (:data:`NON_FILTERABLE_KEYS`)."""
NON_FILTERABLE_KEYS = ("s3_key", "etag")
SPLITS = ("train", "test", "feedback")


@dataclass(frozen=True)
class EmbeddingModel:
    """A Bedrock image embedding model (module docstring for the sources).

    :ivar name: the stage setting's value (``provisional.embedding_model``).
    :ivar model_id: Bedrock's model id (the IAM resource is its foundation-model ARN).
    :ivar regions: Regions where the model is offered on demand.
    :ivar max_bytes: largest image the model takes, in bytes (decoded).
    :ivar max_side: largest image side in pixels, or None when the docs give none.
    :ivar dimension: the vector size requested (and the index's dimension).
    :ivar usd_per_image: on-demand price of one image.
    """

    name: str
    model_id: str
    regions: tuple[str, ...]
    max_bytes: int
    max_side: int | None
    dimension: int
    usd_per_image: float

    def request_body(self, image: bytes, image_format: str) -> str:
        """The InvokeModel ``body`` for one image (``image_format``: ``JPEG`` or ``PNG``)."""
        encoded = base64.b64encode(image).decode("ascii")
        if self.name == TITAN.name:
            return json.dumps(
                {
                    "inputImage": encoded,
                    "embeddingConfig": {"outputEmbeddingLength": self.dimension},
                }
            )
        return json.dumps(
            {
                "taskType": "SINGLE_EMBEDDING",
                "singleEmbeddingParams": {
                    "embeddingPurpose": "GENERIC_INDEX",
                    "embeddingDimension": self.dimension,
                    "image": {"format": image_format.lower(), "source": {"bytes": encoded}},
                },
            }
        )

    def vector(self, response_body: bytes) -> list[float]:
        """The embedding in an InvokeModel response body.

        :raises ValueError: the body holds no vector of :attr:`dimension` numbers
            (the model's ``message`` says why, when it gives one).
        """
        try:
            answer: Any = json.loads(response_body)
        except ValueError:
            raise ValueError("the model's answer is not JSON") from None
        if not isinstance(answer, dict):
            raise ValueError("the model's answer is not a JSON object")
        if self.name == TITAN.name:
            values = answer.get("embedding")
        else:
            embeddings = answer.get("embeddings") or [{}]
            values = embeddings[0].get("embedding") if isinstance(embeddings[0], dict) else None
        if not isinstance(values, list) or len(values) != self.dimension:
            reason = answer.get("message") or "no embedding of the expected size"
            raise ValueError(f"the model answered without a vector: {reason}")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise ValueError("the model's vector holds something other than numbers")
        return [float(v) for v in values]


MB = 1024 * 1024

TITAN = EmbeddingModel(
    name="titan-multimodal-g1",
    model_id="amazon.titan-embed-image-v1",
    regions=(
        "us-east-1",
        "us-west-2",
        "ap-south-1",
        "ap-southeast-2",
        "ca-central-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "sa-east-1",
    ),
    max_bytes=25 * MB,
    max_side=2048,
    dimension=1024,
    usd_per_image=0.00006,
)
NOVA = EmbeddingModel(
    name="nova-multimodal-v1",
    model_id="amazon.nova-2-multimodal-embeddings-v1:0",
    regions=("us-east-1",),
    max_bytes=25 * MB,
    max_side=None,
    dimension=1024,
    usd_per_image=0.00006,
)
MODELS = {model.name: model for model in (TITAN, NOVA)}
"""The embedding models a stage may choose, by setting value."""

S3_VECTORS_USD_PER_QUERY = 2.5 / 1_000_000
"""QueryVectors' request price (USD 2.50 per million calls,
https://aws.amazon.com/s3/pricing/, "S3 Vectors"; the per-TB data-processing charge is
under a hundredth of a cent per query for an index of thousands of photos)."""


def vector_key(s3_key: str) -> str:
    """The index key of a photo: SHA-256 of its training-bucket key (same photo, same key,
    so writing it again replaces it: the build is idempotent)."""
    return hashlib.sha256(s3_key.encode("utf-8")).hexdigest()


def similarity(distance: float) -> float:
    """Cosine similarity from S3 Vectors' cosine distance (:data:`DISTANCE_METRIC`)."""
    return 1.0 - distance


@dataclass(frozen=True)
class Neighbour:
    """One labelled photo near the query: its ``label``, cosine ``similarity`` and key."""

    label: str
    similarity: float
    s3_key: str


def voters(neighbours: list[Neighbour], k: int, min_similarity: float) -> list[Neighbour]:
    """The neighbours that vote: the ``k`` nearest whose similarity is at least
    ``min_similarity``, nearest first (ties by key, so the order never depends on the
    order the store returned them in)."""
    nearest = sorted(neighbours, key=lambda n: (-n.similarity, n.s3_key))[:k]
    return [n for n in nearest if n.similarity >= min_similarity]


def vote(neighbours: list[Neighbour], k: int, min_similarity: float) -> list[tuple[str, float]]:
    """Labels and confidences (percent) from the nearest labelled photos.

    Similarity-weighted k nearest neighbours: of the :func:`voters` ``V`` (weights are
    their similarities ``s``, all positive since ``min_similarity > 0``),

        confidence(label) = 100 * sum(s for n in V if n.label == label) / sum(s for n in V)

    so the confidences of the labels found sum to 100. Sorted by confidence; a tie goes
    to the label with the nearer best photo, then by name.

    :returns: ``[(label, percent), ...]``, empty when no neighbour is similar enough.
    :raises ValueError: ``k < 1`` or ``min_similarity`` not in (0, 1].
    """
    if k < 1:
        raise ValueError(f"k is {k}; at least 1 neighbour must vote")
    if not 0 < min_similarity <= 1:
        raise ValueError(f"min_similarity is {min_similarity}; it must be in (0, 1]")
    chosen = voters(neighbours, k, min_similarity)
    total = sum(n.similarity for n in chosen)
    weights: dict[str, float] = {}
    best: dict[str, float] = {}
    for n in chosen:
        weights[n.label] = weights.get(n.label, 0.0) + n.similarity
        best[n.label] = max(best.get(n.label, 0.0), n.similarity)
    ranked = sorted(weights, key=lambda label: (-weights[label], -best[label], label))
    return [(label, 100 * weights[label] / total) for label in ranked]
