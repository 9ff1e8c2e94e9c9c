"""The retraining workflow's steps: plain functions over injected boto3 clients.

The Step Functions state machine (``stacks/service/retraining.py``) calls one Lambda
per step (``retraining.handler``); each step's input is the execution's state
and its answer is merged under a key of its own. Steps, in order:

1. :func:`preflight`: refuses (:class:`WorkflowAlreadyRunningError`,
   :class:`TrainingAlreadyRunningError`) when another execution or a training of
   the project is running; counts confirmed feedback not yet in a model and
   says whether to train (at least ``min_confirmed_items``, or ``force``).
2. :func:`prepare_data`: the base images (``dataset_prefix``, one folder per
   label) plus every confirmed feedback item become train and test
   manifests, built by :mod:`retraining.manifest` (the code of
   ``tools.models manifest``; a hash-ordered split, so that runs share
   nearly the same test images), written under ``manifests/retraining/<run>/``;
   the project's datasets are replaced by datasets made from them.
   :func:`refresh_index` (a stage with provisional answers): the photo index
   takes the new confirmed photos (embedded once; :mod:`retraining.photo_index`).
3. :func:`start_training`: once both datasets are built, creates the
   project version ``retrain-<run>`` (idempotent: a retry finds it) and marks
   the feedback items it used (``trained_in``).
4. :func:`training_status`: the version's status (polled by the workflow).
5. :func:`evaluate`: per-label F1 of the new version and of the active
   one, from their evaluation summaries; promote only when the new F1 is at
   least ``min_f1`` and at most ``max_f1_drop`` below the active one's.
6. :func:`promote`: writes the stage's model pointer, unless someone
   promoted another version meanwhile (:class:`PointerChangedError`).

Errors the workflow retries are raised as :class:`RetryableError`
(throttling, AWS 5xx, timeouts: the same classes as the API's mapping);
anything else fails the step, and the workflow notifies the SNS topic.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from botocore.exceptions import ClientError, IncompleteReadError, ResponseStreamingError
from shared import pointer
from shared.aws_errors import TRANSIENT_SDK_ERRORS, error_code, http_status, is_retryable
from shared.imaging import HEADER_BYTES
from shared.layout import (
    FEEDBACK_BY_STATUS_INDEX,
    MANIFEST_PREFIX,
    REKOGNITION_OUTPUT_PREFIX,
)
from shared.paging import pages
from shared.pointer import PointerChangedError as PointerChangedError  # a workflow error name

from retraining import manifest

"""Where Rekognition writes training output (the training bucket policy allows only it)."""
VERSION_PREFIX = "retrain-"
"""The API's classification (``inference_api.errors``): throttling and AWS-side failures."""


class RetryableError(Exception):
    """AWS throttled, failed on its side or did not answer: the workflow retries the step."""


class WorkflowAlreadyRunningError(Exception):
    """Another execution of the retraining workflow is running."""


class TrainingAlreadyRunningError(Exception):
    """A version of the project is training already (one training at a time)."""


class DatasetFailedError(Exception):
    """Rekognition could not build a dataset from the manifest."""


class BadInputError(Exception):
    """A step was handed what it cannot act on (checked before anything is billed)."""


class PromotionRefusedError(Exception):
    """Promote was asked for a version the evaluation did not clear, or for no version of
    this project."""


class IncompleteEvaluationError(Exception):
    """An evaluation summary that is partial or holds impossible figures."""


class EvaluationMissingError(Exception):
    """The trained version has no evaluation result to compare."""


@dataclass(frozen=True)
class Settings:
    """The workflow's configuration (from the Lambda environment)."""

    project_arn: str
    training_bucket: str
    feedback_table: str
    model_usage_table: str
    state_machine_arn: str
    dataset_prefix: str
    min_confirmed_items: int
    test_fraction: float
    max_f1_drop: float
    min_f1: float
    photo_index_arn: str
    """The provisional answers' S3 Vectors index ("" when the stage has none)."""
    project_type: str
    """``classification`` (folders per label) or ``object_detection`` (boxes)."""
    base_manifest: str
    """Object detection: the base images' detection manifest key ("" for classification)."""
    embedding_model: str
    """A key of :data:`shared.embeddings.MODELS`."""

    @property
    def project_name(self) -> str:
        return self.project_arn.split(":project/")[1].split("/")[0]


