"""Copying a trained, evaluated model version from one stage's account to another's.

Training is not deterministic: a model trained again in prod is a model nobody
evaluated. Rekognition Custom Labels copies a version across accounts in the
same region (``CopyProjectVersion``) once the source project carries a
*project policy* that lets the destination account copy it
(https://docs.aws.amazon.com/rekognition/latest/customlabels-dg/md-copy-model-sdk.html):

1. the source version must be trained (``TRAINING_COMPLETED`` or later) and
   pass the evaluation gate (overall F1 at least ``min_f1``);
2. a project policy on the source project allows only the destination
   account's root principal (so only its IAM identities that may call
   ``CopyProjectVersion``), only ``rekognition:CopyProjectVersion``, only
   that version (``PutProjectPolicy``);
3. the destination account calls ``CopyProjectVersion``, training output goes
   to its own training bucket under ``rekognition-output/`` (which that
   bucket's policy already lets Rekognition write, for this account only);
4. the copy is polled until ``COPYING_COMPLETED`` (or ``COPYING_FAILED``),
   then the project policy is deleted again (``DeleteProjectPolicy``);
5. the copy's own evaluation is read in the destination and compared with
   the source's; promotion stays with ``promote`` in the destination, gated
   as always.

CloudFormation has no resource for project policies, so the Data stacks
declare only their prerequisites: the project (its ARN is an output) and
the training bucket that receives the copy's output.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tools.models.lifecycle import (
    OUTPUT_PREFIX,
    Evaluation,
    StageResources,
    ToolError,
    evaluate,
    find_version,
    wait_for,
)

COPYABLE = frozenset({"TRAINING_COMPLETED", "RUNNING", "STARTING", "STOPPING", "STOPPED"})
"""Statuses of a source version that has finished training (and has an evaluation)."""
COPY_DONE = frozenset({"COPYING_COMPLETED", "COPYING_FAILED"})


@dataclass(frozen=True)
class CopyResult:
    """The copied version in the destination and both evaluations."""

    version_arn: str
    source: Evaluation
    copy: Evaluation


def _arn_parts(project_arn: str) -> tuple[str, str, str]:
    """(partition, region, account) of a Rekognition project ARN."""
    _, partition, _, region, account, _ = project_arn.split(":", 5)
    return partition, region, account


def policy_name(version_name: str, destination_stage: str) -> str:
    """The project policy's name (letters, digits, ``_.-``; at most 128 characters)."""
    return f"copy-{version_name}-to-{destination_stage}"[:128]


def project_policy(version_arn: str, destination_account: str) -> dict[str, Any]:
    """The project policy: the destination account may copy this one version, nothing else."""
    partition = version_arn.split(":", 2)[1]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{destination_account}:root"},
                "Action": "rekognition:CopyProjectVersion",
                "Resource": version_arn,
            }
        ],
    }


def copy_version(
    *,
    source_rekognition: Any,
    source_s3: Any,
    source: StageResources,
    destination_rekognition: Any,
    destination_s3: Any,
    destination: StageResources,
    version: str,
    min_f1: float,
    version_name: str | None = None,
    report: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 60,
) -> CopyResult:
    """Copy ``version`` (name or ARN) of ``source``'s project into ``destination``'s.

    :param version_name: the copy's name in the destination (default: the source's).
    :raises ToolError: the stages are in different regions; the version is not
        trained or fails the gate; the destination refuses the copy (no project
        policy, a version of that name exists); the copy fails.
    """
    _, source_region, _ = _arn_parts(source.project_arn)
    _, destination_region, destination_account = _arn_parts(destination.project_arn)
    if source_region != destination_region:
        raise ToolError(
            f"{source.stage} is in {source_region} and {destination.stage} in "
            f"{destination_region}: CopyProjectVersion copies only within one region; deploy "
            f"{destination.stage} in {source_region} or train there"
        )
    description = find_version(source_rekognition, source, version)
    arn = str(description["ProjectVersionArn"])
    name = arn.split("/version/")[1].split("/")[0]
    if description["Status"] not in COPYABLE:
        raise ToolError(
            f"version {name} of {source.stage} is {description['Status']}; only a trained "
            "version can be copied (wait for TRAINING_COMPLETED, see 'status')"
        )
    source_evaluation = evaluate(source_rekognition, source_s3, source, arn)
    if source_evaluation.f1 < min_f1:
        raise ToolError(
            f"version {name} has F1 {source_evaluation.f1:.3f} < --min-f1 {min_f1}; "
            f"only a version that passed 'evaluate' in {source.stage} is copied"
        )
    target_name = version_name or name
    policy = policy_name(target_name, destination.stage)
    source_rekognition.put_project_policy(
        ProjectArn=source.project_arn,
        PolicyName=policy,
        PolicyDocument=json.dumps(project_policy(arn, destination_account)),
    )
    report(f"project policy {policy}: {destination_account} may copy {name}")
    try:
        copied = _start_copy(destination_rekognition, source, destination, arn, target_name)
        report(f"copying {name} from {source.stage} to {destination.stage} as {target_name}")
        status = wait_for(
            destination_rekognition,
            destination,
            target_name,
            COPY_DONE,
            report,
            sleep=sleep,
            poll_seconds=poll_seconds,
        )
    finally:
        source_rekognition.delete_project_policy(ProjectArn=source.project_arn, PolicyName=policy)
        report(f"project policy {policy} deleted")
    if status != "COPYING_COMPLETED":
        message = find_version(destination_rekognition, destination, target_name).get(
            "StatusMessage", "no message"
        )
        raise ToolError(f"the copy ended {status}: {message}")
    copy_evaluation = evaluate(destination_rekognition, destination_s3, destination, copied)
    return CopyResult(copied, source_evaluation, copy_evaluation)


def _start_copy(
    rekognition: Any, source: StageResources, destination: StageResources, arn: str, name: str
) -> str:
    try:
        response = rekognition.copy_project_version(
            SourceProjectArn=source.project_arn,
            SourceProjectVersionArn=arn,
            DestinationProjectArn=destination.project_arn,
            VersionName=name,
            OutputConfig={"S3Bucket": destination.training_bucket, "S3KeyPrefix": OUTPUT_PREFIX},
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "AccessDeniedException":
            raise ToolError(
                f"{destination.stage} may not copy from {source.stage}: the project policy "
                f"on {source.project_name} does not allow this account, or these credentials "
                "lack rekognition:CopyProjectVersion (use --to-profile for the destination)"
            ) from None
        if code == "ResourceInUseException":
            raise ToolError(
                f"{destination.stage}'s project already has a version {name!r}; "
                "choose another with --version-name"
            ) from None
        raise
    return str(response["ProjectVersionArn"])
