"""The cost simulator and its CLI, on small hand-checked traces and the shipped ones."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from cost_guard.policy import KeepWarmWindow, PolicySettings

from tools.cost import cli as cost
from tools.cost import plot as costplot
from tools.cost import traces as make_traces
from tools.cost.simulator import (
    ADAPTIVE,
    IDLE_TIMEOUT,
    SimulationSettings,
    Trace,
    TraceError,
    compare,
    office_schedule,
    offline_optimum,
    read_trace,
    simulate_guard,
)

DAY = datetime(2026, 11, 18, tzinfo=UTC)  # a Wednesday
SETTINGS = SimulationSettings(
    policy=PolicySettings(idle_stop_minutes=15, daily_unit_hour_cap=8),
    schedule_period_minutes=5,
    auto_start_on_demand=True,
    start_latency_minutes=10,
)


def trace_at(*minutes: float) -> Trace:
    return Trace([DAY + timedelta(minutes=m) for m in minutes], DAY, DAY + timedelta(days=1))


def test_one_request_bills_the_idle_limit_after_the_start() -> None:
    # 10:00 request starts the model; RUNNING 10:10 (request served, waited 10 min);
    # idle from 10:10; the 10:25 run sees 15 idle minutes and stops it.
    result = simulate_guard(trace_at(600), SETTINGS)

    assert result.unit_hours == 0.25
    assert result.max_delay_minutes == 10
    assert result.arrived_not_running == 1
    assert result.lost == 0


@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4])
def test_worst_case_idle_is_the_limit_plus_one_period(offset: int) -> None:
    """Whatever the phase of the schedule, a lone request bills at most idle + period."""
    result = simulate_guard(trace_at(600 + offset), SETTINGS)

    assert 15 / 60 <= result.unit_hours <= (15 + 5) / 60


def test_busy_model_runs_until_the_requests_stop() -> None:
    every_minute_for_two_hours = trace_at(*range(600, 720))

    result = simulate_guard(every_minute_for_two_hours, SETTINGS)

    # Starts 10:00, RUNNING 10:10 .. last use 11:59, stopped at the 12:15 run.
    assert result.unit_hours == pytest.approx((12 * 60 + 15 - (10 * 60 + 10)) / 60)
    assert result.lost == 0


def test_without_auto_start_requests_are_lost_after_the_clients_patience() -> None:
    result = simulate_guard(trace_at(600), replace(SETTINGS, auto_start_on_demand=False))

    assert result.unit_hours == 0
    assert result.lost == 1


def test_keep_warm_window_has_the_model_running_when_requests_come() -> None:
    window = KeepWarmWindow(frozenset({"Wed"}), time(9), time(12), "UTC")
    settings = replace(SETTINGS, policy=replace(SETTINGS.policy, keep_warm_windows=(window,)))

    result = simulate_guard(trace_at(600), settings)

    assert result.arrived_not_running == 0
    # Started at 09:00, RUNNING 09:10 until the window ends at 12:00 (then idle).
    assert result.unit_hours == pytest.approx((12 * 60 - (9 * 60 + 10)) / 60)


def test_daily_cap_stops_the_model_and_auto_start_respects_it() -> None:
    settings = replace(SETTINGS, policy=replace(SETTINGS.policy, daily_unit_hour_cap=1))

    result = simulate_guard(trace_at(*range(600, 900)), settings)

    assert result.unit_hours <= 1 + 5 / 60  # the cap, plus at most one period
    assert result.lost > 0


def test_offline_optimum_runs_exactly_the_slots_with_requests() -> None:
    result = offline_optimum(trace_at(0, 1, 7, 600), SETTINGS)

    assert result.unit_hours == pytest.approx(3 * 5 / 60)  # slots [0,5), [5,10), [600,605)


def test_office_schedule_bills_eight_hours_a_day_and_loses_requests_outside() -> None:
    result = office_schedule(trace_at(8 * 60 + 59, 9 * 60, 16 * 60 + 59, 17 * 60), SETTINGS)

    assert result.unit_hours == 8
    assert result.lost == 2


def test_compare_returns_both_policies_then_the_baselines() -> None:
    names = [r.policy for r in compare(trace_at(600), SETTINGS)]

    assert names == ["idle-timeout", "adaptive", "always-on", "office schedule", "offline optimum"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time\n2026-11-18T10:00:00+00:00\n", "expected a CSV header with a 'timestamp' column"),
        ("timestamp\nyesterday\n", ":2: timestamp 'yesterday' is not ISO 8601"),
        (
            "timestamp\n2026-11-18T10:00:00\n",
            ":2: timestamp '2026-11-18T10:00:00' has no UTC offset",
        ),
        ("timestamp\n", "no requests"),
        (
            "# span: 2026-11-18T00:00:00+00:00/2026-11-18T01:00:00+00:00\ntimestamp\n"
            "2026-11-18T10:00:00+00:00\n",
            "requests fall outside the span",
        ),
        ("# span: later/sooner\ntimestamp\n", ":1: span 'later/sooner' is not START/END"),
    ],
    ids=["header", "not-iso", "naive", "empty", "outside-span", "bad-span"],
)
def test_bad_traces_are_named_by_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "trace.csv"
    path.write_text(content)

    with pytest.raises(TraceError, match=message):
        read_trace(path)


def test_missing_trace_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot read"):
        read_trace(tmp_path / "nope.csv")


def test_cli_simulate_prints_json_for_every_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "trace.csv"
    path.write_text("timestamp\n2026-11-18T10:00:00+00:00\n")

    assert cost.main(["simulate", "--trace", str(path), "--stage", "dev", "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    results = report["results"]
    assert [r["policy"] for r in results] == [
        "idle-timeout",
        "adaptive",
        "always-on",
        "office schedule",
        "offline optimum",
    ]
    for result in results:
        assert {
            "unit_hours",
            "arrived_not_running",
            "lost",
            "max_delay_minutes",
            "minutes_waited",
        } <= set(result)
    assert results[2]["unit_hours"] == 24
    assert results[2]["dollars"] == 96
    assert report["warm_up"].startswith("none")
    assert report["start_latency_minutes"] == 10


def test_cli_unknown_stage_exits_2_with_the_config_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "trace.csv"
    path.write_text("timestamp\n2026-11-18T10:00:00+00:00\n")

    assert cost.main(["simulate", "--trace", str(path), "--stage", "qa"]) == 2

    assert "context key 'stage': got 'qa'" in capsys.readouterr().err


def test_cli_bench_covers_every_shipped_trace(capsys: pytest.CaptureFixture[str]) -> None:
    assert cost.main(["bench", "--stage", "dev"]) == 0

    out = capsys.readouterr().out
    for name in (
        "office_hours",
        "burst",
        "sparse_week",
        "idle_weekend",
        "periodic",
        "school_days",
        "heavy_tailed_bursts",
        "sparse_kiosk",
    ):
        rows = [line for line in out.splitlines() if line.split(" ", 1)[0] == name]
        assert len(rows) == 2, name  # a 10- and a 20-minute start
    assert "start latency 20 min" in out


def test_on_demand_policy_meets_the_targets_on_the_shipped_traces() -> None:
    """Issue goals, with the dev stage's on-demand settings (no keep-warm window)."""
    settings = cost.simulation_settings(cost.stage_config("dev"), start_latency=10, price=4)
    for path in sorted(cost.TRACES.glob("*.csv")):
        ours, _, _, office, optimum = compare(read_trace(path), settings)
        assert ours.unit_hours < office.unit_hours, path.stem
        assert ours.lost == 0, path.stem
        if path.stem in ("office_hours", "burst"):
            assert ours.unit_hours <= 1.25 * optimum.unit_hours, path.stem


