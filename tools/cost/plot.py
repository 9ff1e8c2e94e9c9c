"""A week of a trace as a picture: requests, and each policy's model state as a band.

``python -m tools.cost plot --trace F --stage S --out F.png`` (matplotlib,
drawn without a display). Rows from the top: the requests (a tick each), then
``idle-timeout``, ``adaptive``, ``always-on`` and ``office schedule``, each a
band coloured by the model's state minute by minute: stopped, starting (a start
takes the simulation's latency; billed under ``from_start_request``) or running
(billed). The legend gives each policy's billed unit-hours and the requests
that arrived while its model was not running, over the week drawn.

``python -m tools.cost pareto --stage S --out F.png`` draws :func:`plot_pareto`:
for every shipped trace, each policy's cost against the requests that waited,
with the two clairvoyant optima as points (the picture in ``docs/cost/``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cost_guard.policy import billed

from tools.cost.simulator import (
    ADAPTIVE,
    IDLE_TIMEOUT,
    OFFICE_HOURS,
    Result,
    SimulationSettings,
    Trace,
    _per_minute,
    simulate_guard,
)

WEEK_MINUTES = 7 * 24 * 60
COLOURS = {"STOPPED": "#f2f2f2", "STARTING": "#f0a202", "RUNNING": "#2a9d8f"}


def timelines(trace: Trace, settings: SimulationSettings) -> dict[str, list[str]]:
    """Per policy, the model's status at every minute of the trace's span."""
    minutes = int((trace.end - trace.start).total_seconds() // 60)
    lines: dict[str, list[str]] = {}
    for policy in (IDLE_TIMEOUT, ADAPTIVE):
        line: list[str] = []
        simulate_guard(trace, settings, policy, timeline=line)
        lines[policy] = line
    lines["always-on"] = ["RUNNING"] * minutes
    zone = ZoneInfo(settings.office_time_zone)
    opens, closes = OFFICE_HOURS
    lines["office schedule"] = [
        "RUNNING"
        if opens <= (trace.start + timedelta(minutes=m)).astimezone(zone).time() < closes
        else "STOPPED"
        for m in range(minutes)
    ]
    return lines


def plot_week(trace: Trace, settings: SimulationSettings, out: Path, week: int = -1) -> Path:
    """Draw week ``week`` (0 = the first; negative counts from the last) to ``out`` (PNG).

    :raises ValueError: when the trace has no such week.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    minutes = int((trace.end - trace.start).total_seconds() // 60)
    weeks = max(1, minutes // WEEK_MINUTES)
    index = week if week >= 0 else weeks + week
    if not 0 <= index < weeks:
        raise ValueError(f"the trace has {weeks} week(s); --week {week} is not one of them")
    first, last = index * WEEK_MINUTES, min((index + 1) * WEEK_MINUTES, minutes)
    lines = timelines(trace, settings)
    arrivals = _per_minute(trace.requests, trace.start)
    units = settings.policy.min_inference_units
    figure, axis = plt.subplots(figsize=(14, 4.2), dpi=110)
    labels = []
    for row, (policy, line) in enumerate(reversed(list(lines.items()))):
        window = line[first:last]
        start = 0
        for minute in range(1, len(window) + 1):
            if minute == len(window) or window[minute] != window[start]:
                axis.broken_barh(
                    [((first + start) / 60 / 24, (minute - start) / 60 / 24)],
                    (row - 0.35, 0.7),
                    facecolors=COLOURS[window[start]],
                )
                start = minute
        billed_minutes = sum(billed(mode, settings.billing) for mode in window)
        unit_hours = billed_minutes * units / 60
        cold = sum(
            count
            for minute, count in arrivals.items()
            if first <= minute < last and line[minute] != "RUNNING"
        )
        labels.append(f"{policy}: {unit_hours:.1f} unit-h, {cold} arrived not running")
    ticks = [m / 60 / 24 for m in arrivals if first <= m < last]
    axis.vlines(ticks, len(lines) - 0.35, len(lines) + 0.35, colors="#264653", linewidth=0.6)
    names = [*reversed(list(lines)), "requests"]
    axis.set_yticks(range(len(names)), names)
    axis.set_xlim(first / 60 / 24, last / 60 / 24)
    zone = ZoneInfo(settings.office_time_zone)
    local_start = trace.start.astimezone(zone)
    days = range(first // (24 * 60), -(-last // (24 * 60)))
    axis.set_xticks(list(days), [(local_start + timedelta(days=d)).strftime("%a %d") for d in days])
    axis.set_xlabel(
        f"days from {local_start:%Y-%m-%d %H:%M} {settings.office_time_zone} "
        f"(week {index + 1} of {weeks})"
    )
    axis.set_title(
        f"{settings.start_latency_minutes}-minute start, billing {settings.billing}, guard "
        f"every {settings.schedule_period_minutes} min; " + " | ".join(labels[::-1][:2]),
        fontsize=9,
    )
    handles = [Patch(facecolor=c, label=s.lower()) for s, c in COLOURS.items()]
    handles += [Patch(facecolor="white", label=text) for text in labels[::-1]]
    axis.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
    return out


MARKERS = {
    "idle-timeout": ("o", "#e76f51"),
    "adaptive": ("s", "#2a9d8f"),
    "optimum_zero_wait": ("*", "#264653"),
    "optimum_wait_one_start": ("P", "#8ab17d"),
}


def plot_pareto(results: dict[str, list[Result]], title: str, out: Path, columns: int = 4) -> Path:
    """Per trace, unit-hours against requests that waited, each policy a point; the
    zero-wait optimum sits at 0 waits, the one-start optimum at the waits it allows.

    :param results: trace name -> :func:`tools.cost.simulator.compare`'s results.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = -(-len(results) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.0 * rows), dpi=100)
    flat = list(axes.flat) if hasattr(axes, "flat") else [axes]
    for axis, (trace, found) in zip(flat, results.items(), strict=False):
        requests = found[0].requests
        for result in found:
            if result.policy not in MARKERS:
                continue
            marker, colour = MARKERS[result.policy]
            waits = (
                requests
                if result.policy == "optimum_wait_one_start"
                else result.arrived_not_running
            )
            axis.scatter(
                waits,
                result.unit_hours,
                marker=marker,
                color=colour,
                s=60,
                label=result.policy,
                zorder=3,
            )
        axis.set_title(trace, fontsize=9)
        axis.set_xlabel("requests that waited (optimum 1 start: all may)", fontsize=7)
        axis.set_ylabel("billed unit-hours", fontsize=7)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    for axis in flat[len(results) :]:
        axis.set_visible(False)
    handles, labels = flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout(rect=(0, 0.05, 1, 0.95))
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
    return out
