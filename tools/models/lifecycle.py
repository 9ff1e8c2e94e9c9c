"""Stage resources, uploads, training, evaluation, promotion, start and stop.

Every function takes boto3 clients, so tests drive them with botocore's
Stubber (Rekognition) and moto (S3, DynamoDB, CloudFormation).
"""

from __future__ import annotations

import getpass
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from retraining.steps import Evaluation as Evaluation  # re-exported (tools.models)
from retraining.steps import LabelScore as LabelScore  # re-exported: tools.models prints them
from retraining.steps import read_evaluation
from shared import pointer
from shared.layout import REKOGNITION_OUTPUT_PREFIX

from tools.aws import ToolError as ToolError  # re-exported: every tools.models command raises it
from tools.aws import stack_outputs

OUTPUT_PREFIX = REKOGNITION_OUTPUT_PREFIX
"""Where Custom Labels writes a version's output (the CLI trains with it, as the workflow does)."""
TERMINAL_TRAINING = frozenset({"TRAINING_COMPLETED", "TRAINING_FAILED"})


@dataclass(frozen=True)
class StageResources:
    """A deployed stage's resources, from its ``<Stage>-Data`` stack outputs."""

    stage: str
    training_bucket: str
    project_arn: str
    collection_id: str
    model_usage_table: str
    faces_table: str
    feedback_table: str | None = None
    """``FeedbackTableName`` (stacks deployed before it was an output lack it)."""
    photo_index_arn: str | None = None
    """``PhotoIndexArn``: only a stage with ``provisional.enabled`` has one."""

    @property
    def project_name(self) -> str:
        return self.project_arn.split(":project/")[1].split("/")[0]


def stage_resources(cloudformation: Any, stage: str) -> StageResources:
    """Read ``<Stage>-Data``'s outputs.

    :raises ToolError: when the stage is not deployed or its stack lacks an output.
    """
    stack = f"{stage[:1].upper()}{stage[1:]}-Data"
    outputs = stack_outputs(cloudformation, stage, "Data")
    try:
        return StageResources(
            stage=stage,
            training_bucket=outputs["TrainingBucketName"],
            project_arn=outputs["ProjectArn"],
            collection_id=outputs["CollectionId"],
            model_usage_table=outputs["ModelUsageTableName"],
            faces_table=outputs["FacesTableName"],
            feedback_table=outputs.get("FeedbackTableName"),
            photo_index_arn=outputs.get("PhotoIndexArn"),
        )
    except KeyError as missing:
        raise ToolError(f"stack {stack} has no output {missing}; redeploy the stage") from None


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def upload_folder(
    s3: Any,
    root: Path,
    bucket: str,
    prefix: str,
    progress: Callable[[Iterable[Path]], Iterable[Path]] = lambda items: items,
) -> tuple[int, int]:
    """Upload every file under ``root`` to ``s3://bucket/prefix/<relative path>``.

    Objects already there with the same size and MD5 (ETag of a single-part
    upload) are skipped. :returns: (uploaded, skipped).
    """
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    uploaded = skipped = 0
    for path in progress(files):
        key = f"{prefix.strip('/')}/{path.relative_to(root).as_posix()}".lstrip("/")
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
            if head["ContentLength"] == path.stat().st_size and head["ETag"].strip('"') == _md5(
                path
            ):
                skipped += 1
                continue
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey", "NotFound"}:
                raise
        s3.upload_file(str(path), bucket, key)
        uploaded += 1
    return uploaded, skipped


def _wait_dataset(rekognition: Any, arn: str, sleep: Callable[[float], None], poll: float) -> None:
    while True:
        status = rekognition.describe_dataset(DatasetArn=arn)["DatasetDescription"]["Status"]
        if status in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}:
            return
        if status.endswith("FAILED"):
            raise ToolError(f"dataset {arn} failed to build ({status}); check the manifest lines")
        sleep(poll)


def train(
    rekognition: Any,
    resources: StageResources,
    *,
    train_manifest_key: str,
    test_manifest_key: str,
    version_name: str,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 10,
) -> str:
    """Replace the project's train and test datasets with the manifests, then train a version.

    :returns: the new project version ARN (training then takes 30 minutes to 24 hours).
    """
    projects = rekognition.describe_projects(ProjectNames=[resources.project_name])
    existing = (
        projects["ProjectDescriptions"][0].get("Datasets", [])
        if projects["ProjectDescriptions"]
        else []
    )
    for dataset in existing:
        rekognition.delete_dataset(DatasetArn=dataset["DatasetArn"])
    for dataset_type, key in (("TRAIN", train_manifest_key), ("TEST", test_manifest_key)):
        arn = rekognition.create_dataset(
            ProjectArn=resources.project_arn,
            DatasetType=dataset_type,
            DatasetSource={
                "GroundTruthManifest": {
                    "S3Object": {"Bucket": resources.training_bucket, "Name": key}
                }
            },
        )["DatasetArn"]
        _wait_dataset(rekognition, arn, sleep, poll_seconds)
    version: str = rekognition.create_project_version(
        ProjectArn=resources.project_arn,
        VersionName=version_name,
        OutputConfig={"S3Bucket": resources.training_bucket, "S3KeyPrefix": OUTPUT_PREFIX},
    )["ProjectVersionArn"]
    return version


