"""``tools.models copy``: a dev version copied into prod's account, with Stubber's exact shapes."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from tools.models import __main__ as cli
from tools.models import crossaccount
from tools.models.lifecycle import OUTPUT_PREFIX, StageResources, ToolError

REGION = "ap-northeast-1"
DEV_ACCOUNT, PROD_ACCOUNT = "111111111111", "222222222222"
DEV = StageResources(
    "dev",
    f"imgrec-dev-training-{DEV_ACCOUNT}",
    f"arn:aws:rekognition:{REGION}:{DEV_ACCOUNT}:project/imgrec-dev-custom-labels/1700000000000",
    "imgrec-dev-faces",
    "dev-usage",
    "dev-faces",
)
PROD = StageResources(
    "prod",
    f"imgrec-prod-training-{PROD_ACCOUNT}",
    f"arn:aws:rekognition:{REGION}:{PROD_ACCOUNT}:project/imgrec-prod-custom-labels/1700000000000",
    "imgrec-prod-faces",
    "prod-usage",
    "prod-faces",
)


def version_arn(resources: StageResources, name: str, stamp: str = "1700000000001") -> str:
    return f"{resources.project_arn.rsplit('/', 1)[0]}/version/{name}/{stamp}"


DEV_VERSION = version_arn(DEV, "qr-v1")
PROD_VERSION = version_arn(PROD, "qr-v1", "1800000000000")
POLICY_NAME = "copy-qr-v1-to-prod"


def summary(f1: float) -> dict[str, Any]:
    return {
        "AggregatedEvaluationResults": {"F1Score": f1},
        "LabelEvaluationResults": [
            {
                "Label": "with_qr",
                "NumberOfTestingImages": 10,
                "Metrics": {"F1Score": f1, "Precision": f1, "Recall": f1, "Threshold": 0.5},
            }
        ],
    }


@dataclass
class Accounts:
    """Two accounts' Rekognition and S3 clients, each behind a Stubber."""

    dev_rekognition: Stubber
    dev_s3: Stubber
    prod_rekognition: Stubber
    prod_s3: Stubber
    clients: dict[str, Any]
    lines: list[str]

    def copy(self, **overrides: Any) -> crossaccount.CopyResult:
        params: dict[str, Any] = {
            "source_rekognition": self.clients["dev_rekognition"],
            "source_s3": self.clients["dev_s3"],
            "source": DEV,
            "destination_rekognition": self.clients["prod_rekognition"],
            "destination_s3": self.clients["prod_s3"],
            "destination": PROD,
            "version": "qr-v1",
            "min_f1": 0.9,
            "report": self.lines.append,
            "sleep": lambda _: None,
            **overrides,
        }
        return crossaccount.copy_version(**params)

    def versions(self, stubber: Stubber, resources: StageResources, *descriptions: Any) -> None:
        stubber.add_response(
            "describe_project_versions",
            {"ProjectVersionDescriptions": list(descriptions)},
            {"ProjectArn": resources.project_arn},
        )

    def evaluation(
        self, rekognition: Stubber, s3: Stubber, resources: StageResources, arn: str, f1: float
    ) -> None:
        key = f"{OUTPUT_PREFIX}EvaluationResultSummary-{arn.rsplit('/', 1)[1]}.json"
        self.versions(
            rekognition,
            resources,
            {
                "ProjectVersionArn": arn,
                "Status": "TRAINING_COMPLETED" if resources is DEV else "COPYING_COMPLETED",
                "EvaluationResult": {
                    "F1Score": f1,
                    "Summary": {"S3Object": {"Bucket": resources.training_bucket, "Name": key}},
                },
            },
        )
        data = json.dumps(summary(f1)).encode()
        s3.add_response(
            "get_object",
            {"Body": StreamingBody(io.BytesIO(data), len(data))},
            {"Bucket": resources.training_bucket, "Key": key},
        )


@pytest.fixture
def accounts() -> Iterator[Accounts]:
    clients = {
        name: boto3.client(
            service,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106
        )
        for name, service in (
            ("dev_rekognition", "rekognition"),
            ("dev_s3", "s3"),
            ("prod_rekognition", "rekognition"),
            ("prod_s3", "s3"),
        )
    }
    stubbers = {name: Stubber(client) for name, client in clients.items()}
    for stubber in stubbers.values():
        stubber.activate()
    yield Accounts(**stubbers, clients=clients, lines=[])
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()


def trained(status: str = "TRAINING_COMPLETED") -> dict[str, Any]:
    return {"ProjectVersionArn": DEV_VERSION, "Status": status}


def expect_policy(accounts: Accounts) -> None:
    accounts.dev_rekognition.add_response(
        "put_project_policy",
        {"PolicyRevisionId": "rev-1"},
        {
            "ProjectArn": DEV.project_arn,
            "PolicyName": POLICY_NAME,
            "PolicyDocument": json.dumps(crossaccount.project_policy(DEV_VERSION, PROD_ACCOUNT)),
        },
    )


def expect_policy_deleted(accounts: Accounts) -> None:
    accounts.dev_rekognition.add_response(
        "delete_project_policy", {}, {"ProjectArn": DEV.project_arn, "PolicyName": POLICY_NAME}
    )