def call(client: Any, operation: str, **params: Any) -> Any:
    """``client.<operation>(**params)``; transient failures become :class:`RetryableError`."""
    try:
        return getattr(client, operation)(**params)
    except ClientError as exc:
        if is_retryable(exc):
            raise RetryableError(
                f"{operation}: {error_code(exc)} (HTTP {http_status(exc)})"
            ) from exc
        raise
    except TRANSIENT_SDK_ERRORS as exc:
        raise RetryableError(f"{operation}: {type(exc).__name__}") from exc


def _pages(
    client: Any, operation: str, token: str, next_param: str, **params: Any
) -> Iterator[Any]:
    """Every page of ``operation``, each call through :func:`call` (retryable failures)."""
    return pages(call, client, operation, token, next_param, **params)


def _versions(rekognition: Any, settings: Settings, **extra: Any) -> list[dict[str, Any]]:
    return [
        version
        for page in _pages(
            rekognition,
            "describe_project_versions",
            "NextToken",
            "NextToken",
            ProjectArn=settings.project_arn,
            **extra,
        )
        for version in page.get("ProjectVersionDescriptions", [])
    ]


def _confirmed(
    dynamodb: Any,
    settings: Settings,
    condition: str,
    values: dict[str, Any] | None = None,
    projection: str | None = None,
) -> list[dict[str, Any]]:
    """Confirmed feedback items (every page of the status index) that meet ``condition``."""
    params: dict[str, Any] = {
        "TableName": settings.feedback_table,
        "IndexName": FEEDBACK_BY_STATUS_INDEX,
        "KeyConditionExpression": "#status = :confirmed",
        "FilterExpression": condition,
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {":confirmed": {"S": "confirmed"}, **(values or {})},
    }
    if projection:
        params["ProjectionExpression"] = projection
    return [
        item
        for page in _pages(dynamodb, "query", "LastEvaluatedKey", "ExclusiveStartKey", **params)
        for item in page.get("Items", [])
    ]


# --- 1. preflight -----------------------------------------------------------------


def preflight(
    sfn: Any, rekognition: Any, dynamodb: Any, settings: Settings, event: dict[str, Any]
) -> dict[str, Any]:
    """Refuse to run twice or beside a training; count the confirmed feedback waiting.

    :param event: ``{"execution_id": ARN of this execution, "input": the execution's
        input, where ``"force": true`` trains whatever the count}``.
    :returns: ``{"train": bool, "waiting": int, "min_confirmed_items": int}``.
    :raises WorkflowAlreadyRunningError: another execution is RUNNING.
    :raises TrainingAlreadyRunningError: a version is TRAINING_IN_PROGRESS.
    """
    running = [
        execution["executionArn"]
        for page in _pages(
            sfn,
            "list_executions",
            "nextToken",
            "nextToken",
            stateMachineArn=settings.state_machine_arn,
            statusFilter="RUNNING",
        )
        for execution in page.get("executions", [])
        if execution["executionArn"] != event.get("execution_id")
    ]
    if running:
        raise WorkflowAlreadyRunningError(f"execution {running[0]} is running; one at a time")
    training = [
        v["ProjectVersionArn"]
        for v in _versions(rekognition, settings)
        if v["Status"] == "TRAINING_IN_PROGRESS"
    ]
    if training:
        raise TrainingAlreadyRunningError(
            f"{training[0].split('/version/')[-1].split('/')[0]} is training; "
            "one training at a time (retry when it ends)"
        )
    waiting = len(_confirmed(dynamodb, settings, "attribute_not_exists(trained_in)"))
    given = event.get("input")
    force = isinstance(given, dict) and given.get("force") is True
    return {
        "train": force or waiting >= settings.min_confirmed_items,
        "waiting": waiting,
        "min_confirmed_items": settings.min_confirmed_items,
    }


# --- 2. manifests and datasets ----------------------------------------------------------


