"""Typed, validated configuration of one deployment stage.

``app.py`` reads the ``stages`` map from the CDK context (``cdk.json``) and
hands each entry to :func:`load_stage_configs`; every other module receives a
:class:`StageConfig` and never reads context or the environment itself.

A bad value fails synth with a :class:`ConfigError` whose message names the
key (``stages.dev.idle_stop_minutes``), the value that was given and what is
allowed, so that nobody has to read a pydantic traceback to fix ``cdk.json``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from shared.embeddings import MODELS

STAGE_NAME_PATTERN = r"^[a-z][a-z0-9]{1,15}$"
"""Stage names: lower-case letters and digits, 2-16 characters, starting with a letter.

They become part of stack names (``Dev-Data``), Rekognition project names and
collection ids, so they are kept to characters every one of those accepts.
"""

LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
"""The retention periods CloudWatch Logs accepts, in days.

Source: ``PutRetentionPolicy`` in the CloudWatch Logs API reference
(https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html).
"""

Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class ConfigError(ValueError):
    """A stage configuration in ``cdk.json`` is missing, unknown or invalid.

    The message is meant for a person: it names the context key, the value
    found and what is allowed, one problem per line.
    """


class _Strict(BaseModel):
    """Base for every config model: unknown keys are errors, objects are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class KeepWarmWindow(_Strict):
    """A weekly time range during which a model is kept running (or started).

    ``days`` are weekdays in ``time_zone`` (an IANA name such as
    ``Asia/Tokyo``); ``start`` and ``end`` are ``HH:MM`` local times with
    ``start < end`` (a window never crosses midnight: use two windows).
    """

    days: list[Weekday] = Field(min_length=1)
    start: time
    end: time
    time_zone: str = "UTC"

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone; use an IANA name such as 'Asia/Tokyo' or 'UTC' ({exc})"
            ) from None
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> KeepWarmWindow:
        if self.start >= self.end:
            raise ValueError(
                f"start {self.start:%H:%M} must be before end {self.end:%H:%M}; "
                "a window cannot cross midnight, split it in two"
            )
        return self


class ApiThrottling(_Strict):
    """API Gateway stage throttling: steady ``rate_limit`` (requests/s) and ``burst_limit``.

    Account default quota is 10,000 requests/s per region
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
    """

    rate_limit: float = Field(default=20.0, gt=0, le=10_000)
    burst_limit: int = Field(default=40, ge=1, le=5_000)


class AdaptivePolicy(_Strict):
    """Parameters of the adaptive idle policy (``cost_guard.adaptive``; rules and
    sources in its docstrings). Probabilities are shares (0-1); minutes are minutes."""

    start_latency_minutes: int = Field(default=10, ge=1, le=60)
    """How long a Custom Labels model takes to start (minutes; up to about 30)."""
    stop_probability: float = Field(default=0.01, gt=0, lt=0.5)
    start_probability: float = Field(default=0.2, gt=0, lt=1)
    catch_probability: float = Field(default=0.8, gt=0, le=1)
    weekly_pre_start: bool = False
    weekly_threshold: float = Field(default=0.5, gt=0, le=1)
    daily_threshold: float = Field(default=3 / 7, ge=0, le=1)
    min_weeks: int = Field(default=1, ge=1, le=8)
    min_days: int = Field(default=3, ge=1, le=7)
    min_gaps: int = Field(default=12, ge=2, le=1000)
    max_beyond_share: float = Field(default=0.5, gt=0, le=1)
    min_cv: float = Field(default=2.0, ge=0, le=10)


class FeedbackSettings(_Strict):
    """Feedback from the phone (``POST /v1/feedback``) and the review queue."""

    review_below_confidence: float = Field(default=50, ge=0, le=100)
    """Percent: a labels answer whose best label is under it is queued for review
    (its photo copied into the training data, pending); 0 turns this off."""


class CodesSettings(_Strict):
    """The code reader (``POST /v1/codes``): QR codes, barcodes and ISBNs, with no model."""

    text_fallback: bool = False
    """Read printed ISBNs (``ISBN 978-4-...``) with Rekognition DetectText when no barcode
    gave one: billed per image (https://aws.amazon.com/rekognition/pricing/), no model."""


