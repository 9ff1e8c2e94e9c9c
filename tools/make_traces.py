"""``python -m tools.make_traces``: regenerate the request traces in ``assets/traces/``.

Each trace is one week, Monday 2026-11-16 00:00 to Monday 2026-11-23 00:00
in Asia/Tokyo (the ``# span:`` first line), of request timestamps (CSV,
column ``timestamp``, ISO 8601 in UTC), drawn from a Poisson
process whose rate depends on the local time in Asia/Tokyo. Seeded, so the
files are the same on every run.

* ``office_hours``: weekdays 09:00-18:00, one request every 2 minutes on
  average (every 10 minutes over lunch, 12:00-13:00); nothing at night or at
  the weekend. A team using the model all day.
* ``burst``: three inventory sessions (Mon 10:00, Wed 14:00, Fri 16:00 local),
  two hours each at four requests a minute; nothing else.
* ``sparse_week``: three requests a day at random moments between 08:00 and
  22:00, every day. Someone trying the model now and then.
* ``idle_weekend``: Friday afternoon use (13:00-18:00, one every 3 minutes),
  then nothing until Monday 09:00-11:00 (one every 3 minutes). The weekend
  peers' fixed clocks or TTL timers have billed for.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tools import ROOT

TOKYO = ZoneInfo("Asia/Tokyo")
WEEK_START = datetime(2026, 11, 16, tzinfo=TOKYO)  # a Monday
OUT = ROOT / "assets" / "traces"

RatePerMinute = Callable[[datetime], float]


def _between(local: datetime, start: time, end: time) -> bool:
    return start <= local.time() < end


def office_hours(local: datetime) -> float:
    if local.weekday() >= 5 or not _between(local, time(9), time(18)):
        return 0.0
    return 0.1 if _between(local, time(12), time(13)) else 0.5


def burst(local: datetime) -> float:
    sessions = {0: time(10), 2: time(14), 4: time(16)}
    begin = sessions.get(local.weekday())
    if begin is None:
        return 0.0
    end = (datetime.combine(local.date(), begin) + timedelta(hours=2)).time()
    return 4.0 if _between(local, begin, end) else 0.0


def idle_weekend(local: datetime) -> float:
    if local.weekday() == 4 and _between(local, time(13), time(18)):
        return 1 / 3
    if local.weekday() == 0 and _between(local, time(9), time(11)):
        return 1 / 3
    return 0.0


def poisson_times(rate: RatePerMinute, rng: random.Random) -> Iterator[datetime]:
    """Request times over the week for a per-minute rate (thinned per minute)."""
    for minute in range(7 * 24 * 60):
        local = WEEK_START + timedelta(minutes=minute)
        lam = rate(local)
        if lam <= 0:
            continue
        # Poisson arrivals within this minute.
        t = rng.expovariate(lam)
        while t < 1.0:
            yield (local + timedelta(minutes=t)).astimezone(UTC)
            t += rng.expovariate(lam)


def sparse_week(rng: random.Random) -> Iterator[datetime]:
    for day in range(7):
        for _ in range(3):
            offset = rng.uniform(8 * 60, 22 * 60)
            yield (WEEK_START + timedelta(days=day, minutes=offset)).astimezone(UTC)


def write(path: Path, times: Iterator[datetime]) -> int:
    rows = sorted(times)
    span_end = WEEK_START + timedelta(days=7)
    with path.open("w", newline="") as handle:
        handle.write(f"# span: {WEEK_START.isoformat()}/{span_end.isoformat()}\n")
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["timestamp"])
        writer.writerows([[t.isoformat(timespec="seconds")] for t in rows])
    return len(rows)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    generators: dict[str, Callable[[random.Random], Iterator[datetime]]] = {
        "office_hours": lambda rng: poisson_times(office_hours, rng),
        "burst": lambda rng: poisson_times(burst, rng),
        "sparse_week": sparse_week,
        "idle_weekend": lambda rng: poisson_times(idle_weekend, rng),
    }
    for name, generate in generators.items():
        count = write(OUT / f"{name}.csv", generate(random.Random(f"imgrec-{name}")))  # noqa: S311
        print(f"{OUT / name}.csv: {count} requests")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
