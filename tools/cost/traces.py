"""``python -m tools.cost.traces``: regenerate the request traces in ``assets/traces/``.

Each trace starts Monday 2026-11-16 00:00 in Asia/Tokyo and lasts one week
or two (the ``# span:`` first line), of request timestamps (CSV,
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

Two-week traces of rhythms (the adaptive policy learns from the first week):

* ``periodic``: an hourly job, day and night, at minute 10 with a jitter of
  a few minutes (normal, sigma 2 min, within +-6), one to three requests each.
* ``school_days``: Monday to Friday 08:30-15:30 local, one request every 4
  minutes on average, nothing over lunch (12:00-13:00) or on Wednesday
  afternoons, and the second Monday a holiday.
* ``heavy_tailed_bursts``: sessions at any hour whose gaps are Pareto
  distributed (shape 1.2, at least 30 minutes, capped at 3 days) and whose
  lengths are log-normal (median 15 minutes), two requests a minute inside.
* ``sparse_kiosk``: a kiosk used about five times a week between 10:00 and
  20:00 local, one to three requests within two minutes each time.
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


def poisson_times(rate: RatePerMinute, rng: random.Random, days: int = 7) -> Iterator[datetime]:
    """Request times over ``days`` for a per-minute rate (thinned per minute)."""
    for minute in range(days * 24 * 60):
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


TWO_WEEKS = 14


def periodic(rng: random.Random) -> Iterator[datetime]:
    for hour in range(TWO_WEEKS * 24):
        jitter = max(-6.0, min(6.0, rng.gauss(0, 2)))
        at = WEEK_START + timedelta(hours=hour, minutes=10 + jitter)
        for _ in range(rng.randint(1, 3)):
            yield (at + timedelta(seconds=rng.uniform(0, 40))).astimezone(UTC)


def school_days(local: datetime) -> float:
    day = (local - WEEK_START).days
    if local.weekday() >= 5 or day == 7 or not _between(local, time(8, 30), time(15, 30)):
        return 0.0
    if _between(local, time(12), time(13)):
        return 0.0
    if local.weekday() == 2 and local.time() >= time(13):
        return 0.0
    return 0.25


def heavy_tailed_bursts(rng: random.Random) -> Iterator[datetime]:
    at = WEEK_START + timedelta(minutes=rng.uniform(0, 120))
    end = WEEK_START + timedelta(days=TWO_WEEKS)
    while at < end:
        length = min(rng.lognormvariate(2.7, 0.6), 180.0)  # median about 15 min
        t = 0.0
        while t < length:
            moment = at + timedelta(minutes=t)
            if moment < end:
                yield moment.astimezone(UTC)
            t += rng.expovariate(2.0)
        gap = min(30 * rng.paretovariate(1.2), 3 * 24 * 60.0)
        at += timedelta(minutes=length + gap)


def sparse_kiosk(rng: random.Random) -> Iterator[datetime]:
    for day in range(TWO_WEEKS):
        for _ in range(rng.choice((0, 0, 1, 1, 1, 2))):
            at = WEEK_START + timedelta(days=day, minutes=rng.uniform(10 * 60, 20 * 60))
            for _ in range(rng.randint(1, 3)):
                yield (at + timedelta(seconds=rng.uniform(0, 120))).astimezone(UTC)


def write(path: Path, times: Iterator[datetime], days: int = 7) -> int:
    rows = sorted(times)
    span_end = WEEK_START + timedelta(days=days)
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
    two_weeks: dict[str, Callable[[random.Random], Iterator[datetime]]] = {
        "periodic": periodic,
        "school_days": lambda rng: poisson_times(school_days, rng, TWO_WEEKS),
        "heavy_tailed_bursts": heavy_tailed_bursts,
        "sparse_kiosk": sparse_kiosk,
    }
    for days, table in ((7, generators), (TWO_WEEKS, two_weeks)):
        for name, generate in table.items():
            rng = random.Random(f"imgrec-{name}")  # noqa: S311 (seeded test data)
            count = write(OUT / f"{name}.csv", generate(rng), days)
            print(f"{OUT / name}.csv: {count} requests over {days} days")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