def run_name(execution_name: str) -> str:
    """The execution's name as a version name can hold it: Rekognition version names
    are ``[a-zA-Z0-9_.-]+`` up to 255 characters
    (https://docs.aws.amazon.com/rekognition/latest/APIReference/API_CreateProjectVersion.html);
    Step Functions allows more in execution names."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]", "-", execution_name).strip(".-") or "run"
    return cleaned[: 255 - len(VERSION_PREFIX)]


def prepare_data(
    s3: Any,
    rekognition: Any,
    dynamodb: Any,
    settings: Settings,
    run: str,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """Build train/test manifests from the base images and confirmed feedback; replace the
    project's datasets with them.

    :param run: a name for this run (the execution's name): manifests go under
        ``manifests/retraining/<run>/``, the version is ``retrain-<run>``.
    :returns: ``{"run", "cutoff" (ISO 8601: feedback reviewed up to then is in),
        "datasets": [train ARN, test ARN], "images", "feedback", "skipped", "labels"}``.
    :raises retraining.manifest.ManifestError: fewer than two labels, or a label
        with a single image.
    """
    run = run_name(run)
    cutoff = now().isoformat(timespec="seconds")
    if settings.project_type == "object_detection":
        return _prepare_detection(s3, rekognition, dynamodb, settings, run, cutoff, now)
    base = settings.dataset_prefix.rstrip("/") + "/"
    sizes: dict[str, int] = {}
    for page in _pages(
        s3,
        "list_objects_v2",
        "NextContinuationToken",
        "ContinuationToken",
        Bucket=settings.training_bucket,
        Prefix=base,
    ):
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith("/"):
                sizes[obj["Key"]] = int(obj["Size"])
    labels: dict[str, str | None] = {key: manifest.label_for(key[len(base) :]) for key in sizes}
    feedback = 0
    for item in _confirmed(
        dynamodb, settings, "reviewed_at <= :cutoff", {":cutoff": {"S": cutoff}}
    ):
        key = item["training_key"]["S"]
        labels[key] = item["label"]["S"]
        sizes.setdefault(key, 0)
        feedback += 1
    too_big = {k for k, size in sizes.items() if size > manifest.TRAINING_LIMITS.max_s3_bytes}

    def read(key: str) -> bytes:
        body = call(
            s3,
            "get_object",
            Bucket=settings.training_bucket,
            Key=key,
            Range=f"bytes=0-{HEADER_BYTES - 1}",
        )["Body"]
        data: bytes = body.read()
        return data

    result = manifest.collect(
        [k for k in sizes if k not in too_big], read, label=lambda key: labels.get(key)
    )
    train, test = manifest.stable_split(result.images, settings.test_fraction, seed=42)
    bucket_url = f"s3://{settings.training_bucket}/"
    created = now().strftime("%Y-%m-%dT%H:%M:%S.000")
    datasets = _replace_datasets(
        s3,
        rekognition,
        settings,
        run,
        {
            kind: manifest.manifest_lines(images, result.labels, bucket_url, created)
            for kind, images in (("TRAIN", train), ("TEST", test))
        },
    )
    return {
        "run": run,
        "cutoff": cutoff,
        "datasets": datasets,
        "images": len(result.images),
        "feedback": feedback,
        "skipped": len(result.skipped) + len(too_big),
        "labels": result.labels,
    }


def refresh_index(
    s3: Any,
    bedrock: Any,
    s3vectors: Any,
    dynamodb: Any,
    settings: Settings,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Bring the photo index up to date with the base images and every confirmed feedback
    item (:mod:`retraining.photo_index`: only new or changed photos are embedded).

    :returns: ``{"complete" (False: stopped for time, run again), "embedded", "unchanged",
        "deleted", "skipped", "cost_usd"}``.
    :raises BadInputError: the stage has no photo index.
    """
    from shared.embeddings import MODELS

    from retraining import photo_index

    if not settings.photo_index_arn:
        raise BadInputError("the stage has no photo index (provisional.enabled is false)")
    model = MODELS[settings.embedding_model]
    confirmed = [
        (item["training_key"]["S"], item["label"]["S"])
        for item in _confirmed(dynamodb, settings, "attribute_exists(training_key)")
    ]
    photos, skipped = photo_index.labelled_photos(
        s3,
        settings.training_bucket,
        settings.dataset_prefix,
        confirmed,
        settings.test_fraction,
        call=call,
    )
    work = photo_index.plan(photos, photo_index.indexed(s3vectors, settings.photo_index_arn, call))
    result = photo_index.build(
        s3,
        bedrock,
        s3vectors,
        bucket=settings.training_bucket,
        index_arn=settings.photo_index_arn,
        model=model,
        work=work,
        call=call,
        should_stop=should_stop,
    )
    return {
        "complete": result.complete,
        "embedded": result.embedded,
        "unchanged": work.unchanged,
        "deleted": result.deleted,
        "skipped": len(skipped) + len(result.skipped),
        "cost_usd": round(result.embedded * model.usd_per_image, 6),
    }


def _replace_datasets(
    s3: Any, rekognition: Any, settings: Settings, run: str, lines: dict[str, list[str]]
) -> list[str]:
    """Write the TRAIN and TEST manifests under ``manifests/retraining/<run>/`` and replace the
    project's datasets with datasets made from them; their ARNs, train first."""
    project = call(rekognition, "describe_projects", ProjectNames=[settings.project_name])
    for description in project.get("ProjectDescriptions", []):
        for dataset in description.get("Datasets", []):
            call(rekognition, "delete_dataset", DatasetArn=dataset["DatasetArn"])
    datasets = []
    for kind in ("TRAIN", "TEST"):
        key = f"{MANIFEST_PREFIX}{run}/{kind.lower()}.manifest"
        call(
            s3,
            "put_object",
            Bucket=settings.training_bucket,
            Key=key,
            Body="\n".join(lines[kind]).encode() + b"\n",
            ContentType="application/x-ndjson",
        )
        datasets.append(
            call(
                rekognition,
                "create_dataset",
                ProjectArn=settings.project_arn,
                DatasetType=kind,
                DatasetSource={
                    "GroundTruthManifest": {
                        "S3Object": {"Bucket": settings.training_bucket, "Name": key}
                    }
                },
            )["DatasetArn"]
        )
    return datasets


def _prepare_detection(
    s3: Any,
    rekognition: Any,
    dynamodb: Any,
    settings: Settings,
    run: str,
    cutoff: str,
    now: Callable[[], datetime],
) -> dict[str, Any]:
    """:func:`prepare_data` of an object-detection stage: the base manifest's images and
    boxes, plus every confirmed feedback item that has boxes (ratios, turned into pixels of
    the photo's size read from its header), split by image."""
    from shared.imaging import ImageError, read_header

    from retraining import detection_manifest as detection

    if not settings.base_manifest:
        raise BadInputError("object_detection needs retraining.base_manifest (see the config)")
    body = call(s3, "get_object", Bucket=settings.training_bucket, Key=settings.base_manifest)
    lines = [line for line in body["Body"].read().decode("utf-8").splitlines() if line.strip()]
    images = []
    for line in lines:
        [record] = detection.read_manifest([line])
        record.image = json.loads(line)["source-ref"]  # the whole S3 URL, as written
        images.append(record)
    bucket_url = f"s3://{settings.training_bucket}/"
    feedback = skipped = 0
    for item in _confirmed(
        dynamodb, settings, "reviewed_at <= :cutoff", {":cutoff": {"S": cutoff}}
    ):
        boxes = item.get("boxes", {}).get("L")
        if not boxes:
            skipped += 1  # a confirmed label with no box says nothing to a detector
            continue
        key = item["training_key"]["S"]
        header = call(
            s3,
            "get_object",
            Bucket=settings.training_bucket,
            Key=key,
            Range=f"bytes=0-{HEADER_BYTES - 1}",
        )["Body"].read()
        try:
            info = read_header(header)
        except ImageError:
            skipped += 1
            continue
        parsed: list[dict[str, object]] = [
            {
                "label": b["M"]["label"]["S"],
                **{k: float(b["M"][k]["N"]) for k in ("left", "top", "width", "height")},
            }
            for b in boxes
        ]
        images.append(detection.from_feedback(bucket_url + key, parsed, info.width, info.height))
        feedback += 1
    labels = sorted({b.label for image in images for b in image.boxes})
    if not labels:
        raise BadInputError("no box in the base manifest or the confirmed feedback")
    train, test = detection.split(images, settings.test_fraction, seed=42)
    created = now().strftime("%Y-%m-%dT%H:%M:%S.000")
    manifests = {
        kind: detection.manifest_lines(part, labels, bucket_url, created)
        for kind, part in (("TRAIN", train), ("TEST", test))
    }
    return {
        "run": run,
        "cutoff": cutoff,
        "datasets": _replace_datasets(s3, rekognition, settings, run, manifests),
        "images": len(images),
        "feedback": feedback,
        "skipped": skipped,
        "labels": labels,
    }


# --- 3. training ------------------------------------------------------------------------


def start_training(
    rekognition: Any, dynamodb: Any, settings: Settings, prepared: dict[str, Any]
) -> dict[str, Any]:
    """Create the project version once both datasets are built.

    :param prepared: :func:`prepare_data`'s answer.
    :returns: ``{"ready": False}`` while a dataset is being built, else
        ``{"ready": True, "version_arn", "version_name"}``.
    :raises DatasetFailedError: a dataset's status is ``*_FAILED``, or it holds no
        labelled image (checked before the billed CreateProjectVersion).
    :raises BadInputError: ``prepared`` lacks two datasets, a run name or an ISO 8601
        cutoff (checked before any AWS call).
    """
    _check_prepared(prepared)
    for arn in prepared["datasets"]:
        description = call(rekognition, "describe_dataset", DatasetArn=arn)["DatasetDescription"]
        status = description["Status"]
        if status.endswith("FAILED"):
            raise DatasetFailedError(
                f"dataset {arn.split('/dataset/')[-1]} is {status}: "
                f"{description.get('StatusMessage', 'no message')}"
            )
        if status not in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}:
            return {"ready": False}
        stats = description.get("DatasetStats", {})
        if not stats.get("LabeledEntries") or not stats.get("TotalLabels"):
            raise DatasetFailedError(
                f"dataset {arn.split('/dataset/')[-1]} holds no labelled image "
                f"({stats.get('LabeledEntries', 0)} labelled of {stats.get('TotalEntries', 0)}); "
                "nothing was trained"
            )
    name = f"{VERSION_PREFIX}{prepared['run']}"
    existing = _versions(rekognition, settings, VersionNames=[name])
    if existing:
        arn = existing[0]["ProjectVersionArn"]
    else:
        arn = call(
            rekognition,
            "create_project_version",
            ProjectArn=settings.project_arn,
            VersionName=name,
            OutputConfig={
                "S3Bucket": settings.training_bucket,
                "S3KeyPrefix": REKOGNITION_OUTPUT_PREFIX,
            },
        )["ProjectVersionArn"]
    for item in _confirmed(
        dynamodb,
        settings,
        "attribute_not_exists(trained_in) AND reviewed_at <= :cutoff",
        {":cutoff": {"S": prepared["cutoff"]}},
        projection="feedback_id",
    ):
        call(
            dynamodb,
            "update_item",
            TableName=settings.feedback_table,
            Key={"feedback_id": item["feedback_id"]},
            UpdateExpression="SET trained_in = :version",
            ExpressionAttributeValues={":version": {"S": name}},
        )
    return {"ready": True, "version_arn": arn, "version_name": name}


