"""The clairvoyant optimum is exact (brute force agrees) and a lower bound of every policy."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from tools.cost.optimum import BILLINGS, optimum_minutes

STOPPED, STARTING, RUNNING = "S", "T", "R"


def _brute_force(
    requests: list[int], *, latency: int, bound: int, billing: str, horizon: int
) -> int | None:
    """Every mode sequence of ``horizon`` minutes, checked minute by minute."""
    best: int | None = None
    for timeline in itertools.product((STOPPED, STARTING, RUNNING), repeat=horizon):
        if not _valid(timeline, latency):
            continue
        served = all(
            any(timeline[m] == RUNNING for m in range(r, min(horizon, max(r + bound, latency) + 1)))
            for r in requests
        )
        if not served:
            continue
        billed = sum(
            mode == RUNNING or (mode == STARTING and billing == "from_start_request")
            for mode in timeline
        )
        best = billed if best is None else min(best, billed)
    return best


def _valid(timeline: tuple[str, ...], latency: int) -> bool:
    """Starts from STOPPED; each run of STARTING is exactly ``latency`` long and ends in
    RUNNING (or in the horizon); RUNNING comes only after a start or more RUNNING."""
    previous = STOPPED
    run = 0
    for mode in timeline:
        if mode == STARTING:
            run = run + 1 if previous == STARTING else 1
            if run > latency:
                return False
        elif mode == RUNNING:
            if previous == STARTING and run != latency:
                return False
            if previous == STOPPED:
                return False
        elif previous == STARTING:
            return False
        previous = mode
    return True


CASES = [
    ([0], 1, 0),
    ([3], 2, 0),
    ([1, 2], 2, 0),
    ([2, 6], 2, 0),
    ([2, 3, 8], 2, 0),
    ([2, 5], 2, 2),
    ([0, 4, 7], 3, 2),
    ([1, 3, 5, 7, 9], 2, 1),
    ([4, 5, 6], 1, 0),
]


@pytest.mark.parametrize(("requests", "latency", "bound"), CASES)
@pytest.mark.parametrize("billing", BILLINGS)
def test_the_programme_agrees_with_brute_force(
    requests: list[int], latency: int, bound: int, billing: str
) -> None:
    horizon = max(max(r + bound, latency) for r in requests) + 2

    expected = _brute_force(
        requests, latency=latency, bound=bound, billing=billing, horizon=horizon
    )

    assert expected is not None
    assert (
        optimum_minutes(
            requests, start_latency=latency, bound=bound, billing=billing, span_minutes=horizon
        )
        == expected
    )


def test_random_small_traces_agree_with_brute_force() -> None:
    rng = random.Random(20261201)  # noqa: S311 (test data, not secrets)
    for _ in range(40):
        horizon = 9
        requests = sorted(rng.sample(range(horizon - 3), rng.randint(1, 4)))
        latency, bound = rng.randint(1, 2), rng.randint(0, 2)
        billing = rng.choice(BILLINGS)
        full = max(max(r + bound, latency) for r in requests) + 2
        expected = _brute_force(
            requests, latency=latency, bound=bound, billing=billing, horizon=full
        )
        got = optimum_minutes(
            requests, start_latency=latency, bound=bound, billing=billing, span_minutes=full
        )
        assert got == expected, (requests, latency, bound, billing)


def test_a_longer_start_never_makes_the_optimum_cheaper() -> None:
    """The old slot count ignored the start latency; the programme does not."""
    requests = [30, 45, 70, 200, 215]
    costs = [
        optimum_minutes(
            requests, start_latency=latency, bound=0, billing="from_start_request", span_minutes=300
        )
        for latency in (5, 10, 20)
    ]

    assert costs == sorted(costs)
    assert costs[0] < costs[-1]


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="start_latency >= 1"):
        optimum_minutes([1], start_latency=0, bound=0, billing="running", span_minutes=10)
    with pytest.raises(ValueError, match="billing"):
        optimum_minutes([1], start_latency=1, bound=0, billing="hourly", span_minutes=10)


TRACES = sorted((Path(__file__).resolve().parents[2] / "assets" / "traces").glob("*.csv"))
