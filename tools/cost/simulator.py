"""Cost simulator: replay a request trace through the cost guard's real policy.

The guard's policies run on a simulated clock, minute by minute, next to
baselines and two clairvoyant optima, so a stage's settings can be priced
before a model ever runs: ``idle-timeout`` (:func:`cost_guard.policy.decide`,
the stage's fixed idle timeout) and ``adaptive``
(:func:`cost_guard.adaptive.decide_adaptive`, learning online from the trace as
it is replayed: its summary starts empty, with no warm-up).

Model of the world (one model version, the stage's active one), as production
behaves:

* **The guard's clock.** EventBridge runs the guard at second 0 of every
  ``schedule_period_minutes``-th minute, so each tick acts before that minute's
  requests and knows only the demand of the minutes before it. It accrues
  usage (:func:`cost_guard.policy.accrue`) and decides.
* **Requests and retries.** A request that finds the model RUNNING is served
  at once (its last inference). One that does not is answered 503 with
  ``Retry-After`` (``retry_after_minutes``, the API's 120 s) and, with
  auto-start, starts a STOPPED model unless today's cap is spent by the
  guard's last accounting (what the API reads). The client retries
  every ``Retry-After``: each retry that finds the model not RUNNING is another
  503 (the API records it as a client waiting), the first retry that finds it
  RUNNING is served, and its wait ends *there*. A client gives up when its
  next retry would be more than ``client_patience_minutes`` after it first
  asked; such a request, like one still waiting when the span ends, is *lost*.
* **Provisional answers** (``provisional``): a request that finds the model not
  RUNNING is answered at once from the photo index: it neither waits nor is
  lost (counted as ``answered_provisionally``). It still counts as demand and
  may start the model, and the page asks again by itself once the model runs
  (a served request then), unless that is more than ``client_patience_minutes``
  away. The simulation assumes every such request gets a provisional answer: an
  upper bound, since an index fault or no similar photo answers 503.
* **Sustained auto-start** (``sustained_minutes_with_requests`` > 0): a STOPPED
  model is started on demand only once first attempts came in that many
  different minutes of the last ``sustained_within_minutes``, as the API reads
  its ``demand_window``.
* **Demand.** What the policy learns from is one event per request at its
  first attempt; retries are not counted again (the API does the same with the
  ``attempt`` the page and device client send).
* **Starts.** A start takes ``start_latency_minutes`` (the real latency). The
  policy is never told it: the guard measures each start (request to first
  tick that sees RUNNING) and the adaptive policy uses what it measured, its
  configured default until then.
* **Billing** (``policy.billing``): ``running`` bills RUNNING minutes,
  ``from_start_request`` the STARTING minutes too (the conservative default).
  A stop takes effect at once; billing is per minute. Dollars use the given
  price per inference-unit hour (USD 4 by default;
  https://aws.amazon.com/rekognition/pricing/).

The span simulated is the trace's ``# span: START/END`` comment line (ISO
8601 instants) if it has one, else whole UTC days from the first request to
the last. Baselines and bounds over the same span:

* **always-on**: RUNNING the whole time; nothing delayed or lost.
* **office schedule**: RUNNING 09:00-17:00 every day in ``office_time_zone``,
  as the AWS sample scheduler runs it (8 of 24 hours); requests outside those
  hours are lost, since that scheduler has no on-demand start.
* **optimum, zero wait** and **optimum, wait up to one start**: the fewest
  billed minutes of any timeline in which nobody waits, or nobody waits longer
  than one start (:mod:`tools.cost.optimum`, an exact dynamic programme). No
  policy that met the same bound can bill less.
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
    billed,
    decide,
)

from tools.cost.optimum import optimum_minutes

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
    retry_after_minutes: int = 2
    """The API's ``Retry-After`` on ``model_starting`` / ``model_not_running`` (120 s)."""
    price_per_unit_hour: float = DEFAULT_PRICE_PER_UNIT_HOUR
    office_time_zone: str = "UTC"
    provisional: bool = False
    """Requests that find the model not RUNNING are answered provisionally (module docstring)."""
    sustained_minutes_with_requests: int = 0
    """0: auto-start at the first request; N: once demand came in N different minutes of
    the last ``sustained_within_minutes``."""
    sustained_within_minutes: int = 15
    adaptive: AdaptiveSettings = field(default_factory=AdaptiveSettings)
    """The adaptive policy's parameters (its ``start_latency_minutes`` is what the
    policy assumes until the guard has measured a start; ``start_latency_minutes``
    above is what the simulated model takes)."""

    @property
    def billing(self) -> str:
        return self.policy.billing


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
    billing: str = "from_start_request"
    """Which minutes ``unit_hours`` counts (``cost_guard.policy.BILLINGS``)."""
    start_latency_minutes: int = 10
    """The real start latency the figures were measured with."""
    answered_provisionally: int = 0
    """Requests that found the model not RUNNING and were answered from the photo index
    (not counted in ``arrived_not_running``: they did not wait)."""

    @property
    def without_model(self) -> int:
        """Requests not answered by the model at once: they waited, were lost or got a
        provisional answer (what a policy that keeps the model warmer spares)."""
        return self.arrived_not_running + self.answered_provisionally


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
    demand: list[int] | None = None,
) -> Result:
    """A guard policy plus on-demand start, on a simulated minute clock (module docstring).

    :param policy: :data:`IDLE_TIMEOUT` (:func:`cost_guard.policy.decide`, the stage's
        fixed idle timeout) or :data:`ADAPTIVE` (:func:`cost_guard.adaptive.decide_adaptive`,
        learning online from the demand replayed so far: the summary starts empty and
        sees each minute of demand as it arrives, never ahead).
    :param name: the result's name (default: ``policy``).
    :param window_hours: whose hours ``arrived_not_running_in_windows`` counts
        (default: the simulated stage's own keep-warm windows).
    :param timeline: if given, receives the model's status during every minute.
    :param demand: if given, receives the epoch minute of every demand event the
        policy learns from (what the API appends to ``recent_demand``).
    """
    if policy not in {IDLE_TIMEOUT, ADAPTIVE}:
        raise ValueError(f"unknown policy {policy!r}")
    start, end, requests = trace.start, trace.end, trace.requests
    arrivals = _per_minute(requests, start)
    units = settings.policy.min_inference_units
    billing = settings.billing
    retry_after = max(1, settings.retry_after_minutes)
    status, ready_at = "STOPPED", -1
    usage = Usage()
    summary = UseSummary()
    waiting: list[list[int]] = []  # [first asked, next retry, count]
    billed_minutes = arrived_not_running = lost = provisional = 0
    reasking: list[list[int]] = []  # [first asked, count]: provisional answers, asked again
    demand_minutes: list[int] = []  # minutes with first attempts (the API's demand_window)
    max_delay = 0
    waited = 0
    in_windows = 0
    windows = settings.policy.keep_warm_windows if window_hours is None else window_hours
    period = settings.schedule_period_minutes
    cap = settings.policy.daily_unit_hour_cap

    def start_model(minute: int, now: datetime) -> None:
        nonlocal status, ready_at, usage
        status, ready_at = "STARTING", minute + settings.start_latency_minutes
        usage = replace(usage, start_requested_at=now)

    def sustained(minute: int) -> bool:
        needed = settings.sustained_minutes_with_requests
        if needed <= 0:
            return True
        window = settings.sustained_within_minutes
        recent = {m for m in demand_minutes[-window:] if 0 <= minute - m < window}
        return len(recent) >= needed

    def on_demand_start(minute: int, now: datetime) -> None:
        """The API's auto-start: only a STOPPED model, only under today's cap, and with
        ``sustained`` only once demand is."""
        spent = usage.day == now.date() and usage.minutes_today / 60 * units >= cap
        if (
            status == "STOPPED"
            and settings.auto_start_on_demand
            and not spent
            and sustained(minute)
        ):
            start_model(minute, now)

    for minute in range(int((end - start).total_seconds() // 60)):
        now = start + timedelta(minutes=minute)
        if status == "STARTING" and minute >= ready_at:
            status = "RUNNING"
        if minute % period == 0:  # second 0: before this minute's requests
            usage = accrue(usage, now, status, billing)
            model = ModelVersion("simulated", status, units, True, usage)
            if policy == ADAPTIVE:
                action = decide_adaptive(
                    now, model, settings.policy, settings.adaptive, summary, period
                ).action
            else:
                action = decide(now, model, settings.policy).action
            if action == Action.STOP:
                status = "STOPPED"
            elif action == Action.START and status != "STARTING":
                start_model(minute, now)
        still_waiting = []
        for group in waiting:
            asked, retry, count = group
            if retry != minute:
                still_waiting.append(group)
            elif minute - asked > settings.client_patience_minutes:
                lost += count
            elif status == "RUNNING":
                max_delay = max(max_delay, minute - asked)
                waited += (minute - asked) * count
                usage = replace(usage, last_inference_at=now)
            else:  # answered 503 again: the API records a waiting client
                usage = replace(usage, last_demand_at=now)
                on_demand_start(minute, now)
                group[1] = minute + retry_after
                still_waiting.append(group)
        waiting = still_waiting
        if reasking and status == "RUNNING":  # the page asks again once the model runs
            if any(minute - asked <= settings.client_patience_minutes for asked, _ in reasking):
                usage = replace(usage, last_inference_at=now)
            reasking = []
        reasking = [g for g in reasking if minute - g[0] <= settings.client_patience_minutes]
        count = arrivals.get(minute, 0)
        if count:
            summary = summary.observe(now)
            demand_minutes.append(minute)
            if demand is not None:
                demand.append(int(now.timestamp() // 60))
            if status == "RUNNING":
                usage = replace(usage, last_inference_at=now)
            elif settings.provisional:
                provisional += count
                usage = replace(usage, last_demand_at=now)
                on_demand_start(minute, now)
                reasking.append([minute, count])
            else:
                arrived_not_running += count
                if any(window.contains(now) for window in windows):
                    in_windows += count
                usage = replace(usage, last_demand_at=now)
                on_demand_start(minute, now)
                waiting.append([minute, minute + retry_after, count])
        if billed(status, billing):
            billed_minutes += 1
        if timeline is not None:
            timeline.append(status)
    lost += sum(group[2] for group in waiting)
    result = _result(
        name or policy,
        billed_minutes * units,
        settings,
        len(requests),
        arrived_not_running,
        lost,
        max_delay,
        waited,
    )
    return replace(
        result, arrived_not_running_in_windows=in_windows, answered_provisionally=provisional
    )


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


OPTIMUM_ZERO_WAIT = "optimum_zero_wait"
OPTIMUM_ONE_START = "optimum_wait_one_start"


def optimum(trace: Trace, settings: SimulationSettings, *, bound: int, name: str) -> Result:
    """The clairvoyant lower bound for requests that wait at most ``bound`` minutes."""
    minutes = [int((r - trace.start).total_seconds() // 60) for r in trace.requests]
    billed_minutes = optimum_minutes(
        minutes,
        start_latency=settings.start_latency_minutes,
        bound=bound,
        billing=settings.billing,
        span_minutes=int((trace.end - trace.start).total_seconds() // 60),
    )
    units = settings.policy.min_inference_units
    return _result(name, billed_minutes * units, settings, len(trace.requests), 0, 0, bound)


def optima(trace: Trace, settings: SimulationSettings) -> list[Result]:
    """The zero-wait and the one-start optimum (:func:`optimum`)."""
    return [
        optimum(trace, settings, bound=0, name=OPTIMUM_ZERO_WAIT),
        optimum(trace, settings, bound=settings.start_latency_minutes, name=OPTIMUM_ONE_START),
    ]


ADAPTIVE_WITHOUT_WINDOWS = "adaptive without keep-warm windows"


def compare(trace: Trace, settings: SimulationSettings) -> list[Result]:
    """``idle-timeout``, ``adaptive``, ``always-on``, ``office schedule`` and the two
    optima, in that order; for a stage with keep-warm windows also the adaptive policy
    without them (its waits counted in the windows' hours)."""
    results = [
        simulate_guard(trace, settings, IDLE_TIMEOUT),
        simulate_guard(trace, settings, ADAPTIVE),
        always_on(trace, settings),
        office_schedule(trace, settings),
        *optima(trace, settings),
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
        billing=settings.billing,
        start_latency_minutes=settings.start_latency_minutes,
    )
