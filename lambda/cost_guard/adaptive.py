"""The adaptive idle policy: learn each model version's rhythm, pre-start, stop sooner.

Pure functions beside :func:`cost_guard.policy.decide` (no AWS calls); the
guard and the cost simulator run the same code. Adapted from the hybrid
histogram policy of Shahrad et al., "Serverless in the Wild" (USENIX ATC
2020): per application, a histogram of idle times gives a pre-warm time (a
low percentile) and a keep-alive (a high one); here both are read from the
histogram as conditional probabilities of demand within a start's latency or
before the fixed timeout. When the histogram is not representative the policy
falls back, and for gaps beyond its range it uses
another predictor (there a time-series forecast, here the hour-of-week
profile, because people live by the week). Here an application is a
project version, a cold start is a request that arrives while the model is
not RUNNING (it waits a whole start, minutes, not milliseconds), wasted
memory is billed inference-unit hours, the clock ticks with the guard's
schedule period, and the daily unit-hour cap stays the hard limit.

**The summary** (:class:`UseSummary`, one bounded item per version, a few KB
in DynamoDB against its 400 KB item limit) holds:

* an idle-gap histogram: minutes between consecutive minutes of demand, in
  :data:`BIN_MINUTES` bins up to :data:`HISTOGRAM_MINUTES`. 5-minute bins
  because the guard acts every 5 minutes by default and cannot act finer;
  4 hours as in the paper; longer gaps (nights, weekends) are counted apart
  and left to the weekly profile. Counts are halved when they pass
  :data:`MAX_COUNT`: bounded, and it follows a rhythm that changes;
* an hour-of-week profile: for each of the 168 UTC hours of a week, one bit
  per week for the last :data:`WEEKS` weeks (set when there was demand in
  that hour), and the minute of the hour of the first and last demand there
  in the latest week that had any.

**Demand** is a request for the version, served or answered 503 because the
model was not running: the summary learns when people come, not when they
happened to be served.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cost_guard.policy import (
    RUNNING,
    STARTABLE,
    TRANSITIONAL,
    Action,
    Decision,
    ModelVersion,
    PolicySettings,
    decide,
    learned_latency,
    unit_hours_today,
)

BIN_MINUTES = 5
HISTOGRAM_MINUTES = 240
BINS = HISTOGRAM_MINUTES // BIN_MINUTES
WEEKS = 8
HOURS_PER_WEEK = 168
MAX_COUNT = 4096
NO_MINUTE = -1
_WEEK_MASK = (1 << (WEEKS + 1)) - 1  # bit 0: the summary's current week, bits 1..WEEKS: before
FIXED_REASONS = frozenset({"daily_cap", "keep_warm", "just_running", "clients_waiting"})
"""Where :func:`decide`'s answer stands whatever the summary says (rule 1)."""
_MONDAY = 4 * 24 * 60  # 1970-01-05 00:00 UTC, a Monday, in epoch minutes
_WEEK_MINUTES = 7 * 24 * 60