def versions(rekognition: Any, resources: StageResources) -> list[dict[str, Any]]:
    """Every version of the project (all pages), newest first as Rekognition lists them."""
    paginator = rekognition.get_paginator("describe_project_versions")
    return [
        v
        for page in paginator.paginate(ProjectArn=resources.project_arn)
        for v in page.get("ProjectVersionDescriptions", [])
    ]


def find_version(rekognition: Any, resources: StageResources, version: str) -> dict[str, Any]:
    """A version by name or ARN. :raises ToolError: if the project has no such version."""
    for description in versions(rekognition, resources):
        arn = description["ProjectVersionArn"]
        if version in (arn, arn.split("/version/")[1].split("/")[0]):
            return description
    raise ToolError(f"project {resources.project_name} has no version {version!r}; see 'status'")


def evaluate(rekognition: Any, s3: Any, resources: StageResources, version: str) -> Evaluation:
    """Per-label precision, recall, F1 and assumed threshold from the evaluation summary in S3
    (read by :func:`retraining.steps.read_evaluation`, the retraining workflow's code).

    Summary format: https://docs.aws.amazon.com/rekognition/latest/customlabels-dg/im-summary-file-api.html
    """
    description = find_version(rekognition, resources, version)
    evaluation = read_evaluation(s3, description)
    if evaluation is None:
        raise ToolError(
            f"version {version} has no evaluation yet (status {description['Status']}); "
            "wait for TRAINING_COMPLETED"
        )
    return evaluation


def promote(
    rekognition: Any,
    dynamodb: Any,
    s3: Any,
    resources: StageResources,
    version: str,
    *,
    min_f1: float,
    force: bool,
) -> str:
    """Make ``version`` the stage's active model (the model pointer item).

    Refuses a version that is not TRAINING_COMPLETED-or-later, or whose F1 is
    under ``min_f1``, unless ``force``. The write is conditional on the pointer
    read just before (:func:`shared.pointer.write`), as the workflow's is.

    :returns: the promoted ARN.
    :raises ToolError: refused, or another promotion landed in between.
    """
    description = find_version(rekognition, resources, version)
    arn = str(description["ProjectVersionArn"])
    usable = description["Status"] in {
        "TRAINING_COMPLETED",
        "RUNNING",
        "STARTING",
        "STOPPED",
        "STOPPING",
    }
    evaluation = evaluate(rekognition, s3, resources, version) if usable else None
    f1 = evaluation.f1 if evaluation else None
    if not force:
        if not usable:
            raise ToolError(
                f"version {version} is {description['Status']}, not trained; "
                "use --force to override"
            )
        if f1 is not None and f1 < min_f1:
            raise ToolError(
                f"version {version} has F1 {f1:.3f} < --min-f1 {min_f1}; use --force to override"
            )
    before = pointer.read(dynamodb.get_item, resources.model_usage_table).arn
    try:
        pointer.write(
            dynamodb.put_item,
            resources.model_usage_table,
            arn,
            expected=before,
            promoted_by=getpass.getuser(),
            forced=force,
            f1=f1,
            # The labels the feedback route accepts without new_label (inference_api.feedback).
            labels=(score.label for score in evaluation.labels) if evaluation else (),
        )
    except pointer.PointerChangedError:
        raise ToolError(
            "another version was promoted while this one was checked; run promote again"
        ) from None
    return arn


def active_version(dynamodb: Any, resources: StageResources) -> str | None:
    """The promoted version's ARN (None: nothing promoted)."""
    return pointer.read(dynamodb.get_item, resources.model_usage_table).arn


def wait_for(
    rekognition: Any,
    resources: StageResources,
    version: str,
    done: frozenset[str],
    report: Callable[[str], None],
    *,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 60,
) -> str:
    """Poll a version until its status is in ``done``, reporting each change with elapsed time.

    Ctrl-C stops the waiting, not the training or start. :returns: the final status.
    """
    started = time.monotonic()
    last = None
    while True:
        status = str(find_version(rekognition, resources, version)["Status"])
        if status != last:
            report(f"{time.monotonic() - started:7.0f} s  {version}: {status}")
            last = status
        if status in done:
            return status
        sleep(poll_seconds)


def start(rekognition: Any, resources: StageResources, version: str, units: int) -> str:
    arn = find_version(rekognition, resources, version)["ProjectVersionArn"]
    return str(
        rekognition.start_project_version(ProjectVersionArn=arn, MinInferenceUnits=units)["Status"]
    )


def stop(rekognition: Any, resources: StageResources, version: str | None) -> list[str]:
    """Stop one version, or (``version=None``) every RUNNING or STARTING version.

    :returns: the ARNs stopped.
    """
    targets = (
        [find_version(rekognition, resources, version)]
        if version
        else [v for v in versions(rekognition, resources) if v["Status"] in {"RUNNING", "STARTING"}]
    )
    stopped = []
    for description in targets:
        rekognition.stop_project_version(ProjectVersionArn=description["ProjectVersionArn"])
        stopped.append(description["ProjectVersionArn"])
    return stopped