def _check_prepared(prepared: Any) -> None:
    """:raises BadInputError: naming what :func:`prepare_data`'s answer lacks."""
    if not isinstance(prepared, dict):
        raise BadInputError("start_training needs prepare_data's answer (an object)")
    datasets = prepared.get("datasets")
    if not (
        isinstance(datasets, list)
        and len(datasets) == 2
        and all(isinstance(a, str) and "/dataset/" in a for a in datasets)
    ):
        raise BadInputError(f"datasets must be the train and test dataset ARNs, not {datasets!r}")
    run = prepared.get("run")
    if not isinstance(run, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,240}", run):
        raise BadInputError(f"run must be a version-name suffix, not {run!r}")
    cutoff = prepared.get("cutoff")
    try:
        datetime.fromisoformat(cutoff if isinstance(cutoff, str) else "")
    except (TypeError, ValueError):
        raise BadInputError(f"cutoff must be an ISO 8601 instant, not {cutoff!r}") from None


def training_status(rekognition: Any, settings: Settings, version_name: str) -> dict[str, Any]:
    """``{"status": Rekognition's status, "message": its status message}``."""
    versions = _versions(rekognition, settings, VersionNames=[version_name])
    if not versions:
        return {"status": "MISSING", "message": f"no version {version_name} in the project"}
    return {"status": versions[0]["Status"], "message": versions[0].get("StatusMessage", "")}


