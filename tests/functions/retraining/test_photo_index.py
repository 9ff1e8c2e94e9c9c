"""The photo index builder: which photos, incremental, idempotent, resumable, shrinks big ones.

S3, Bedrock and S3 Vectors are botocore clients with ``Stubber`` (request shapes checked
against the service models); failures are raised as botocore raises them.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from PIL import Image
from retraining import photo_index
from shared.embeddings import TITAN, vector_key

from tests.support.api_events import image_bytes

BUCKET = "imgrec-dev-training"
INDEX = "arn:aws:s3vectors:us-east-1:123456789012:bucket/b/index/labelled-photos"
VECTOR = [0.25] * TITAN.dimension


class Stubs:
    def __init__(self) -> None:
        self.s3 = boto3.client("s3", region_name="us-east-1")
        self.bedrock = boto3.client("bedrock-runtime", region_name="us-east-1")
        self.s3vectors = boto3.client("s3vectors", region_name="us-east-1")
        self.stubs = [Stubber(c) for c in (self.s3, self.bedrock, self.s3vectors)]

    def __enter__(self) -> Stubs:
        for stub in self.stubs:
            stub.activate()
        return self

    def __exit__(self, *_: Any) -> None:
        for stub in self.stubs:
            stub.assert_no_pending_responses()
            stub.deactivate()

    @property
    def s3_stub(self) -> Stubber:
        return self.stubs[0]

    @property
    def bedrock_stub(self) -> Stubber:
        return self.stubs[1]

    @property
    def vectors_stub(self) -> Stubber:
        return self.stubs[2]

    def listing(self, prefix: str, keys: dict[str, str]) -> None:
        self.s3_stub.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": k, "ETag": f'"{e}"', "Size": 100} for k, e in keys.items()]},
            {"Bucket": BUCKET, "Prefix": prefix},
        )

    def photo(self, key: str, data: bytes) -> None:
        self.s3_stub.add_response(
            "get_object",
            {"Body": StreamingBody(io.BytesIO(data), len(data))},
            {"Bucket": BUCKET, "Key": key},
        )

    def embedding(self, data: bytes | None = None, fmt: str = "JPEG") -> None:
        body = json.dumps({"embedding": VECTOR}).encode()
        self.bedrock_stub.add_response(
            "invoke_model",
            {"body": StreamingBody(io.BytesIO(body), len(body)), "contentType": "application/json"},
            {
                "modelId": TITAN.model_id,
                "body": TITAN.request_body(data, fmt) if data is not None else ANY,
                "contentType": "application/json",
                "accept": "application/json",
            },
        )

    def put(self, photos: list[photo_index.Photo]) -> None:
        self.vectors_stub.add_response(
            "put_vectors",
            {},
            {
                "indexArn": INDEX,
                "vectors": [
                    {
                        "key": vector_key(p.s3_key),
                        "data": {"float32": VECTOR},
                        "metadata": p.metadata,
                    }
                    for p in photos
                ],
            },
        )

    def build(self, work: photo_index.Plan, **options: Any) -> photo_index.Result:
        return photo_index.build(
            self.s3,
            self.bedrock,
            self.s3vectors,
            bucket=BUCKET,
            index_arn=INDEX,
            model=TITAN,
            work=work,
            **options,
        )


@pytest.fixture
def aws() -> Iterator[Stubs]:
    with Stubs() as stubs:
        yield stubs


JPEG = image_bytes(320, 240)
DATASET = {
    f"datasets/qr/{label}/{i}.jpg": f"etag-{label}-{i}"
    for label in ("with_qr", "without_qr")
    for i in range(5)
}


def test_labelled_photos_are_the_dataset_and_confirmed_feedback_with_the_workflows_split(
    aws: Stubs,
) -> None:
    aws.listing(
        "datasets/qr/",
        {**DATASET, "datasets/qr/loose.jpg": "x", "datasets/qr/with_qr/notes.txt": "y"},
    )
    aws.listing("feedback/", {"feedback/with_qr/abc.jpg": "etag-fb"})

    photos, skipped = photo_index.labelled_photos(
        aws.s3,
        BUCKET,
        "datasets/qr",
        [("feedback/with_qr/abc.jpg", "with_qr"), ("feedback/without_qr/gone.jpg", "without_qr")],
        test_fraction=0.2,
    )

    by_key = {p.s3_key: p for p in photos}
    assert len(photos) == 11
    assert by_key["feedback/with_qr/abc.jpg"].label == "with_qr"
    assert by_key["feedback/with_qr/abc.jpg"].etag == "etag-fb"
    # One test photo per label of 5 or 6 at 0.2, the hash-ordered split of the workflow.
    assert sorted(p.label for p in photos if p.split == "test") == ["with_qr", "without_qr"]
    reasons = dict(skipped)
    assert reasons["datasets/qr/loose.jpg"] == "image at the root has no label folder"
    assert reasons["datasets/qr/with_qr/notes.txt"] == "not a .jpg, .jpeg or .png file"
    assert "not in the training bucket" in reasons["feedback/without_qr/gone.jpg"]


def photos(*names: str) -> list[photo_index.Photo]:
    return [photo_index.Photo(f"datasets/qr/a/{n}.jpg", "a", "train", f"e{n}") for n in names]


def indexed(*found: photo_index.Photo) -> dict[str, dict[str, Any]]:
    return {vector_key(p.s3_key): p.metadata for p in found}


def test_the_plan_embeds_only_new_or_changed_photos_and_drops_stale_vectors() -> None:
    one, two, three = photos("1", "2", "3")
    moved = photo_index.Photo(two.s3_key, "b", "train", two.etag)  # relabelled
    gone = photo_index.Photo("datasets/qr/a/gone.jpg", "a", "train", "x")

    work = photo_index.plan([one, moved, three], indexed(one, two, gone))

    assert [p.s3_key for p in work.to_embed] == [moved.s3_key, three.s3_key]
    assert work.unchanged == 1
    assert work.stale == [vector_key(gone.s3_key)]
    assert work.cost_usd(TITAN) == pytest.approx(2 * TITAN.usd_per_image)


def test_a_second_run_over_the_same_photos_embeds_nothing() -> None:
    same = photos("1", "2")

    work = photo_index.plan(same, indexed(*same))

    assert (work.to_embed, work.unchanged, work.stale) == ([], 2, [])


def test_build_writes_every_batch_and_deletes_stale(aws: Stubs, monkeypatch: Any) -> None:
    monkeypatch.setattr(photo_index, "BATCH", 2)
    work = photo_index.Plan(photos("1", "2", "3"), 0, ["stale-key"])
    for p in work.to_embed:
        aws.photo(p.s3_key, JPEG)
        aws.embedding(JPEG)
        if p.s3_key.endswith("2.jpg"):
            aws.put(work.to_embed[:2])
    aws.put(work.to_embed[2:])
    aws.vectors_stub.add_response("delete_vectors", {}, {"indexArn": INDEX, "keys": ["stale-key"]})
    seen: list[str] = []

    result = aws.build(work, on_photo=lambda p: seen.append(p.s3_key))

    assert (result.embedded, result.deleted, result.complete) == (3, 1, True)
    assert seen == [p.s3_key for p in work.to_embed]


def test_a_failure_halfway_keeps_what_was_written_and_the_next_run_resumes(
    aws: Stubs, monkeypatch: Any
) -> None:
    monkeypatch.setattr(photo_index, "BATCH", 2)
    all_three = photos("1", "2", "3")
    for p in all_three[:2]:
        aws.photo(p.s3_key, JPEG)
        aws.embedding(JPEG)
    aws.put(all_three[:2])
    aws.photo(all_three[2].s3_key, JPEG)
    aws.bedrock_stub.add_client_error(
        "invoke_model", "ThrottlingException", "Too many requests", 429
    )

    with pytest.raises(ClientError, match="ThrottlingException"):
        aws.build(photo_index.plan(all_three, {}))

    # The next run lists what the first one wrote and embeds only the third photo.
    aws.vectors_stub.add_response(
        "list_vectors",
        {"vectors": [{"key": vector_key(p.s3_key), "metadata": p.metadata} for p in all_three[:2]]},
        {"indexArn": INDEX, "returnMetadata": True},
    )
    resumed = photo_index.plan(all_three, photo_index.indexed(aws.s3vectors, INDEX))
    assert resumed.to_embed == all_three[2:]
    aws.photo(all_three[2].s3_key, JPEG)
    aws.embedding(JPEG)
    aws.put(all_three[2:])

    result = aws.build(resumed)
    assert result.embedded == 1


def test_a_photo_over_the_models_pixels_is_shrunk_before_embedding(aws: Stubs) -> None:
    [big] = photos("big")
    aws.photo(big.s3_key, image_bytes(4000, 1000))
    aws.embedding()  # the shrunk JPEG (checked below through the request)
    aws.put([big])
    sent: list[bytes] = []
    aws.bedrock.meta.events.register(
        "before-parameter-build.bedrock-runtime.InvokeModel",
        lambda params, **_: sent.append(params["body"]),
    )

    result = aws.build(photo_index.Plan([big], 0, []))

    assert result.shrunk == 1
    import base64

    shrunk = Image.open(io.BytesIO(base64.b64decode(json.loads(sent[0])["inputImage"])))
    assert shrunk.size == (2048, 512)


def test_an_unreadable_photo_is_reported_not_dropped(aws: Stubs) -> None:
    [bad] = photos("bad")
    aws.photo(bad.s3_key, b"GIF89a not a photo")

    result = aws.build(photo_index.Plan([bad], 0, []))

    assert result.embedded == 0
    [(key, reason)] = result.skipped
    assert key == bad.s3_key
    assert "GIF" in reason


def test_should_stop_ends_the_build_with_what_it_wrote(aws: Stubs, monkeypatch: Any) -> None:
    monkeypatch.setattr(photo_index, "BATCH", 10)
    first, second = photos("1", "2")
    aws.photo(first.s3_key, JPEG)
    aws.embedding(JPEG)
    aws.put([first])
    calls = iter([False, True])

    result = aws.build(photo_index.Plan([first, second], 0, []), should_stop=lambda: next(calls))

    assert (result.embedded, result.complete) == (1, False)


def test_the_workflow_step_adds_confirmed_feedback_to_the_index(aws: Stubs) -> None:
    from dataclasses import replace

    from retraining import steps

    from tests.functions.retraining.test_steps import SETTINGS

    settings = replace(SETTINGS, training_bucket=BUCKET, photo_index_arn=INDEX)
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    confirmed = {
        "feedback_id": {"S": "f1"},
        "status": {"S": "confirmed"},
        "training_key": {"S": "feedback/with_qr/f1.jpg"},
        "label": {"S": "with_qr"},
    }
    with Stubber(dynamodb) as table:
        table.add_response("query", {"Items": [confirmed]})
        two = dict(list(DATASET.items())[:2])  # with_qr 0 and 1
        others = {k: v for k, v in DATASET.items() if "without_qr" in k}
        aws.listing("datasets/qr/", {**two, **others})
        aws.listing("feedback/", {"feedback/with_qr/f1.jpg": "etag-f1"})
        # An empty index: the base photos and the confirmed feedback photo are embedded.
        aws.vectors_stub.add_response(
            "list_vectors", {"vectors": []}, {"indexArn": INDEX, "returnMetadata": True}
        )
        keys = sorted([*two, *others, "feedback/with_qr/f1.jpg"])
        for key in keys:
            aws.photo(key, JPEG)
            aws.embedding(JPEG)
        aws.vectors_stub.add_response("put_vectors", {}, {"indexArn": INDEX, "vectors": ANY})

        answer = steps.refresh_index(aws.s3, aws.bedrock, aws.s3vectors, dynamodb, settings)

    assert answer["complete"] is True
    assert answer["embedded"] == len(keys) == 8
    assert answer["cost_usd"] == pytest.approx(8 * TITAN.usd_per_image)


def test_the_workflow_step_refuses_a_stage_without_an_index() -> None:
    from retraining import steps

    from tests.functions.retraining.test_steps import SETTINGS

    with pytest.raises(steps.BadInputError, match="no photo index"):
        steps.refresh_index(None, None, None, None, SETTINGS)
