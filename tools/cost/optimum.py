"""The clairvoyant optimum: the fewest billed minutes any timeline could have had.

An exact dynamic programme at minute resolution over every RUNNING/STOPPED
timeline of one model version that starts STOPPED at the trace's first minute
and in which:

* a start takes exactly ``start_latency`` minutes (STARTING), then the model
  is RUNNING; a stop takes effect at once, and a model may be started again
  in the very next minute (as the simulator allows);
* every request is served by a RUNNING minute no later than ``bound`` minutes
  after it arrived (``bound = 0``: nobody waits; ``bound = start_latency``:
  what an on-demand policy allows). A request that arrives before any start
  could have finished (in the first ``start_latency`` minutes) must be served
  by minute ``start_latency``: no timeline can do better;
* billing is per minute: RUNNING minutes, and under ``from_start_request``
  the STARTING minutes too.

States per minute: the mode (STOPPED, the k-th minute of a start, RUNNING)
and how many minutes the oldest unserved request may still wait. Each state's
cheapest cost so far is carried minute by minute (numpy arrays, a few dozen
states), so a two-week trace takes well under a second. The horizon runs past
the span until the last request's deadline: more freedom than any policy has
inside the span, so the result stays a lower bound of every simulated policy
that met the same bound (``tests/tools/test_cost_optimum.py`` checks it on
every shipped trace and against brute force on small ones).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

BILLINGS = ("running", "from_start_request")
"""``running``: only RUNNING minutes are billed; ``from_start_request``: STARTING
minutes too (the conservative reading of the Custom Labels guide's "charged for
the number of hours that your model is running")."""


def optimum_minutes(
    request_minutes: Iterable[int],
    *,
    start_latency: int,
    bound: int,
    billing: str,
    span_minutes: int,
) -> int:
    """Billed minutes (per inference unit) of the cheapest timeline (module docstring).

    :param request_minutes: minute of each request from the span's start (repeats allowed).
    :param start_latency: minutes a start takes (at least 1).
    :param bound: the longest any request may wait, in minutes (0 or more).
    :param billing: one of :data:`BILLINGS`.
    :param span_minutes: the trace's span; the horizon is at least this long.
    :raises ValueError: on a latency under 1, a negative bound or an unknown billing.
    """
    if start_latency < 1 or bound < 0 or billing not in BILLINGS:
        raise ValueError(
            f"start_latency >= 1, bound >= 0, billing in {BILLINGS}; "
            f"got {start_latency}, {bound}, {billing!r}"
        )
    arrivals = sorted(set(request_minutes))
    if not arrivals:
        return 0
    latency = start_latency
    deadline = {r: max(r + bound, latency) for r in arrivals}
    horizon = max(span_minutes, max(deadline.values()) + 1)
    slack = max(bound, latency) + 2  # column 0: nothing pending; column j: deadline = t + j - 1
    running = latency + 1  # mode rows: 0 STOPPED, 1..latency STARTING, latency + 1 RUNNING
    start_cost = 1.0 if billing == "from_start_request" else 0.0
    inf = np.inf
    cost = np.full((latency + 2, slack), inf)
    cost[0, 0] = cost[1, 0] = 0.0
    pending_arrivals = set(arrivals)
    for t in range(horizon):
        if t in pending_arrivals:
            column = deadline[t] - t + 1
            merged = np.minimum(cost[:, 0], cost[:, column:].min(axis=1))
            cost[:, column + 1 :] = inf
            cost[:, column] = merged
            cost[:, 0] = inf
        cost[running] += 1.0
        if start_cost:
            cost[1:running] += start_cost
        served = cost[running].min()
        cost[running] = inf
        cost[running, 0] = served
        cost[:running, 1] = inf  # the oldest request's deadline passed, not RUNNING
        shifted = np.full_like(cost, inf)
        shifted[:, 0] = cost[:, 0]
        shifted[:, 1:-1] = cost[:, 2:]
        cost = shifted
        nxt = np.full_like(cost, inf)
        stopped_or_running = np.minimum(cost[0], cost[running])
        nxt[0] = stopped_or_running
        nxt[1] = stopped_or_running
        nxt[2:running] = cost[1 : running - 1]
        nxt[running] = np.minimum(cost[running], cost[running - 1])
        cost = nxt
    best = cost[:, 0].min()
    if not np.isfinite(best):  # pragma: no cover - every deadline fits the horizon
        raise AssertionError("no feasible timeline")
    return int(best + 0.5)
