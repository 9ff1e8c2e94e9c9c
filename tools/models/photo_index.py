"""``tools.models index`` and the provisional half of ``tools.models evaluate``.

``index``: the labelled photos of the stage (its ``retraining.dataset_prefix``
and every confirmed feedback item) embedded into the stage's S3 Vectors index,
with the code the retraining workflow runs (:mod:`retraining.photo_index`):
incremental, idempotent, resumable. The plan and its cost (photos x the
model's price per image) are printed before anything is billed.

``evaluate``: the provisional classifier scored on the same test split as the
custom model (the photos whose ``split`` is ``test``), each one's vote taken
from ``train`` photos only (a QueryVectors filter), so no test photo votes for
itself. Its prediction is the top label of the vote; per label, precision,
recall and F1 of that prediction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from retraining import photo_index
from retraining.steps import LabelScore
from shared.embeddings import MODELS, EmbeddingModel, Neighbour, similarity, vote
from shared.layout import FEEDBACK_BY_STATUS_INDEX
from shared.paging import pages, plain_call

from tools.aws import ToolError


@dataclass(frozen=True)
class IndexTarget:
    """Where ``index`` reads and writes, and with which model."""

    training_bucket: str
    feedback_table: str | None
    index_arn: str
    dataset_prefix: str
    test_fraction: float
    model: EmbeddingModel


def confirmed_feedback(dynamodb: Any, table: str) -> list[tuple[str, str]]:
    """``(training_key, label)`` of every confirmed feedback item (the status index)."""
    params: dict[str, Any] = {
        "TableName": table,
        "IndexName": FEEDBACK_BY_STATUS_INDEX,
        "KeyConditionExpression": "#status = :confirmed",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {":confirmed": {"S": "confirmed"}},
    }
    return [
        (item["training_key"]["S"], item["label"]["S"])
        for page in pages(
            plain_call, dynamodb, "query", "LastEvaluatedKey", "ExclusiveStartKey", **params
        )
        for item in page.get("Items", [])
        if "training_key" in item and "label" in item
    ]


def plan_index(
    s3: Any, dynamodb: Any, s3vectors: Any, target: IndexTarget
) -> tuple[photo_index.Plan, list[tuple[str, str]]]:
    """What ``index`` would do, and the files it leaves out (with why)."""
    confirmed = confirmed_feedback(dynamodb, target.feedback_table) if target.feedback_table else []
    photos, skipped = photo_index.labelled_photos(
        s3, target.training_bucket, target.dataset_prefix, confirmed, target.test_fraction
    )
    if not photos:
        raise ToolError(
            f"no labelled photos under s3://{target.training_bucket}/{target.dataset_prefix}/; "
            "upload them first: python -m tools.models upload FOLDER --prefix "
            f"{target.dataset_prefix}"
        )
    return photo_index.plan(photos, photo_index.indexed(s3vectors, target.index_arn)), skipped


def describe_plan(work: photo_index.Plan, model: EmbeddingModel) -> str:
    """One line: what will be embedded, kept and deleted, and what it costs."""
    return (
        f"{len(work.to_embed)} photo(s) to embed with {model.model_id}, "
        f"{work.unchanged} already indexed, {len(work.stale)} stale vector(s) to delete; "
        f"cost about USD {work.cost_usd(model):.4f} (USD {model.usd_per_image:g} per image)"
    )


def run_index(
    s3: Any,
    bedrock: Any,
    s3vectors: Any,
    target: IndexTarget,
    work: photo_index.Plan,
    progress: Callable[[int], Any] | None = None,
) -> photo_index.Result:
    """Build the index; an AWS failure becomes a :class:`ToolError` saying how far it got
    (the vectors written stay: running again continues).

    :param progress: given the number of photos, returns a tqdm-like bar (``update``).
    """
    bar = progress(len(work.to_embed)) if progress else None
    written: list[int] = [0]

    def advanced(_: photo_index.Photo) -> None:
        written[0] += 1
        if bar is not None:
            bar.update(1)

    try:
        return photo_index.build(
            s3,
            bedrock,
            s3vectors,
            bucket=target.training_bucket,
            index_arn=target.index_arn,
            model=target.model,
            work=work,
            on_photo=advanced,
        )
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError

        if not isinstance(exc, ClientError | BotoCoreError):
            raise
        code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else ""
        hint = (
            "; enable access to the model in the Bedrock console (Model access) first"
            if code == "AccessDeniedException"
            else ""
        )
        raise ToolError(
            f"stopped after {written[0]} of {len(work.to_embed)} photo(s): {exc}{hint}. "
            f"Vectors written every {photo_index.BATCH} photos stay; run again to continue"
        ) from None
    finally:
        if bar is not None and hasattr(bar, "close"):
            bar.close()


@dataclass(frozen=True)
class ProvisionalEvaluation:
    """The provisional classifier's scores on the test split."""

    f1: float
    """Mean of the per-label F1 (macro average)."""
    labels: list[LabelScore]
    test_photos: int
    unanswered: int
    """Test photos with no train photo within ``min_similarity`` (a 503 in the API)."""


def _all_vectors(s3vectors: Any, index_arn: str) -> list[dict[str, Any]]:
    return [
        vector
        for page in pages(
            plain_call,
            s3vectors,
            "list_vectors",
            "nextToken",
            "nextToken",
            indexArn=index_arn,
            returnData=True,
            returnMetadata=True,
        )
        for vector in page.get("vectors", [])
    ]


def evaluate_provisional(
    s3vectors: Any, index_arn: str, k: int, min_similarity: float
) -> ProvisionalEvaluation:
    """Score the vote of the ``train`` photos on every ``test`` photo of the index.

    :raises ToolError: the index has no test photos (run ``index`` first).
    """
    vectors = _all_vectors(s3vectors, index_arn)
    tests = [v for v in vectors if (v.get("metadata") or {}).get("split") == "test"]
    if not tests:
        raise ToolError("the photo index has no test photos; run 'python -m tools.models index'")
    truth_and_guess: list[tuple[str, str | None]] = []
    for vector in tests:
        answer = s3vectors.query_vectors(
            indexArn=index_arn,
            topK=k,
            queryVector=vector["data"],
            filter={"split": "train"},
            returnMetadata=True,
            returnDistance=True,
        )
        found = [
            Neighbour(n["metadata"]["label"], similarity(n["distance"]), n["metadata"]["s3_key"])
            for n in answer.get("vectors", [])
            if n.get("metadata") and "distance" in n
        ]
        votes = vote(found, k, min_similarity)
        truth_and_guess.append((vector["metadata"]["label"], votes[0][0] if votes else None))
    return score(truth_and_guess)


def score(truth_and_guess: list[tuple[str, str | None]]) -> ProvisionalEvaluation:
    """Per-label precision, recall and F1 of top-1 guesses (None: no answer, a miss)."""
    labels = sorted({truth for truth, _ in truth_and_guess})
    scores = []
    for label in labels:
        tp = sum(1 for t, g in truth_and_guess if t == label and g == label)
        fp = sum(1 for t, g in truth_and_guess if t != label and g == label)
        fn = sum(1 for t, g in truth_and_guess if t == label and g != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(LabelScore(label, precision, recall, f1, 0.0, tp + fn))
    return ProvisionalEvaluation(
        f1=sum(s.f1 for s in scores) / len(scores),
        labels=scores,
        test_photos=len(truth_and_guess),
        unanswered=sum(1 for _, g in truth_and_guess if g is None),
    )


def model_named(name: str) -> EmbeddingModel:
    return MODELS[name]
