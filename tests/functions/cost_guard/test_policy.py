"""The cost guard's pure policy: every rule of decide() and accrue()."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest
from cost_guard.policy import (
    Action,
    KeepWarmWindow,
    ModelVersion,
    PolicySettings,
    Usage,
    accrue,
    decide,
)

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday, 21:00 in Tokyo
ARN = "arn:aws:rekognition:ap-northeast-1:111122223333:project/p/version/v1/1"
SETTINGS = PolicySettings(idle_stop_minutes=15, daily_unit_hour_cap=8)
TOKYO_OFFICE = KeepWarmWindow(
    days=frozenset({"Mon", "Tue", "Wed", "Thu", "Fri"}),
    start=time(9),
    end=time(18),
    time_zone="Asia/Tokyo",
)


def model(
    status: str = "RUNNING", *, units: int = 1, active: bool = True, **usage: object
) -> ModelVersion:
    return ModelVersion(
        arn=ARN,
        status=status,
        inference_units=units,
        is_active=active,
        usage=Usage(**usage),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "status", ["STARTING", "STOPPING", "TRAINING_IN_PROGRESS", "DELETING", "COPYING_IN_PROGRESS"]
)
def test_transitional_statuses_are_left_alone(status: str) -> None:
    decision = decide(NOW, model(status, minutes_today=10_000), SETTINGS)

    assert (decision.action, decision.reason) == (Action.KEEP, "transitional")


def test_model_idle_for_the_limit_is_stopped() -> None:
    busy_until = NOW - timedelta(minutes=15)

    decision = decide(NOW, model(last_inference_at=busy_until, running_since=busy_until), SETTINGS)

    assert (decision.action, decision.reason) == (Action.STOP, "idle")


def test_model_used_within_the_limit_is_kept() -> None:
    recent = NOW - timedelta(minutes=14, seconds=59)

    decision = decide(
        NOW, model(last_inference_at=recent, running_since=NOW - timedelta(hours=3)), SETTINGS
    )

    assert (decision.action, decision.reason) == (Action.KEEP, "in_use")


def test_model_that_started_but_never_served_is_idle_since_it_started() -> None:
    started = NOW - timedelta(minutes=20)

    decision = decide(NOW, model(running_since=started), SETTINGS)

    assert (decision.action, decision.reason) == (Action.STOP, "idle")


def test_inference_older_than_the_start_does_not_make_a_fresh_start_idle() -> None:
    decision = decide(
        NOW,
        model(last_inference_at=NOW - timedelta(days=2), running_since=NOW - timedelta(minutes=5)),
        SETTINGS,
    )

    assert decision.action == Action.KEEP


def test_model_with_no_record_is_not_stopped_on_first_sight_but_one_idle_period_later() -> None:
    first_seen = accrue(Usage(), NOW, "RUNNING")

    assert decide(NOW, replace(model(), usage=first_seen), SETTINGS).action == Action.KEEP
    later = NOW + timedelta(minutes=15)
    usage = accrue(first_seen, later, "RUNNING")
    assert decide(later, replace(model(), usage=usage), SETTINGS).action == Action.STOP


def test_busy_model_is_never_stopped_before_the_cap() -> None:
    settings = PolicySettings(idle_stop_minutes=15, daily_unit_hour_cap=24)
    usage = Usage()
    clock = NOW.replace(hour=0, minute=5)
    for _ in range(12 * 23):  # every 5 minutes for 23 hours, used every minute
        usage = replace(
            accrue(usage, clock, "RUNNING"), last_inference_at=clock - timedelta(minutes=1)
        )
        assert decide(clock, replace(model(), usage=usage), settings).action == Action.KEEP
        clock += timedelta(minutes=5)


def test_daily_cap_stops_even_a_busy_model() -> None:
    decision = decide(
        NOW, model(last_inference_at=NOW, running_since=NOW, minutes_today=8 * 60), SETTINGS
    )

    assert (decision.action, decision.reason) == (Action.STOP, "daily_cap")


def test_cap_counts_inference_units() -> None:
    two_units = model(units=2, last_inference_at=NOW, running_since=NOW, minutes_today=4 * 60)

    assert decide(NOW, two_units, SETTINGS).reason == "daily_cap"


def test_cap_beats_a_keep_warm_window() -> None:
    settings = replace(SETTINGS, keep_warm_windows=(TOKYO_OFFICE,))
    tokyo_morning = datetime(2026, 11, 18, 1, 0, tzinfo=UTC)  # 10:00 JST, Wednesday

    decision = decide(tokyo_morning, model(minutes_today=8 * 60), settings)

    assert (decision.action, decision.reason) == (Action.STOP, "daily_cap")


def test_keep_warm_window_keeps_an_idle_model() -> None:
    settings = replace(SETTINGS, keep_warm_windows=(TOKYO_OFFICE,))
    tokyo_morning = datetime(2026, 11, 18, 1, 0, tzinfo=UTC)

    decision = decide(
        tokyo_morning, model(running_since=tokyo_morning - timedelta(hours=2)), settings
    )

    assert (decision.action, decision.reason) == (Action.KEEP, "keep_warm")


@pytest.mark.parametrize("status", ["STOPPED", "TRAINING_COMPLETED"])
def test_keep_warm_window_starts_the_active_model(status: str) -> None:
    settings = replace(SETTINGS, keep_warm_windows=(TOKYO_OFFICE,))
    tokyo_morning = datetime(2026, 11, 18, 0, 0, tzinfo=UTC)  # 09:00 JST sharp

    decision = decide(tokyo_morning, model(status), settings)

    assert (decision.action, decision.reason) == (Action.START, "keep_warm")


def test_keep_warm_window_does_not_start_inactive_versions() -> None:
    settings = replace(SETTINGS, keep_warm_windows=(TOKYO_OFFICE,))
    tokyo_morning = datetime(2026, 11, 18, 1, 0, tzinfo=UTC)

    assert decide(tokyo_morning, model("STOPPED", active=False), settings).action == Action.KEEP


def test_keep_warm_does_not_start_a_model_whose_cap_is_spent() -> None:
    settings = replace(SETTINGS, keep_warm_windows=(TOKYO_OFFICE,))
    tokyo_morning = datetime(2026, 11, 18, 1, 0, tzinfo=UTC)
    today = tokyo_morning.date()

    decision = decide(tokyo_morning, model("STOPPED", minutes_today=8 * 60, day=today), settings)

    assert (decision.action, decision.reason) == (Action.KEEP, "daily_cap")


@pytest.mark.parametrize(
    ("utc", "inside"),
    [
        (datetime(2026, 11, 18, 0, 0, tzinfo=UTC), True),  # Wed 09:00 JST: start is inclusive
        (datetime(2026, 11, 18, 9, 0, tzinfo=UTC), False),  # Wed 18:00 JST: end is exclusive
        (datetime(2026, 11, 17, 23, 59, tzinfo=UTC), False),  # Wed 08:59 JST
        (datetime(2026, 11, 21, 1, 0, tzinfo=UTC), False),  # Sat 10:00 JST
        (datetime(2026, 11, 22, 23, 30, tzinfo=UTC), False),  # Sun in UTC, Mon 08:30 JST
        (datetime(2026, 11, 23, 0, 30, tzinfo=UTC), True),  # Mon 09:30 JST
    ],
    ids=["start", "end", "before", "saturday", "utc-sunday-night", "tokyo-monday"],
)
def test_windows_use_the_local_weekday_and_time(utc: datetime, inside: bool) -> None:
    assert TOKYO_OFFICE.contains(utc) is inside


def test_windows_follow_daylight_saving_time_where_the_zone_has_it() -> None:
    berlin = KeepWarmWindow(frozenset({"Mon"}), time(9), time(10), "Europe/Berlin")

    assert berlin.contains(datetime(2026, 3, 23, 8, 30, tzinfo=UTC))  # CET (UTC+1)
    assert berlin.contains(datetime(2026, 3, 30, 7, 30, tzinfo=UTC))  # CEST (UTC+2)
    assert not berlin.contains(datetime(2026, 3, 30, 8, 30, tzinfo=UTC))


def test_accrue_adds_running_minutes() -> None:
    usage = accrue(Usage(), NOW, "RUNNING")
    usage = accrue(usage, NOW + timedelta(minutes=5), "RUNNING")

    assert usage.minutes_today == pytest.approx(5)
    assert usage.running_since == NOW


def test_accrue_restarts_the_count_at_utc_midnight() -> None:
    before = datetime(2026, 11, 18, 23, 57, tzinfo=UTC)
    usage = accrue(Usage(minutes_today=600, day=before.date()), before, "RUNNING")
    usage = accrue(usage, before + timedelta(minutes=5), "RUNNING")

    assert usage.day == before.date() + timedelta(days=1)
    assert usage.minutes_today == pytest.approx(2)  # only 00:00-00:02 belongs to the new day


def test_accrue_of_a_stopped_model_clears_running_since_and_keeps_todays_minutes() -> None:
    usage = Usage(running_since=NOW, accounted_at=NOW, minutes_today=30, day=NOW.date())

    stopped = accrue(usage, NOW + timedelta(minutes=5), "STOPPED")

    assert stopped.running_since is None
    assert stopped.minutes_today == 30


def test_a_model_stopped_by_the_cap_may_start_again_the_next_day() -> None:
    settings = replace(SETTINGS, keep_warm_windows=(TOKYO_OFFICE,))
    capped = Usage(minutes_today=8 * 60, day=datetime(2026, 11, 17, tzinfo=UTC).date())
    thursday_tokyo_morning = datetime(2026, 11, 19, 0, 30, tzinfo=UTC)
    usage = accrue(capped, thursday_tokyo_morning, "STOPPED")

    decision = decide(thursday_tokyo_morning, replace(model("STOPPED"), usage=usage), settings)

    assert decision.action == Action.START


@pytest.mark.parametrize("status", ["FAILED", "TRAINING_FAILED", "EXPIRED", "DEPRECATED"])
def test_failed_or_expired_versions_are_left_alone(status: str) -> None:
    assert decide(NOW, model(status), SETTINGS).reason == "not_running"


def test_settings_from_the_stage_config_json() -> None:
    settings = PolicySettings.from_mapping(
        {
            "idle_stop_minutes": 30,
            "daily_unit_hour_cap": 12,
            "min_inference_units": 2,
            "keep_warm_windows": [
                {"days": ["Mon"], "start": "09:00:00", "end": "18:00:00", "time_zone": "Asia/Tokyo"}
            ],
        }
    )

    assert settings.keep_warm_windows[0] == KeepWarmWindow(
        frozenset({"Mon"}), time(9), time(18), "Asia/Tokyo"
    )
    assert settings.min_inference_units == 2


# --- the guard's real clock, billing and measured starts ----------------------------------


def test_a_model_first_seen_running_is_kept_whatever_its_idle_time() -> None:
    usage = accrue(Usage(last_inference_at=NOW - timedelta(hours=5)), NOW, "RUNNING")

    decision = decide(NOW, model(**usage.__dict__), SETTINGS)

    assert (decision.action, decision.reason) == (Action.KEEP, "just_running")


def test_a_model_clients_wait_for_is_kept_until_they_are_served() -> None:
    idle_since = NOW - timedelta(minutes=40)
    waiting = model(
        running_since=idle_since,
        last_inference_at=idle_since,
        last_demand_at=NOW - timedelta(minutes=1),
    )
    served = model(
        running_since=idle_since,
        last_inference_at=idle_since,
        last_demand_at=idle_since - timedelta(minutes=1),
    )
    gave_up = model(
        running_since=idle_since,
        last_inference_at=idle_since,
        last_demand_at=NOW - timedelta(minutes=10),
    )

    assert decide(NOW, waiting, SETTINGS).reason == "clients_waiting"
    assert decide(NOW, served, SETTINGS).reason == "idle"
    assert decide(NOW, gave_up, SETTINGS).reason == "idle"


def test_the_cap_still_stops_a_model_clients_wait_for() -> None:
    capped = model(
        running_since=NOW - timedelta(hours=9),
        minutes_today=9 * 60,
        day=NOW.date(),
        last_demand_at=NOW - timedelta(minutes=1),
    )

    assert decide(NOW, capped, SETTINGS).reason == "daily_cap"


def test_billed_from_the_start_request_the_cap_counts_the_starting_minutes() -> None:
    start = NOW - timedelta(minutes=10)
    usage = Usage(minutes_today=50, day=NOW.date(), start_requested_at=start, checked_at=start)
    starting = accrue(usage, start + timedelta(minutes=5), "STARTING", "from_start_request")
    running = accrue(starting, NOW, "RUNNING", "from_start_request")

    assert starting.minutes_today == 55
    assert running.minutes_today == 60
    assert (
        decide(NOW, model(**running.__dict__), replace(SETTINGS, daily_unit_hour_cap=1)).reason
        == "daily_cap"
    )


def test_billed_by_running_minutes_the_first_sight_counts_from_the_previous_run() -> None:
    """RUNNING may have begun just after the previous run: counted from there, never less."""
    start = NOW - timedelta(minutes=10)
    usage = Usage(minutes_today=50, day=NOW.date(), start_requested_at=start, checked_at=start)
    starting = accrue(usage, start + timedelta(minutes=5), "STARTING", "running")
    running = accrue(starting, NOW, "RUNNING", "running")

    assert starting.minutes_today == 50
    assert running.minutes_today == 55


def test_each_start_s_latency_is_measured_and_the_median_used() -> None:
    from cost_guard.policy import MAX_LATENCIES, learned_latency

    usage = Usage()
    assert learned_latency(usage, 10) == 10
    for minutes in (12, 25, 14, 30, 13, 15):
        requested = replace(accrue(usage, NOW, "STOPPED"), start_requested_at=NOW)
        usage = accrue(requested, NOW + timedelta(minutes=minutes), "RUNNING")
        assert usage.start_requested_at is None
        usage = accrue(usage, NOW + timedelta(minutes=minutes + 5), "STOPPED")

    assert usage.start_latencies == (25.0, 14.0, 30.0, 13.0, 15.0)
    assert len(usage.start_latencies) == MAX_LATENCIES
    assert learned_latency(usage, 10) == 15


def test_billing_comes_from_the_stage_settings() -> None:
    assert (
        PolicySettings.from_mapping(
            {"idle_stop_minutes": 5, "daily_unit_hour_cap": 1, "billing": "running"}
        ).billing
        == "running"
    )
    assert PolicySettings.from_mapping(
        {"idle_stop_minutes": 5, "daily_unit_hour_cap": 1}
    ).billing == ("from_start_request")
