"""The LWW lost-update model against a direct simulation of last-writer-wins."""

from __future__ import annotations

import random

import pytest

from harness.models.lww import lww_expected_lost, poisson_interval


def simulate(keys: int, lam_i: float, lam_o: float, delta: float, horizon: float,
             seed: int) -> int:
    """Poisson writes per key at the skewed node and elsewhere; LWW by timestamp (real time,
    plus delta at the skewed node); count acknowledged writes invoked after the final value's
    write (the durability check's definition of lost)."""
    rng = random.Random(seed)
    lost = 0
    for _ in range(keys):
        writes = []
        for lam, skewed in ((lam_i, True), (lam_o, False)):
            t = rng.expovariate(lam)
            while t < horizon:
                writes.append((t, t + (delta if skewed else 0.0)))
                t += rng.expovariate(lam)
        if not writes:
            continue
        final_t = max(writes, key=lambda w: w[1])[0]
        lost += sum(1 for t, _ in writes if t > final_t)
    return lost


@pytest.mark.parametrize(("lam_i", "lam_o", "delta"), [(1.5, 3.0, 0.5), (0.5, 0.5, 2.0),
                                                        (4.0, 1.0, 0.1), (1.0, 2.0, -0.5)])
def test_model_matches_simulation(lam_i: float, lam_o: float, delta: float) -> None:
    keys = 20_000
    got = simulate(keys, lam_i, lam_o, delta, horizon=30.0, seed=7)
    want = lww_expected_lost(keys, lam_i, lam_o, delta)
    assert got == pytest.approx(want, rel=0.06), (got, want)


def test_no_skew_no_loss_and_interval_contains_mean() -> None:
    assert lww_expected_lost(10, 1.0, 1.0, 0.0) == 0.0
    lo, hi = poisson_interval(40.0)
    assert lo < 40 < hi and hi - lo == pytest.approx(2 * (1.96 * 40**0.5 + 0.5))
