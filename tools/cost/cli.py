"""``python -m tools.cost``: price a stage's cost-guard settings on request traces.

Commands::

    python -m tools.cost simulate --trace assets/traces/office_hours.csv --stage dev [--json]
    python -m tools.cost bench [--stage dev]      # every trace in assets/traces/
    python -m tools.cost plot --trace assets/traces/periodic.csv --stage dev --out week.png
    python -m tools.cost report [--stage dev] [--readme]  # docs/cost/figures-dev.md, pictures

``simulate`` prints, for one trace, billed inference-unit hours and dollars
for the policies ``idle-timeout`` and ``adaptive``, the baselines ``always-on``
and ``office schedule`` and the two clairvoyant optima (see
:mod:`tools.cost.simulator` for their exact definitions), requests that arrived
while the model was not running, requests lost, the longest wait, the minutes
waited in all and the price of each avoided wait against ``idle-timeout``.
``bench`` does it for every shipped trace, with a 10- and a 20-minute start
and under both billings. ``report`` writes the same figures, and the cost
against waits pictures, into ``docs/cost/figures-<stage>.md`` (the figures the
docs quote; ``make cost-figures`` writes both stages').
``plot`` draws one week (:mod:`tools.cost.plot`). ``--billing`` overrides the
stage's ``billing`` setting.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cost_guard.adaptive import AdaptiveSettings
from cost_guard.policy import BILLINGS, PolicySettings

from stacks.config import ConfigError, StageConfig, load_stage_configs
from tools import ROOT
from tools.cost.simulator import (
    ADAPTIVE,
    DEFAULT_PRICE_PER_UNIT_HOUR,
    IDLE_TIMEOUT,
    Result,
    SimulationSettings,
    TraceError,
    compare,
    read_trace,
    simulate_guard,
)

TRACES = ROOT / "assets" / "traces"
FIGURES = ROOT / "docs" / "cost"
"""Where ``report`` writes ``figures-<stage>.md`` and its pictures."""


def stage_config(stage: str) -> StageConfig:
    """The named stage from cdk.json, validated as synth validates it."""
    stages = json.loads((ROOT / "cdk.json").read_text())["context"].get("stages")
    [config] = load_stage_configs(stages, stage)
    return config


def simulation_settings(
    config: StageConfig,
    start_latency: int,
    price: float,
    office_time_zone: str = "Asia/Tokyo",
    billing: str | None = None,
    *,
    with_provisional: bool = False,
) -> SimulationSettings:
    """Simulator settings from a stage's config plus the simulation's own knobs.

    :param start_latency: how long the simulated model really takes to start; the
        adaptive policy is not told (it plans with the stage's configured
        ``adaptive.start_latency_minutes`` until the guard has measured a start).
    :param billing: overrides the stage's ``billing``.
    :param with_provisional: use the stage's ``provisional`` answers and ``sustained``
        auto-start; without it (the guard's figures) requests that find the model stopped
        wait and start it at once, so the policies are compared on waits alone.
    """
    policy = PolicySettings.from_mapping(config.policy_settings())
    if billing is not None:
        policy = replace(policy, billing=billing)
    return SimulationSettings(
        policy=policy,
        schedule_period_minutes=config.schedule_period_minutes,
        auto_start_on_demand=bool(config.auto_start_on_demand),
        sustained_minutes_with_requests=config.sustained_demand.minutes_with_requests
        if with_provisional and config.auto_start_on_demand == "sustained"
        else 0,
        sustained_within_minutes=config.sustained_demand.within_minutes,
        provisional=with_provisional and config.provisional.enabled,
        start_latency_minutes=start_latency,
        price_per_unit_hour=price,
        office_time_zone=office_time_zone,
        adaptive=AdaptiveSettings.from_mapping(config.adaptive.model_dump()),
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


def per_avoided_wait(result: Result, baseline: Result) -> float | None:
    """USD ``result`` costs more than ``baseline`` per request it spared a wait or a
    provisional answer (:attr:`Result.without_model`; None when it spared none)."""
    spared = baseline.without_model - result.without_model
    return (result.dollars - baseline.dollars) / spared if spared > 0 else None


def verdict(adaptive: Result, fixed: Result) -> str:
    """How the adaptive policy compares with the fixed timeout: cost, and requests the
    model did not answer at once (waits, and provisional answers where the stage has them)."""
    cost, waits = (
        adaptive.unit_hours - fixed.unit_hours,
        (adaptive.without_model - fixed.without_model),
    )
    if abs(cost) < 1e-9 and waits == 0:
        return "same"
    if cost <= 1e-9 and waits <= 0:
        return "Pareto-better"
    if cost >= -1e-9 and waits >= 0:
        return "dominated"
    if cost < 0:
        return f"cheaper, {-cost / waits:.2f} unit-h saved per extra wait"
    price = per_avoided_wait(adaptive, fixed)
    return f"USD {price:.2f} per avoided wait" if price is not None else "trade-off"


def result_rows(results: list[Result]) -> list[list[str]]:
    header = [
        "policy",
        "unit-hours",
        "USD",
        "requests",
        "waited",
        "in windows",
        "lost",
        "max wait (min)",
        "minutes waited",
        "USD per avoided wait",
    ]
    fixed = results[0]
    rows = [header]
    for r in results:
        price = per_avoided_wait(r, fixed) if r.policy != fixed.policy else None
        rows.append(
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
                "-" if price is None else f"{price:.2f}",
            ]
        )
    return rows


def bench_results(settings: SimulationSettings) -> dict[str, list[Result]]:
    """Every shipped trace's :func:`compare` results, by trace name."""
    return {
        trace.stem: compare(read_trace(trace), settings) for trace in sorted(TRACES.glob("*.csv"))
    }


def bench_rows(
    settings: SimulationSettings, results: dict[str, list[Result]] | None = None
) -> list[list[str]]:
    """One row per shipped trace: unit-hours, requests that waited, minutes waited, lost,
    per policy, the two optima, and how adaptive compares with the fixed timeout."""
    header = [
        "trace",
        "idle-timeout",
        "adaptive",
        "opt. 0 wait",
        "opt. 1 start",
        "always-on",
        "office",
        "waited: fixed/adaptive",
        "min waited: fixed/adaptive",
        "lost: fixed/adaptive",
        "adaptive vs fixed",
    ]
    windows = bool(settings.policy.keep_warm_windows)
    if windows:
        header += ["adaptive w/o windows", "waited in windows: windows / w/o"]
    rows = [header]
    for name, found in (results or bench_results(settings)).items():
        fixed, adaptive, always, office, zero, one = found[:6]
        row = [
            name,
            f"{fixed.unit_hours:.2f}",
            f"{adaptive.unit_hours:.2f}",
            f"{zero.unit_hours:.2f}",
            f"{one.unit_hours:.2f}",
            f"{always.unit_hours:.2f}",
            f"{office.unit_hours:.2f}",
            f"{fixed.arrived_not_running}/{adaptive.arrived_not_running}",
            f"{fixed.minutes_waited:.0f}/{adaptive.minutes_waited:.0f}",
            f"{fixed.lost}/{adaptive.lost}",
            verdict(adaptive, fixed),
        ]
        if windows:
            without = found[6]
            row += [
                f"{without.unit_hours:.2f}",
                f"{fixed.arrived_not_running_in_windows}/{without.arrived_not_running_in_windows}",
            ]
        rows.append(row)
    return rows


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


LATENCIES = (10, 20)
BILLING_NAMES = ("from_start_request", "running")


def report(config: StageConfig, price: float, office_time_zone: str, out: Path) -> list[Path]:
    """Write ``out`` (Markdown: one table per start latency and billing) and, beside it,
    the cost-against-waits picture of each billing at a 10-minute start."""
    from tools.cost.plot import plot_pareto

    sections = [
        f"# Cost figures: stage {config.name}",
        "",
        "Written by `python -m tools.cost report --stage "
        f"{config.name}` (`make cost-figures`); do not edit by hand. Each table replays every "
        "trace in `assets/traces/` with the stage's settings from `cdk.json` "
        f"(idle stop {config.idle_stop_minutes} min, guard every "
        f"{config.schedule_period_minutes} min, policy `{config.policy}`, "
        f"{len(config.keep_warm_windows)} keep-warm window(s)), USD {price:g} per "
        "inference-unit hour, the API's 120-second Retry-After and clients that give up "
        "after 30 minutes. The adaptive policy's parameters are the stage's, fixed before "
        "any of these traces was replayed; it is told no start latency, it measures them. "
        "These tables compare the guard's policies alone: no provisional answers, and a "
        "stopped model started by the first request (the last section shows both). "
        "Unit-hours are billed inference-unit hours over the same span for every policy; "
        "*waited* counts requests that found the model not running (lost ones included).",
        "",
    ]
    written = []
    for billing in BILLING_NAMES:
        for latency in LATENCIES:
            settings = simulation_settings(config, latency, price, office_time_zone, billing)
            results = bench_results(settings)
            sections += [
                f"## {latency}-minute start, billing `{billing}`",
                "",
                markdown(bench_rows(settings, results)),
                "",
            ]
            if latency == LATENCIES[0]:
                picture = out.parent / f"pareto-{config.name}-{billing}.png"
                plot_pareto(
                    results,
                    f"stage {config.name}: {latency}-minute start, billing {billing}",
                    picture,
                )
                written.append(picture)
                sections += [f"![cost against waits, {billing}]({picture.name})", ""]
    sections += [
        "## Provisional answers on and off",
        "",
        provisional_section(config, price, office_time_zone),
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(sections))
    return [out, *written]


README = ROOT / "README.md"
README_START = "<!-- provisional-figures: written by make cost-figures -->"
README_END = "<!-- /provisional-figures -->"


def provisional_rows(config: StageConfig, price: float, office_time_zone: str) -> list[list[str]]:
    """Per shipped trace, the stage's policy with provisional answers off and on: requests
    that waited (lost ones included), were answered provisionally, lost, and billed
    unit-hours; on, with auto-start at the first request and with sustained demand."""
    base = simulation_settings(config, LATENCIES[0], price, office_time_zone)
    policy = ADAPTIVE if config.policy == "adaptive" else IDLE_TIMEOUT
    sustained = config.sustained_demand
    variants = [
        replace(base, provisional=False, sustained_minutes_with_requests=0),
        replace(base, provisional=True, sustained_minutes_with_requests=0),
        replace(
            base,
            provisional=True,
            sustained_minutes_with_requests=sustained.minutes_with_requests,
            sustained_within_minutes=sustained.within_minutes,
        ),
        replace(base, provisional=True, auto_start_on_demand=False),
    ]
    rows = [
        [
            "trace",
            "requests",
            "off: waited / lost / unit-h",
            "on: provisional / waited / unit-h",
            f"on + sustained {sustained.minutes_with_requests} of {sustained.within_minutes} "
            "min: provisional / waited / unit-h",
            "on, no auto-start: provisional / unit-h",
        ]
    ]
    for path in sorted(TRACES.glob("*.csv")):
        trace = read_trace(path)
        off, on, calm, never = (simulate_guard(trace, v, policy) for v in variants)
        rows.append(
            [
                path.stem,
                str(off.requests),
                f"{off.arrived_not_running} / {off.lost} / {off.unit_hours:.2f}",
                f"{on.answered_provisionally} / {on.arrived_not_running} / {on.unit_hours:.2f}",
                f"{calm.answered_provisionally} / {calm.arrived_not_running} / "
                f"{calm.unit_hours:.2f}",
                f"{never.answered_provisionally} / {never.unit_hours:.2f}",
            ]
        )
    return rows


def provisional_section(config: StageConfig, price: float, office_time_zone: str) -> str:
    """The Markdown table of :func:`provisional_rows` with what it assumed, and what a
    thousand provisional answers cost with the stage's embedding model."""
    from shared.embeddings import MODELS, PRICE_CHECKED, S3_VECTORS_USD_PER_QUERY

    model = MODELS[config.provisional.embedding_model]
    per_thousand = 1000 * (model.usd_per_image + S3_VECTORS_USD_PER_QUERY)
    return "\n".join(
        [
            f"A thousand provisional answers cost about USD {per_thousand:.3f} with "
            f"`{model.name}` (USD {model.usd_per_image:g} per image embedded, "
            f"https://aws.amazon.com/bedrock/pricing/, plus USD {S3_VECTORS_USD_PER_QUERY:g} "
            "per QueryVectors call, https://aws.amazon.com/s3/pricing/; us-east-1 prices read "
            f"{PRICE_CHECKED}), against USD {price:g} for one inference-unit hour of the "
            "custom model, used or not.",
            "",
            f"Stage `{config.name}`'s settings (policy `{config.policy}`, idle stop "
            f"{config.idle_stop_minutes} min), a {LATENCIES[0]}-minute start, billing "
            f"`{config.billing}`, USD {price:g} per inference-unit hour. *waited*: requests "
            "that found the model not running and got a 503 (lost ones included); "
            "*provisional*: answered at once from the photo index, assuming every such "
            "request gets an answer (an upper bound: an index fault or no similar photo "
            "answers 503).",
            "",
            markdown(provisional_rows(config, price, office_time_zone)),
        ]
    )


def write_readme_figures(config: StageConfig, price: float, office_time_zone: str) -> Path:
    """Replace the README's block between :data:`README_START` and :data:`README_END`."""
    text = README.read_text()
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    section = provisional_section(config, price, office_time_zone)
    README.write_text(f"{head}{README_START}\n{section}\n{README_END}{tail}")
    return README


def simulation_report(
    trace: Path, config: StageConfig, settings: SimulationSettings, results: list[Result]
) -> dict[str, Any]:
    """What ``simulate --json`` prints: the trace, the settings that matter, every policy."""
    return {
        "trace": trace.stem,
        "stage": config.name,
        "start_latency_minutes": settings.start_latency_minutes,
        "billing": settings.billing,
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
        ("report", "write docs/cost/figures.md and its pictures (every latency and billing)"),
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
            "--billing",
            choices=BILLINGS,
            help="which minutes are billed (default: the stage's 'billing' setting)",
        )
        sub.add_argument(
            "--office-time-zone",
            default="Asia/Tokyo",
            help="zone of the office-schedule baseline's 09:00-17:00 (default Asia/Tokyo, "
            "the shipped traces' zone)",
        )
        if name in ("simulate", "bench", "plot"):
            sub.add_argument(
                "--provisional",
                action="store_true",
                help="with the stage's provisional answers and sustained auto-start "
                "(default: off, requests that find the model stopped wait)",
            )
        if name in ("simulate", "plot"):
            sub.add_argument(
                "--trace", type=Path, required=True, help="CSV with a 'timestamp' column"
            )
        if name == "simulate":
            sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
        if name == "report":
            sub.add_argument(
                "--out",
                type=Path,
                help=f"Markdown file (default {FIGURES.relative_to(ROOT)}/figures-STAGE.md)",
            )
            sub.add_argument(
                "--readme",
                action="store_true",
                help="also rewrite the README's provisional-answers table from this stage",
            )
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
        provisional = getattr(args, "provisional", False)
        settings = simulation_settings(
            config,
            args.start_latency_minutes,
            args.price,
            args.office_time_zone,
            args.billing,
            with_provisional=provisional,
        )
        if args.command == "report":
            out = args.out or FIGURES / f"figures-{config.name}.md"
            for path in report(config, args.price, args.office_time_zone, out):
                print(f"wrote {path}")
            if args.readme:
                print(f"wrote {write_readme_figures(config, args.price, args.office_time_zone)}")
            return 0
        if args.command == "bench":
            latencies = [args.start_latency_minutes]
            if args.start_latency_minutes == 10:
                latencies.append(20)  # Rekognition's starts vary: also price a slow one
            billings = [args.billing] if args.billing else list(BILLING_NAMES)
            for billing in billings:
                for latency in latencies:
                    print(
                        f"Stage {config.name}: idle stop {config.idle_stop_minutes} min, period "
                        f"{config.schedule_period_minutes} min, real start latency {latency} min "
                        f"(the policy measures it), billing {billing}, "
                        f"{len(config.keep_warm_windows)} keep-warm window(s); billed "
                        "inference-unit hours, requests that waited, minutes waited; no warm-up"
                    )
                    latency_settings = simulation_settings(
                        config,
                        latency,
                        args.price,
                        args.office_time_zone,
                        billing,
                        with_provisional=provisional,
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
