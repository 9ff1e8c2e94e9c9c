"""The adaptive idle policy: its summary's bounds, each rule, and properties over random input."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cost_guard.adaptive import (
    BIN_MINUTES,
    BINS,
    HISTOGRAM_MINUTES,
    MAX_COUNT,
    NO_MINUTE,
    AdaptiveSettings,
    UseSummary,
    decide_adaptive,
    demand_soon_probability,
    histogram_stats,
)
from cost_guard.policy import (
    STARTABLE,
    Action,
    KeepWarmWindow,
    ModelVersion,
    PolicySettings,
    Usage,
    decide,
)
from hypothesis import given, settings
from hypothesis import strategies as st

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # a Wednesday
SETTINGS = PolicySettings(idle_stop_minutes=15, daily_unit_hour_cap=10)
ADAPTIVE = AdaptiveSettings(start_latency_minutes=10)
PERIOD = 5


def summary_of(*moments: datetime) -> UseSummary:
    summary = UseSummary()
    for moment in sorted(moments):
        summary = summary.observe(moment)
    return summary


def hourly_until(end: datetime, jobs: int = 150) -> UseSummary:
    """An hourly job's demand: ``jobs`` minutes an hour apart, the last at ``end``."""
    return summary_of(*(end - timedelta(hours=h) for h in range(jobs)))


def model(
    status: str,
    *,
    active: bool = True,
    minutes_today: float = 0.0,
    last_inference: datetime | None = None,
    running_since: datetime | None = None,
    start_latencies: tuple[float, ...] = (),
) -> ModelVersion:
    usage = Usage(
        last_inference_at=last_inference,
        running_since=running_since,
        minutes_today=minutes_today,
        day=NOW.date(),
        accounted_at=NOW if status == "RUNNING" else None,
        start_latencies=start_latencies,
    )
    return ModelVersion("arn:version/v1/1", status, 1, active, usage)


def decision(
    status: str,
    summary: UseSummary,
    now: datetime = NOW,
    adaptive: AdaptiveSettings = ADAPTIVE,
    policy: PolicySettings = SETTINGS,
    **kwargs: object,
) -> tuple[Action, str]:
    made = decide_adaptive(now, model(status, **kwargs), policy, adaptive, summary, PERIOD)  # type: ignore[arg-type]
    return made.action, made.reason


# --- the summary -------------------------------------------------------------------


