"""Queueing formulas, pure functions of their parameters (times in seconds).

- Erlang C and the M/M/c sojourn-time distribution: Gross and Harris, *Fundamentals of
  Queueing Theory*, ch. 2 (P(T > t) for M/M/c, FCFS).
- Exact Mean Value Analysis for a closed network with think time, one load-dependent
  (multi-server) station and pure delays: Reiser and Lavenberg (1980), with the marginal
  queue-length recursion for load-dependent stations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load a = lambda * S (Erlang C)."""
    if a <= 0:
        return 0.0
    if a >= c:
        return 1.0
    term, total = 1.0, 1.0  # a^k / k!, summed for k < c
    for k in range(1, c):
        term *= a / k
        total += term
    last = term * a / c * c / (c - a)  # a^c / c! * c / (c - a)
    return last / (total + last)


def mmc_mean_sojourn(lam: float, c: int, s: float) -> float:
    """Mean time in an M/M/c station (wait + service); inf when saturated."""
    a = lam * s
    if a >= c:
        return math.inf
    return s + erlang_c(c, a) * s / (c - a)


def mmc_sojourn_tail(t: float, lam: float, c: int, s: float) -> float:
    """P(T > t) for the M/M/c FCFS sojourn time (Gross and Harris)."""
    if t <= 0:
        return 1.0
    mu = 1.0 / s
    a = lam * s
    if a >= c:
        return 1.0
    pw = erlang_c(c, a)
    gamma = c * mu - lam - mu
    if abs(gamma) < 1e-9:
        return math.exp(-mu * t) * (1 + pw * mu * t)
    return math.exp(-mu * t) * (1 + pw * mu / gamma * (1 - math.exp(-gamma * t)))


@dataclass(frozen=True)
class MvaResult:
    """Exact MVA at population n: station residence, throughput and utilisation."""

    users: int
    residence_s: float
    throughput: float
    utilisation: float

    @property
    def response_s(self) -> float:
        return self.residence_s


def mva_latency(users: int, think_s: float, delay_s: float, c: int, s: float) -> MvaResult:
    """Exact MVA (Reiser and Lavenberg) for ``users`` customers cycling through think time,
    a pure delay and one c-server station with mean service s; returns the station residence.

    The response time a client sees is ``residence_s + delay_s``.
    """
    if users <= 0 or s <= 0:
        return MvaResult(users, max(s, 0.0), 0.0, 0.0)
    p = [1.0]  # p[j]: probability of j customers at the station, population n-1
    r = x = 0.0
    for n in range(1, users + 1):
        r = sum(j * s / min(j, c) * p[j - 1] for j in range(1, n + 1))
        x = n / (think_s + delay_s + r)
        new = [0.0] * (n + 1)
        for j in range(1, n + 1):
            new[j] = x * s / min(j, c) * p[j - 1]
        new[0] = max(0.0, 1.0 - sum(new[1:]))
        p = new
    return MvaResult(users, r, x, min(1.0, x * s / c))


def mixture_quantile(q: float, parts: list[tuple[float, float, float, int, float]]) -> float:
    """Quantile of a mixture of shifted M/M/c sojourn times.

    Each part is (weight, shift_s, lam, c, s): a request that pays a constant delay shift_s
    plus the sojourn of an M/M/c station. Solved by bisection on the mixture's tail.
    """
    total = sum(w for w, *_ in parts) or 1.0

    def tail(t: float) -> float:
        return sum(w * mmc_sojourn_tail(t - d, lam, c, s) for w, d, lam, c, s in parts) / total

    lo, hi = 0.0, max(d for _, d, *_ in parts) + 1.0
    while tail(hi) > 1 - q and hi < 1e6:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        if tail(mid) > 1 - q:
            lo = mid
        else:
            hi = mid
    return hi
