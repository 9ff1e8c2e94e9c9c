"""Lambda entry points of the retraining workflow, one per step of :mod:`retraining.steps`.

Each function gets the execution's state (the state machine passes what it
needs) and returns the step's answer; an exception fails the step, with the
exception's class name as the Step Functions error (``RetryableError`` is
retried by the workflow, everything else is caught and notified).
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config
from shared import environment

from retraining import steps

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
metrics = Metrics()
CONFIG = Config(
    connect_timeout=2, read_timeout=20, retries={"mode": "standard", "total_max_attempts": 3}
)


@cache
def settings() -> steps.Settings:
    """Read once per container from the environment the stack sets."""
    return environment.load(steps.Settings, os.environ)


@cache
def client(name: str) -> Any:
    return boto3.client(name, config=CONFIG)


@logger.inject_lambda_context
def preflight(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """In: ``{"execution_id", "input": the execution's input}``."""
    return steps.preflight(
        client("stepfunctions"), client("rekognition"), client("dynamodb"), settings(), event
    )


@logger.inject_lambda_context
def prepare_data(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """In: ``{"run": the execution's name}``."""
    answer = steps.prepare_data(
        client("s3"), client("rekognition"), client("dynamodb"), settings(), event["run"]
    )
    logger.info("manifests written", extra=answer)
    return answer


REFRESH_RESERVE_MS = 60_000
"""Time kept back from the step's timeout: the last batch of vectors is written in it."""


@logger.inject_lambda_context
def refresh_index(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """In: nothing it reads. Stops before the function's timeout with ``complete: false``;
    the workflow runs it again (what was written stays)."""
    answer = steps.refresh_index(
        client("s3"),
        client("bedrock-runtime"),
        client("s3vectors"),
        client("dynamodb"),
        settings(),
        should_stop=lambda: context.get_remaining_time_in_millis() < REFRESH_RESERVE_MS,
    )
    logger.info("photo index refreshed", extra=answer)
    return answer


@logger.inject_lambda_context
def start_training(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """In: :func:`retraining.steps.prepare_data`'s answer."""
    return steps.start_training(client("rekognition"), client("dynamodb"), settings(), event)


@logger.inject_lambda_context
def training_status(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """In: ``{"version_name"}``."""
    return steps.training_status(client("rekognition"), settings(), event["version_name"])


@logger.inject_lambda_context
@metrics.log_metrics
def evaluate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """In: ``{"version_name"}``. Publishes ``CandidateF1`` (and ``ActiveF1``) as metrics."""
    answer = steps.evaluate(
        client("rekognition"), client("s3"), client("dynamodb"), settings(), event["version_name"]
    )
    metrics.add_metric(name="CandidateF1", unit=MetricUnit.NoUnit, value=answer["new_f1"])
    if answer["active_f1"] is not None:
        metrics.add_metric(name="ActiveF1", unit=MetricUnit.NoUnit, value=answer["active_f1"])
    logger.info("evaluated", extra={k: v for k, v in answer.items() if k != "report"})
    return answer


@logger.inject_lambda_context
@metrics.log_metrics
def promote(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """In: ``{"version_arn", "evaluation": evaluate's answer}``."""
    answer = steps.promote(
        client("dynamodb"), settings(), event["version_arn"], event["evaluation"]
    )
    metrics.add_metric(name="RetrainingPromotions", unit=MetricUnit.Count, value=1)
    return answer