SCHEDULE_PATTERN = r"^(rate\(([1-9]\d*) (minute|minutes|hour|hours|day|days)\)|cron\([^()]+\))$"
"""EventBridge schedule expressions: ``rate(7 days)`` or ``cron(0 18 ? * SUN *)``
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html)."""


class RetrainingSettings(_Strict):
    """The retraining workflow (``<Stage>-Service``'s Step Functions state machine).

    Training costs money (per training hour: https://aws.amazon.com/rekognition/pricing/):
    ``enabled: false`` leaves the schedule off; the workflow can still be started by hand.
    """

    enabled: bool = False
    schedule: str = Field(default="rate(7 days)", pattern=SCHEDULE_PATTERN)
    """When the workflow looks for confirmed feedback (EventBridge schedule expression)."""
    min_confirmed_items: int = Field(default=20, ge=1, le=100_000)
    """Train only when at least this many confirmed items are not yet in a model."""
    dataset_prefix: str = Field(
        default="datasets/main", pattern=r"^datasets/[A-Za-z0-9_\-][A-Za-z0-9_.\-/]{0,200}$"
    )
    """Key prefix of the base training images in the training bucket, one folder per label
    (what ``tools.models upload --prefix`` wrote); under ``datasets/``, which is all the
    workflow may read besides ``feedback/``."""
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    max_f1_drop: float = Field(default=0.02, ge=0, le=1)
    """Promote only when the new version's F1 is at most this much below the active one's."""
    min_f1: float = Field(default=0.8, ge=0, le=1)
    """Never promote a version under this F1 (also when no version is active yet)."""
    poll_minutes: int = Field(default=15, ge=1, le=120)
    """How often a training's status is read (training takes 30 minutes to many hours)."""
    base_manifest: str | None = Field(
        default=None, pattern=r"^datasets/[A-Za-z0-9_\-][A-Za-z0-9_.\-/]{0,200}\.manifest$"
    )
    """Object detection: the key of the base images' Ground Truth object-detection manifest
    (``tools.models manifest --annotations``, uploaded under ``datasets/``); the workflow
    adds the confirmed feedback's boxes to it."""


class ProvisionalSettings(_Strict):
    """Provisional labels while the model is not RUNNING: the photo's embedding (Amazon
    Bedrock, billed per image) matched against the project's labelled photos in an S3
    Vectors index; the ``k`` nearest vote (``docs/provisional.md``)."""

    enabled: bool = False
    k: int = Field(default=5, ge=1, le=30)
    """Neighbours asked for (QueryVectors' ``topK``); the nearest of them vote."""
    min_similarity: float = Field(default=0.6, gt=0, le=1)
    """Cosine similarity a neighbour needs to vote; none close enough: no provisional answer."""
    embedding_model: Literal["titan-multimodal-g1", "nova-multimodal-v1"] = "titan-multimodal-g1"
    """The Bedrock model (``lambda/shared/embeddings.py`` has its id, Regions and limits)."""


class SustainedDemand(_Strict):
    """What ``auto_start_on_demand: sustained`` waits for before it starts a stopped model:
    requests in at least ``minutes_with_requests`` different minutes of the last
    ``within_minutes`` (one person sending ten photos in one minute is not sustained)."""

    minutes_with_requests: int = Field(default=3, ge=2, le=60)
    within_minutes: int = Field(default=15, ge=2, le=60)

    @model_validator(mode="after")
    def _fits(self) -> SustainedDemand:
        if self.minutes_with_requests > self.within_minutes:
            raise ValueError(
                f"minutes_with_requests ({self.minutes_with_requests}) cannot be more than "
                f"within_minutes ({self.within_minutes})"
            )
        return self


CUSTOM_LABELS_REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-central-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ap-northeast-2",
)
"""Regions with Amazon Rekognition Custom Labels (the Custom Labels guide's "Supported
Regions" points to https://docs.aws.amazon.com/general/latest/gr/rekognition.html). A
stage pinned elsewhere fails synth; an environment-agnostic one carries the same check
as a CloudFormation rule, so its deploy fails in its first second."""