def expect_copy_call(accounts: Accounts) -> None:
    accounts.prod_rekognition.add_response(
        "copy_project_version",
        {"ProjectVersionArn": PROD_VERSION},
        {
            "SourceProjectArn": DEV.project_arn,
            "SourceProjectVersionArn": DEV_VERSION,
            "DestinationProjectArn": PROD.project_arn,
            "VersionName": "qr-v1",
            "OutputConfig": {"S3Bucket": PROD.training_bucket, "S3KeyPrefix": OUTPUT_PREFIX},
        },
    )


def test_copy_lets_only_prod_copy_only_that_version_waits_and_compares_evaluations(
    accounts: Accounts,
) -> None:
    accounts.versions(accounts.dev_rekognition, DEV, trained())
    accounts.evaluation(accounts.dev_rekognition, accounts.dev_s3, DEV, DEV_VERSION, 0.93)
    expect_policy(accounts)
    expect_copy_call(accounts)
    for status in ("COPYING_IN_PROGRESS", "COPYING_IN_PROGRESS", "COPYING_COMPLETED"):
        accounts.versions(
            accounts.prod_rekognition, PROD, {"ProjectVersionArn": PROD_VERSION, "Status": status}
        )
    expect_policy_deleted(accounts)
    accounts.evaluation(accounts.prod_rekognition, accounts.prod_s3, PROD, PROD_VERSION, 0.93)

    result = accounts.copy()

    assert result.version_arn == PROD_VERSION
    assert (result.source.f1, result.copy.f1) == (0.93, 0.93)
    assert any("COPYING_COMPLETED" in line for line in accounts.lines)
    assert accounts.lines[-1] == f"project policy {POLICY_NAME} deleted"


def test_the_project_policy_names_one_account_one_version_one_action() -> None:
    document = crossaccount.project_policy(DEV_VERSION, PROD_ACCOUNT)

    [statement] = document["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{PROD_ACCOUNT}:root"},
        "Action": "rekognition:CopyProjectVersion",
        "Resource": DEV_VERSION,
    }
    assert "*" not in json.dumps(document)


def test_stages_in_different_regions_are_refused_before_any_call(accounts: Accounts) -> None:
    elsewhere = StageResources(
        "prod",
        PROD.training_bucket,
        PROD.project_arn.replace(REGION, "us-east-1"),
        PROD.collection_id,
        PROD.model_usage_table,
        PROD.faces_table,
    )

    with pytest.raises(ToolError, match="only within one region"):
        accounts.copy(destination=elsewhere)


@pytest.mark.parametrize("status", ["TRAINING_IN_PROGRESS", "TRAINING_FAILED", "DELETING"])
def test_a_version_that_is_not_trained_is_refused_without_a_policy(
    accounts: Accounts, status: str
) -> None:
    accounts.versions(accounts.dev_rekognition, DEV, trained(status))

    with pytest.raises(ToolError, match=f"qr-v1 of dev is {status}; only a trained version"):
        accounts.copy()


def test_a_version_below_the_gate_is_refused_without_a_policy(accounts: Accounts) -> None:
    accounts.versions(accounts.dev_rekognition, DEV, trained())
    accounts.evaluation(accounts.dev_rekognition, accounts.dev_s3, DEV, DEV_VERSION, 0.71)

    with pytest.raises(ToolError, match=r"F1 0\.710 < --min-f1 0\.9"):
        accounts.copy()


@pytest.mark.parametrize(
    ("aws_code", "advice"),
    [
        ("AccessDeniedException", "project policy on imgrec-dev-custom-labels"),
        ("ResourceInUseException", "--version-name"),
    ],
)
def test_prod_refusing_the_copy_says_what_to_do_and_the_policy_is_removed(
    accounts: Accounts, aws_code: str, advice: str
) -> None:
    accounts.versions(accounts.dev_rekognition, DEV, trained())
    accounts.evaluation(accounts.dev_rekognition, accounts.dev_s3, DEV, DEV_VERSION, 0.93)
    expect_policy(accounts)
    accounts.prod_rekognition.add_client_error("copy_project_version", aws_code, "refused", 400)
    expect_policy_deleted(accounts)

    with pytest.raises(ToolError, match=re.escape(advice)):
        accounts.copy()


def test_a_failed_copy_reports_rekognitions_message(accounts: Accounts) -> None:
    accounts.versions(accounts.dev_rekognition, DEV, trained())
    accounts.evaluation(accounts.dev_rekognition, accounts.dev_s3, DEV, DEV_VERSION, 0.93)
    expect_policy(accounts)
    expect_copy_call(accounts)
    failed = {
        "ProjectVersionArn": PROD_VERSION,
        "Status": "COPYING_FAILED",
        "StatusMessage": "The output bucket is not accessible",
    }
    accounts.versions(accounts.prod_rekognition, PROD, failed)
    expect_policy_deleted(accounts)
    accounts.versions(accounts.prod_rekognition, PROD, failed)

    with pytest.raises(ToolError, match="COPYING_FAILED: The output bucket is not accessible"):
        accounts.copy()


def test_copy_command_exists(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["copy", "--help"])

    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "--to-stage" in out
    assert "--to-profile" in out
