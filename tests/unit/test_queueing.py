"""Queueing formulas against textbook values and independent brute-force solutions."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.models.queueing import (
    erlang_c,
    mixture_quantile,
    mmc_mean_sojourn,
    mmc_sojourn_tail,
    mva_latency,
)

# ---------------------------------------------------------------- independent references


def erlang_c_via_b(c: int, a: float) -> float:
    """Erlang C from the Erlang B recursion: B(0)=1, B(k)=aB/(k+aB); C = B/(1-rho(1-B))."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    return b / (1 - rho * (1 - b))


def finite_population(users: int, think_s: float, c: int, s: float) -> tuple[float, float]:
    """Closed M/M/c//N (machine-repairman with c repairmen), solved as a birth-death chain.

    Births (N-n)/Z (a thinking user submits), deaths min(n, c)/S. Returns (throughput,
    mean time at the station) by Little's law.
    """
    weights = [1.0]
    for n in range(1, users + 1):
        birth = (users - n + 1) / think_s
        death = min(n, c) / s
        weights.append(weights[-1] * birth / death)
    total = sum(weights)
    p = [w / total for w in weights]
    x = sum(pn * min(n, c) / s for n, pn in enumerate(p))
    queue = sum(n * pn for n, pn in enumerate(p))
    return x, queue / x


# ---------------------------------------------------------------- Erlang C


@pytest.mark.parametrize("rho", [0.01, 0.3, 0.5, 0.9, 0.999])
def test_erlang_c_single_server_is_rho(rho: float) -> None:
    assert erlang_c(1, rho) == pytest.approx(rho, rel=1e-12)


@pytest.mark.parametrize(("c", "a", "want"), [
    (2, 1.0, 1 / 3),          # textbook: two servers at 50% load
    (3, 2.0, 4 / 9),          # 1 + 2 + 2 = 5 below c; 8/6 * 3 = 4 at and above: 4/9
    (2, 1.5, 0.6428571428571429),  # 2.25/2 * 2/0.5 = 4.5; 4.5 / (2.5 + 4.5) = 9/14
])
def test_erlang_c_textbook_values(c: int, a: float, want: float) -> None:
    assert erlang_c(c, a) == pytest.approx(want, rel=1e-12)


def test_erlang_c_edges() -> None:
    assert erlang_c(4, 0.0) == 0.0
    assert erlang_c(4, 4.0) == 1.0
    assert erlang_c(4, 9.0) == 1.0


@settings(max_examples=200, deadline=None)
@given(c=st.integers(1, 60), rho=st.floats(0.001, 0.995))
def test_erlang_c_matches_erlang_b_recursion(c: int, rho: float) -> None:
    a = rho * c
    got = erlang_c(c, a)
    assert 0.0 <= got <= 1.0
    assert got == pytest.approx(erlang_c_via_b(c, a), rel=1e-9, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(c=st.integers(1, 30), rho=st.floats(0.01, 0.98))
def test_more_servers_at_same_utilisation_wait_less_often(c: int, rho: float) -> None:
    # economy of scale: at equal utilisation a bigger pool queues less often
    assert erlang_c(c + 1, rho * (c + 1)) <= erlang_c(c, rho * c) + 1e-12


# ---------------------------------------------------------------- M/M/c sojourn


@pytest.mark.parametrize(("lam", "s"), [(10.0, 0.05), (1.0, 0.5), (99.0, 0.01)])
def test_mm1_mean_sojourn(lam: float, s: float) -> None:
    rho = lam * s
    assert mmc_mean_sojourn(lam, 1, s) == pytest.approx(s / (1 - rho), rel=1e-12)


def test_mmc_saturated_is_infinite() -> None:
    assert math.isinf(mmc_mean_sojourn(200.0, 2, 0.01))
    assert mmc_sojourn_tail(1.0, 200.0, 2, 0.01) == 1.0


@pytest.mark.parametrize("t", [0.001, 0.01, 0.1, 1.0])
def test_mm1_tail_is_exponential(t: float) -> None:
    lam, s = 30.0, 0.02
    assert mmc_sojourn_tail(t, lam, 1, s) == pytest.approx(math.exp(-(1 / s - lam) * t),
                                                           rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 8), rho=st.floats(0.05, 0.9), s=st.floats(0.001, 0.2))
def test_mmc_tail_integrates_to_the_mean(c: int, rho: float, s: float) -> None:
    """E[T] = integral of P(T > t): the tail distribution and the mean formula agree."""
    lam = rho * c / s
    mean = mmc_mean_sojourn(lam, c, s)
    upper = 60 * mean
    n = 6000
    h = upper / n
    # Simpson's rule on [0, upper]; the remaining tail is negligible
    total = mmc_sojourn_tail(0, lam, c, s) + mmc_sojourn_tail(upper, lam, c, s)
    for i in range(1, n):
        total += (4 if i % 2 else 2) * mmc_sojourn_tail(i * h, lam, c, s)
    assert total * h / 3 == pytest.approx(mean, rel=1e-4)


