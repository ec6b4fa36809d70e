"""Lost updates under clock skew in last-writer-wins (the reference service's `eventual`).

LWW orders writes by the writing node's wall clock. With node i's clock ``delta`` seconds
ahead, a write at i at real time t carries timestamp t + delta and beats every write made
in (t, t + delta): those acknowledged writes are lost. With writes to a key arriving as
Poisson processes (rate ``lam_i`` per key at the skewed node, ``lam_o`` at the others) and
the skew holding until the load ends T, the age A of i's last write is Exp(lam_i). That write
is the key's final value when A < delta, or when no other write came in (T - A + delta, T);
then the other nodes' writes in (T - A, T - A + delta) are the ones lost:

    E[lost per key] = lam_o * [ int_0^delta a lam_i e^(-lam_i a) da
                                + delta int_delta^inf lam_i e^(-lam_i a - lam_o (a - delta)) da ]
                    = lam_o * [ (1 - e^(-lam_i delta) (1 + lam_i delta)) / lam_i
                                + delta e^(-lam_i delta) lam_i / (lam_i + lam_o) ]     (delta > 0)

(i's own later writes carry later timestamps and are not lost; a write later superseded by a
real-time later one is an overwrite, not a loss). With i's clock behind (delta < 0) the roles
swap: the others are ahead of i by |delta|, and i's writes are the ones lost, so the same
formula holds with (lam_i, lam_o) exchanged and |delta|.

These are expectations of counts, so a measured count is compared with its Poisson interval.
"""

from __future__ import annotations

import math


def lww_expected_lost(keys: int, lam_skewed: float, lam_other: float, delta_s: float) -> float:
    """Expected acknowledged writes lost in the final state, summed over ``keys`` keys."""
    if keys <= 0 or delta_s == 0 or lam_other <= 0 or lam_skewed <= 0:
        return 0.0
    ahead, behind = (lam_skewed, lam_other) if delta_s > 0 else (lam_other, lam_skewed)
    d = abs(delta_s)
    e = math.exp(-ahead * d)
    per_key = behind * ((1 - e * (1 + ahead * d)) / ahead + d * e * ahead / (ahead + behind))
    return keys * per_key


def poisson_interval(mean: float, z: float = 1.96) -> tuple[float, float]:
    """An approximate two-sided interval for a Poisson count with this mean (normal
    approximation with continuity correction; exact enough for a check's tolerance)."""
    half = z * math.sqrt(max(mean, 0.0)) + 0.5
    return max(0.0, mean - half), mean + half
