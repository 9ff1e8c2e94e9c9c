"""``tools.models index`` and the provisional half of ``evaluate``.

S3 is moto (real listings and ETags); Bedrock and S3 Vectors, which moto lacks, are
botocore ``Stubber`` (request shapes checked against their service models).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from moto import mock_aws
from shared.embeddings import TITAN, vector_key

from tests.support.api_events import image_bytes
from tests.tools.test_model_tools import RESOURCES, Session
from tools.models import __main__ as cli
from tools.models import photo_index
from tools.models.lifecycle import ToolError

REGION = "us-east-1"
INDEX = "arn:aws:s3vectors:us-east-1:123456789012:bucket/b/index/labelled-photos"
JPEG = image_bytes(320, 240)
VECTOR = [0.5] * TITAN.dimension


class Clients:
    def __init__(self) -> None:
        self.s3 = boto3.client("s3", region_name=REGION)
        self.bedrock = boto3.client("bedrock-runtime", region_name=REGION)
        self.s3vectors = boto3.client("s3vectors", region_name=REGION)
        self.bedrock_stub = Stubber(self.bedrock)
        self.vectors_stub = Stubber(self.s3vectors)

    def session(self) -> Session:
        return Session(
            s3=self.s3,
            dynamodb=None,
            rekognition=None,
            cloudformation=None,
            s3vectors=self.s3vectors,
            **{"bedrock-runtime": self.bedrock},
        )

    def embeds(self, times: int) -> None:
        for _ in range(times):
            body = json.dumps({"embedding": VECTOR}).encode()
            self.bedrock_stub.add_response(
                "invoke_model",
                {
                    "body": StreamingBody(io.BytesIO(body), len(body)),
                    "contentType": "application/json",
                },
                {
                    "modelId": TITAN.model_id,
                    "body": TITAN.request_body(JPEG, "JPEG"),
                    "contentType": "application/json",
                    "accept": "application/json",
                },
            )

    def indexed(self, *keys: str) -> None:
        """The index holds ``keys``: as the builder writes them, or, for a key no longer in
        the bucket, with some metadata (a stale vector)."""
        from retraining import photo_index as builder

        photos, _ = builder.labelled_photos(self.s3, "training", "datasets/qr")
        metadata = {p.s3_key: p.metadata for p in photos}
        vectors = [
            {"key": vector_key(k), "metadata": metadata.get(k, {"label": "x", "s3_key": k})}
            for k in keys
        ]
        self.vectors_stub.add_response(
            "list_vectors", {"vectors": vectors}, {"indexArn": INDEX, "returnMetadata": True}
        )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clients]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        clients = Clients()
        clients.s3.create_bucket(Bucket="training")
        for label in ("with_qr", "without_qr"):
            for i in range(2):
                clients.s3.put_object(
                    Bucket="training", Key=f"datasets/qr/{label}/{i}.jpg", Body=JPEG
                )
        monkeypatch.setattr(cli, "_resources", lambda *_: replace(RESOURCES, photo_index_arn=INDEX))
        with clients.bedrock_stub, clients.vectors_stub:
            yield clients
            clients.bedrock_stub.assert_no_pending_responses()
            clients.vectors_stub.assert_no_pending_responses()


def run(aws: Clients, *args: str) -> str:
    out = io.StringIO()
    code = cli.run(cli._parser().parse_args(["--stage", "dev", "index", *args]), aws.session(), out)
    assert code == 0
    return out.getvalue()


def test_dry_run_prints_the_plan_and_its_cost_and_bills_nothing(aws: Clients) -> None:
    aws.indexed("datasets/qr/with_qr/0.jpg")

    printed = run(aws, "--dry-run")

    assert "3 photo(s) to embed with amazon.titan-embed-image-v1, 1 already indexed" in printed
    assert f"cost about USD {3 * TITAN.usd_per_image:.4f}" in printed


def test_outside_a_terminal_it_asks_for_yes_before_billing(
    aws: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.indexed()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    with pytest.raises(ToolError, match="add --yes"):
        run(aws)


def test_yes_embeds_what_is_new_and_says_what_it_did(aws: Clients) -> None:
    aws.indexed("datasets/qr/with_qr/0.jpg", "datasets/qr/gone.jpg")
    aws.embeds(3)
    aws.vectors_stub.add_response("put_vectors", {}, {"indexArn": INDEX, "vectors": ANY})
    aws.vectors_stub.add_response(
        "delete_vectors", {}, {"indexArn": INDEX, "keys": [vector_key("datasets/qr/gone.jpg")]}
    )

    printed = run(aws, "--yes")

    assert "1 stale vector(s) to delete" in printed
    assert "embedded 3 (shrunk 0 to the model's pixels), deleted 1, skipped 0" in printed


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("ThrottlingException", "run again to continue"),
        ("AccessDeniedException", "enable access to the model in the Bedrock console"),
    ],
)
def test_a_failure_says_how_far_it_got_and_how_to_go_on(aws: Clients, code: str, says: str) -> None:
    aws.indexed()
    aws.embeds(1)
    aws.bedrock_stub.add_client_error("invoke_model", code, "no", 400)

    with pytest.raises(ToolError, match=says) as caught:
        run(aws, "--yes")

    assert "stopped after 1 of 4 photo(s)" in str(caught.value)


def test_a_stage_without_an_index_is_told_how_to_get_one(
    aws: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_resources", lambda *_: RESOURCES)

    with pytest.raises(ToolError, match=r"set provisional\.enabled"):
        run(aws)


def test_scores_are_per_label_precision_recall_and_f1_of_the_top_vote() -> None:
    evaluation = photo_index.score([("a", "a"), ("a", "a"), ("a", "b"), ("b", "b"), ("b", None)])

    a, b = evaluation.labels
    assert (a.label, a.precision) == ("a", 1.0)
    assert a.recall == pytest.approx(2 / 3)
    assert (b.label, b.precision, b.recall) == ("b", 0.5, 0.5)
    assert a.f1 == pytest.approx(0.8)
    assert evaluation.f1 == pytest.approx((0.8 + 0.5) / 2)
    assert (evaluation.test_photos, evaluation.unanswered) == (5, 1)


def test_the_provisional_vote_uses_train_photos_only() -> None:
    s3vectors = boto3.client("s3vectors", region_name=REGION)
    test_vector = {"float32": [0.1] * TITAN.dimension}
    with Stubber(s3vectors) as stub:
        stub.add_response(
            "list_vectors",
            {
                "vectors": [
                    {"key": "t1", "data": test_vector, "metadata": {"label": "a", "split": "test"}},
                    {
                        "key": "r1",
                        "data": test_vector,
                        "metadata": {"label": "a", "split": "train"},
                    },
                ]
            },
            {"indexArn": INDEX, "returnData": True, "returnMetadata": True},
        )
        stub.add_response(
            "query_vectors",
            {
                "vectors": [
                    {"key": "r1", "distance": 0.1, "metadata": {"label": "a", "s3_key": "k1"}},
                    {"key": "r2", "distance": 0.2, "metadata": {"label": "b", "s3_key": "k2"}},
                ],
                "distanceMetric": "cosine",
            },
            {
                "indexArn": INDEX,
                "topK": 5,
                "queryVector": test_vector,
                "filter": {"split": "train"},
                "returnMetadata": True,
                "returnDistance": True,
            },
        )

        evaluation = photo_index.evaluate_provisional(s3vectors, INDEX, 5, 0.6)

    assert [(s.label, s.f1) for s in evaluation.labels] == [("a", 1.0)]
    assert evaluation.test_photos == 1


def test_an_index_without_test_photos_is_told_to_run_index() -> None:
    s3vectors = boto3.client("s3vectors", region_name=REGION)
    with Stubber(s3vectors) as stub:
        stub.add_response("list_vectors", {"vectors": []})
        with pytest.raises(ToolError, match=r"run .python -m tools\.models index."):
            photo_index.evaluate_provisional(s3vectors, INDEX, 5, 0.6)