def test_shipped_traces_are_what_the_generator_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(make_traces, "OUT", tmp_path)

    make_traces.main()

    for shipped in sorted(cost.TRACES.glob("*.csv")):
        assert (tmp_path / shipped.name).read_bytes() == shipped.read_bytes(), shipped.name


@pytest.mark.parametrize("latency", [10, 20])
def test_adaptive_pareto_dominates_idle_timeout_on_every_shipped_trace(latency: int) -> None:
    """With the dev stage's settings: never more unit-hours, never more requests that
    arrive while the model is not running, and strictly better on the rhythm traces."""
    settings = cost.simulation_settings(cost.stage_config("dev"), start_latency=latency, price=4)
    strictly_better = []
    for path in sorted(cost.TRACES.glob("*.csv")):
        trace = read_trace(path)
        fixed = simulate_guard(trace, settings, IDLE_TIMEOUT)
        adaptive = simulate_guard(trace, settings, ADAPTIVE)
        assert adaptive.unit_hours <= fixed.unit_hours, path.stem
        assert adaptive.arrived_not_running <= fixed.arrived_not_running, path.stem
        assert adaptive.lost <= fixed.lost, path.stem
        if (adaptive.unit_hours, adaptive.arrived_not_running) != (
            fixed.unit_hours,
            fixed.arrived_not_running,
        ):
            strictly_better.append(path.stem)
    assert {"periodic", "school_days", "heavy_tailed_bursts", "sparse_kiosk"} <= set(
        strictly_better
    )


