"""The retraining workflow's step Lambdas, AWS played by botocore's Stubber in exact request shapes.

AWS errors are raised as the services send them (DynamoDB's
``ProvisionedThroughputExceededException``, Rekognition's
``ThrottlingException``, S3's ``SlowDown`` with HTTP 503) and botocore's own
transport errors; the steps must turn the transient ones into
``RetryableError`` (which the state machine retries) and let the rest fail.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from retraining import handler, steps
from retraining.manifest import ManifestError
from shared.pointer import POINTER_KEY as ACTIVE_POINTER_KEY

from tests.support.api_events import image_bytes

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"
PROJECT = f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/imgrec-dev-custom-labels/1700000000000"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:imgrec-dev-retraining"
EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:imgrec-dev-retraining:run-1"
BUCKET = "imgrec-dev-training"
FEEDBACK = "Dev-Data-FeedbackTable-1"
USAGE = "Dev-Data-ModelUsageTable-1"
SETTINGS = steps.Settings(
    project_arn=PROJECT,
    training_bucket=BUCKET,
    feedback_table=FEEDBACK,
    model_usage_table=USAGE,
    state_machine_arn=MACHINE,
    dataset_prefix="datasets/qr",
    min_confirmed_items=20,
    test_fraction=0.2,
    max_f1_drop=0.02,
    min_f1=0.8,
    photo_index_arn="",
    embedding_model="titan-multimodal-g1",
    project_type="classification",
    base_manifest="",
)
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
CUTOFF = "2026-11-23T03:00:00+00:00"
JPEG = image_bytes(320, 240)


def version(name: str) -> str:
    return f"{PROJECT.rsplit('/', 1)[0]}/version/{name}/1700000000001"


def dataset(kind: str) -> str:
    return f"{PROJECT.rsplit('/', 1)[0]}/dataset/{kind.lower()}/1700000000002"


@dataclass
class Aws:
    sfn: Any
    rekognition: Any
    s3: Any
    dynamodb: Any
    stubs: dict[str, Stubber]

    def __getitem__(self, name: str) -> Stubber:
        return self.stubs[name]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)  # credentials: tests/conftest.py's
    clients = {
        name: boto3.client(name, config=handler.CONFIG)
        for name in ("stepfunctions", "rekognition", "s3", "dynamodb")
    }
    stubs = {name: Stubber(client) for name, client in clients.items()}
    for stub in stubs.values():
        stub.activate()
    yield Aws(
        clients["stepfunctions"], clients["rekognition"], clients["s3"], clients["dynamodb"], stubs
    )
    for stub in stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


def confirmed_query(
    condition: str, values: dict[str, Any] | None = None, projection: str | None = None
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "TableName": FEEDBACK,
        "IndexName": "by-status",
        "KeyConditionExpression": "#status = :confirmed",
        "FilterExpression": condition,
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {":confirmed": {"S": "confirmed"}, **(values or {})},
    }
    if projection:
        params["ProjectionExpression"] = projection
    return params


def running(aws: Aws, *executions: str) -> None:
    aws["stepfunctions"].add_response(
        "list_executions",
        {
            "executions": [
                {
                    "executionArn": arn,
                    "stateMachineArn": MACHINE,
                    "name": arn.rsplit(":", 1)[-1],
                    "status": "RUNNING",
                    "startDate": NOW,
                }
                for arn in executions
            ]
        },
        {"stateMachineArn": MACHINE, "statusFilter": "RUNNING"},
    )


def versions(aws: Aws, *described: dict[str, Any], names: list[str] | None = None) -> None:
    expected: dict[str, Any] = {"ProjectArn": PROJECT}
    if names:
        expected["VersionNames"] = names
    aws["rekognition"].add_response(
        "describe_project_versions", {"ProjectVersionDescriptions": list(described)}, expected
    )


def described(name: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"ProjectVersionArn": version(name), "Status": status, **extra}


# --- preflight ---------------------------------------------------------------------------


def test_preflight_refuses_beside_another_execution(aws: Aws) -> None:
    running(aws, EXECUTION, EXECUTION.replace("run-1", "run-0"))

    with pytest.raises(steps.WorkflowAlreadyRunningError, match="run-0"):
        steps.preflight(
            aws.sfn, aws.rekognition, aws.dynamodb, SETTINGS, {"execution_id": EXECUTION}
        )


def test_preflight_refuses_while_a_version_trains(aws: Aws) -> None:
    running(aws, EXECUTION)  # itself only
    versions(aws, described("qr-v1", "RUNNING"), described("qr-v2", "TRAINING_IN_PROGRESS"))

    with pytest.raises(steps.TrainingAlreadyRunningError, match="qr-v2 is training"):
        steps.preflight(
            aws.sfn, aws.rekognition, aws.dynamodb, SETTINGS, {"execution_id": EXECUTION}
        )


@pytest.mark.parametrize(
    ("pages", "given", "train"),
    [
        ([5, 14], {}, False),  # 19 waiting, 20 needed
        ([5, 15], {}, True),
        ([2], {"force": True}, True),
        ([2], {"force": "yes"}, False),  # only a JSON true forces
    ],
)
def test_preflight_counts_waiting_feedback_over_every_page(
    aws: Aws, pages: list[int], given: dict[str, Any], train: bool
) -> None:
    running(aws, EXECUTION)
    versions(aws, described("qr-v1", "TRAINING_COMPLETED"))
    query = confirmed_query("attribute_not_exists(trained_in)")
    for i, count in enumerate(pages):
        page: dict[str, Any] = {"Items": [{"feedback_id": {"S": f"{i}-{n}"}} for n in range(count)]}
        if i < len(pages) - 1:
            page["LastEvaluatedKey"] = {"feedback_id": {"S": f"{i}-last"}}
        expected = dict(query)
        if i:
            expected["ExclusiveStartKey"] = {"feedback_id": {"S": f"{i - 1}-last"}}
        aws["dynamodb"].add_response("query", page, expected)

    answer = steps.preflight(
        aws.sfn,
        aws.rekognition,
        aws.dynamodb,
        SETTINGS,
        {"execution_id": EXECUTION, "input": given},
    )

    assert answer == {"train": train, "waiting": sum(pages), "min_confirmed_items": 20}


# --- prepare_data ---------------------------------------------------------------------------


def _listing(aws: Aws, keys: list[str]) -> None:
    aws["s3"].add_response(
        "list_objects_v2",
        {"Contents": [{"Key": key, "Size": len(JPEG)} for key in keys], "KeyCount": len(keys)},
        {"Bucket": BUCKET, "Prefix": "datasets/qr/"},
    )


def _confirmed_items(aws: Aws, items: list[tuple[str, str]]) -> None:
    aws["dynamodb"].add_response(
        "query",
        {
            "Items": [
                {
                    "feedback_id": {"S": fid},
                    "training_key": {"S": key},
                    "label": {"S": key.split("/")[1]},
                }
                for fid, key in items
            ]
        },
        confirmed_query("reviewed_at <= :cutoff", {":cutoff": {"S": CUTOFF}}),
    )


def _headers(aws: Aws, keys: list[str], data: bytes = JPEG) -> None:
    for key in sorted(keys):
        aws["s3"].add_response(
            "get_object",
            {"Body": StreamingBody(io.BytesIO(data), len(data))},
            {"Bucket": BUCKET, "Key": key, "Range": "bytes=0-262143"},
        )


def test_prepare_data_builds_manifests_from_base_images_and_confirmed_feedback(aws: Aws) -> None:
    base = [f"datasets/qr/with_qr/{n}.jpg" for n in range(4)] + [
        f"datasets/qr/without_qr/{n}.jpg" for n in range(4)
    ]
    fed = [("a" * 32, f"feedback/with_qr/{'a' * 32}.jpg")]
    _listing(aws, [*base, "datasets/qr/README.txt"])
    _confirmed_items(aws, fed)
    _headers(aws, [*base, fed[0][1]])
    aws["rekognition"].add_response(
        "describe_projects",
        {
            "ProjectDescriptions": [
                {"ProjectArn": PROJECT, "Datasets": [{"DatasetArn": dataset("OLD")}]}
            ]
        },
        {"ProjectNames": ["imgrec-dev-custom-labels"]},
    )
    aws["rekognition"].add_response("delete_dataset", {}, {"DatasetArn": dataset("OLD")})
    manifests: dict[str, bytes] = {}
    for kind in ("TRAIN", "TEST"):
        key = f"manifests/retraining/run-1/{kind.lower()}.manifest"
        aws["s3"].add_response(
            "put_object",
            {},
            {"Bucket": BUCKET, "Key": key, "Body": ANY, "ContentType": "application/x-ndjson"},
        )
        aws["rekognition"].add_response(
            "create_dataset",
            {"DatasetArn": dataset(kind)},
            {
                "ProjectArn": PROJECT,
                "DatasetType": kind,
                "DatasetSource": {
                    "GroundTruthManifest": {"S3Object": {"Bucket": BUCKET, "Name": key}}
                },
            },
        )
    aws.s3.meta.events.register(
        "before-parameter-build.s3.PutObject",
        lambda params, **_: manifests.__setitem__(params["Key"], params["Body"]),
    )

    answer = steps.prepare_data(
        aws.s3, aws.rekognition, aws.dynamodb, SETTINGS, "run-1", now=lambda: NOW
    )

    assert answer == {
        "run": "run-1",
        "cutoff": CUTOFF,
        "datasets": [dataset("TRAIN"), dataset("TEST")],
        "images": 9,
        "feedback": 1,
        "skipped": 1,  # README.txt, reported, never silently dropped
        "labels": ["with_qr", "without_qr"],
    }
    lines = [json.loads(line) for body in manifests.values() for line in body.decode().splitlines()]
    refs = {
        line["source-ref"]: line["imgrec-classification-metadata"]["class-name"] for line in lines
    }
    assert refs[f"s3://{BUCKET}/feedback/with_qr/{'a' * 32}.jpg"] == "with_qr"
    assert refs[f"s3://{BUCKET}/datasets/qr/without_qr/0.jpg"] == "without_qr"
    assert len(refs) == 9
    test = manifests["manifests/retraining/run-1/test.manifest"].decode().splitlines()
    assert {json.loads(line)["imgrec-classification-metadata"]["class-name"] for line in test} == {
        "with_qr",
        "without_qr",
    }


def test_prepare_data_with_a_single_label_fails_with_the_manifest_message(aws: Aws) -> None:
    base = [f"datasets/qr/with_qr/{n}.jpg" for n in range(3)]
    _listing(aws, base)
    _confirmed_items(aws, [])
    _headers(aws, base)

    with pytest.raises(ManifestError, match="at least 2 labels"):
        steps.prepare_data(
            aws.s3, aws.rekognition, aws.dynamodb, SETTINGS, "run-1", now=lambda: NOW
        )


def test_prepare_data_throttled_read_is_retryable(aws: Aws) -> None:
    base = ["datasets/qr/with_qr/0.jpg", "datasets/qr/without_qr/0.jpg"]
    _listing(aws, base)
    _confirmed_items(aws, [])
    aws["s3"].add_client_error("get_object", "SlowDown", "Please reduce your request rate.", 503)

    with pytest.raises(steps.RetryableError, match="get_object: SlowDown"):
        steps.prepare_data(
            aws.s3, aws.rekognition, aws.dynamodb, SETTINGS, "run-1", now=lambda: NOW
        )


# --- start_training, training_status ---------------------------------------------------

PREPARED = {"run": "run-1", "cutoff": CUTOFF, "datasets": [dataset("TRAIN"), dataset("TEST")]}


def _dataset_status(aws: Aws, kind: str, status: str, labelled: int = 40) -> None:
    stats = {"LabeledEntries": labelled, "TotalEntries": labelled, "TotalLabels": 2}
    aws["rekognition"].add_response(
        "describe_dataset",
        {
            "DatasetDescription": {
                "Status": status,
                "StatusMessage": "manifest line 3: bad",
                "DatasetStats": stats,
            }
        },
        {"DatasetArn": dataset(kind)},
    )


def test_start_training_waits_while_a_dataset_is_built(aws: Aws) -> None:
    _dataset_status(aws, "TRAIN", "CREATE_COMPLETE")
    _dataset_status(aws, "TEST", "CREATE_IN_PROGRESS")

    assert steps.start_training(aws.rekognition, aws.dynamodb, SETTINGS, PREPARED) == {
        "ready": False
    }


def test_start_training_fails_on_a_failed_dataset_with_aws_message(aws: Aws) -> None:
    _dataset_status(aws, "TRAIN", "CREATE_FAILED")

    with pytest.raises(steps.DatasetFailedError, match="CREATE_FAILED: manifest line 3"):
        steps.start_training(aws.rekognition, aws.dynamodb, SETTINGS, PREPARED)


@pytest.mark.parametrize("retried", [False, True])
def test_start_training_creates_the_version_once_and_marks_the_feedback(
    aws: Aws, retried: bool
) -> None:
    _dataset_status(aws, "TRAIN", "CREATE_COMPLETE")
    _dataset_status(aws, "TEST", "UPDATE_COMPLETE")
    if retried:  # a retry after the version was created: found, not created twice
        versions(aws, described("retrain-run-1", "TRAINING_IN_PROGRESS"), names=["retrain-run-1"])
    else:
        versions(aws, names=["retrain-run-1"])
        aws["rekognition"].add_response(
            "create_project_version",
            {"ProjectVersionArn": version("retrain-run-1")},
            {
                "ProjectArn": PROJECT,
                "VersionName": "retrain-run-1",
                "OutputConfig": {"S3Bucket": BUCKET, "S3KeyPrefix": "rekognition-output/"},
            },
        )
    aws["dynamodb"].add_response(
        "query",
        {"Items": [{"feedback_id": {"S": "f1"}}, {"feedback_id": {"S": "f2"}}]},
        confirmed_query(
            "attribute_not_exists(trained_in) AND reviewed_at <= :cutoff",
            {":cutoff": {"S": CUTOFF}},
            projection="feedback_id",
        ),
    )
    for fid in ("f1", "f2"):
        aws["dynamodb"].add_response(
            "update_item",
            {},
            {
                "TableName": FEEDBACK,
                "Key": {"feedback_id": {"S": fid}},
                "UpdateExpression": "SET trained_in = :version",
                "ExpressionAttributeValues": {":version": {"S": "retrain-run-1"}},
            },
        )

    answer = steps.start_training(aws.rekognition, aws.dynamodb, SETTINGS, PREPARED)

    assert answer == {
        "ready": True,
        "version_arn": version("retrain-run-1"),
        "version_name": "retrain-run-1",
    }


def test_training_limit_is_retryable_not_a_failure(aws: Aws) -> None:
    _dataset_status(aws, "TRAIN", "CREATE_COMPLETE")
    _dataset_status(aws, "TEST", "CREATE_COMPLETE")
    versions(aws, names=["retrain-run-1"])
    aws["rekognition"].add_client_error(
        "create_project_version", "ThrottlingException", "Rate exceeded", 400
    )

    with pytest.raises(steps.RetryableError):
        steps.start_training(aws.rekognition, aws.dynamodb, SETTINGS, PREPARED)


def test_training_status_reads_the_version(aws: Aws) -> None:
    versions(
        aws,
        described(
            "retrain-run-1", "TRAINING_FAILED", StatusMessage="The manifest has no test images"
        ),
        names=["retrain-run-1"],
    )

    assert steps.training_status(aws.rekognition, SETTINGS, "retrain-run-1") == {
        "status": "TRAINING_FAILED",
        "message": "The manifest has no test images",
    }


# --- evaluate, promote ---------------------------------------------------------------


def _evaluated(aws: Aws, name: str, f1: float, per_label: dict[str, float]) -> None:
    key = f"rekognition-output/{name}/EvaluationResultSummary.json"
    versions(
        aws,
        described(
            name,
            "TRAINING_COMPLETED",
            EvaluationResult={
                "F1Score": f1,
                "Summary": {"S3Object": {"Bucket": BUCKET, "Name": key}},
            },
        ),
        names=[name],
    )
    summary = json.dumps(
        {
            "AggregatedEvaluationResults": {"F1Score": f1},
            "LabelEvaluationResults": [
                {
                    "Label": label,
                    "NumberOfTestingImages": 10,
                    "Metrics": {
                        "F1Score": score,
                        "Precision": score,
                        "Recall": score,
                        "Threshold": 0.5,
                    },
                }
                for label, score in per_label.items()
            ],
        }
    ).encode()
    aws["s3"].add_response(
        "get_object",
        {"Body": StreamingBody(io.BytesIO(summary), len(summary))},
        {"Bucket": BUCKET, "Key": key},
    )


def _active(aws: Aws, name: str | None) -> None:
    item = {"active_project_version_arn": {"S": version(name)}} if name else {}
    aws["dynamodb"].add_response(
        "get_item",
        {"Item": item} if item else {},
        {"TableName": USAGE, "Key": {"project_version_arn": {"S": ACTIVE_POINTER_KEY}}},
    )


@pytest.mark.parametrize(
    ("new_f1", "active_f1", "promote", "reason"),
    [
        (0.94, 0.95, True, "against the active"),
        (0.92, 0.95, False, "more than 0.02 below"),
        (0.79, None, False, "under min_f1"),
        (0.85, None, True, "no version was active"),
    ],
)
def test_evaluate_compares_with_the_active_version_label_by_label(
    aws: Aws, new_f1: float, active_f1: float | None, promote: bool, reason: str
) -> None:
    _evaluated(aws, "retrain-run-1", new_f1, {"with_qr": new_f1, "without_qr": new_f1, "isbn": 0.5})
    _active(aws, "qr-v1" if active_f1 else None)
    if active_f1:
        _evaluated(aws, "qr-v1", active_f1, {"with_qr": active_f1, "without_qr": active_f1})

    answer = steps.evaluate(aws.rekognition, aws.s3, aws.dynamodb, SETTINGS, "retrain-run-1")

    assert answer["promote"] is promote
    assert reason in answer["reason"]
    assert answer["labels"] == ["isbn", "with_qr", "without_qr"]
    report = answer["report"].splitlines()
    assert report[0].split() == ["label", "new", "F1", "active", "F1", "change", "test", "images"]
    isbn = next(row for row in report if row.startswith("isbn"))
    assert isbn.split()[1:4] == ["0.500", "-", "new"]


def test_promote_writes_the_pointer_only_if_nobody_promoted_meanwhile(aws: Aws) -> None:
    evaluation = {
        "promote": True,
        "new_f1": 0.94,
        "labels": ["with_qr", "without_qr"],
        "active_version_arn": version("qr-v1"),
    }
    expected = {
        "TableName": USAGE,
        "Item": {
            "project_version_arn": {"S": ACTIVE_POINTER_KEY},
            "active_project_version_arn": {"S": version("retrain-run-1")},
            "promoted_at": {"S": CUTOFF},
            "promoted_by": {"S": "retraining workflow"},
            "forced": {"BOOL": False},
            "f1": {"N": "0.9400"},
            "labels": {"SS": ["with_qr", "without_qr"]},
        },
        "ConditionExpression": "active_project_version_arn = :before OR "
        "active_project_version_arn = :arn",
        "ExpressionAttributeValues": {
            ":before": {"S": version("qr-v1")},
            ":arn": {"S": version("retrain-run-1")},
        },
    }
    aws["dynamodb"].add_response("put_item", {}, expected)

    assert steps.promote(
        aws.dynamodb, SETTINGS, version("retrain-run-1"), evaluation, now=lambda: NOW
    ) == {
        "promoted": version("retrain-run-1"),
        "version_name": "retrain-run-1",
    }

    aws["dynamodb"].add_client_error(
        "put_item", "ConditionalCheckFailedException", "The conditional request failed", 400
    )
    with pytest.raises(steps.PointerChangedError):
        steps.promote(aws.dynamodb, SETTINGS, version("retrain-run-1"), evaluation, now=lambda: NOW)


# --- transient and permanent AWS failures ----------------------------------------------


def test_transport_timeouts_are_retryable(aws: Aws) -> None:
    aws["rekognition"].deactivate()

    def timeout(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://rekognition")

    aws.rekognition.meta.events.register("before-send.rekognition.DescribeProjectVersions", timeout)
    aws.stubs["rekognition"] = Stubber(aws.rekognition)  # fresh, for the fixture's final check

    with pytest.raises(steps.RetryableError, match="ReadTimeoutError"):
        steps.training_status(aws.rekognition, SETTINGS, "retrain-run-1")


def test_access_denied_is_not_retried(aws: Aws) -> None:
    aws["rekognition"].add_client_error(
        "describe_project_versions",
        "AccessDeniedException",
        "User: arn:aws:sts::... is not authorized",
        400,
    )

    with pytest.raises(ClientError, match="AccessDenied"):
        steps.training_status(aws.rekognition, SETTINGS, "retrain-run-1")


def test_handlers_read_their_settings_from_the_function_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The names the stack sets (stacks/service/retraining.py) are the names the handler reads."""
    from stacks.service import retraining as stack

    env = {
        "PROJECT_ARN": PROJECT,
        "TRAINING_BUCKET": BUCKET,
        "FEEDBACK_TABLE": FEEDBACK,
        "MODEL_USAGE_TABLE": USAGE,
        "STATE_MACHINE_ARN": MACHINE,
        "DATASET_PREFIX": "datasets/qr",
        "MIN_CONFIRMED_ITEMS": "20",
        "TEST_FRACTION": "0.2",
        "MAX_F1_DROP": "0.02",
        "MIN_F1": "0.8",
        "PHOTO_INDEX_ARN": "",
        "EMBEDDING_MODEL": "titan-multimodal-g1",
        "PROJECT_TYPE": "classification",
        "BASE_MANIFEST": "",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    handler.settings.cache_clear()
    try:
        assert handler.settings() == SETTINGS
    finally:
        handler.settings.cache_clear()
    assert {h.rsplit(".", 1)[1] for h, _, _ in stack.STEPS.values()} <= set(dir(handler))


@pytest.mark.parametrize(
    ("execution", "run"),
    [
        ("3f0c1a5e-9b1d-4c7e-8a57-1f2e3d4c5b6a", "3f0c1a5e-9b1d-4c7e-8a57-1f2e3d4c5b6a"),
        ("manual:2026/11/23 run", "manual-2026-11-23-run"),
        ("--", "run"),
        ("x" * 80, "x" * 80),
    ],
)
def test_execution_names_become_valid_version_names(execution: str, run: str) -> None:
    assert steps.run_name(execution) == run


# --- prepare_data, object detection ---------------------------------------------------------


def test_a_detection_stage_builds_detection_manifests_from_feedback_boxes(aws: Aws) -> None:
    """The base images' boxes come from the base manifest; confirmed feedback with boxes
    joins them in pixels of the photo; a confirmed item without boxes is skipped, said so."""
    from dataclasses import replace

    from retraining import detection_manifest as detection

    settings = replace(
        SETTINGS, project_type="object_detection", base_manifest="datasets/qr/train.manifest"
    )
    base = [
        detection.Annotated(
            f"datasets/qr/{n}.jpg", 320, 240, [detection.Box("qr", 10, 20, 100, 50)]
        )
        for n in range(4)
    ]
    body = "\n".join(
        detection.manifest_lines(base, ["qr"], f"s3://{BUCKET}/", "2026-11-01T00:00:00")
    ).encode()
    aws["s3"].add_response(
        "get_object",
        {"Body": StreamingBody(io.BytesIO(body), len(body))},
        {"Bucket": BUCKET, "Key": "datasets/qr/train.manifest"},
    )
    boxed, plain = "b" * 32, "c" * 32
    aws["dynamodb"].add_response(
        "query",
        {
            "Items": [
                {
                    "feedback_id": {"S": boxed},
                    "training_key": {"S": f"feedback/qr/{boxed}.jpg"},
                    "label": {"S": "qr"},
                    "boxes": {"L": [{"M": {
                        "label": {"S": "barcode"}, "left": {"N": "0.5"}, "top": {"N": "0.25"},
                        "width": {"N": "0.25"}, "height": {"N": "0.5"}}}]},
                },
                {"feedback_id": {"S": plain}, "training_key": {"S": f"feedback/qr/{plain}.jpg"},
                 "label": {"S": "qr"}},
            ]
        },
        confirmed_query("reviewed_at <= :cutoff", {":cutoff": {"S": CUTOFF}}),
    )  # fmt: skip
    photo = image_bytes(640, 480)
    aws["s3"].add_response(
        "get_object",
        {"Body": StreamingBody(io.BytesIO(photo), len(photo))},
        {"Bucket": BUCKET, "Key": f"feedback/qr/{boxed}.jpg", "Range": "bytes=0-262143"},
    )
    aws["rekognition"].add_response("describe_projects", {"ProjectDescriptions": []})
    manifests: dict[str, bytes] = {}
    for kind in ("TRAIN", "TEST"):
        aws["s3"].add_response("put_object", {})
        aws["rekognition"].add_response("create_dataset", {"DatasetArn": dataset(kind)})
    aws.s3.meta.events.register(
        "before-parameter-build.s3.PutObject",
        lambda params, **_: manifests.__setitem__(params["Key"], params["Body"]),
    )

    answer = steps.prepare_data(
        aws.s3, aws.rekognition, aws.dynamodb, settings, "run-2", now=lambda: NOW
    )

    assert (answer["images"], answer["feedback"], answer["skipped"]) == (5, 1, 1)
    assert answer["labels"] == ["barcode", "qr"]
    records = [
        json.loads(line) for body in manifests.values() for line in body.decode().splitlines()
    ]
    by_ref = {r["source-ref"]: r for r in records}
    fed = by_ref[f"s3://{BUCKET}/feedback/qr/{boxed}.jpg"]
    assert fed["bounding-box"] == {
        "image_size": [{"width": 640, "height": 480, "depth": 3}],
        "annotations": [{"class_id": 0, "left": 320, "top": 120, "width": 160, "height": 240}],
    }
    assert fed["bounding-box-metadata"]["type"] == "groundtruth/object-detection"
    assert fed["bounding-box-metadata"]["class-map"] == {"0": "barcode"}
    assert by_ref[f"s3://{BUCKET}/datasets/qr/0.jpg"]["bounding-box"]["annotations"] == [
        {"class_id": 1, "left": 10, "top": 20, "width": 100, "height": 50}
    ]
    assert len(by_ref) == 5
