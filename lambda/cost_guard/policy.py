"""The cost guard's policy: whether to stop, start or keep one model version.

Pure functions, no AWS calls: the scheduled Lambda (``cost_guard.handler``)
and the cost simulator (``tools.cost``) call the same :func:`decide`, so the
simulator measures the policy that runs in production.

Why a policy at all: a running Amazon Rekognition Custom Labels model bills
per inference-unit hour whether or not it is used
(https://docs.aws.amazon.com/rekognition/latest/customlabels-dg/running-model.html),
and Rekognition's CloudWatch metrics carry no per-model request dimension, so
idleness comes from our own usage record (:class:`Usage`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

RUNNING = "RUNNING"
STARTABLE = frozenset({"TRAINING_COMPLETED", "STOPPED"})
"""Statuses from which ``StartProjectVersion`` may be called."""
TRANSITIONAL = frozenset(
    {"STARTING", "STOPPING", "TRAINING_IN_PROGRESS", "DELETING", "COPYING_IN_PROGRESS"}
)
"""Statuses in which Rekognition refuses start/stop: wait for the next run."""
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
STARTING = "STARTING"
BILLINGS = ("running", "from_start_request")
"""What Rekognition bills: ``running`` (RUNNING minutes only) or ``from_start_request``
(STARTING minutes too). The Custom Labels guide says only "charged for the number of
hours that your model is running"; ``from_start_request`` is the conservative default
until a team measures it (``docs/cost-guard.md``, "Which billing applies")."""
WAITING_MINUTES = 3
"""Demand recorded this recently and not served since means a client is still waiting:
the API answers a stopped or starting model with ``Retry-After: 120`` and records each
answer (at most one write a minute per container), so a waiting client shows up within
three minutes."""
MAX_LATENCIES = 5
"""Start latencies the guard keeps per version (the policy uses their median)."""


class Action(StrEnum):
    """What the guard does to a model version."""

    STOP = "stop"
    START = "start"
    KEEP = "keep"


@dataclass(frozen=True)
class KeepWarmWindow:
    """Weekly window: ``days`` (``"Mon"``..``"Sun"``) from ``start`` to ``end`` in ``time_zone``."""

    days: frozenset[str]
    start: time
    end: time
    time_zone: str = "UTC"

    def contains(self, now: datetime) -> bool:
        """Whether aware datetime ``now`` falls in ``[start, end)`` on one of ``days``, locally."""
        local = now.astimezone(ZoneInfo(self.time_zone))
        return WEEKDAYS[local.weekday()] in self.days and self.start <= local.time() < self.end


@dataclass(frozen=True)
class PolicySettings:
    """The stage settings the policy reads (from ``cdk.json`` via the stack).

    :ivar idle_stop_minutes: stop a running model unused for this long.
    :ivar daily_unit_hour_cap: inference-unit hours per model per UTC day.
    :ivar min_inference_units: units a model is started with.
    :ivar keep_warm_windows: windows in which the active model is kept or started.
    :ivar policy: ``idle_timeout`` (:func:`decide`) or ``adaptive``
        (:func:`cost_guard.adaptive.decide_adaptive`).
    :ivar adaptive: the adaptive policy's parameters, as the stage config gives them.
    :ivar schedule_period_minutes: how often the guard runs (the policy's clock tick).
    :ivar billing: one of :data:`BILLINGS`: which minutes the daily cap counts.
    """

    idle_stop_minutes: int
    daily_unit_hour_cap: float
    min_inference_units: int = 1
    keep_warm_windows: tuple[KeepWarmWindow, ...] = ()
    policy: str = "idle_timeout"
    adaptive: tuple[tuple[str, Any], ...] = ()
    schedule_period_minutes: int = 5
    billing: str = "from_start_request"

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> PolicySettings:
        """Build from the stage config's JSON form (as the stack passes it in the environment).

        :raises KeyError, ValueError: on a missing or malformed setting.
        """
        windows = tuple(
            KeepWarmWindow(
                days=frozenset(w["days"]),
                start=time.fromisoformat(w["start"]),
                end=time.fromisoformat(w["end"]),
                time_zone=w.get("time_zone", "UTC"),
            )
            for w in raw.get("keep_warm_windows", [])
        )
        return cls(
            idle_stop_minutes=int(raw["idle_stop_minutes"]),
            daily_unit_hour_cap=float(raw["daily_unit_hour_cap"]),
            min_inference_units=int(raw.get("min_inference_units", 1)),
            keep_warm_windows=windows,
            policy=str(raw.get("policy", "idle_timeout")),
            adaptive=tuple(sorted(dict(raw.get("adaptive") or {}).items())),
            schedule_period_minutes=int(raw.get("schedule_period_minutes", 5)),
            billing=str(raw.get("billing", "from_start_request")),
        )

    def in_keep_warm_window(self, now: datetime) -> bool:
        return any(w.contains(now) for w in self.keep_warm_windows)


@dataclass(frozen=True)
class Usage:
    """What we know of one model version's use (one item of the model usage table).

    :ivar last_inference_at: last successful inference (written by the API).
    :ivar running_since: when the guard (or a start) first saw it RUNNING.
    :ivar minutes_today: minutes RUNNING on ``day`` (UTC) accounted so far.
    :ivar day: the UTC date ``minutes_today`` belongs to.
    :ivar accounted_at: up to when ``minutes_today`` is accounted (None while not billed).
    :ivar last_demand_at: the last request answered 503 (written by the API on every
        answer, retries included): with no inference since, a client is waiting.
    :ivar start_requested_at: when the running start was asked for (by the API or the guard).
    :ivar checked_at: the guard's previous run (the latest instant known not billed).
    :ivar start_latencies: minutes from a start request to the first run that saw it
        RUNNING, the last :data:`MAX_LATENCIES` measured.
    :ivar minutes_month: billed minutes in ``month`` (UTC, ``YYYY-MM``) accounted so far:
        the page's "this month" (an estimate from the guard's clock, not the bill).
    :ivar demand_window: epoch minutes with demand (the API's, oldest first), which
        ``sustained`` auto-start reads; the guard keeps the last
        :data:`DEMAND_WINDOW_MINUTES` of them.
    """

    last_inference_at: datetime | None = None
    running_since: datetime | None = None
    minutes_today: float = 0.0
    day: date | None = None
    accounted_at: datetime | None = None
    last_demand_at: datetime | None = None
    start_requested_at: datetime | None = None
    checked_at: datetime | None = None
    start_latencies: tuple[float, ...] = ()
    minutes_month: float = 0.0
    month: str | None = None
    demand_window: tuple[int, ...] = ()


DEMAND_WINDOW_MINUTES = 60
"""How much of ``demand_window`` the guard keeps (``sustained_demand.within_minutes`` is at
most 60)."""


@dataclass(frozen=True)
class ModelVersion:
    """One project version as the guard sees it on one run."""

    arn: str
    status: str
    inference_units: int
    is_active: bool
    usage: Usage


@dataclass(frozen=True)
class Decision:
    """The action for one model version, with a machine-readable ``reason`` and a sentence."""

    action: Action
    reason: str
    detail: str


def _utc_midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(UTC).date(), time(0), tzinfo=UTC)


def billed(status: str, billing: str) -> bool:
    """Whether a minute in ``status`` is billed under ``billing`` (:data:`BILLINGS`)."""
    return status == RUNNING or (status == STARTING and billing == "from_start_request")


def in_the_past(usage: Usage, now: datetime) -> Usage:
    """``usage`` with every instant after ``now`` moved to ``now``: clock skew or bad data
    never makes a model look used in the future (the worst case stays
    ``idle_stop_minutes`` plus one period)."""
    fields = (
        "last_inference_at",
        "running_since",
        "accounted_at",
        "last_demand_at",
        "start_requested_at",
        "checked_at",
    )
    late = {f: now for f in fields if (moment := getattr(usage, f)) is not None and moment > now}
    return replace(usage, **late) if late else usage  # type: ignore[arg-type]


def accrue(usage: Usage, now: datetime, status: str, billing: str = "from_start_request") -> Usage:
    """Bring ``usage`` up to ``now``: add the billed minutes since the last accounting.

    Minutes are counted per UTC day: at midnight the count restarts, and the
    part of an interval before midnight belongs to the previous day. The first
    run that sees a version billed counts from when billing began as well as it
    can be known: under ``from_start_request`` from ``start_requested_at``;
    otherwise (or with no start recorded) from the previous run, which saw it
    not billed, so the minutes RUNNING before the guard first saw it are counted
    (at most one period too many, never too few).

    A version first seen RUNNING gets ``running_since = now`` (Rekognition
    reports no start time) and, when its start was recorded, one more measured
    start latency (``now - start_requested_at``, rounded up by up to a period).
    """
    usage = in_the_past(usage, now)
    today = now.astimezone(UTC).date()
    minutes = usage.minutes_today if usage.day == today else 0.0
    this_month = today.strftime("%Y-%m")
    month_minutes = usage.minutes_month if usage.month == this_month else 0.0
    latencies = usage.start_latencies
    requested = usage.start_requested_at
    if status == RUNNING and usage.running_since is None and requested is not None:
        latencies = (*latencies, (now - requested).total_seconds() / 60)[-MAX_LATENCIES:]
    if status == RUNNING:
        requested = None
    elif status != STARTING:
        requested = None  # stopped, failed: no start under way
    running_since = (usage.running_since or now) if status == RUNNING else None
    seen = replace(
        usage,
        running_since=running_since,
        day=today,
        checked_at=now,
        start_requested_at=requested,
        start_latencies=latencies,
        month=this_month,
        minutes_month=month_minutes,
    )
    if not billed(status, billing):
        return replace(seen, accounted_at=None, minutes_today=minutes)
    if usage.accounted_at is not None:
        counted_from = usage.accounted_at
    elif billing == "from_start_request" and usage.start_requested_at is not None:
        counted_from = usage.start_requested_at
    else:
        counted_from = usage.checked_at or now
    month_start = datetime.combine(today.replace(day=1), time(0), tzinfo=UTC)
    month_minutes += max(0.0, (now - max(counted_from, month_start)).total_seconds() / 60)
    counted_from = max(counted_from, _utc_midnight(now))
    minutes += max(0.0, (now - counted_from).total_seconds() / 60)
    return replace(seen, accounted_at=now, minutes_today=minutes, minutes_month=month_minutes)


def learned_latency(usage: Usage, default: float) -> float:
    """The median of the measured start latencies (minutes), ``default`` before any."""
    if not usage.start_latencies:
        return default
    ordered = sorted(usage.start_latencies)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def clients_waiting(usage: Usage, now: datetime) -> bool:
    """A request was answered 503 in the last :data:`WAITING_MINUTES` and none served since."""
    demand = usage.last_demand_at
    if demand is None or (now - demand).total_seconds() / 60 > WAITING_MINUTES:
        return False
    return usage.last_inference_at is None or usage.last_inference_at < demand


def unit_hours_today(model: ModelVersion) -> float:
    """Inference-unit hours billed today so far: running minutes / 60 x units."""
    return model.usage.minutes_today / 60 * model.inference_units


def decide(now: datetime, model: ModelVersion, settings: PolicySettings) -> Decision:
    """Stop, start or keep ``model`` at ``now`` (aware datetime).

    Rules, first match wins:

    1. Status STARTING, STOPPING, TRAINING_IN_PROGRESS, DELETING or
       COPYING_IN_PROGRESS: keep (``transitional``); Rekognition refuses
       start and stop then, and the next run sees the settled status.
    2. RUNNING with today's unit-hours at or over ``daily_unit_hour_cap``:
       stop (``daily_cap``). The cap beats keep-warm windows: it is the
       spend limit.
    3. RUNNING inside a keep-warm window, the stage's active version: keep
       (``keep_warm``). Windows keep the version the API serves warm, not every
       version someone started: another version is stopped by the idle rule.
    4. RUNNING and first seen RUNNING by this run (``running_since == now``), or
       with clients waiting for it (:func:`clients_waiting`): keep
       (``just_running``, ``clients_waiting``). Stopping then would lose the
       requests that started it. Only the cap (rule 2) stops such a model.
    5. RUNNING and unused for ``idle_stop_minutes`` or more: stop
       (``idle``). "Unused since" is the later of the last inference and
       ``running_since``, so a model that started but never served is idle
       since it started. Rekognition reports no start time: a model with no
       usage record is idle since the guard first saw it RUNNING
       (:func:`accrue` records that). Worst case a model idles
       ``idle_stop_minutes`` plus one schedule period.
    6. RUNNING otherwise: keep (``in_use``).
    7. STOPPED or TRAINING_COMPLETED, the stage's active version, inside a
       keep-warm window and under the cap: start (``keep_warm``).
    8. Anything else (stopped, failed, expired...): keep (``not_running``).
    """
    model = replace(model, usage=in_the_past(model.usage, now))
    status = model.status
    if status in TRANSITIONAL:
        return Decision(Action.KEEP, "transitional", f"{status}: wait for the next run")
    used = unit_hours_today(model)
    capped = used >= settings.daily_unit_hour_cap
    warm = settings.in_keep_warm_window(now)
    if status == RUNNING:
        if capped:
            return Decision(
                Action.STOP,
                "daily_cap",
                f"{used:.2f} unit-hours today >= cap {settings.daily_unit_hour_cap:g}",
            )
        if warm and model.is_active:
            return Decision(Action.KEEP, "keep_warm", "inside a keep-warm window")
        if model.usage.running_since == now:
            return Decision(Action.KEEP, "just_running", "RUNNING since the last run")
        if clients_waiting(model.usage, now):
            return Decision(Action.KEEP, "clients_waiting", "requests are waiting for it")
        last_use = _latest(model.usage.last_inference_at, model.usage.running_since) or now
        idle = (now - last_use).total_seconds() / 60
        if idle >= settings.idle_stop_minutes:
            return Decision(
                Action.STOP,
                "idle",
                f"unused for {idle:.0f} min >= idle limit {settings.idle_stop_minutes} min",
            )
        return Decision(Action.KEEP, "in_use", f"last used {idle:.0f} min ago")
    if status in STARTABLE and model.is_active and warm:
        if capped:
            return Decision(Action.KEEP, "daily_cap", "keep-warm window, but today's cap is spent")
        return Decision(Action.START, "keep_warm", "active model, inside a keep-warm window")
    return Decision(Action.KEEP, "not_running", f"{status}: nothing to do")


def _latest(*moments: datetime | None) -> datetime | None:
    present: Iterable[datetime] = (m for m in moments if m is not None)
    return max(present, default=None)
