"""A week of a trace as a picture: requests, and each policy's model state as a band.

``python -m tools.cost plot --trace F --stage S --out F.png`` (matplotlib,
drawn without a display). Rows from the top: the requests (a tick each), then
``idle-timeout``, ``adaptive``, ``always-on``, ``office schedule`` and
``offline optimum``, each a band coloured by the model's state minute by
minute: stopped, starting (a start takes the simulation's latency and is not
billed) or running (billed). The legend gives each policy's unit-hours and
the requests that arrived while its model was not running, over the week drawn.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tools.cost.simulator import (
    ADAPTIVE,
    IDLE_TIMEOUT,
    OFFICE_HOURS,
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
    period = settings.schedule_period_minutes
    slots = {m // period for m in _per_minute(trace.requests, trace.start)}
    lines["offline optimum"] = [
        "RUNNING" if m // period in slots else "STOPPED" for m in range(minutes)
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
        unit_hours = window.count("RUNNING") * units / 60
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
        f"{settings.start_latency_minutes}-minute start, guard every "
        f"{settings.schedule_period_minutes} min; " + " | ".join(labels[::-1][:2]),
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