def test_adaptive_spares_the_periodic_job_most_waits() -> None:
    settings = cost.simulation_settings(cost.stage_config("dev"), start_latency=10, price=4)
    trace = read_trace(cost.TRACES / "periodic.csv")

    fixed = simulate_guard(trace, settings, IDLE_TIMEOUT)
    adaptive = simulate_guard(trace, settings, ADAPTIVE)

    assert adaptive.arrived_not_running <= 0.2 * fixed.arrived_not_running
    assert adaptive.unit_hours <= fixed.unit_hours


def test_adaptive_learns_online_without_peeking_ahead() -> None:
    """Replaying only the first week gives, minute by minute, the same model states as the
    first week of the full replay: nothing later in a trace changes an earlier decision."""
    settings = cost.simulation_settings(cost.stage_config("dev"), start_latency=10, price=4)
    full = read_trace(cost.TRACES / "school_days.csv")
    week_end = full.start + timedelta(days=7)
    first_week = Trace([r for r in full.requests if r < week_end], full.start, week_end)
    whole: list[str] = []
    part: list[str] = []

    simulate_guard(full, settings, ADAPTIVE, timeline=whole)
    simulate_guard(first_week, settings, ADAPTIVE, timeline=part)

    assert part == whole[: len(part)]
    assert "RUNNING" in part


def test_plot_draws_a_week_of_every_policy(tmp_path: Path) -> None:
    settings = cost.simulation_settings(cost.stage_config("dev"), start_latency=10, price=4)
    out = tmp_path / "week.png"

    assert cost.main(["plot", "--trace", str(cost.TRACES / "periodic.csv"), "--out", str(out)]) == 0

    assert out.read_bytes().startswith(b"\x89PNG")
    assert out.stat().st_size > 20_000
    lines = costplot.timelines(read_trace(cost.TRACES / "sparse_kiosk.csv"), settings)
    assert set(lines) == {
        "idle-timeout",
        "adaptive",
        "always-on",
        "office schedule",
        "offline optimum",
    }
    assert {state for line in lines.values() for state in line} <= {
        "STOPPED",
        "STARTING",
        "RUNNING",
    }


def test_plot_of_a_week_the_trace_does_not_have_is_refused(tmp_path: Path) -> None:
    settings = cost.simulation_settings(cost.stage_config("dev"), start_latency=10, price=4)

    with pytest.raises(ValueError, match="has 1 week"):
        costplot.plot_week(read_trace(cost.TRACES / "burst.csv"), settings, tmp_path / "x.png", 3)
