"""Cost simulator: replay a request trace through the cost guard's real policy.

The guard's policies run on a simulated clock, minute by minute, next to
three baselines, so a stage's settings can be priced before a model ever
runs: ``idle-timeout`` (:func:`cost_guard.policy.decide`, the stage's fixed
idle timeout) and ``adaptive`` (:func:`cost_guard.adaptive.decide_adaptive`,
learning online from the trace as it is replayed: its summary starts empty,
with no warm-up, and sees each minute of demand when it arrives).

Model of the world (one model version, the stage's active one):

* A request that finds the model RUNNING is served at once and recorded as
  its last inference (as the inference API does).
* A request that finds it not RUNNING is counted as *arrived while not
  running*; the API answers 503 with ``Retry-After`` and, when the stage
  allows auto-start and today's cap is not spent, starts a STOPPED model.
  The client retries and is served as soon as the model is RUNNING (its
  wait is recorded); a client gives up after ``client_patience_minutes``,
  and such a request, like one still waiting when the trace ends, is *lost*.
* A start takes ``start_latency_minutes`` (Rekognition: minutes, up to about
  30) and is not billed; a stop takes effect at once.
* Every ``schedule_period_minutes`` the guard accrues usage
  (:func:`cost_guard.policy.accrue`) and applies :func:`cost_guard.policy.decide`.
* Billing: inference units x minutes RUNNING. Dollars use the given price per
  inference-unit hour (USD 4 by default; https://aws.amazon.com/rekognition/pricing/).

The span simulated is the trace's ``# span: START/END`` comment line (ISO
8601 instants) if it has one, else whole UTC days from the first request to
the last. Baselines over the same span:

* **always-on**: RUNNING the whole time; nothing delayed or lost.
* **office schedule**: RUNNING 09:00-17:00 every day in ``office_time_zone``,
  as the AWS sample scheduler runs it (8 of 24 hours); requests outside those
  hours are lost, since that scheduler has no on-demand start.
* **offline optimum**: a clairvoyant policy that acts at the guard's
  granularity. The span is cut into consecutive slots of
  ``schedule_period_minutes`` from the trace start; the optimum has the model
  RUNNING during exactly the slots that contain at least one request (it
  knows them in advance, so it starts each early enough) and stopped in all
  others. Any policy that changes state only at slot boundaries and serves
  every request without delay must run at least those slots, so this is the
  least such a policy can bill: ``slots with requests x period x units``.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cost_guard.adaptive import AdaptiveSettings, UseSummary, decide_adaptive
from cost_guard.policy import (
    Action,
    KeepWarmWindow,
    ModelVersion,
    PolicySettings,
    Usage,
    accrue,
    decide,
)

DEFAULT_PRICE_PER_UNIT_HOUR = 4.0
OFFICE_HOURS = (time(9), time(17))


class TraceError(ValueError):
    """A trace file is missing, empty or has a bad row (the message says which)."""


@dataclass(frozen=True)
class SimulationSettings:
    """Everything a simulation needs besides the trace."""

    policy: PolicySettings
    schedule_period_minutes: int
    auto_start_on_demand: bool
    start_latency_minutes: int = 10
    client_patience_minutes: int = 30
    price_per_unit_hour: float = DEFAULT_PRICE_PER_UNIT_HOUR
    office_time_zone: str = "UTC"
    adaptive: AdaptiveSettings = field(default_factory=AdaptiveSettings)
    """The adaptive policy's parameters (its ``start_latency_minutes`` is what the
    policy believes; ``start_latency_minutes`` above is what the simulated model takes)."""


@dataclass(frozen=True)
class Result:
    """Figures for one policy over one trace."""

    policy: str
    unit_hours: float
    dollars: float
    requests: int
    arrived_not_running: int
    lost: int
    max_delay_minutes: float
    minutes_waited: float = 0.0
    """Total minutes requests waited for a start, over all requests served late."""
    arrived_not_running_in_windows: int = 0
    """Of ``arrived_not_running``, those inside the stage's keep-warm windows' hours
    (0 when the stage has none): the waits a window is there to prevent."""


@dataclass(frozen=True)
class Trace:
    """Sorted request times (UTC) and the span they are simulated over."""

    requests: list[datetime]
    start: datetime
    end: datetime


def read_trace(path: Path) -> Trace:
    """A CSV with a ``timestamp`` column (ISO 8601 with offset), after an optional
    ``# span: START/END`` line.

    :raises TraceError: naming the file, line and value that is wrong.
    """
    span: tuple[datetime, datetime] | None = None
    try:
        with path.open(newline="") as handle:
            first = handle.readline()
            if first.startswith("# span:"):
                span = _parse_span(path, first.removeprefix("# span:").strip())
            else:
                handle.seek(0)
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "timestamp" not in reader.fieldnames:
                raise TraceError(f"{path}: expected a CSV header with a 'timestamp' column")
            times = []
            for line, row in enumerate(reader, start=3 if span else 2):
                try:
                    moment = datetime.fromisoformat(row["timestamp"])
                except (TypeError, ValueError):
                    raise TraceError(
                        f"{path}:{line}: timestamp {row['timestamp']!r} is not ISO 8601"
                    ) from None
                if moment.tzinfo is None:
                    raise TraceError(
                        f"{path}:{line}: timestamp {row['timestamp']!r} has no UTC offset"
                    )
                times.append(moment.astimezone(UTC))
    except OSError as exc:
        raise TraceError(f"{path}: cannot read ({exc.strerror})") from None
    if not times:
        raise TraceError(f"{path}: no requests")
    times.sort()
    if span is None:
        span = (
            datetime.combine(times[0].date(), time(0), tzinfo=UTC),
            datetime.combine(times[-1].date() + timedelta(days=1), time(0), tzinfo=UTC),
        )
    if not span[0] <= times[0] or not times[-1] < span[1]:
        raise TraceError(f"{path}: requests fall outside the span {span[0]}/{span[1]}")
    return Trace(times, span[0], span[1])


def _parse_span(path: Path, text: str) -> tuple[datetime, datetime]:
    try:
        start, end = (datetime.fromisoformat(part).astimezone(UTC) for part in text.split("/"))
    except ValueError:
        raise TraceError(f"{path}:1: span {text!r} is not START/END in ISO 8601") from None
    if start >= end:
        raise TraceError(f"{path}:1: span {text!r} ends before it starts")
    return start, end


def _per_minute(requests: list[datetime], start: datetime) -> Counter[int]:
    return Counter(int((r - start).total_seconds() // 60) for r in requests)


IDLE_TIMEOUT = "idle-timeout"
ADAPTIVE = "adaptive"


def simulate_guard(
    trace: Trace,
    settings: SimulationSettings,
    policy: str = IDLE_TIMEOUT,
    *,
    name: str | None = None,
    window_hours: tuple[KeepWarmWindow, ...] | None = None,
    timeline: list[str] | None = None,
) -> Result:
    """A guard policy plus on-demand start, on a simulated minute clock.

    :param policy: :data:`IDLE_TIMEOUT` (:func:`cost_guard.policy.decide`, the stage's
        fixed idle timeout) or :data:`ADAPTIVE` (:func:`cost_guard.adaptive.decide_adaptive`,
        learning online from the demand replayed so far: the summary starts empty and
        sees each minute of demand as it arrives, never ahead).
    :param name: the result's name (default: ``policy``).
    :param window_hours: whose hours ``arrived_not_running_in_windows`` counts
        (default: the simulated stage's own keep-warm windows).
    :param timeline: if given, receives the model's status at the end of every minute.
    """
    if policy not in {IDLE_TIMEOUT, ADAPTIVE}:
        raise ValueError(f"unknown policy {policy!r}")
    start, end, requests = trace.start, trace.end, trace.requests
    arrivals = _per_minute(requests, start)
    units = settings.policy.min_inference_units
    status, ready_at = "STOPPED", -1
    usage = Usage()
    summary = UseSummary()
    pending: list[tuple[int, int]] = []  # (arrival minute, count)
    running_minutes = arrived_not_running = lost = 0
    max_delay = 0
    waited = 0
    in_windows = 0
    windows = settings.policy.keep_warm_windows if window_hours is None else window_hours
    cap = settings.policy.daily_unit_hour_cap
    for minute in range(int((end - start).total_seconds() // 60)):
        now = start + timedelta(minutes=minute)
        if status == "STARTING" and minute >= ready_at:
            status = "RUNNING"
        while pending and minute - pending[0][0] > settings.client_patience_minutes:
            lost += pending.pop(0)[1]
        if status == "RUNNING" and pending:
            max_delay = max(max_delay, minute - pending[0][0])
            waited += sum((minute - arrived) * count for arrived, count in pending)
            pending.clear()
            usage = replace(usage, last_inference_at=now)
        count = arrivals.get(minute, 0)
        if count:
            summary = summary.observe(now)
            if status == "RUNNING":
                usage = replace(usage, last_inference_at=now)
            else:
                arrived_not_running += count
                if any(window.contains(now) for window in windows):
                    in_windows += count
                pending.append((minute, count))
                spent = usage.minutes_today / 60 * units >= cap and usage.day == now.date()
                if status == "STOPPED" and settings.auto_start_on_demand and not spent:
                    status, ready_at = "STARTING", minute + settings.start_latency_minutes
        if minute % settings.schedule_period_minutes == 0:
            usage = accrue(usage, now, status)
            model = ModelVersion("simulated", status, units, True, usage)
            if policy == ADAPTIVE:
                action = decide_adaptive(
                    now,
                    model,
                    settings.policy,
                    settings.adaptive,
                    summary,
                    settings.schedule_period_minutes,
                ).action
            else:
                action = decide(now, model, settings.policy).action
            if action == Action.STOP:
                status = "STOPPED"
                usage = accrue(usage, now, status)
            elif action == Action.START:
                status, ready_at = "STARTING", minute + settings.start_latency_minutes
        if status == "RUNNING":
            running_minutes += 1
        if timeline is not None:
            timeline.append(status)
    lost += sum(count for _, count in pending)
    result = _result(
        name or policy,
        running_minutes * units,
        settings,
        len(requests),
        arrived_not_running,
        lost,
        max_delay,
        waited,
    )
    return replace(result, arrived_not_running_in_windows=in_windows)


def always_on(trace: Trace, settings: SimulationSettings) -> Result:
    minutes = (trace.end - trace.start).total_seconds() / 60
    units = settings.policy.min_inference_units
    return _result("always-on", minutes * units, settings, len(trace.requests), 0, 0, 0)


def office_schedule(trace: Trace, settings: SimulationSettings) -> Result:
    start, end, requests = trace.start, trace.end, trace.requests
    zone = ZoneInfo(settings.office_time_zone)
    opens, closes = OFFICE_HOURS

    def open_at(moment: datetime) -> bool:
        return opens <= moment.astimezone(zone).time() < closes

    minutes = sum(
        1
        for m in range(int((end - start).total_seconds() // 60))
        if open_at(start + timedelta(minutes=m))
    )
    lost = sum(1 for r in requests if not open_at(r))
    return _result(
        "office schedule",
        minutes * settings.policy.min_inference_units,
        settings,
        len(requests),
        lost,
        lost,
        0,
    )


def offline_optimum(trace: Trace, settings: SimulationSettings) -> Result:
    start, requests = trace.start, trace.requests
    period = settings.schedule_period_minutes
    slots = {int((r - start).total_seconds() // 60) // period for r in requests}
    unit_minutes = len(slots) * period * settings.policy.min_inference_units
    return _result("offline optimum", unit_minutes, settings, len(requests), 0, 0, 0)


ADAPTIVE_WITHOUT_WINDOWS = "adaptive without keep-warm windows"


def compare(trace: Trace, settings: SimulationSettings) -> list[Result]:
    """``idle-timeout``, ``adaptive``, ``always-on``, ``office schedule`` and ``offline
    optimum``, in that order; for a stage with keep-warm windows also the adaptive
    policy without them (its waits counted in the windows' hours)."""
    results = [
        simulate_guard(trace, settings, IDLE_TIMEOUT),
        simulate_guard(trace, settings, ADAPTIVE),
        always_on(trace, settings),
        office_schedule(trace, settings),
        offline_optimum(trace, settings),
    ]
    windows = settings.policy.keep_warm_windows
    if windows:
        no_windows = replace(settings, policy=replace(settings.policy, keep_warm_windows=()))
        results.append(
            simulate_guard(
                trace,
                no_windows,
                ADAPTIVE,
                name=ADAPTIVE_WITHOUT_WINDOWS,
                window_hours=windows,
            )
        )
    return results


def _result(
    name: str,
    unit_minutes: float,
    settings: SimulationSettings,
    requests: int,
    arrived_not_running: int,
    lost: int,
    max_delay: float,
    waited: float = 0.0,
) -> Result:
    unit_hours = unit_minutes / 60
    return Result(
        policy=name,
        unit_hours=unit_hours,
        dollars=unit_hours * settings.price_per_unit_hour,
        requests=requests,
        arrived_not_running=arrived_not_running,
        lost=lost,
        max_delay_minutes=max_delay,
        minutes_waited=waited,
    )