def test_mmc_tail_near_gamma_zero_is_continuous() -> None:
    # gamma = c*mu - lam - mu vanishes at lam = (c-1)*mu; the special case must join smoothly
    s, c = 0.01, 3
    lam = (c - 1) / s
    at = mmc_sojourn_tail(0.02, lam, c, s)
    near = mmc_sojourn_tail(0.02, lam * (1 + 1e-6), c, s)
    assert at == pytest.approx(near, rel=1e-4)


# ---------------------------------------------------------------- MVA


@pytest.mark.parametrize(("c", "s", "z", "d"), [(1, 0.005, 0.05, 0.0), (4, 0.02, 0.0, 0.003)])
def test_mva_one_user_sees_bare_service_time(c: int, s: float, z: float, d: float) -> None:
    r = mva_latency(1, z, d, c, s)
    assert r.residence_s == pytest.approx(s, rel=1e-12)
    assert r.throughput == pytest.approx(1 / (z + d + s), rel=1e-12)


def test_mva_no_users() -> None:
    r = mva_latency(0, 0.05, 0.0, 2, 0.01)
    assert r.throughput == 0.0 and r.residence_s == 0.01


@settings(max_examples=150, deadline=None)
@given(users=st.integers(1, 150), c=st.integers(1, 16), s=st.floats(1e-4, 0.5),
       z=st.floats(0.0, 2.0), d=st.floats(0.0, 0.2))
def test_mva_throughput_within_asymptotic_bounds(users: int, c: int, s: float, z: float,
                                                 d: float) -> None:
    r = mva_latency(users, z, d, c, s)
    assert r.throughput <= c / s * (1 + 1e-9)
    assert r.throughput <= users / (z + d + s) * (1 + 1e-9)
    assert r.throughput <= users / (z + s) * (1 + 1e-9)
    assert r.residence_s >= s * (1 - 1e-9)  # nobody is served faster than the service time
    assert 0.0 <= r.utilisation <= 1.0


@settings(max_examples=100, deadline=None)
@given(users=st.integers(1, 60), s=st.floats(1e-3, 0.1), z=st.floats(1e-3, 1.0),
       d=st.floats(0.0, 0.05))
def test_mva_single_server_matches_machine_repairman(users: int, s: float, z: float,
                                                     d: float) -> None:
    """c = 1: exact MVA equals the M/M/1//N finite-population closed form (think = Z + D)."""
    x, r = finite_population(users, z + d, 1, s)
    got = mva_latency(users, z, d, 1, s)
    assert got.throughput == pytest.approx(x, rel=1e-6)
    assert got.residence_s == pytest.approx(r, rel=1e-6)


@settings(max_examples=100, deadline=None)
@given(users=st.integers(1, 40), c=st.integers(2, 8), s=st.floats(1e-3, 0.1),
       z=st.floats(1e-3, 1.0))
def test_mva_multi_server_matches_birth_death_chain(users: int, c: int, s: float,
                                                    z: float) -> None:
    """The load-dependent recursion equals the M/M/c//N chain for c servers too."""
    x, r = finite_population(users, z, c, s)
    got = mva_latency(users, z, 0.0, c, s)
    assert got.throughput == pytest.approx(x, rel=1e-6)
    assert got.residence_s == pytest.approx(r, rel=1e-6)


def test_mva_residence_grows_with_users() -> None:
    rs = [mva_latency(n, 0.05, 0.002, 2, 0.005).residence_s for n in range(1, 80)]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(rs))
    assert rs[-1] > 5 * rs[0]  # far past saturation the queue dominates


# ---------------------------------------------------------------- mixture quantiles


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
@pytest.mark.parametrize(("lam", "s"), [(20.0, 0.01), (90.0, 0.01), (1.0, 0.5)])
def test_mixture_one_mm1_part_is_the_exponential_quantile(q: float, lam: float, s: float) -> None:
    want = -math.log(1 - q) / (1 / s - lam)
    assert mixture_quantile(q, [(1.0, 0.0, lam, 1, s)]) == pytest.approx(want, rel=1e-6)


def test_mixture_shift_adds_a_constant() -> None:
    lam, s, q = 20.0, 0.01, 0.95
    want = 0.25 - math.log(1 - q) / (1 / s - lam)
    assert mixture_quantile(q, [(3.0, 0.25, lam, 1, s)]) == pytest.approx(want, rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(q=st.floats(0.05, 0.995), w=st.floats(0.05, 0.95), d1=st.floats(0.0, 0.05),
       d2=st.floats(0.0, 0.05), c=st.integers(1, 4))
def test_mixture_quantile_inverts_the_mixture_tail(q: float, w: float, d1: float, d2: float,
                                                   c: int) -> None:
    s, lam = 0.01, 0.6 * c / 0.01
    parts = [(w, d1, lam, c, s), (1 - w, d2, lam, c, s)]
    t = mixture_quantile(q, parts)
    tail = (w * mmc_sojourn_tail(t - d1, lam, c, s)
            + (1 - w) * mmc_sojourn_tail(t - d2, lam, c, s))
    assert tail == pytest.approx(1 - q, abs=1e-6)
    assert min(d1, d2) <= t
