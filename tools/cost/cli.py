"""``python -m tools.cost``: price a stage's cost-guard settings on request traces.

Commands::

    python -m tools.cost simulate --trace assets/traces/office_hours.csv --stage dev [--json]
    python -m tools.cost bench [--stage dev]      # every trace in assets/traces/
    python -m tools.cost plot --trace assets/traces/periodic.csv --stage dev --out week.png

``simulate`` prints, for one trace, billed inference-unit hours and dollars
for the policies ``idle-timeout`` and ``adaptive`` and the baselines
``always-on``, ``office schedule`` and ``offline optimum`` (see
:mod:`tools.cost.simulator` for their exact definitions), requests that arrived
while the model was not running, requests lost, the longest wait and the
minutes waited in all. ``bench`` does it for every shipped trace, with a
10- and a 20-minute start. ``plot`` draws one week (:mod:`tools.cost.plot`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cost_guard.adaptive import AdaptiveSettings
from cost_guard.policy import PolicySettings

from stacks.config import ConfigError, StageConfig, load_stage_configs
from tools import ROOT
from tools.cost.simulator import (
    DEFAULT_PRICE_PER_UNIT_HOUR,
    Result,
    SimulationSettings,
    TraceError,
    compare,
    read_trace,
)

TRACES = ROOT / "assets" / "traces"


def stage_config(stage: str) -> StageConfig:
    """The named stage from cdk.json, validated as synth validates it."""
    stages = json.loads((ROOT / "cdk.json").read_text())["context"].get("stages")
    [config] = load_stage_configs(stages, stage)
    return config


def simulation_settings(
    config: StageConfig, start_latency: int, price: float, office_time_zone: str = "Asia/Tokyo"
) -> SimulationSettings:
    """Simulator settings from a stage's config plus the simulation's own knobs."""
    return SimulationSettings(
        policy=PolicySettings.from_mapping(config.policy_settings()),
        schedule_period_minutes=config.schedule_period_minutes,
        auto_start_on_demand=config.auto_start_on_demand,
        start_latency_minutes=start_latency,
        price_per_unit_hour=price,
        office_time_zone=office_time_zone,
        # The policy plans with the start latency the simulated model really has.
        adaptive=AdaptiveSettings.from_mapping(
            {**config.adaptive.model_dump(), "start_latency_minutes": start_latency}
        ),
    )


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def result_rows(results: list[Result]) -> list[list[str]]:
    header = [
        "policy",
        "unit-hours",
        "USD",
        "requests",
        "arrived not running",
        "in windows",
        "lost",
        "max wait (min)",
        "minutes waited",
    ]
    return [header] + [
        [
            r.policy,
            f"{r.unit_hours:.2f}",
            f"{r.dollars:.2f}",
            str(r.requests),
            str(r.arrived_not_running),
            str(r.arrived_not_running_in_windows),
            str(r.lost),
            f"{r.max_delay_minutes:.0f}",
            f"{r.minutes_waited:.0f}",
        ]
        for r in results
    ]


def bench_rows(settings: SimulationSettings) -> list[list[str]]:
    """One row per shipped trace: unit-hours and requests that waited, per policy."""
    header = [
        "trace",
        "days",
        "idle-timeout",
        "adaptive",
        "optimum",
        "always-on",
        "office",
        "waited: idle-timeout",
        "waited: adaptive",
        "lost",
    ]
    windows = bool(settings.policy.keep_warm_windows)
    if windows:
        header += ["adaptive w/o windows", "waited in windows: windows / w/o"]
    rows = [header]
    for trace in sorted(TRACES.glob("*.csv")):
        loaded = read_trace(trace)
        results = compare(loaded, settings)
        fixed, adaptive, always, office, optimum = results[:5]
        row = [
            trace.stem,
            f"{(loaded.end - loaded.start).days}",
            f"{fixed.unit_hours:.2f}",
            f"{adaptive.unit_hours:.2f}",
            f"{optimum.unit_hours:.2f}",
            f"{always.unit_hours:.2f}",
            f"{office.unit_hours:.2f}",
            str(fixed.arrived_not_running),
            str(adaptive.arrived_not_running),
            f"{fixed.lost}/{adaptive.lost}",
        ]
        if windows:
            without = results[5]
            row += [
                f"{without.unit_hours:.2f}",
                f"{fixed.arrived_not_running_in_windows}/{without.arrived_not_running_in_windows}",
            ]
        rows.append(row)
    return rows


def simulation_report(
    trace: Path, config: StageConfig, settings: SimulationSettings, results: list[Result]
) -> dict[str, Any]:
    """What ``simulate --json`` prints: the trace, the settings that matter, every policy."""
    return {
        "trace": trace.stem,
        "stage": config.name,
        "start_latency_minutes": settings.start_latency_minutes,
        "schedule_period_minutes": settings.schedule_period_minutes,
        "warm_up": "none: the adaptive policy learns online from the trace's first request",
        "results": [asdict(r) for r in results],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.cost", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("simulate", "replay one trace"),
        ("bench", "replay every shipped trace"),
        ("plot", "draw a week of one trace: requests and each policy's model state"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--stage", default="dev", help="stage in cdk.json (default: dev)")
        sub.add_argument(
            "--start-latency-minutes",
            type=int,
            default=10,
            help="minutes a model takes to start (default 10)",
        )
        sub.add_argument(
            "--price",
            type=float,
            default=DEFAULT_PRICE_PER_UNIT_HOUR,
            help=f"USD per inference-unit hour (default {DEFAULT_PRICE_PER_UNIT_HOUR:g})",
        )
        sub.add_argument(
            "--office-time-zone",
            default="Asia/Tokyo",
            help="zone of the office-schedule baseline's 09:00-17:00 (default Asia/Tokyo, "
            "the shipped traces' zone)",
        )
        if name in ("simulate", "plot"):
            sub.add_argument(
                "--trace", type=Path, required=True, help="CSV with a 'timestamp' column"
            )
        if name == "simulate":
            sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
        if name == "plot":
            sub.add_argument("--out", type=Path, required=True, help="PNG file to write")
            sub.add_argument(
                "--week",
                type=int,
                default=-1,
                help="which week of the trace to draw (0 = first; default: the last)",
            )
    args = parser.parse_args(argv)
    if args.start_latency_minutes < 0 or args.price < 0:
        parser.error("--start-latency-minutes and --price must not be negative")
    try:
        config = stage_config(args.stage)
        try:
            ZoneInfo(args.office_time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            parser.error(f"--office-time-zone {args.office_time_zone!r} is not an IANA time zone")
        settings = simulation_settings(
            config, args.start_latency_minutes, args.price, args.office_time_zone
        )
        if args.command == "bench":
            latencies = [args.start_latency_minutes]
            if args.start_latency_minutes == 10:
                latencies.append(20)  # Rekognition's starts vary: also price a slow one
            for latency in latencies:
                print(
                    f"Stage {config.name}: idle stop {config.idle_stop_minutes} min, period "
                    f"{config.schedule_period_minutes} min, start latency {latency} min, "
                    f"{len(config.keep_warm_windows)} keep-warm window(s); billed "
                    "inference-unit hours and requests that arrived while the model was not "
                    "running; no warm-up (the adaptive policy learns from each trace's start)"
                )
                latency_settings = simulation_settings(
                    config, latency, args.price, args.office_time_zone
                )
                print(table(bench_rows(latency_settings)))
                print()
            return 0
        if args.command == "plot":
            from tools.cost.plot import plot_week

            written = plot_week(read_trace(args.trace), settings, args.out, args.week)
            print(f"wrote {written}")
            return 0
        results = compare(read_trace(args.trace), settings)
    except (ConfigError, TraceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(simulation_report(args.trace, config, settings, results), indent=2))
    else:
        print(table(result_rows(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
