"""Second-round hardening of the retraining workflow (issue #22, items 14-17)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.response import StreamingBody
from retraining import steps

from tests.functions.retraining.test_steps import (  # noqa: F401  (the aws fixture)
    BUCKET,
    PREPARED,
    PROJECT,
    SETTINGS,
    Aws,
    _active,
    _dataset_status,
    _evaluated,
    aws,
    described,
    version,
    versions,
)

# --- 14: nothing is billed before the input is checked ---------------------------------


@pytest.mark.parametrize(
    ("prepared", "message"),
    [
        ({**PREPARED, "datasets": []}, "datasets must be the train and test"),
        ({**PREPARED, "cutoff": "yesterday"}, "cutoff must be an ISO 8601"),
        ({**PREPARED, "cutoff": None}, "cutoff must be an ISO 8601"),
        ({**PREPARED, "run": "a b/c"}, "run must be a version-name suffix"),
        ("not an object", "prepare_data's answer"),
    ],
    ids=["no-datasets", "bad-cutoff", "no-cutoff", "bad-run", "not-an-object"],
)
def test_bad_input_is_refused_before_any_aws_call(aws: Aws, prepared: Any, message: str) -> None:
    with pytest.raises(steps.BadInputError, match=message):
        steps.start_training(aws.rekognition, aws.dynamodb, SETTINGS, prepared)


def test_an_empty_dataset_is_refused_before_the_billed_create(aws: Aws) -> None:
    _dataset_status(aws, "TRAIN", "CREATE_COMPLETE")
    _dataset_status(aws, "TEST", "CREATE_COMPLETE", labelled=0)

    with pytest.raises(steps.DatasetFailedError, match="holds no labelled image"):
        steps.start_training(aws.rekognition, aws.dynamodb, SETTINGS, PREPARED)


# --- 15: promote is defensive and idempotent --------------------------------------------

CLEARED = {"promote": True, "new_f1": 0.94, "labels": ["with_qr"], "active_version_arn": None}


@pytest.mark.parametrize(
    ("arn", "evaluation", "message"),
    [
        ("", CLEARED, "is not a version of project"),
        (
            "arn:aws:rekognition:ap-northeast-1:123456789012:project/other/version/v9/1",
            CLEARED,
            "is not a version of project",
        ),
        (
            version("retrain-run-1"),
            {**CLEARED, "promote": False, "reason": "F1 0.700 is under min_f1 0.8"},
            "did not clear retrain-run-1: F1 0.700",
        ),
    ],
    ids=["empty", "other-project", "not-cleared"],
)
def test_promote_refuses_what_it_must_not_write(
    aws: Aws, arn: str, evaluation: dict[str, Any], message: str
) -> None:
    with pytest.raises(steps.PromotionRefusedError, match=message):
        steps.promote(aws.dynamodb, SETTINGS, arn, evaluation)


# --- 16: a read timeout after the 200 is retried ----------------------------------------


class _TimingOutBody:
    def read(self) -> bytes:
        raise ReadTimeoutError(endpoint_url="https://s3.ap-northeast-1.amazonaws.com")


def test_a_read_timeout_in_the_summary_body_is_retryable(aws: Aws) -> None:
    key = "rekognition-output/retrain-run-1/EvaluationResultSummary.json"
    description = {
        "ProjectVersionArn": version("retrain-run-1"),
        "EvaluationResult": {
            "F1Score": 0.9,
            "Summary": {"S3Object": {"Bucket": BUCKET, "Name": key}},
        },
    }
    aws.s3.get_object = lambda **_: {"Body": _TimingOutBody()}

    with pytest.raises(steps.RetryableError, match="ReadTimeoutError"):
        steps.read_evaluation(aws.s3, description)


# --- 17: the F1 gate never decides on impossible or partial evidence --------------------


def _summary(
    aws: Aws, name: str, summary: dict[str, Any], status: str = "TRAINING_COMPLETED"
) -> None:
    key = f"rekognition-output/{name}/EvaluationResultSummary.json"
    versions(
        aws,
        described(
            name,
            status,
            EvaluationResult={
                "F1Score": 0.9,
                "Summary": {"S3Object": {"Bucket": BUCKET, "Name": key}},
            },
        ),
        names=[name],
    )
    body = json.dumps(summary).encode()
    aws["s3"].add_response(
        "get_object",
        {"Body": StreamingBody(io.BytesIO(body), len(body))},
        {"Bucket": BUCKET, "Key": key},
    )


def _labels(f1: float, *names: str) -> dict[str, Any]:
    return {
        "AggregatedEvaluationResults": {"F1Score": f1},
        "LabelEvaluationResults": [
            {
                "Label": n,
                "Metrics": {"F1Score": f1, "Precision": f1, "Recall": f1, "Threshold": 0.5},
            }
            for n in names
        ],
    }


EVIDENCE = [
    # (new summary, new status, active summary or None, promote, reason)
    (_labels(float("nan"), "a"), "TRAINING_COMPLETED", None, False, "not a share between 0 and 1"),
    (_labels(93.0, "a"), "TRAINING_COMPLETED", None, False, "not a share between 0 and 1"),
    ({}, "TRAINING_COMPLETED", None, False, "no per-label results"),
    ({"LabelEvaluationResults": [{"Label": "a"}]}, "TRAINING_COMPLETED", None, False, "incomplete"),
    (
        {"AggregatedEvaluationResults": {"F1Score": 0.95}},
        "TRAINING_COMPLETED",
        None,
        False,
        "no per-label results",
    ),
    (
        _labels(0.95, "a"),
        "TRAINING_COMPLETED",
        _labels(0.9, "a", "b"),
        False,
        "lacks label(s) the active version has: b",
    ),
    (_labels(0.95, "a"), "TRAINING_FAILED", None, False, "its training did not complete"),
    (
        _labels(0.95, "a", "b"),
        "TRAINING_COMPLETED",
        _labels(0.9, "a", "b"),
        True,
        "against the active version's 0.900",
    ),
    (_labels(0.95, "a"), "TRAINING_COMPLETED", "unreadable", True, "has no readable evaluation"),
]


@pytest.mark.parametrize(("new", "status", "active", "promote", "reason"), EVIDENCE)
def test_the_f1_gate_decides_on_complete_and_possible_evidence_only(
    aws: Aws, new: dict[str, Any], status: str, active: Any, promote: bool, reason: str
) -> None:
    if status == "TRAINING_COMPLETED":
        _summary(aws, "retrain-run-1", new, status)
    else:
        versions(aws, described("retrain-run-1", status), names=["retrain-run-1"])
    _active(aws, "qr-v1" if active is not None else None)
    if active == "unreadable":
        _summary(aws, "qr-v1", {})
    elif active is not None and status == "TRAINING_COMPLETED" and "per-label" not in reason:
        _summary(aws, "qr-v1", active)

    answer = steps.evaluate(aws.rekognition, aws.s3, aws.dynamodb, SETTINGS, "retrain-run-1")

    assert answer["promote"] is promote
    assert reason in answer["reason"]
