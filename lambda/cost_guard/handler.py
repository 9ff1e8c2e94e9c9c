"""Scheduled cost guard: stop idle models, enforce the daily cap, honour keep-warm windows.

With the stage's ``policy: adaptive`` the active version is steered by
:func:`cost_guard.adaptive.decide_adaptive` instead: the guard folds the demand
minutes the inference API appended to the version's usage item into its
bounded summary, decides (which may START a stopped model ahead of predicted
demand, under the same daily cap), and writes the summary back.

Runs every ``schedule_period_minutes`` (EventBridge). For every version of
the stage's Custom Labels project (``DescribeProjectVersions``, paginated) it
brings the version's usage record up to date (:func:`cost_guard.policy.accrue`),
asks :func:`cost_guard.policy.decide` and calls ``StopProjectVersion`` or
``StartProjectVersion``. An error on one version (throttling,
``ResourceInUseException``...) is logged, counted and reported, and the
others are still handled. Every decision is logged as structured JSON;
actions and errors go to the SNS topic. Running it twice in a row changes
nothing more: a stopped or stopping model is left alone.

Environment (set by ``stacks/service/cost_guard.py``): ``PROJECT_ARN``,
``MODEL_USAGE_TABLE``, ``TOPIC_ARN``, ``POLICY_SETTINGS`` (JSON of the stage
config's policy fields), plus Powertools' ``POWERTOOLS_*`` variables.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from cost_guard.adaptive import AdaptiveSettings, UseSummary, decide_adaptive
from cost_guard.policy import Action, Decision, ModelVersion, PolicySettings, accrue, decide
from cost_guard.usage_store import MAX_FOLDED, read_active_version, read_record, write_accounting

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@dataclass(frozen=True)
class GuardEnvironment:
    """The function's configuration, parsed once per container."""

    project_arn: str
    usage_table: str
    topic_arn: str
    settings: PolicySettings

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GuardEnvironment:
        """:raises ValueError: naming the missing or malformed variable."""
        missing = [
            k
            for k in ("PROJECT_ARN", "MODEL_USAGE_TABLE", "TOPIC_ARN", "POLICY_SETTINGS")
            if not env.get(k)
        ]
        if missing:
            raise ValueError(f"missing environment variables: {', '.join(missing)}")
        try:
            settings = PolicySettings.from_mapping(json.loads(env["POLICY_SETTINGS"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"POLICY_SETTINGS is not valid policy JSON: {exc!r}") from None
        return cls(env["PROJECT_ARN"], env["MODEL_USAGE_TABLE"], env["TOPIC_ARN"], settings)


@dataclass(frozen=True)
class Outcome:
    """What happened to one project version on one run."""

    arn: str
    status: str
    decision: Decision | None
    unit_hours_today: float
    error: str | None = None

    @property
    def acted(self) -> bool:
        return (
            self.error is None and self.decision is not None and self.decision.action != Action.KEEP
        )

    def as_log(self) -> dict[str, Any]:
        return {
            "project_version_arn": self.arn,
            "status": self.status,
            "action": self.decision.action.value if self.decision else None,
            "reason": self.decision.reason if self.decision else None,
            "detail": self.decision.detail if self.decision else None,
            "unit_hours_today": round(self.unit_hours_today, 3),
            "error": self.error,
        }


def list_versions(rekognition: Any, project_arn: str) -> list[dict[str, Any]]:
    """Every version of the project (``DescribeProjectVersions``, all pages)."""
    paginator = rekognition.get_paginator("describe_project_versions")
    return [
        version
        for page in paginator.paginate(ProjectArn=project_arn)
        for version in page.get("ProjectVersionDescriptions", [])
    ]


def fold(summary: UseSummary, minutes: list[int]) -> UseSummary:
    """The summary after the demand minutes the inference API recorded (epoch minutes)."""
    for minute in sorted(minutes):
        summary = summary.observe(datetime.fromtimestamp(minute * 60, UTC))
    return summary


def _handle_version(
    now: datetime,
    version: Mapping[str, Any],
    active: str | None,
    env: GuardEnvironment,
    rekognition: Any,
    dynamodb: Any,
) -> Outcome:
    arn = str(version.get("ProjectVersionArn", "unknown"))
    status = str(version.get("Status", "UNKNOWN"))
    unit_hours = 0.0
    try:
        units = int(version.get("MinInferenceUnits") or env.settings.min_inference_units)
        usage, summary, recent = read_record(dynamodb, env.usage_table, arn)
        usage = accrue(usage, now, status, env.settings.billing)
        # Known before any call that can fail: the over-cap alarm sees the real figure.
        unit_hours = usage.minutes_today / 60 * units
        model = ModelVersion(
            arn=arn, status=status, inference_units=units, is_active=arn == active, usage=usage
        )
        folded = recent[:MAX_FOLDED]
        adaptive = env.settings.policy == "adaptive"
        if adaptive:
            summary = fold(summary, folded)
            decision = decide_adaptive(
                now,
                model,
                env.settings,
                AdaptiveSettings.from_mapping(dict(env.settings.adaptive)),
                summary,
                env.settings.schedule_period_minutes,
            )
        else:
            decision = decide(now, model, env.settings)
        if decision.action == Action.STOP:
            rekognition.stop_project_version(ProjectVersionArn=arn)
        elif decision.action == Action.START:
            rekognition.start_project_version(
                ProjectVersionArn=arn, MinInferenceUnits=env.settings.min_inference_units
            )
            usage = replace(usage, start_requested_at=now)  # its latency is measured
        write_accounting(
            dynamodb,
            env.usage_table,
            arn,
            usage,
            summary if adaptive else None,
            len(folded) if adaptive else 0,
        )
        return Outcome(arn, status, decision, usage.minutes_today / 60 * units)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        message = f"{error.get('Code')}: {error.get('Message')}"
        return Outcome(arn, status, None, unit_hours, message)
    except BotoCoreError as exc:
        return Outcome(arn, status, None, unit_hours, f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        return Outcome(arn, status, None, unit_hours, f"unexpected {type(exc).__name__}: {exc}")


def run_guard(
    now: datetime, env: GuardEnvironment, *, rekognition: Any, dynamodb: Any, sns: Any
) -> list[Outcome]:
    """Apply the policy to every version of the project; never stops at one failure.

    :returns: one :class:`Outcome` per version, in Rekognition's order.
    :raises ClientError: only if the versions cannot be listed at all.
    """
    active = read_active_version(dynamodb, env.usage_table)
    outcomes = [
        _handle_version(now, version, active, env, rekognition, dynamodb)
        for version in list_versions(rekognition, env.project_arn)
    ]
    for outcome in outcomes:
        if outcome.error:
            logger.error("cost guard could not handle a model version", extra=outcome.as_log())
        else:
            logger.info("cost guard decision", extra=outcome.as_log())
    notable = [o for o in outcomes if o.acted or o.error]
    if notable:
        sns.publish(
            TopicArn=env.topic_arn,
            Subject="Rekognition cost guard: model actions",
            Message=json.dumps([o.as_log() for o in notable], indent=2),
        )
    return outcomes


@cache
def _environment() -> GuardEnvironment:
    return GuardEnvironment.from_env(os.environ)


@cache
def _clients() -> tuple[Any, Any, Any]:
    return boto3.client("rekognition"), boto3.client("dynamodb"), boto3.client("sns")


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context
def lambda_handler(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    """EventBridge scheduled event in; a summary of the run out."""
    rekognition, dynamodb, sns = _clients()
    outcomes = run_guard(
        datetime.now(UTC), _environment(), rekognition=rekognition, dynamodb=dynamodb, sns=sns
    )
    counts = {
        "ModelsStopped": sum(
            o.acted and o.decision is not None and o.decision.action == Action.STOP
            for o in outcomes
        ),
        "ModelsStarted": sum(
            o.acted and o.decision is not None and o.decision.action == Action.START
            for o in outcomes
        ),
        "ModelErrors": sum(o.error is not None for o in outcomes),
    }
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    running = [o.unit_hours_today for o in outcomes if o.status == "RUNNING"]
    metrics.add_metric(
        name="MaxUnitHoursToday", unit=MetricUnit.Count, value=max(running, default=0.0)
    )
    return {"versions": len(outcomes), **counts}