def test_the_same_minute_is_one_demand_and_gaps_fall_in_five_minute_bins() -> None:
    summary = summary_of(NOW, NOW + timedelta(seconds=30), NOW + timedelta(minutes=7))

    assert summary.gaps[7 // BIN_MINUTES] == 1
    assert sum(summary.gaps) == 1
    assert summary.observe(NOW) == summary  # older demand changes nothing


def test_gaps_beyond_four_hours_are_counted_apart() -> None:
    summary = summary_of(NOW, NOW + timedelta(minutes=HISTOGRAM_MINUTES))

    assert sum(summary.gaps) == 0
    assert summary.beyond == 1


def test_counts_stay_bounded_by_halving() -> None:
    summary = UseSummary()
    for minute in range(0, 3 * MAX_COUNT, 2):
        summary = summary.observe(NOW + timedelta(minutes=minute))

    assert sum(summary.gaps) + summary.beyond <= MAX_COUNT
    assert summary.gaps[0] > MAX_COUNT // 4  # still the shape: two-minute gaps


def test_a_full_summary_is_a_few_kilobytes_and_round_trips_as_json() -> None:
    summary = UseSummary()
    for minute in range(0, 9 * 7 * 24 * 60, 37):  # nine weeks of demand every 37 minutes
        summary = summary.observe(NOW + timedelta(minutes=minute))

    text = summary.to_json()
    assert len(text.encode()) < 8 * 1024  # DynamoDB items may hold 400 KB
    assert UseSummary.from_json(text) == summary
    assert max(summary.hours) < 2**9  # this week and eight before


@pytest.mark.parametrize("stored", [None, "", "not json", '{"gaps": [1, 2]}', '{"colour": 1}'])
def test_a_missing_or_foreign_summary_starts_empty(stored: str | None) -> None:
    assert UseSummary.from_json(stored) == UseSummary()


def test_weekly_share_counts_whole_weeks_since_the_first_demand() -> None:
    monday_nine = datetime(2026, 11, 16, 9, 5, tzinfo=UTC)
    summary = summary_of(monday_nine, monday_nine + timedelta(days=7))

    assert summary.weekly_share(monday_nine + timedelta(days=14)) == (1.0, 2)
    assert summary.weekly_share(monday_nine + timedelta(days=14, hours=1)) == (0.0, 2)
    assert summary.weekly_share(monday_nine + timedelta(days=6)) == (0.0, 0)  # not a week yet


def test_daily_share_and_typical_minutes_of_an_hour() -> None:
    day = datetime(2026, 11, 16, 8, 33, tzinfo=UTC)
    summary = summary_of(*(day + timedelta(days=d) for d in range(7)))

    assert summary.daily_share(day + timedelta(days=7)) == 1.0
    assert summary.daily_share(day + timedelta(days=7, hours=3)) == 0.0
    assert summary.typical_minutes(day + timedelta(days=7)) == (33, 33)
    assert summary.typical_minutes(day + timedelta(days=7, hours=3)) == (NO_MINUTE, NO_MINUTE)


def test_soon_probability_uses_laplaces_rule_and_knows_nothing_beyond_its_range() -> None:
    summary = hourly_until(NOW, jobs=40)

    assert demand_soon_probability(summary, 5, 20) == pytest.approx(1 / 41)
    assert (demand_soon_probability(summary, 50, 15) or 0) > 0.9
    assert demand_soon_probability(summary, HISTOGRAM_MINUTES, 10) is None


@pytest.mark.parametrize(
    ("summary", "reason"),
    [
        (summary_of(NOW, NOW + timedelta(minutes=60)), "thin"),
        (summary_of(*(NOW + timedelta(hours=5 * h) for h in range(30))), "beyond_range"),
        (
            summary_of(
                *(NOW + timedelta(minutes=sum(5 * i + 2 for i in range(n))) for n in range(49))
            ),
            "flat",
        ),
        (hourly_until(NOW), "representative"),
    ],
)
def test_when_the_histogram_is_trusted(summary: UseSummary, reason: str) -> None:
    assert histogram_stats(summary, ADAPTIVE).reason == reason


# --- the rules ---------------------------------------------------------------------


def test_rule_1_cap_windows_transitions_and_inactive_versions_are_decides() -> None:
    summary = hourly_until(NOW)
    window = KeepWarmWindow(frozenset({"Wed"}), NOW.time(), (NOW + timedelta(hours=1)).time())
    warm = replace(SETTINGS, keep_warm_windows=(window,))

    assert decision("RUNNING", summary, minutes_today=600) == (Action.STOP, "daily_cap")
    assert decision("RUNNING", summary, policy=warm) == (Action.KEEP, "keep_warm")
    assert decision("STARTING", summary) == (Action.KEEP, "transitional")
    inactive = model("RUNNING", active=False, last_inference=NOW - timedelta(minutes=1))
    assert decide_adaptive(NOW, inactive, SETTINGS, ADAPTIVE, summary, PERIOD) == decide(
        NOW, inactive, SETTINGS
    )


def test_rule_2_a_periodic_job_is_stopped_right_after_it_ran() -> None:
    summary = hourly_until(NOW - timedelta(minutes=5))

    assert decision("RUNNING", summary, last_inference=NOW - timedelta(minutes=5)) == (
        Action.STOP,
        "until_pre_start",
    )


def test_rule_3_never_kept_unused_longer_than_the_fixed_timeout() -> None:
    summary = summary_of(NOW - timedelta(minutes=16))

    assert decision("RUNNING", summary, last_inference=NOW - timedelta(minutes=16)) == (
        Action.STOP,
        "idle",
    )


def burst_sessions(end: datetime) -> UseSummary:
    """Sessions of a request a minute for 30 minutes, 25 minutes apart, the last ending at end."""
    moments = [end - timedelta(minutes=55 * s + m) for s in range(120) for m in range(30)]
    return summary_of(*moments)


def test_rule_4_after_a_session_ends_demand_is_unlikely_before_the_timeout() -> None:
    """The next session comes in about 25 minutes: too soon to stop for a pre-start
    (rule 2), too late for the fixed policy's 15-minute timeout to catch it."""
    last = NOW - timedelta(minutes=6)
    summary = burst_sessions(last)

    assert decision("RUNNING", summary, last_inference=last) == (Action.STOP, "unlikely_soon")
    # Within a session, the next request is a minute away: keep.
    assert decision("RUNNING", summary, now=last + timedelta(minutes=1), last_inference=last) == (
        Action.KEEP,
        "likely_soon",
    )


def school_weeks(end_day: datetime, weeks: int = 2) -> UseSummary:
    """Demand Monday to Friday at 08:31-11:59, for ``weeks`` weeks before ``end_day``."""
    moments = [
        end_day - timedelta(days=7 * w + d) + timedelta(hours=8, minutes=31 + m * 7)
        for w in range(weeks)
        for d in range(1, 8)
        if (end_day - timedelta(days=7 * w + d)).weekday() < 5
        for m in range(30)
    ]
    return summary_of(*moments)


def test_rule_5_stops_when_this_hour_and_the_next_are_quiet() -> None:
    wednesday = datetime(2026, 11, 25, tzinfo=UTC)
    summary = school_weeks(wednesday)
    noon = wednesday + timedelta(hours=12, minutes=10)
    last = wednesday + timedelta(hours=12, minutes=0)
    active = summary.observe(last)

    assert decision(
        "RUNNING",
        active,
        now=noon,
        last_inference=last,
        adaptive=replace(ADAPTIVE, min_gaps=10_000),
    ) == (
        Action.STOP,
        "weekly_quiet",
    )


def office_days(first: datetime, days: int) -> UseSummary:
    """Demand every 10 minutes from 09:00 to 17:50 UTC on ``days`` days from ``first``."""
    return summary_of(
        *(
            first + timedelta(days=d, hours=9, minutes=m)
            for d in range(days)
            for m in range(0, 9 * 60, 10)
        )
    )


EVENING = datetime(2026, 11, 26, 18, 5, tzinfo=UTC)  # a Thursday, 10 min after 17:55
NO_HISTOGRAM = replace(ADAPTIVE, min_gaps=10_000)


@pytest.mark.parametrize(
    ("days", "adaptive", "expected"),
    [
        # Three office days seen, nobody ever came after 18:00: stop at the hour.
        (3, NO_HISTOGRAM, (Action.STOP, "weekly_quiet")),
        # Two days are too few to call an hour quiet (min_days 3): the fixed timeout.
        (2, NO_HISTOGRAM, (Action.KEEP, "in_use")),
        (2, replace(NO_HISTOGRAM, min_days=2), (Action.STOP, "weekly_quiet")),
        # The gaps say the next request is near (every 10 min all day): they win.
        (3, ADAPTIVE, (Action.KEEP, "likely_soon")),
    ],
)
def test_rule_5_before_a_whole_week_quiet_hours_come_from_the_days_seen(
    days: int, adaptive: AdaptiveSettings, expected: tuple[Action, str]
) -> None:
    first = EVENING.replace(hour=0, minute=0) - timedelta(days=days)
    today = office_days(first, days + 1)  # today too, until 17:50
    last = EVENING.replace(hour=17, minute=55)
    summary = today.observe(last)

    assert summary.observed_days(EVENING) == days
    assert decision("RUNNING", summary, now=EVENING, last_inference=last, adaptive=adaptive) == (
        expected
    )


def test_rule_5_an_hour_used_on_one_of_the_days_is_not_quiet() -> None:
    first = EVENING.replace(hour=0, minute=0) - timedelta(days=3)
    late = first + timedelta(days=1, hours=18, minutes=30)  # once, someone stayed late
    last = EVENING.replace(hour=17, minute=55)
    summary = summary_of(
        *(
            first + timedelta(days=d, hours=9, minutes=m)
            for d in range(4)
            for m in range(0, 9 * 60, 10)
        ),
        late,
        last,
    )

    assert decision(
        "RUNNING", summary, now=EVENING, last_inference=last, adaptive=NO_HISTOGRAM
    ) == (Action.KEEP, "in_use")


def test_rule_6_keeps_a_model_in_use() -> None:
    summary = summary_of(NOW - timedelta(minutes=2))

    assert decision("RUNNING", summary, last_inference=NOW - timedelta(minutes=2)) == (
        Action.KEEP,
        "in_use",
    )


def test_rule_7_pre_starts_before_an_hour_people_usually_arrive_only_when_enabled() -> None:
    wednesday = datetime(2026, 11, 25, tzinfo=UTC)
    summary = school_weeks(wednesday)
    before = wednesday + timedelta(hours=8, minutes=20)  # first demand usually 08:31
    weekly = replace(ADAPTIVE, weekly_pre_start=True, min_gaps=10_000)

    assert decision("STOPPED", summary, now=before, adaptive=weekly) == (
        Action.START,
        "weekly_pre_start",
    )
    assert decision("STOPPED", summary, now=before - timedelta(minutes=5), adaptive=weekly)[0] == (
        Action.KEEP
    )
    assert decision(
        "STOPPED", summary, now=before, adaptive=replace(weekly, weekly_pre_start=False)
    )[0] == (Action.KEEP)
    assert decision("STOPPED", summary, now=before, adaptive=weekly, minutes_today=600) == (
        Action.KEEP,
        "not_running",
    )


def test_rule_8_pre_starts_a_periodic_job_once_in_time_for_its_next_run() -> None:
    last = NOW - timedelta(minutes=60)
    summary = hourly_until(last)
    starts = [
        minute
        for minute in range(0, 60, PERIOD)
        if decision("STOPPED", summary, now=last + timedelta(minutes=minute))
        == (Action.START, "pre_start")
    ]

    assert len(starts) == 1  # one tick wide
    assert 60 - starts[0] >= ADAPTIVE.start_latency_minutes  # RUNNING before the next run


def test_rule_9_a_stopped_model_without_history_waits_for_demand() -> None:
    assert decision("STOPPED", UseSummary()) == (Action.KEEP, "not_running")


# --- properties ----------------------------------------------------------------------

STATUSES = sorted({"RUNNING", "STOPPED", "STARTING", "STOPPING", "TRAINING_COMPLETED", "FAILED"})


DEMAND = st.one_of(
    st.lists(st.integers(0, 3 * 7 * 24 * 60), max_size=80),
    st.builds(
        lambda every, count, jitter: [every * i + (jitter * i) % 7 for i in range(count)],
        st.integers(30, 200),
        st.integers(0, 400),
        st.integers(0, 6),
    ),
)
"""Random demand, or a periodic job (with jitter): the histogram rules act on the latter."""


@settings(max_examples=200, deadline=None)
@given(
    demand=DEMAND,
    status=st.sampled_from(STATUSES),
    active=st.booleans(),
    minutes_today=st.floats(min_value=0, max_value=24 * 60),
    weekly=st.booleans(),
)
def test_never_over_the_cap_never_a_version_that_is_not_the_active_one(
    demand: list[int], status: str, active: bool, minutes_today: float, weekly: bool
) -> None:
    """At every tick of the five hours after the last demand (where pre-starts happen)."""
    start = datetime(2026, 11, 2, tzinfo=UTC)
    summary = summary_of(*(start + timedelta(minutes=m) for m in demand))
    adaptive = replace(ADAPTIVE, weekly_pre_start=weekly)
    capped = minutes_today / 60 >= SETTINGS.daily_unit_hour_cap
    for after_last in range(0, 300, PERIOD):
        now = start + timedelta(minutes=max(demand, default=0) + after_last)
        version = model(status, active=active, minutes_today=minutes_today)
        version = replace(version, usage=replace(version.usage, day=now.date()))

        made = decide_adaptive(now, version, SETTINGS, adaptive, summary, PERIOD)

        if made.action == Action.START:
            assert active, (after_last, made)
            assert status in STARTABLE, (after_last, made)
            assert not capped, (after_last, made)
        if status == "RUNNING" and capped:
            assert made.action == Action.STOP, (after_last, made)


def test_the_histogram_covers_four_hours_in_five_minute_bins() -> None:
    assert BINS * BIN_MINUTES == HISTOGRAM_MINUTES == 240


def test_the_pre_start_plans_with_the_latency_the_guard_measured() -> None:
    """Told 10 minutes, but the starts took 25: the pre-start comes earlier than the
    configured latency would put it, still in time for the next run."""
    last = NOW - timedelta(minutes=60)
    summary = hourly_until(last)

    def first_start(start_latencies: tuple[float, ...] = ()) -> int:
        return next(
            minute
            for minute in range(0, 60, PERIOD)
            if decision(
                "STOPPED",
                summary,
                now=last + timedelta(minutes=minute),
                start_latencies=start_latencies,
            )
            == (Action.START, "pre_start")
        )

    told = first_start()
    measured = first_start(start_latencies=(25.0, 24.0, 26.0))

    assert measured < told
    assert 60 - measured >= 25
