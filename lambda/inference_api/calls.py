"""Calls to AWS: clients with time budgets, the function's settings, per-container state.

Every AWS call of the API goes through :func:`aws`, which maps failures to the
API's answers (:mod:`inference_api.errors`) and does not start a call that
could outlive the invocation. Plain functions over injected boto3 clients
(:class:`Clients`), so tests call them with botocore ``Stubber`` and moto.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, StubResponseError

from inference_api.errors import ApiError, from_aws, unavailable

RESERVE_SECONDS = 1.5
"""Time kept back from the function's timeout to log and answer after the last AWS call."""


@dataclass(frozen=True)
class ClientBudget:
    """Timeouts and retries of one AWS client, and the longest a call can take with them.

    botocore's standard retry mode waits ``rand(0, 1) * min(2 ** i, 20)``
    seconds before retry ``i`` when throttled (less otherwise):
    https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
    """

    connect_timeout: float
    read_timeout: float
    max_attempts: int

    @property
    def worst_case_seconds(self) -> float:
        backoff = float(sum(min(2 ** (i + 1), 20) for i in range(self.max_attempts - 1)))
        return self.max_attempts * (self.connect_timeout + self.read_timeout) + backoff

    def config(self, **extra: Any) -> Config:
        return Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": "standard", "total_max_attempts": self.max_attempts},
            **extra,
        )


BUDGETS = {
    # DetectCustomLabels on a 4 MB image answers in seconds; 6 s without a byte is a hang.
    "rekognition": ClientBudget(connect_timeout=1, read_timeout=6, max_attempts=2),
    "s3": ClientBudget(connect_timeout=1, read_timeout=2, max_attempts=2),
    "dynamodb": ClientBudget(connect_timeout=1, read_timeout=2, max_attempts=2),
    # One image embedding answers in about a second; a provisional answer that is late
    # is worth less than the 503 it replaces.
    "bedrock": ClientBudget(connect_timeout=1, read_timeout=4, max_attempts=2),
    "s3vectors": ClientBudget(connect_timeout=1, read_timeout=2, max_attempts=2),
}
"""Per client: every call either ends within ``worst_case_seconds`` or is not
started (:func:`aws`), so a hung call is the handler's own 503, never a Lambda
timeout. Worst cases: Rekognition 16 s, Bedrock 12 s, S3, DynamoDB and S3 Vectors
8 s each."""


@dataclass(frozen=True)
class Settings:
    """The function's configuration: one environment variable per field, all set by the
    stack from the stage's config (:func:`shared.environment.load` reads them)."""

    project_arn: str
    model_usage_table: str
    uploads_bucket: str
    auto_start: bool = field(metadata={"env": "AUTO_START_ON_DEMAND"})
    min_inference_units: int
    upload_url_expiry_seconds: int
    training_bucket: str
    feedback_table: str
    review_below_confidence: float
    """Percent: a labels answer whose best label is under it is queued for review (0: never)."""
    daily_unit_hour_cap: float
    """The stage's spend limit: a stopped model is not started once today's is billed."""
    sustained_minutes_with_requests: int
    """0: start a stopped model at the first request; N: only once requests came in N
    different minutes of the last ``sustained_within_minutes``."""
    sustained_within_minutes: int
    provisional_enabled: bool
    """Answer provisionally from the photo index while the model is not RUNNING."""
    provisional_k: int
    provisional_min_similarity: float
    embedding_model: str
    """A key of :data:`shared.embeddings.MODELS`."""
    photo_index_arn: str
    """The S3 Vectors index of the labelled photos ("" without provisional answers)."""
    usd_per_inference_unit_hour: float


@dataclass
class Clients:
    """boto3 clients, and the seconds the current invocation has left (``time_left``)."""

    rekognition: Any
    s3: Any
    dynamodb: Any
    time_left: Callable[[], float] = lambda: math.inf
    bedrock: Any = None
    """``bedrock-runtime`` (made only when the stage answers provisionally)."""
    s3vectors: Any = None


@dataclass
class State:
    """Per-container caches: the model pointer (briefly) and last usage writes.

    :ivar on_usage_write_failure: told when recording a model's use failed
        (the answer is still returned: the inference was billed).
    """

    clock: Callable[[], float] = time.time
    pointer: tuple[float, str | None] | None = None
    usage_written: dict[str, float] = field(default_factory=dict)
    on_usage_write_failure: Callable[[ApiError], None] | None = None
    known_labels: frozenset[str] = frozenset()
    """Labels of the promoted version (the pointer item's ``labels``), read with the pointer."""
    on_review_queue_failure: Callable[[ApiError], None] | None = None
    """Told when a low-confidence answer could not be queued for review (the answer stands)."""
    on_provisional_failure: Callable[[str, str | None], None] | None = None
    """Told (reason, cause) when no provisional answer could be given (the 503 stands)."""


def aws(clients: Clients, service: str, operation: str, **params: Any) -> Any:
    """Call ``operation`` (boto3 method name) on one client, mapped to :class:`ApiError`.

    A call that could outlive the invocation (its client's worst case is
    more than the time left, less :data:`RESERVE_SECONDS`) is not started.

    :raises ApiError: :func:`inference_api.errors.from_aws`'s answer, or 503
        ``upstream_unavailable`` when there is no time left for the call.
    """
    budget = BUDGETS[service]
    left = clients.time_left() - RESERVE_SECONDS
    if left < budget.worst_case_seconds:
        raise unavailable(
            f"{operation}: not started, {left:.1f} s left < worst case "
            f"{budget.worst_case_seconds:.0f} s",
            "DeadlineExceeded",
        )
    try:
        return getattr(getattr(clients, service), operation)(**params)
    except (ClientError, BotoCoreError) as exc:
        if isinstance(exc, StubResponseError):  # botocore Stubber's mismatch: a test's bug
            raise
        raise from_aws(exc, operation) from None