# --- 5. evaluation and promotion --------------------------------------------------------


@dataclass(frozen=True)
class LabelScore:
    label: str
    precision: float
    recall: float
    f1: float
    threshold: float
    test_images: int


@dataclass(frozen=True)
class Evaluation:
    version_arn: str
    f1: float
    labels: list[LabelScore]


def read_evaluation(s3: Any, description: dict[str, Any]) -> Evaluation | None:
    """Per-label scores of a version from its evaluation summary in S3; None before training ends.

    Summary format: https://docs.aws.amazon.com/rekognition/latest/customlabels-dg/im-summary-file-api.html
    """
    result = description.get("EvaluationResult")
    if not result:
        return None
    location = result["Summary"]["S3Object"]
    body = call(s3, "get_object", Bucket=location["Bucket"], Key=location["Name"])["Body"]
    try:
        raw = body.read()
    except (*TRANSIENT_SDK_ERRORS, ResponseStreamingError, IncompleteReadError) as exc:
        # After the 200 the body may still time out: retried like any transient failure.
        raise RetryableError(f"get_object body: {type(exc).__name__}") from exc
    try:
        summary = json.loads(raw)
    except ValueError:
        raise IncompleteEvaluationError("the evaluation summary is not JSON") from None
    try:
        labels = [
            LabelScore(
                label=str(item["Label"]),
                precision=_share(item["Metrics"]["Precision"], "Precision"),
                recall=_share(item["Metrics"]["Recall"], "Recall"),
                f1=_share(item["Metrics"]["F1Score"], "F1Score"),
                threshold=float(item["Metrics"]["Threshold"]),
                test_images=int(item.get("NumberOfTestingImages", 0)),
            )
            for item in summary.get("LabelEvaluationResults", [])
        ]
        overall = summary.get("AggregatedEvaluationResults", {}).get(
            "F1Score", result.get("F1Score")
        )
        f1 = _share(overall, "F1Score")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IncompleteEvaluationError(f"the evaluation summary is incomplete: {exc}") from None
    if not labels:
        raise IncompleteEvaluationError("the evaluation summary has no per-label results")
    return Evaluation(description["ProjectVersionArn"], f1, sorted(labels, key=lambda x: x.label))