class StageConfig(_Strict):
    """Everything that differs between stages (dev, prod, ...).

    Units are in the names: minutes, seconds, days, unit-hours (one inference
    unit running for one hour, about USD 4 for Custom Labels:
    https://aws.amazon.com/rekognition/pricing/).
    """

    name: str = Field(pattern=STAGE_NAME_PATTERN)
    account: str | None = Field(default=None, pattern=r"^\d{12}$")
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
    retain_data: bool = True
    idle_stop_minutes: int = Field(default=30, ge=5, le=24 * 60)
    schedule_period_minutes: int = Field(default=5, ge=1, le=60)
    daily_unit_hour_cap: float = Field(default=8.0, gt=0, le=24 * 32)
    keep_warm_windows: list[KeepWarmWindow] = Field(default_factory=list)
    billing: Literal["running", "from_start_request"] = "from_start_request"
    """Which minutes Rekognition bills: ``running`` (RUNNING only) or ``from_start_request``
    (STARTING too, the conservative default until measured; ``docs/cost-guard.md``, "Which
    billing applies"). The cost guard counts the daily cap with it; the simulator bills with it."""
    policy: Literal["idle_timeout", "adaptive"] = "idle_timeout"
    """``idle_timeout``: stop after ``idle_stop_minutes`` unused; ``adaptive``: learn each
    model's rhythm, stop sooner when nobody will come, pre-start before they do."""
    adaptive: AdaptivePolicy = Field(default_factory=AdaptivePolicy)
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)
    codes: CodesSettings = Field(default_factory=CodesSettings)
    retraining: RetrainingSettings = Field(default_factory=RetrainingSettings)
    project_type: Literal["classification", "object_detection"] = "classification"
    """What the Custom Labels project learns: image-level labels, or objects with boxes
    (detection). The page lets people draw boxes and the workflow builds detection
    manifests for ``object_detection``."""
    auto_start_on_demand: bool | Literal["sustained"] = True
    """Start a stopped model when a labels request finds it so: ``true`` at the first
    request, ``sustained`` once demand is sustained (:class:`SustainedDemand`), ``false``
    never (the cost guard's keep-warm windows and adaptive pre-start still do)."""
    sustained_demand: SustainedDemand = Field(default_factory=SustainedDemand)
    provisional: ProvisionalSettings = Field(default_factory=ProvisionalSettings)
    usd_per_inference_unit_hour: float = Field(default=4.0, gt=0, le=1000)
    """Custom Labels' price per inference-unit hour in the stage's Region (USD 4 in
    us-east-1, https://aws.amazon.com/rekognition/pricing/): the page's cost estimate."""
    min_inference_units: int = Field(default=1, ge=1, le=64)
    api_throttling: ApiThrottling = Field(default_factory=ApiThrottling)
    waf_enabled: bool = False
    edge_web_acl_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global/webacl/[A-Za-z0-9_-]{1,128}/[0-9a-f-]{36}$",
    )
    """A CloudFront-scope web ACL (made once in us-east-1, ``docs/deploying.md``, "The edge")
    for the page's distribution; WAF on the API's stage does not see the page's callers'
    own addresses."""
    waf_rate_limit: int = Field(default=1000, ge=10, le=2_000_000_000)
    """Requests per client IP per 5-minute window before WAF blocks (AWS minimum 10:
    https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based.html)."""
    upload_url_expiry_seconds: int = Field(default=300, ge=60, le=3600)
    upload_retention_days: int = Field(default=1, ge=1, le=365)
    log_retention_days: int = 30
    notification_email: EmailStr | None = None
    allowed_web_origins: list[str] = Field(default_factory=list)
    self_sign_up_enabled: bool = False
    login_domain_prefix: str | None = Field(
        default=None, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
    )
    """Prefix of the managed-login domain ``<prefix>.auth.<region>.amazoncognito.com``;
    unique per region across AWS, so the default is ``imgrec-<stage>-<account>``
    (https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pools-assign-domain-prefix.html)."""

    @field_validator("region")
    @classmethod
    def _custom_labels_region(cls, value: str | None) -> str | None:
        if value is not None and value not in CUSTOM_LABELS_REGIONS:
            raise ValueError(
                f"Rekognition Custom Labels is not available in {value}; use one of "
                + ", ".join(CUSTOM_LABELS_REGIONS)
            )
        return value

    @model_validator(mode="after")
    def _detection_base(self) -> StageConfig:
        if (
            self.project_type == "object_detection"
            and self.retraining.enabled
            and not self.retraining.base_manifest
        ):
            raise ValueError(
                "project_type object_detection with retraining.enabled needs "
                "retraining.base_manifest: the key of the base images' detection manifest "
                "under datasets/ (python -m tools.models manifest --annotations)"
            )
        return self

    @model_validator(mode="after")
    def _embedding_model_region(self) -> StageConfig:
        if not self.provisional.enabled or self.region is None:
            return self
        model = MODELS[self.provisional.embedding_model]
        if self.region not in model.regions:
            offered = [r for r in model.regions if r in CUSTOM_LABELS_REGIONS]
            raise ValueError(
                f"provisional.embedding_model {model.name!r} ({model.model_id}) is not "
                f"offered in {self.region}; with Custom Labels too it is in "
                + ", ".join(offered)
                + "; choose another model, another region, or provisional.enabled: false"
            )
        return self

    @field_validator("log_retention_days")
    @classmethod
    def _cloudwatch_retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(
                "CloudWatch Logs accepts only "
                + ", ".join(str(d) for d in LOG_RETENTION_DAYS)
                + " days"
            )
        return value

    @field_validator("allowed_web_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.fullmatch(
                r"https://[a-z0-9.-]+(:\d{1,5})?|http://(localhost|127\.0\.0\.1)(:\d{1,5})?",
                origin,
            ):
                raise ValueError(
                    f"{origin!r} is not an origin; use 'https://host[:port]' "
                    "(or 'http://localhost:PORT' for local preview), with no path or trailing slash"
                )
        return value

    def policy_settings(self) -> dict[str, Any]:
        """The cost guard policy's settings as JSON-ready data.

        The shape ``cost_guard.policy.PolicySettings.from_mapping`` reads; the
        stack passes it to the guard Lambda, the cost simulator uses it too.
        """
        return self.model_dump(
            mode="json",
            include={
                "idle_stop_minutes",
                "daily_unit_hour_cap",
                "min_inference_units",
                "keep_warm_windows",
                "schedule_period_minutes",
                "policy",
                "adaptive",
                "billing",
            },
        )

    @property
    def stack_prefix(self) -> str:
        """``dev`` -> ``Dev``: the prefix of this stage's stack names."""
        return self.name[:1].upper() + self.name[1:]


