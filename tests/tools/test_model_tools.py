"""Model tools' AWS commands: Stubber for Rekognition (request shapes), moto for the rest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from shared.pointer import POINTER_KEY as ACTIVE_POINTER_KEY

from tests.support.api_events import image_bytes
from tools.models import __main__ as cli
from tools.models import lifecycle
from tools.models.lifecycle import StageResources, ToolError

REGION = "ap-northeast-1"
PROJECT = (
    "arn:aws:rekognition:ap-northeast-1:123456789012:project/imgrec-dev-custom-labels/1700000000000"
)


def version_arn(name: str) -> str:
    return f"{PROJECT.rsplit('/', 1)[0]}/version/{name}/1700000000001"


RESOURCES = StageResources("dev", "training", PROJECT, "imgrec-dev-faces", "usage", "faces")
SUMMARY = {
    "Version": 1,
    "AggregatedEvaluationResults": {"F1Score": 0.92, "Precision": 0.93, "Recall": 0.91},
    "LabelEvaluationResults": [
        {"Label": "without_qr", "NumberOfTestingImages": 20,
         "Metrics": {"F1Score": 0.9, "Precision": 0.95, "Recall": 0.86, "Threshold": 0.61}},
        {"Label": "with_qr", "NumberOfTestingImages": 22,
         "Metrics": {"F1Score": 0.94, "Precision": 0.91, "Recall": 0.97, "Threshold": 0.48}},
    ],
}  # fmt: skip


class Session:
    """A boto3-like session handing out the test's clients."""

    def __init__(self, **clients: Any) -> None:
        self._clients = clients

    def client(self, name: str) -> Any:
        return self._clients[name]


@dataclass
class Aws:
    rekognition: Any
    stubber: Stubber
    s3: Any
    dynamodb: Any
    cloudformation: Any

    def session(self) -> Session:
        return Session(
            rekognition=self.rekognition,
            s3=self.s3,
            dynamodb=self.dynamodb,
            cloudformation=self.cloudformation,
        )

    def describe(self, *versions: dict[str, Any]) -> None:
        self.stubber.add_response(
            "describe_project_versions",
            {"ProjectVersionDescriptions": list(versions)},
            {"ProjectArn": PROJECT},
        )


