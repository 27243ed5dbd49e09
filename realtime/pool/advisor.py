"""Pool sizing advisor: how many numbers keep "no free number" rarer than a target.

A number is a server, a visitor who needs one is an arrival, and a visitor who finds
none is blocked (shared or fallback number: attribution is lost). That is exactly
Erlang's loss system, so the blocking probability with N numbers and offered load
A = λ · h (arrivals per hour × hours each number stays held) is Erlang B:

    B(0, A) = 1,    B(n, A) = A · B(n−1, A) / (n + A · B(n−1, A))

The advisor recommends the smallest N with B(N, A) ≤ target. Erlang B depends on the
holding time only through its mean, so session-length variety does not matter.
λ is the busiest hour seen in the window: sizing for the average would block at peak.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from realtime.domain import Lease


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of an M/G/N/N loss system with `load` Erlangs offered."""
    blocking = 1.0
    for n in range(1, servers + 1):
        blocking = load * blocking / (n + load * blocking)
    return blocking


def servers_needed(load: float, target: float) -> int:
    """The smallest N with erlang_b(N, load) ≤ target."""
    if load <= 0:
        return 0
    if not 0 < target < 1:
        raise ValueError("target blocking must be between 0 and 1")
    blocking, n = 1.0, 0
    while blocking > target:
        n += 1
        blocking = load * blocking / (n + load * blocking)
    return n


@dataclass(frozen=True)
class Traffic:
    peak_arrivals_per_hour: float
    mean_hold_minutes: float

    @property
    def offered_load(self) -> float:
        return self.peak_arrivals_per_hour * self.mean_hold_minutes / 60


def traffic_from_leases(leases: Iterable[Lease]) -> Traffic:
    """Peak hourly arrivals and mean holding time from the lease history."""
    per_hour: Counter[datetime] = Counter()
    held = []
    for lease in leases:
        per_hour[lease.leased_from.replace(minute=0, second=0, microsecond=0)] += 1
        held.append((lease.leased_until - lease.leased_from).total_seconds() / 60)
    if not held:
        return Traffic(0.0, 0.0)
    return Traffic(float(max(per_hour.values())), sum(held) / len(held))


def simulate_blocking(
    arrivals_per_hour: float,
    mean_hold_minutes: float,
    servers: int,
    arrivals: int,
    seed: int = 1,
) -> float:
    """Monte-Carlo loss system (Poisson arrivals, exponential holds): blocked share."""
    rng = random.Random(seed)
    rate = arrivals_per_hour / 60  # per minute
    busy: list[float] = []  # end times of held numbers
    now = 0.0
    blocked = 0
    for _ in range(arrivals):
        now += rng.expovariate(rate)
        while busy and busy[0] <= now:
            heapq.heappop(busy)
        if len(busy) >= servers:
            blocked += 1
        else:
            heapq.heappush(busy, now + rng.expovariate(1 / mean_hold_minutes))
    return blocked / arrivals
