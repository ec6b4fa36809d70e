"""Random fault schedules from a seed, for scheduled chaos runs.

What to generate (kinds, rates, durations) is data in the scenario's ``chaos`` block
(:class:`ChaosSpec`); how the values are drawn is here and in each kind's drawer, from
``random.Random(seed)`` only, so a seed names a schedule.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import Field, model_validator

from faults.registry import BY_NAME
from testbeds.spec import SpecModel, TestbedSpec

ChaosKind = Literal["latency", "partition", "crash", "pause", "stop", "clock_skew",
                    "bandwidth", "reset_peer"]


class ChaosSpec(SpecModel):
    """Random faults drawn from the scenario's seed, for scheduled chaos runs (Jepsen-style
    nemesis generator): ``count`` faults (or ``rate_per_min``) of the given kinds, each lasting
    ``for_s`` [min, max] seconds, starting no earlier than ``start_s``."""

    kinds: list[ChaosKind] = Field(
        default_factory=lambda: ["latency", "partition", "crash", "pause", "clock_skew"])
    count: int | None = Field(default=None, ge=0, le=10_000)
    rate_per_min: float | None = Field(default=None, gt=0)
    for_s: tuple[float, float] = (2.0, 5.0)
    start_s: float = Field(default=2.0, ge=0)
    latency_ms: tuple[float, float] = (20.0, 200.0)
    skew_s: tuple[float, float] = (-30.0, 30.0)
    overlap: bool = False

    @model_validator(mode="after")
    def _ranges(self) -> ChaosSpec:
        for name in ("for_s", "latency_ms"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi or (name == "for_s" and lo <= 0):
                raise ValueError(f"{name}: give [min, max] with 0 < min <= max, not [{lo}, {hi}]")
        return self


def _count(chaos: ChaosSpec, span_s: float) -> int:
    if chaos.count is not None:
        return chaos.count
    rate = chaos.rate_per_min if chaos.rate_per_min is not None else 4.0
    return max(0, round(rate * span_s / 60))


def _fault(kind: str, rng: random.Random, chaos: ChaosSpec, tb: TestbedSpec) -> dict[str, Any]:
    draw = BY_NAME[kind].draw
    assert draw is not None, f"fault kind {kind} has no chaos drawer"
    return draw(rng, chaos, tb)


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