def _share(value: Any, name: str) -> float:
    """A score Rekognition gives as a share of 1; NaN, negative or over 1 (a percent
    written as 93.0) cannot be one. :raises ValueError: naming it."""
    number = float(value)
    if not math.isfinite(number) or not 0 <= number <= 1:
        raise ValueError(f"{name} {value!r} is not a share between 0 and 1")
    return number


def _name(arn: str) -> str:
    return arn.split("/version/")[-1].split("/")[0]


def report(new: Evaluation, active: Evaluation | None) -> str:
    """A plain-text per-label table (for the notification e-mail)."""
    rows = [f"{'label':<24} {'new F1':>7} {'active F1':>9} {'change':>7} {'test images':>11}"]
    old = {score.label: score for score in (active.labels if active else [])}
    for score in new.labels:
        before = old.get(score.label)
        change = f"{score.f1 - before.f1:+.3f}" if before else "new"
        rows.append(
            f"{score.label:<24} {score.f1:>7.3f} "
            f"{(f'{before.f1:.3f}' if before else '-'):>9} {change:>7} {score.test_images:>11}"
        )
    active_f1 = f"{active.f1:.3f}" if active else "-"
    rows.append(f"{'overall':<24} {new.f1:>7.3f} {active_f1:>9}")
    return "\n".join(rows)


TRAINED = frozenset({"TRAINING_COMPLETED", "RUNNING", "STARTING", "STOPPING", "STOPPED"})
"""Statuses of a version whose training succeeded."""


def _refused(reason: str, new_f1: float | None, active_arn: str | None) -> dict[str, Any]:
    return {
        "promote": False,
        "reason": reason,
        "new_f1": new_f1,
        "active_f1": None,
        "active_version_arn": active_arn,
        "labels": [],
        "report": reason,
    }


