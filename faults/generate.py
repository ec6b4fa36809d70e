"""Random fault schedules from a seed, for scheduled chaos runs.

What to generate (kinds, rates, durations) is data in the scenario's ``chaos`` block; how
the values are drawn is here, from ``random.Random(seed)`` only, so a seed names a schedule.
"""

from __future__ import annotations

import random
from typing import Any

from harness.scenario import CLIENTS, ChaosSpec, TestbedSpec


def _count(chaos: ChaosSpec, span_s: float) -> int:
    if chaos.count is not None:
        return chaos.count
    rate = chaos.rate_per_min if chaos.rate_per_min is not None else 4.0
    return max(0, round(rate * span_s / 60))


def _fault(kind: str, rng: random.Random, chaos: ChaosSpec, tb: TestbedSpec) -> dict[str, Any]:
    nodes = tb.node_names
    if kind in ("latency", "bandwidth", "reset_peer"):
        pairs = [(s, d) for s, d, _ in tb.link_directions()] + [
            (CLIENTS, n) for n in tb.client_nodes]
        link = list(rng.choice(pairs))
        if kind == "latency":
            return {"kind": kind, "link": link, "ms": round(rng.uniform(*chaos.latency_ms))}
        if kind == "bandwidth":
            return {"kind": kind, "link": link, "kbps": rng.choice([64, 256, 1024])}
        return {"kind": kind, "link": link}
    if kind == "partition":
        shapes = ["halves", "random_halves", "random_node", "bridge", "majority_ring"]
        return {"kind": kind, "shape": rng.choice(shapes if len(nodes) > 2 else shapes[:3])}
    if kind == "clock_skew":
        return {"kind": kind, "node": rng.choice(nodes),
                "offset_s": round(rng.uniform(*chaos.skew_s), 3)}
    return {"kind": kind, "node": rng.choice(nodes)}


def random_faults(chaos: ChaosSpec, tb: TestbedSpec, duration_s: float,
                  seed: int) -> list[dict[str, Any]]:
    """Fault entries (plain dicts, validated by the caller) drawn from the seed.

    Without ``overlap`` the windows follow one another with at least 1 s of calm between.
    """
    rng = random.Random(f"chaos/{seed}")
    span = max(0.0, duration_s - chaos.start_s - 1.0)
    n = _count(chaos, span)
    out: list[dict[str, Any]] = []
    t = chaos.start_s
    for _ in range(n):
        length = round(rng.uniform(*chaos.for_s), 3)
        if chaos.overlap:
            at = round(rng.uniform(chaos.start_s, max(chaos.start_s, duration_s - length)), 3)
        else:
            at = round(t + rng.uniform(0.0, 1.0), 3)
            t = at + length + 1.0
        if at >= duration_s - 0.5:
            break
        entry = _fault(rng.choice(chaos.kinds), rng, chaos, tb)
        out.append({"at_s": at, "for_s": min(length, duration_s - at), **entry})
    return out