def epoch_minute(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def _week_hour_minute(minute: int) -> tuple[int, int, int]:
    since_monday = minute - _MONDAY
    in_week = since_monday % _WEEK_MINUTES
    return since_monday // _WEEK_MINUTES, in_week // 60, in_week % 60


@dataclass(frozen=True)
class AdaptiveSettings:
    """The adaptive policy's parameters (stage config ``adaptive``).

    :ivar start_latency_minutes: how long a start is assumed to take until the guard
        has measured one (Rekognition: minutes,
        up to about 30); pre-starts are made this much ahead.
    :ivar min_gaps: fewer gaps than this: the histogram is too thin.
    :ivar max_beyond_share: more than this share of gaps beyond the range: not predictive.
    :ivar min_cv: the coefficient of variation of the bin counts under which the
        histogram is too flat to predict anything (2, as the paper).
    :ivar stop_probability: stop a running model early when demand before the
        fixed idle timeout would stop it (or before a restart could be done) is
        less likely than this (the paper's keep-alive at the 99th percentile:
        0.01).
    :ivar start_probability: pre-start a stopped model when demand within a
        start's latency and one period becomes at least this likely (the
        paper's pre-warm percentile: 0.05, here 0.2 because each wrong start
        bills at least ``idle_stop_minutes``), and only when demand before the
        started model's idle timeout is at least ``catch_probability`` likely
        (a pre-start should serve someone, not just idle).
    :ivar catch_probability: see ``start_probability``.
    :ivar weekly_pre_start: start ahead of hours of the week that are likely
        (rule 7 of :func:`decide_adaptive`). Each such start bills about a
        start's latency more than starting on the first request would, to spare
        the people arriving in that time a wait: off by default, so the policy
        never bills more than the fixed timeout for fewer waits.
    :ivar weekly_threshold: an hour of the week is *likely* when demand came in it
        in at least this share of the observed weeks, and in that hour of the day
        on at least ``daily_threshold`` of the last seven days.
    :ivar daily_threshold: see ``weekly_threshold``.
    :ivar min_weeks: completed weeks observed before the weekly profile counts.
    :ivar min_days: days observed before an hour of the day with no demand on any of
        them may count as quiet for rule 5 (before ``min_weeks`` weeks are seen), and
        then only while the idle-gap histogram gives demand before the fixed timeout
        less than ``start_probability``: a few days' profile never outvotes the gaps
        of use under way.
    """

    start_latency_minutes: int = 10
    min_gaps: int = 12
    max_beyond_share: float = 0.5
    min_cv: float = 2.0
    stop_probability: float = 0.01
    start_probability: float = 0.2
    catch_probability: float = 0.8
    weekly_pre_start: bool = False
    weekly_threshold: float = 0.5
    daily_threshold: float = 3 / 7
    min_weeks: int = 1
    min_days: int = 3

    @classmethod
    def from_mapping(cls, raw: dict[str, Any]) -> AdaptiveSettings:
        """:raises TypeError: on an unknown key (the stage config validates values)."""
        return cls(**raw)


def _blank() -> tuple[int, ...]:
    return (NO_MINUTE,) * HOURS_PER_WEEK


@dataclass(frozen=True)
class UseSummary:
    """A bounded summary of one version's demand (see the module docstring).

    :ivar last_use: epoch minute of the latest demand, or None.
    :ivar gaps: in-range idle-gap counts per :data:`BIN_MINUTES` bin.
    :ivar beyond: gaps of :data:`HISTOGRAM_MINUTES` or more.
    :ivar week: the week (counted from 1970-01-05) bit 0 of ``hours`` stands for.
    :ivar first_use: epoch minute of the first demand seen.
    :ivar hours: per hour of the week (Monday 00 UTC = 0), a bit per week.
    :ivar first_minutes: per hour of the week, minute of its first demand in
        the latest week with any (``NO_MINUTE`` if never).
    :ivar last_minutes: the same for the last demand.
    :ivar previous_first: :ivar previous_last: the same for the week before that.
    :ivar minutes_week: per hour of the week, the week ``first_minutes`` and
        ``last_minutes`` are from.
    """

    last_use: int | None = None
    gaps: tuple[int, ...] = (0,) * BINS
    beyond: int = 0
    week: int | None = None
    first_use: int | None = None
    hours: tuple[int, ...] = (0,) * HOURS_PER_WEEK
    first_minutes: tuple[int, ...] = _blank()
    last_minutes: tuple[int, ...] = _blank()
    previous_first: tuple[int, ...] = _blank()
    previous_last: tuple[int, ...] = _blank()
    minutes_week: tuple[int, ...] = _blank()

    def observe(self, moment: datetime) -> UseSummary:
        """The summary after demand at ``moment``; the same minute again, or an older
        one, changes nothing."""
        minute = epoch_minute(moment)
        if self.last_use is not None and minute <= self.last_use:
            return self
        gaps, beyond = list(self.gaps), self.beyond
        if self.last_use is not None:
            gap = minute - self.last_use
            if gap < HISTOGRAM_MINUTES:
                gaps[gap // BIN_MINUTES] += 1
            else:
                beyond += 1
            if sum(gaps) + beyond > MAX_COUNT:
                gaps, beyond = [count // 2 for count in gaps], beyond // 2
        week, hour, in_hour = _week_hour_minute(minute)
        hours = list(self._hours_at(week))
        hours[hour] |= 1
        first, last = list(self.first_minutes), list(self.last_minutes)
        previous_first, previous_last = list(self.previous_first), list(self.previous_last)
        weeks = list(self.minutes_week)
        if weeks[hour] != week:
            previous_first[hour], previous_last[hour] = first[hour], last[hour]
            first[hour] = in_hour
            weeks[hour] = week
        last[hour] = in_hour
        return replace(
            self,
            last_use=minute,
            gaps=tuple(gaps),
            beyond=beyond,
            week=week if self.week is None else max(week, self.week),
            first_use=minute if self.first_use is None else self.first_use,
            hours=tuple(hours),
            first_minutes=tuple(first),
            last_minutes=tuple(last),
            previous_first=tuple(previous_first),
            previous_last=tuple(previous_last),
            minutes_week=tuple(weeks),
        )

    def _hours_at(self, week: int) -> tuple[int, ...]:
        """``hours`` with bit 0 standing for ``week`` (never moved backwards)."""
        if self.week is None or week <= self.week:
            return self.hours
        shift = min(week - self.week, WEEKS + 1)
        return tuple((bits << shift) & _WEEK_MASK for bits in self.hours)

    def weekly_share(self, moment: datetime) -> tuple[float, int]:
        """(share of the weeks observed with demand in ``moment``'s hour of the week,
        how many whole weeks lie between the first demand and ``moment``, at most
        :data:`WEEKS`)."""
        if self.first_use is None:
            return 0.0, 0
        minute = epoch_minute(moment)
        week, hour, _ = _week_hour_minute(minute)
        observed = min(WEEKS, (minute - self.first_use) // _WEEK_MINUTES)
        if observed <= 0:
            return 0.0, 0
        previous = (self._hours_at(week)[hour] >> 1) & ((1 << observed) - 1)
        return previous.bit_count() / observed, observed

    def daily_share(self, moment: datetime) -> float:
        """Share of the (up to seven) observed days before ``moment``'s day with demand
        in its hour of the day; 0 before a whole day was observed."""
        if self.first_use is None:
            return 0.0
        minute = epoch_minute(moment)
        week, _, _ = _week_hour_minute(minute)
        hours = self._hours_at(week)
        days = active = 0
        for day in range(1, 8):
            earlier = minute - day * 24 * 60
            if earlier < self.first_use:
                break
            days += 1
            earlier_week, earlier_hour, _ = _week_hour_minute(earlier)
            age = week - earlier_week
            if age <= WEEKS and hours[earlier_hour] >> age & 1:
                active += 1
        return active / days if days else 0.0

    def observed_days(self, moment: datetime) -> int:
        """Whole days (at most seven) between the first demand and ``moment``'s time of day:
        the days :meth:`daily_share` looks at."""
        if self.first_use is None:
            return 0
        return max(0, min(7, (epoch_minute(moment) - self.first_use) // (24 * 60)))

    def typical_minutes(self, moment: datetime) -> tuple[int, int]:
        """(first, last) minute of demand in ``moment``'s hour of the week in the latest
        earlier week that had any there; ``NO_MINUTE`` when unknown."""
        week, hour, _ = _week_hour_minute(epoch_minute(moment))
        if self.minutes_week[hour] == week:
            return self.previous_first[hour], self.previous_last[hour]
        return self.first_minutes[hour], self.last_minutes[hour]

    def had_demand_this_hour(self, moment: datetime) -> bool:
        week, hour, _ = _week_hour_minute(epoch_minute(moment))
        return self.week is not None and bool(self._hours_at(week)[hour] & 1)

    def to_json(self) -> str:
        """Compact JSON for the usage table (a few KB)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> UseSummary:
        """The summary stored by :meth:`to_json`; an empty one for None or a summary of
        another shape (a changed layout starts learning again rather than failing)."""
        if not text:
            return cls()
        try:
            raw: dict[str, Any] = json.loads(text)
            fields: dict[str, Any] = {
                k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()
            }
            summary = cls(**fields)
        except (TypeError, ValueError):
            return cls()
        lengths = {
            "gaps": BINS,
            "hours": HOURS_PER_WEEK,
            "first_minutes": HOURS_PER_WEEK,
            "last_minutes": HOURS_PER_WEEK,
            "previous_first": HOURS_PER_WEEK,
            "previous_last": HOURS_PER_WEEK,
            "minutes_week": HOURS_PER_WEEK,
        }
        if any(len(getattr(summary, name)) != size for name, size in lengths.items()):
            return cls()
        return summary


@dataclass(frozen=True)
class HistogramStats:
    """Whether the idle-gap histogram can be trusted, and why not."""

    representative: bool
    reason: str


def histogram_stats(summary: UseSummary, settings: AdaptiveSettings) -> HistogramStats:
    """Not representative when the histogram holds fewer than ``min_gaps`` gaps
    (``thin``), when more than ``max_beyond_share`` of the gaps are beyond its
    range (``beyond_range``), or when its bin counts' coefficient of variation is
    under ``min_cv`` (``flat``: gaps of every length, nothing to predict)."""
    total = sum(summary.gaps)
    if total + summary.beyond < settings.min_gaps:
        return HistogramStats(False, "thin")
    if summary.beyond / (total + summary.beyond) > settings.max_beyond_share:
        return HistogramStats(False, "beyond_range")
    mean = total / BINS
    deviation = math.sqrt(sum((count - mean) ** 2 for count in summary.gaps) / BINS)
    if deviation / mean < settings.min_cv:
        return HistogramStats(False, "flat")
    return HistogramStats(True, "representative")


def demand_soon_probability(summary: UseSummary, gap: float, window: float) -> float | None:
    """P(next demand within ``window`` minutes | none for ``gap`` minutes), from the
    histogram (uniform within a bin), with Laplace's rule of succession
    ((k + 1) / (n + 2)) so that a few observations never make an event look
    impossible; None beyond the histogram's range, where it knows nothing."""
    if gap >= HISTOGRAM_MINUTES:
        return None

    def survival(minutes: float) -> float:
        total = float(summary.beyond)
        for index, count in enumerate(summary.gaps):
            lower = index * BIN_MINUTES
            upper = lower + BIN_MINUTES
            if lower >= minutes:
                total += count
            elif upper > minutes:
                total += count * (upper - minutes) / BIN_MINUTES
        return total

    survivors = survival(gap)
    within = survivors - survival(min(gap + max(window, 0.0), HISTOGRAM_MINUTES))
    return (within + 1) / (survivors + 2)


def _minutes_since(now: datetime, moment: datetime | None) -> float | None:
    return None if moment is None else (now - moment).total_seconds() / 60


def decide_adaptive(
    now: datetime,
    model: ModelVersion,
    settings: PolicySettings,
    adaptive: AdaptiveSettings,
    summary: UseSummary,
    period_minutes: int,
) -> Decision:
    """Stop, start or keep ``model`` at ``now``, learning from ``summary``.

    ``L`` is the start latency the guard measured (the median of
    ``usage.start_latencies``; ``start_latency_minutes`` until one was
    measured: the policy never knows the latency it is not shown), ``P`` the
    guard's period, *gap* the
    minutes since the last demand, *unused* the minutes since the later of the
    last inference and ``running_since`` (as :func:`decide` counts them), and
    ``soon(gap, w)`` the histogram's probability of demand within the next
    ``w`` minutes given none for ``gap`` (:func:`demand_soon_probability`; only
    while the histogram is representative and the gap within its range). An
    hour of the week is *likely* or *quiet* by the weekly profile (likely: see
    :class:`AdaptiveSettings`; quiet: no demand in it in any observed week nor
    at that hour on any of the last seven days). Rules, first match wins:

    1. Transitional statuses, versions other than the stage's active one, the
       daily cap, keep-warm windows, a model first seen RUNNING by this run and
       one clients are waiting for: exactly :func:`decide`'s rules (the cap is
       the hard limit: nothing is started or kept at or over it).
    2. RUNNING and ``soon(gap, L + 2P) < stop_probability``: stop
       (``until_pre_start``); no demand is expected before the model could be
       started again, and rule 8 starts it when demand becomes likely.
    3. RUNNING and unused for ``idle_stop_minutes``: stop (``idle``); the
       adaptive policy never keeps an unused model longer than the fixed one.
    4. RUNNING and ``soon(gap, w) < stop_probability``, ``w`` the minutes until
       the tick at which the fixed policy would stop it (``idle_stop_minutes -
       unused``, rounded up to whole periods): stop (``unlikely_soon``).
    5. RUNNING, no demand for a period, the rest of this hour quiet (the hour is
       quiet, or past the minute of its last demand in the latest week with any)
       and the next hour either quiet or (with ``weekly_pre_start``) likely with
       its usual first demand at least ``L + 2P`` minutes away, so that rule 7
       starts it in time: stop (``weekly_quiet``). Before a week is observed,
       an hour is also quiet when no demand came in it on any of at least
       ``min_days`` observed days, provided ``soon(gap, w)`` (rule 4's window)
       is under ``start_probability`` or unknown.
    6. RUNNING otherwise: keep (``likely_soon`` or ``in_use``).
    7. With ``weekly_pre_start``: STOPPED or TRAINING_COMPLETED (active, under
       the cap), an hour (this or the next) that is likely, has had no demand
       yet this week, and whose
       first demand in the latest week came ``L`` to ``L + P`` minutes from
       now: start (``weekly_pre_start``), RUNNING as people usually arrive.
    8. STOPPED or TRAINING_COMPLETED, ``soon(gap, L + P)`` reaches
       ``start_probability`` this tick (it was below it one period ago) and
       ``soon(gap, L + P + idle_stop_minutes)`` is at least ``catch_probability``:
       start (``pre_start``), RUNNING when the next demand becomes likely; one
       tick wide, so a model stopped by rule 3 or 4 is not started again before
       new demand.
    9. Anything else: :func:`decide`'s answer.

    While the histogram is thin or not predictive and fewer than ``min_days``
    days (and no week) have been observed, rules 2, 4, 5, 7 and 8 do not
    apply: the fixed idle timeout.
    """
    fixed = decide(now, model, settings)
    status = model.status
    if status in TRANSITIONAL or not model.is_active or fixed.reason in FIXED_REASONS:
        return fixed
    latency = learned_latency(model.usage, adaptive.start_latency_minutes)
    period = period_minutes
    predictive = histogram_stats(summary, adaptive).representative
    gap = _minutes_since(now, _last_demand(summary, model))

    def soon(after: float | None, window: float) -> float | None:
        if not predictive or after is None or after < 0:
            return None
        return demand_soon_probability(summary, after, window)

    if status == RUNNING:
        before_restart = soon(gap, latency + 2 * period)
        if before_restart is not None and before_restart < adaptive.stop_probability:
            return Decision(
                Action.STOP,
                "until_pre_start",
                f"P(demand within {latency + 2 * period} min) = {before_restart:.3f}; "
                "it will be pre-started",
            )
        if fixed.action == Action.STOP:
            return fixed
        usage = model.usage
        last_use = max(usage.last_inference_at or now, usage.running_since or now)
        # The fixed policy stops at the first tick at or past its timeout, and serves
        # demand arriving until then: that is the window the early stop gives up.
        idle_left = settings.idle_stop_minutes - (_minutes_since(now, last_use) or 0.0)
        remaining = period * math.ceil(max(idle_left, 0.0) / period)
        before_timeout = soon(gap, remaining)
        if before_timeout is not None and before_timeout < adaptive.stop_probability:
            return Decision(
                Action.STOP,
                "unlikely_soon",
                f"P(demand in the next {remaining:.0f} min) = {before_timeout:.3f}",
            )
        if (
            gap is not None
            and gap >= period
            and _quiet_until_needed(
                summary,
                adaptive,
                now,
                period,
                latency=latency,
                # A few days' profile never outvotes the gaps of use under way.
                by_day=before_timeout is None or before_timeout < adaptive.start_probability,
            )
        ):
            return Decision(Action.STOP, "weekly_quiet", "no demand expected before a restart")
        return Decision(Action.KEEP, "likely_soon" if predictive else "in_use", fixed.detail)
    if status not in STARTABLE or unit_hours_today(model) >= settings.daily_unit_hour_cap:
        return fixed
    for hour_start in (_hour_start(now), _hour_start(now) + timedelta(hours=1)):
        ahead = _minutes_to_usual_first(summary, hour_start, now)
        if (
            adaptive.weekly_pre_start
            and ahead is not None
            and latency <= ahead < latency + period
            and not summary.had_demand_this_hour(hour_start)
            and _likely(summary, adaptive, hour_start)
        ):
            return Decision(
                Action.START,
                "weekly_pre_start",
                f"demand usually comes in {ahead:.0f} min ({hour_start:%a %H}:xx UTC)",
            )
    now_soon = soon(gap, latency + period)
    before = soon(None if gap is None else gap - period, latency + period)
    caught = soon(gap, latency + period + settings.idle_stop_minutes)
    if (
        now_soon is not None
        and now_soon >= adaptive.start_probability
        and (before is None or before < adaptive.start_probability)
        and caught is not None
        and caught >= adaptive.catch_probability
    ):
        return Decision(
            Action.START,
            "pre_start",
            f"P(demand within {latency + period} min) = {now_soon:.3f}",
        )
    return fixed


def _minutes_to_usual_first(
    summary: UseSummary, hour_start: datetime, now: datetime
) -> float | None:
    first, _ = summary.typical_minutes(hour_start)
    if first == NO_MINUTE:
        return None
    return (hour_start + timedelta(minutes=first) - now).total_seconds() / 60


def _hour_start(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _likely(summary: UseSummary, adaptive: AdaptiveSettings, moment: datetime) -> bool:
    share, weeks = summary.weekly_share(moment)
    return (
        weeks >= adaptive.min_weeks
        and share >= adaptive.weekly_threshold
        and summary.daily_share(moment) >= adaptive.daily_threshold
    )


def _quiet(
    summary: UseSummary, adaptive: AdaptiveSettings, moment: datetime, *, by_day: bool = False
) -> bool:
    """No demand in ``moment``'s hour of the day on the observed days of the last seven,
    and none in its hour of the week in the observed weeks (at least ``min_weeks``) or,
    with ``by_day``, at least ``min_days`` days observed."""
    share, weeks = summary.weekly_share(moment)
    if summary.daily_share(moment) != 0:
        return False
    return (weeks >= adaptive.min_weeks and share == 0) or (
        by_day and summary.observed_days(moment) >= adaptive.min_days
    )


def _quiet_until_needed(
    summary: UseSummary,
    adaptive: AdaptiveSettings,
    now: datetime,
    period: int,
    *,
    latency: float,
    by_day: bool = False,
) -> bool:
    """The rest of ``now``'s hour quiet, and the next hour quiet or pre-startable
    (``by_day``: hours may be judged quiet by the days observed, see :func:`_quiet`)."""
    _, last = summary.typical_minutes(now)
    _, weeks = summary.weekly_share(now)
    rest_quiet = _quiet(summary, adaptive, now, by_day=by_day) or (
        weeks >= adaptive.min_weeks and last != NO_MINUTE and now.minute > last
    )
    if not rest_quiet:
        return False
    next_hour = _hour_start(now) + timedelta(hours=1)
    if _quiet(summary, adaptive, next_hour, by_day=by_day):
        return True
    ahead = _minutes_to_usual_first(summary, next_hour, now)
    return (
        adaptive.weekly_pre_start
        and _likely(summary, adaptive, next_hour)
        and ahead is not None
        and ahead >= latency + 2 * period
    )


def _last_demand(summary: UseSummary, model: ModelVersion) -> datetime | None:
    """The last demand the summary saw (a request served late after a start is
    recorded as an inference when served, but was demand when it arrived); the
    last inference when the summary has seen none."""
    if summary.last_use is not None:
        return datetime.fromtimestamp(summary.last_use * 60, UTC)
    return model.usage.last_inference_at