def _describe_error(stage: str, error: Mapping[str, Any]) -> str:
    """One readable line for a pydantic error: key, value given, what is allowed."""
    key = ".".join(["stages", stage, *(str(p) for p in error["loc"])])
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(error["loc"][:-1])
        return f"{key}: unknown key; allowed keys here: {', '.join(allowed)}"
    if error["type"] == "missing":
        return f"{key}: required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:  # a check across a stage's keys: its message names them
        return f"{key}: {message}"
    return f"{key}: got {error['input']!r}; {message}"


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model found at ``loc`` inside a StageConfig."""
    model: type[BaseModel] = StageConfig
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[str(part)].annotation
        nested = _model_in(annotation)
        if nested is None:
            break
        model = nested
    return sorted(k for k in model.model_fields if not (model is StageConfig and k == "name"))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def parse_stage(name: str, raw: Any) -> StageConfig:
    """Validate one stage's settings from ``cdk.json``.

    :param name: the stage name (the key under ``stages``).
    :param raw: that key's value; must be a JSON object.
    :raises ConfigError: with one line per invalid, unknown or missing key.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"stages.{name}: got {raw!r}; expected an object of settings")
    if "name" in raw:
        raise ConfigError(
            f"stages.{name}.name: unknown key; the stage name is the key under 'stages'"
        )
    try:
        return StageConfig.model_validate({"name": name, **raw})
    except ValidationError as exc:
        lines = [_describe_error(name, e) for e in exc.errors()]
        # The stage name itself is validated as field "name": say it plainly.
        lines = [
            line.replace(f"stages.{name}.name:", f"stage name {name!r} (a key under 'stages'):")
            for line in lines
        ]
        raise ConfigError("\n".join(lines)) from None


