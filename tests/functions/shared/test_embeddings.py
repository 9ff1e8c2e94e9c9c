"""The k-NN vote and the embedding models' request and response bodies."""

from __future__ import annotations

import base64
import json

import pytest
from shared.embeddings import MODELS, NOVA, TITAN, Neighbour, similarity, vector_key, vote


def near(label: str, similarity_: float, key: str | None = None) -> Neighbour:
    return Neighbour(label, similarity_, key or f"datasets/qr/{label}/{similarity_}.jpg")


def test_confidence_is_each_labels_share_of_the_summed_similarity() -> None:
    found = [near("with_qr", 0.9), near("with_qr", 0.8), near("without_qr", 0.7)]

    votes = vote(found, k=5, min_similarity=0.5)

    assert [name for name, _ in votes] == ["with_qr", "without_qr"]
    assert votes[0][1] == pytest.approx(100 * 1.7 / 2.4)
    assert votes[1][1] == pytest.approx(100 * 0.7 / 2.4)
    assert sum(c for _, c in votes) == pytest.approx(100)


def test_only_the_k_nearest_vote_whatever_order_the_store_returned() -> None:
    found = [near("b", 0.61), near("a", 0.99), near("b", 0.62), near("b", 0.63)]

    assert vote(found, k=1, min_similarity=0.5) == [("a", 100.0)]
    assert [n for n, _ in vote(list(reversed(found)), k=2, min_similarity=0.5)] == ["a", "b"]


def test_a_tie_goes_to_the_label_with_the_nearer_best_photo_then_by_name() -> None:
    # a: 0.75 + 0.5 = 1.25; b: 0.875 + 0.375 = 1.25 (exact in binary): equal weight,
    # b's best photo is nearer.
    found = [near("a", 0.75), near("a", 0.5), near("b", 0.875), near("b", 0.375)]
    assert [n for n, _ in vote(found, k=4, min_similarity=0.25)] == ["b", "a"]

    exact = [near("z", 0.7, "k1"), near("y", 0.7, "k2")]
    assert [n for n, _ in vote(exact, k=2, min_similarity=0.5)] == ["y", "z"]


def test_a_label_with_one_photo_can_win_alone() -> None:
    found = [near("rare", 0.95), near("common", 0.4), near("common", 0.35)]

    assert vote(found, k=3, min_similarity=0.5) == [("rare", 100.0)]


def test_no_answer_when_no_photo_reaches_min_similarity() -> None:
    assert vote([near("a", 0.59), near("b", 0.2)], k=5, min_similarity=0.6) == []
    assert vote([], k=5, min_similarity=0.6) == []


@pytest.mark.parametrize(("k", "floor"), [(0, 0.5), (3, 0), (3, 1.5)])
def test_bad_vote_settings_are_refused(k: int, floor: float) -> None:
    with pytest.raises(ValueError, match=r"k is|min_similarity is"):
        vote([near("a", 0.9)], k=k, min_similarity=floor)


def test_similarity_from_cosine_distance_and_stable_keys() -> None:
    assert similarity(0.0) == 1.0
    assert similarity(0.25) == 0.75
    assert vector_key("datasets/qr/a.jpg") == vector_key("datasets/qr/a.jpg")
    assert vector_key("datasets/qr/a.jpg") != vector_key("datasets/qr/b.jpg")
    assert len(vector_key("x")) == 64


def test_titan_request_body_is_the_documented_shape() -> None:
    body = json.loads(TITAN.request_body(b"\xff\xd8jpeg", "JPEG"))

    assert body == {
        "inputImage": base64.b64encode(b"\xff\xd8jpeg").decode(),
        "embeddingConfig": {"outputEmbeddingLength": 1024},
    }


def test_nova_request_body_is_the_documented_shape() -> None:
    body = json.loads(NOVA.request_body(b"\x89PNG", "PNG"))

    assert body == {
        "taskType": "SINGLE_EMBEDDING",
        "singleEmbeddingParams": {
            "embeddingPurpose": "GENERIC_INDEX",
            "embeddingDimension": 1024,
            "image": {"format": "png", "source": {"bytes": base64.b64encode(b"\x89PNG").decode()}},
        },
    }


def test_vectors_are_read_from_each_models_answer() -> None:
    vector = [0.5] * 1024
    assert TITAN.vector(json.dumps({"embedding": vector, "message": None}).encode()) == vector
    nova = {"embeddings": [{"embeddingType": "IMAGE", "embedding": vector}]}
    assert NOVA.vector(json.dumps(nova).encode()) == vector


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"embedding": [0.1] * 3}).encode(), "expected size"),
        (json.dumps({"embedding": None, "message": "bad image"}).encode(), "bad image"),
        (json.dumps({"embedding": ["x"] * 1024}).encode(), "other than numbers"),
    ],
)
def test_an_answer_without_a_vector_is_refused_with_the_reason(body: bytes, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        TITAN.vector(body)


def test_every_model_is_offered_where_custom_labels_is_somewhere() -> None:
    from stacks.config import CUSTOM_LABELS_REGIONS

    for model in MODELS.values():
        assert set(model.regions) & set(CUSTOM_LABELS_REGIONS), model.name
        assert model.usd_per_image > 0
