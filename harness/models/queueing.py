"""Queueing formulas, pure functions of their parameters (times in seconds).

- Erlang C and the M/M/c sojourn-time distribution: Gross and Harris, *Fundamentals of
  Queueing Theory*, ch. 2 (P(T > t) for M/M/c, FCFS).
- Exact Mean Value Analysis for a closed network with think time, one load-dependent
  (multi-server) station and pure delays: Reiser and Lavenberg (1980), with the marginal
  queue-length recursion for load-dependent stations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


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
    arrival: tuple[float, ...] = ()  # P(j at the station) seen by an arrival (population N-1)

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
    seen: list[float] = p
    for n in range(1, users + 1):
        seen = p  # the arrival theorem: an arrival sees the network with one customer fewer
        r = sum(j * s / min(j, c) * p[j - 1] for j in range(1, n + 1))
        x = n / (think_s + delay_s + r)
        new = [0.0] * (n + 1)
        for j in range(1, n + 1):
            new[j] = x * s / min(j, c) * p[j - 1]
        new[0] = max(0.0, 1.0 - sum(new[1:]))
        p = new
    return MvaResult(users, r, x, min(1.0, x * s / c), tuple(seen))


def _poisson_cdf_below(k: int, x: float) -> float:
    """Q(k, x) = P(Poisson(x) < k) = P(Erlang(k, 1) > x), summed in a stable way."""
    if x <= 0:
        return 1.0
    term = math.exp(-x)
    total = term
    for i in range(1, k):
        term *= x / i
        total += term
    return min(1.0, total)


def closed_sojourn_tail(t: float, arrival: tuple[float, ...], c: int, s: float) -> float:
    """P(T > t) at a c-server FCFS station with exponential service of mean s, for an
    arrival that finds j customers with probability arrival[j] (from MVA's arrival theorem).

    With j >= c present the arrival waits for j - c + 1 departures at rate c/s (an Erlang
    wait), then is served: T = Erlang(j-c+1, c/s) + Exp(1/s); with j < c, T = Exp(1/s).
    """
    if t <= 0:
        return 1.0
    b = 1.0 / s
    a = c * b
    out = 0.0
    for j, pj in enumerate(arrival):
        if pj <= 0:
            continue
        if j < c:
            out += pj * math.exp(-b * t)
            continue
        k = j - c + 1
        if c == 1:  # a == b: the sum is Erlang(k+1, b)
            out += pj * _poisson_cdf_below(k + 1, b * t)
            continue
        # P(X+Y > t) = P(X > t) + e^{-bt} (a/(a-b))^k P(Gamma(k, a-b) <= t)
        log_coef = -b * t + k * math.log(a / (a - b))
        rest = 1.0 - _poisson_cdf_below(k, (a - b) * t)
        out += pj * (_poisson_cdf_below(k, a * t) + (math.exp(log_coef) * rest
                                                     if log_coef < 700 else 0.0))
    return min(1.0, out)


Part = tuple[float, float, float, int, float] | tuple[float, float, Callable[[float], float]]


def mixture_quantile(q: float, parts: list[Any]) -> float:
    """Quantile of a mixture of shifted sojourn times, by bisection on the mixture's tail.

    Each part is (weight, shift_s, lam, c, s): a constant delay shift_s plus the sojourn of
    an open M/M/c station; or (weight, shift_s, tail): the same with any sojourn tail
    function P(T > t) (e.g. :func:`closed_sojourn_tail` bound to an MVA arrival distribution).
    """
    total = sum(p[0] for p in parts) or 1.0

    def part_tail(p: Any, t: float) -> float:
        if len(p) == 3:
            return float(p[2](t - p[1]))
        _, d, lam, c, s = p
        return mmc_sojourn_tail(t - d, lam, c, s)

    def tail(t: float) -> float:
        return sum(p[0] * part_tail(p, t) for p in parts) / total

    lo, hi = 0.0, max(p[1] for p in parts) + 1.0
    while tail(hi) > 1 - q and hi < 1e6:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        if tail(mid) > 1 - q:
            lo = mid
        else:
            hi = mid
    return hi