def trained(name: str, status: str = "TRAINING_COMPLETED") -> dict[str, Any]:
    return {
        "ProjectVersionArn": version_arn(name),
        "Status": status,
        "EvaluationResult": {
            "F1Score": 0.92,
            "Summary": {
                "S3Object": {
                    "Bucket": "training",
                    "Name": f"rekognition-output/{name}/summary.json",
                }
            },
        },
    }


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(
            Bucket="training", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="usage",
            KeySchema=[{"AttributeName": "project_version_arn", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "project_version_arn", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for name in ("summary",):
            s3.put_object(
                Bucket="training",
                Key=f"rekognition-output/v1/{name}.json",
                Body=json.dumps(SUMMARY),
            )
        rekognition = boto3.client("rekognition", region_name=REGION)
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        with Stubber(rekognition) as stubber:
            yield Aws(rekognition, stubber, s3, dynamodb, cloudformation)
            stubber.assert_no_pending_responses()


def test_stage_not_deployed_says_how_to_deploy(aws: Aws) -> None:
    with pytest.raises(ToolError, match=r"stage 'dev' is not deployed .*'make deploy STAGE=dev'"):
        lifecycle.stage_resources(aws.cloudformation, "dev")


def test_stage_resources_come_from_the_data_stack_outputs(aws: Aws) -> None:
    outputs = {
        "TrainingBucketName": "training",
        "ProjectArn": PROJECT,
        "CollectionId": "imgrec-dev-faces",
        "ModelUsageTableName": "usage",
        "FacesTableName": "faces",
    }
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {k: {"Value": v} for k, v in outputs.items()},
    }
    aws.cloudformation.create_stack(StackName="Dev-Data", TemplateBody=json.dumps(template))

    assert lifecycle.stage_resources(aws.cloudformation, "dev") == RESOURCES


def test_upload_skips_objects_with_the_same_size_and_checksum(aws: Aws, tmp_path: Path) -> None:
    (tmp_path / "with_qr").mkdir()
    (tmp_path / "with_qr" / "1.png").write_bytes(image_bytes(100, 100, "PNG"))
    (tmp_path / "with_qr" / "2.png").write_bytes(image_bytes(120, 100, "PNG"))

    first = lifecycle.upload_folder(aws.s3, tmp_path, "training", "datasets/qr")
    (tmp_path / "with_qr" / "2.png").write_bytes(image_bytes(130, 100, "PNG"))
    second = lifecycle.upload_folder(aws.s3, tmp_path, "training", "datasets/qr")

    assert first == (2, 0)
    assert second == (1, 1)
    assert (
        aws.s3.head_object(Bucket="training", Key="datasets/qr/with_qr/1.png")["ContentLength"] > 0
    )


def test_train_replaces_datasets_waits_for_them_and_trains(aws: Aws) -> None:
    aws.stubber.add_response(
        "describe_projects",
        {
            "ProjectDescriptions": [
                {"ProjectArn": PROJECT, "Datasets": [{"DatasetArn": f"{PROJECT}/dataset/train/1"}]}
            ]
        },
        {"ProjectNames": ["imgrec-dev-custom-labels"]},
    )
    aws.stubber.add_response("delete_dataset", {}, {"DatasetArn": f"{PROJECT}/dataset/train/1"})
    for kind, key in (("TRAIN", "manifests/train.manifest"), ("TEST", "manifests/test.manifest")):
        arn = f"{PROJECT}/dataset/{kind.lower()}/2"
        aws.stubber.add_response(
            "create_dataset",
            {"DatasetArn": arn},
            {
                "ProjectArn": PROJECT,
                "DatasetType": kind,
                "DatasetSource": {
                    "GroundTruthManifest": {"S3Object": {"Bucket": "training", "Name": key}}
                },
            },
        )
        aws.stubber.add_response(
            "describe_dataset", {"DatasetDescription": {"Status": "CREATE_IN_PROGRESS"}}
        )
        aws.stubber.add_response(
            "describe_dataset", {"DatasetDescription": {"Status": "CREATE_COMPLETE"}}
        )
    aws.stubber.add_response(
        "create_project_version",
        {"ProjectVersionArn": version_arn("v1")},
        {
            "ProjectArn": PROJECT,
            "VersionName": "v1",
            "OutputConfig": {"S3Bucket": "training", "S3KeyPrefix": "rekognition-output/"},
        },
    )
    sleeps: list[float] = []

    arn = lifecycle.train(
        aws.rekognition,
        RESOURCES,
        train_manifest_key="manifests/train.manifest",
        test_manifest_key="manifests/test.manifest",
        version_name="v1",
        sleep=sleeps.append,
    )

    assert arn == version_arn("v1")
    assert sleeps == [10, 10]


@pytest.mark.usefixtures("deployed")
def test_evaluate_reads_the_summary_file(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    aws.describe(trained("v1"))
    aws.describe(trained("v1"))

    evaluation = lifecycle.evaluate(aws.rekognition, aws.s3, RESOURCES, "v1")
    code = cli.main(["evaluate", "v1", "--json", "--min-f1", "0.95"], session=aws.session())

    assert evaluation.f1 == 0.92
    assert [(s.label, s.precision, s.recall, s.threshold) for s in evaluation.labels] == [
        ("with_qr", 0.91, 0.97, 0.48),
        ("without_qr", 0.95, 0.86, 0.61),
    ]
    assert code == 3  # below the gate
    printed = json.loads(capsys.readouterr().out)
    assert printed["labels"][0]["f1"] == 0.94


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI finds the stage's resources without a CloudFormation stack."""
    monkeypatch.setattr(lifecycle, "stage_resources", lambda cloudformation, stage: RESOURCES)


def test_promote_writes_the_model_pointer(aws: Aws) -> None:
    aws.describe(trained("v1"))
    aws.describe(trained("v1"))

    arn = lifecycle.promote(
        aws.rekognition, aws.dynamodb, aws.s3, RESOURCES, "v1", min_f1=0.9, force=False
    )

    assert arn == version_arn("v1")
    assert lifecycle.active_version(aws.dynamodb, RESOURCES) == arn
    pointer = aws.dynamodb.get_item(
        TableName=RESOURCES.model_usage_table,
        Key={"project_version_arn": {"S": ACTIVE_POINTER_KEY}},
    )["Item"]
    # The labels the feedback route accepts, from the version's evaluation.
    assert sorted(pointer["labels"]["SS"]) == ["with_qr", "without_qr"]


class _PromotedMeanwhile:
    """DynamoDB through which another promotion lands right after the CLI reads the pointer."""

    def __init__(self, dynamodb: Any, arn: str) -> None:
        self._dynamodb, self._arn = dynamodb, arn

    def get_item(self, **params: Any) -> Any:
        answer = self._dynamodb.get_item(**params)
        self._dynamodb.put_item(
            TableName=params["TableName"],
            Item={**params["Key"], "active_project_version_arn": {"S": self._arn}},
        )
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dynamodb, name)


def test_promote_loses_to_a_promotion_that_landed_meanwhile(aws: Aws) -> None:
    aws.describe(trained("v1"))
    aws.describe(trained("v1"))
    racing = _PromotedMeanwhile(aws.dynamodb, version_arn("v9"))

    with pytest.raises(ToolError, match="another version was promoted"):
        lifecycle.promote(aws.rekognition, racing, aws.s3, RESOURCES, "v1", min_f1=0.9, force=False)

    assert lifecycle.active_version(aws.dynamodb, RESOURCES) == version_arn("v9")


def test_promote_refuses_below_the_gate_unless_forced(aws: Aws) -> None:
    for _ in range(4):
        aws.describe(trained("v1"))

    with pytest.raises(ToolError, match=r"F1 0.920 < --min-f1 0.95"):
        lifecycle.promote(
            aws.rekognition, aws.dynamodb, aws.s3, RESOURCES, "v1", min_f1=0.95, force=False
        )
    assert lifecycle.active_version(aws.dynamodb, RESOURCES) is None
    lifecycle.promote(
        aws.rekognition, aws.dynamodb, aws.s3, RESOURCES, "v1", min_f1=0.95, force=True
    )
    assert lifecycle.active_version(aws.dynamodb, RESOURCES) == version_arn("v1")


def test_promote_refuses_an_untrained_version(aws: Aws) -> None:
    aws.describe({"ProjectVersionArn": version_arn("v2"), "Status": "TRAINING_IN_PROGRESS"})

    with pytest.raises(ToolError, match="TRAINING_IN_PROGRESS, not trained"):
        lifecycle.promote(
            aws.rekognition, aws.dynamodb, aws.s3, RESOURCES, "v2", min_f1=0, force=False
        )


def test_unknown_version_is_named(aws: Aws) -> None:
    aws.describe(trained("v1"))

    with pytest.raises(ToolError, match="has no version 'v9'"):
        lifecycle.find_version(aws.rekognition, RESOURCES, "v9")


def test_start_with_units_and_stop_all_running(aws: Aws) -> None:
    aws.describe(trained("v1", "STOPPED"))
    aws.stubber.add_response(
        "start_project_version",
        {"Status": "STARTING"},
        {"ProjectVersionArn": version_arn("v1"), "MinInferenceUnits": 2},
    )
    aws.describe(trained("v1", "RUNNING"), trained("v0", "STOPPED"), trained("v2", "STARTING"))
    for name in ("v1", "v2"):
        aws.stubber.add_response(
            "stop_project_version", {"Status": "STOPPING"}, {"ProjectVersionArn": version_arn(name)}
        )

    assert lifecycle.start(aws.rekognition, RESOURCES, "v1", units=2) == "STARTING"
    assert lifecycle.stop(aws.rekognition, RESOURCES, None) == [
        version_arn("v1"),
        version_arn("v2"),
    ]


@pytest.mark.usefixtures("deployed")
def test_aws_errors_are_reported_with_what_failed(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.stubber.add_client_error(
        "describe_project_versions",
        service_error_code="AccessDeniedException",
        service_message="not allowed",
    )
    code = cli.main(["status"], session=aws.session())

    assert code == 1
    assert (
        "AWS refused DescribeProjectVersions: AccessDeniedException: not allowed"
        in capsys.readouterr().err
    )


def test_missing_credentials_are_explained(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    code = cli.main(["--region", REGION, "status"])

    assert code == 1
    assert "no AWS credentials found" in capsys.readouterr().err


def test_manifest_from_an_s3_folder(aws: Aws, tmp_path: Path) -> None:
    png = image_bytes(100, 100, "PNG")
    for key in ("raw/with_qr/1.png", "raw/without_qr/1.png", "raw/loose.png"):
        aws.s3.put_object(Bucket="training", Key=key, Body=png)
    out = tmp_path / "qr.manifest"

    code = cli.main(
        ["manifest", "s3://training/raw", "--s3-prefix", "s3://training/raw", "--out", str(out)],
        session=aws.session(),
    )

    assert code == 0
    refs = [json.loads(line)["source-ref"] for line in out.read_text().splitlines()]
    assert refs == ["s3://training/raw/with_qr/1.png", "s3://training/raw/without_qr/1.png"]


def test_wait_reports_each_status_change_until_done(aws: Aws) -> None:
    for status in ("TRAINING_IN_PROGRESS", "TRAINING_IN_PROGRESS", "TRAINING_COMPLETED"):
        aws.describe(trained("v1", status))
    lines: list[str] = []
    sleeps: list[float] = []

    final = lifecycle.wait_for(
        aws.rekognition,
        RESOURCES,
        "v1",
        lifecycle.TERMINAL_TRAINING,
        lines.append,
        sleep=sleeps.append,
    )

    assert final == "TRAINING_COMPLETED"
    assert [line.split()[-1] for line in lines] == ["TRAINING_IN_PROGRESS", "TRAINING_COMPLETED"]
    assert sleeps == [60, 60]