def evaluate(
    rekognition: Any, s3: Any, dynamodb: Any, settings: Settings, version_name: str
) -> dict[str, Any]:
    """Compare the new version with the active one, label by label.

    Never promotes on incomplete or impossible evidence, and says why: a training that
    did not complete, a summary that is partial (no per-label results) or holds
    figures that cannot be (NaN, a percent written as 93.0), a new version that lacks
    a label the active one has. An active version with no readable evaluation is
    said so: the new one is then judged by ``min_f1`` alone.

    :returns: ``{"promote": bool, "reason", "new_f1", "active_f1" (or None),
        "active_version_arn" (or None), "labels": [names], "report": text table}``.
    :raises EvaluationMissingError: a completed version without a summary yet.
    """
    [new_description] = _versions(rekognition, settings, VersionNames=[version_name]) or [{}]
    active_arn = pointer.read(partial(call, dynamodb, "get_item"), settings.model_usage_table).arn
    status = new_description.get("Status", "MISSING")
    if status not in TRAINED:
        return _refused(
            f"version {version_name} is {status}: its training did not complete", None, active_arn
        )
    try:
        new = read_evaluation(s3, new_description)
    except IncompleteEvaluationError as exc:
        return _refused(f"version {version_name}: {exc}; not promoted", None, active_arn)
    if new is None:
        raise EvaluationMissingError(f"version {version_name} has no evaluation summary")
    active = None
    active_note = ""
    if active_arn:
        described = _versions(rekognition, settings, VersionNames=[_name(active_arn)])
        try:
            active = read_evaluation(s3, described[0]) if described else None
        except IncompleteEvaluationError:
            active = None
        if active is None:
            active_note = (
                f"; the active version {_name(active_arn)} has no readable evaluation to "
                f"compare with, so only min_f1 {settings.min_f1} was checked"
            )
    missing = (
        sorted({x.label for x in active.labels} - {x.label for x in new.labels}) if active else []
    )
    if missing:
        promote, reason = False, f"it lacks label(s) the active version has: {', '.join(missing)}"
    elif new.f1 < settings.min_f1:
        promote, reason = False, f"F1 {new.f1:.3f} is under min_f1 {settings.min_f1}"
    elif active is not None and new.f1 < active.f1 - settings.max_f1_drop:
        promote = False
        reason = (
            f"F1 {new.f1:.3f} is more than {settings.max_f1_drop} below the active "
            f"version's {active.f1:.3f}"
        )
    else:
        promote = True
        reason = (
            f"F1 {new.f1:.3f} against the active version's {active.f1:.3f}"
            if active
            else f"F1 {new.f1:.3f}" + (active_note or "; no version was active")
        )
    return {
        "promote": promote,
        "reason": reason,
        "new_f1": new.f1,
        "active_f1": active.f1 if active else None,
        "active_version_arn": active_arn,
        "labels": [score.label for score in new.labels],
        "report": report(new, active),
    }


def promote(
    dynamodb: Any,
    settings: Settings,
    version_arn: str,
    evaluation: dict[str, Any],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """Point the stage at ``version_arn`` (the item ``tools.models promote`` writes).

    Safe to retry: a write that landed but whose answer was lost finds the pointer
    already naming this version, and succeeds again.

    :raises PromotionRefusedError: ``version_arn`` is empty or not a version of this
        project, or ``evaluation`` did not clear it (``promote`` is not true).
    :raises PointerChangedError: the active version is no longer the one evaluated against.
    """
    project = settings.project_arn.rsplit("/", 1)[0]  # arn:...:project/<name>
    if not isinstance(version_arn, str) or not version_arn.startswith(f"{project}/version/"):
        raise PromotionRefusedError(f"{version_arn!r} is not a version of project {project}")
    if evaluation.get("promote") is not True:
        raise PromotionRefusedError(
            f"the evaluation did not clear {_name(version_arn)}: {evaluation.get('reason')}"
        )
    pointer.write(
        partial(call, dynamodb, "put_item"),
        settings.model_usage_table,
        version_arn,
        expected=evaluation.get("active_version_arn"),
        promoted_by="retraining workflow",
        f1=evaluation["new_f1"],
        labels=evaluation["labels"],
        now=now,
    )
    return {"promoted": version_arn, "version_name": _name(version_arn)}