def load_stage_configs(stages: Any, selected: str | None = None) -> list[StageConfig]:
    """Turn the ``stages`` context object into validated configs.

    :param stages: the ``stages`` context value, ``{name: {setting: value}}``.
    :param selected: the ``stage`` context value (``-c stage=dev``), or None
        for every stage.
    :returns: the selected stage's config, or every stage's, in cdk.json order.
    :raises ConfigError: when ``stages`` is missing or empty, the selected
        stage is not defined, or any stage's settings are invalid.
    """
    if not isinstance(stages, Mapping) or not stages:
        raise ConfigError(
            f"context key 'stages': got {stages!r}; expected an object mapping stage "
            'names to settings, e.g. {"dev": {"retain_data": false}} in cdk.json'
        )
    if selected is not None:
        if selected not in stages:
            raise ConfigError(
                f"context key 'stage': got {selected!r}; defined stages are "
                f"{', '.join(sorted(stages))} (add it under 'stages' in cdk.json)"
            )
        return [parse_stage(selected, stages[selected])]
    errors: list[str] = []
    configs: list[StageConfig] = []
    for name, raw in stages.items():
        try:
            configs.append(parse_stage(str(name), raw))
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError("\n".join(errors))
    return configs


class DeliveryConfig(_Strict):
    """The opt-in delivery pipeline (context key ``delivery`` in ``cdk.json``).

    :ivar connection_arn: an AWS CodeConnections (or CodeStar Connections)
        connection to the repository's host, created and authorized once in
        the console (https://docs.aws.amazon.com/dtconsole/latest/userguide/connections.html).
    :ivar repository: ``owner/name`` on that host; :ivar branch: the branch to deliver.
    :ivar account: :ivar region: where the pipeline runs (the tooling account).
    :ivar stages: stage names in delivery order; every stage after the first
        waits for a manual approval. Each must pin ``account`` and ``region``.
    """

    connection_arn: str = Field(
        pattern=r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:"
        r"connection/[0-9a-f-]{36}$"
    )
    repository: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    branch: str = Field(default="main", min_length=1, max_length=255)
    account: str = Field(pattern=r"^\d{12}$")
    region: str = Field(pattern=r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
    stages: list[str] = Field(min_length=1)


def load_delivery_config(raw: Any, stages: list[StageConfig]) -> DeliveryConfig | None:
    """Validate the ``delivery`` context value against the defined stages.

    :param raw: the ``delivery`` value, or None when the project does not use a pipeline.
    :param stages: every stage defined under ``stages``.
    :returns: None when ``raw`` is None.
    :raises ConfigError: naming ``delivery.<key>``, the value and what is allowed; a
        delivered stage that is not defined or does not pin ``account`` and ``region``.
    """
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"delivery: got {raw!r}; expected an object of settings")
    try:
        delivery = DeliveryConfig.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key = ".".join(["delivery", *(str(p) for p in error["loc"])])
            if error["type"] == "extra_forbidden":
                allowed = ", ".join(sorted(DeliveryConfig.model_fields))
                lines.append(f"{key}: unknown key; allowed keys here: {allowed}")
            elif error["type"] == "missing":
                lines.append(f"{key}: required key is missing")
            else:
                message = str(error["msg"]).removeprefix("Value error, ")
                lines.append(f"{key}: got {error['input']!r}; {message}")
        raise ConfigError("\n".join(lines)) from None
    by_name = {stage.name: stage for stage in stages}
    errors = []
    for name in delivery.stages:
        stage = by_name.get(name)
        if stage is None:
            errors.append(
                f"delivery.stages: {name!r} is not a stage; defined: {', '.join(sorted(by_name))}"
            )
        elif not (stage.account and stage.region):
            errors.append(
                f"stages.{name}: a delivered stage must set 'account' and 'region' "
                "(the pipeline deploys to that account through its bootstrap trust)"
            )
    if len(set(delivery.stages)) != len(delivery.stages):
        errors.append(f"delivery.stages: got {delivery.stages!r}; each stage at most once")
    if errors:
        raise ConfigError("\n".join(errors))
    return delivery
