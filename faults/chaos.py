"""Random fault schedules from a seed, for scheduled chaos runs.

What to generate (kinds, rates, durations) is data in the scenario's ``chaos`` block
(:class:`ChaosSpec`); how the values are drawn is here and in each kind's drawer, from
``random.Random(seed)`` only, so a seed names a schedule.
"""

from __future__ import annotations

import bisect
import random
from typing import Any, Literal

from pydantic import Field, StrictBool, model_validator

from faults.base import MAX_FAULTS
from faults.clock import MAX_SKEW_S
from faults.registry import BY_NAME, FAULT_ADAPTER
from testbeds.spec import DAY_S, MINUTE_MS, Int, Num, SpecModel, TestbedSpec

ChaosKind = Literal["latency", "partition", "crash", "pause", "stop", "clock_skew",
                    "bandwidth", "reset_peer"]


class ChaosSpec(SpecModel):
    """Random faults drawn from the scenario's seed, for scheduled chaos runs (Jepsen-style
    nemesis generator): ``count`` faults (or ``rate_per_min``) of the given kinds, each lasting
    ``for_s`` [min, max] seconds, starting no earlier than ``start_s``."""

    kinds: list[ChaosKind] = Field(
        default_factory=lambda: ["latency", "partition", "crash", "pause", "clock_skew"])
    count: Int | None = Field(default=None, ge=0, le=MAX_FAULTS)
    rate_per_min: Num | None = Field(default=None, gt=0, le=600)
    for_s: tuple[Num, Num] = (2.0, 5.0)
    start_s: Num = Field(default=2.0, ge=0, le=DAY_S)
    latency_ms: tuple[Num, Num] = (20.0, 200.0)
    skew_s: tuple[Num, Num] = (-30.0, 30.0)
    overlap: StrictBool = False

    @model_validator(mode="after")
    def _ranges(self) -> ChaosSpec:
        for name, top in (("for_s", DAY_S), ("latency_ms", MINUTE_MS)):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi <= top or (name == "for_s" and lo <= 0):
                raise ValueError(f"{name}: give [min, max] with 0 < min <= max <= {top:g}, "
                                 f"not [{lo}, {hi}]")
        lo, hi = self.skew_s
        if not -MAX_SKEW_S <= lo <= hi <= MAX_SKEW_S:
            raise ValueError(f"skew_s: give [min, max] with min <= max, each within "
                             f"+/-{MAX_SKEW_S:g} s (ten years), not [{lo}, {hi}]")
        return self

    def count_in(self, span_s: float) -> int:
        """How many faults this draws over ``span_s`` seconds of load."""
        if self.count is not None:
            return self.count
        rate = self.rate_per_min if self.rate_per_min is not None else 4.0
        return max(0, round(rate * span_s / 60))


def _fault(kind: str, rng: random.Random, chaos: ChaosSpec, tb: TestbedSpec) -> dict[str, Any]:
    draw = BY_NAME[kind].draw
    assert draw is not None, f"fault kind {kind} has no chaos drawer"
    return draw(rng, chaos, tb)


def chaos_span(chaos: ChaosSpec, duration_s: float) -> float:
    """The seconds of load over which chaos draws its faults."""
    return max(0.0, duration_s - chaos.start_s - 1.0)


def random_faults(chaos: ChaosSpec, tb: TestbedSpec, duration_s: float,
                  seed: int) -> list[dict[str, Any]]:
    """Fault entries (plain dicts, validated by the caller) drawn from the seed.

    Without ``overlap`` the windows follow one another with at least 1 s of calm between;
    with it, a fault that would hold a node (or clock) another one holds at that time is
    drawn again (a few times, then left out), so no heal undoes another fault.
    """
    rng = random.Random(f"chaos/{seed}")
    n = chaos.count_in(chaos_span(chaos, duration_s))
    out: list[dict[str, Any]] = []
    held = _Held()
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
        times = {"at_s": at, "for_s": min(length, duration_s - at)}
        entry = _draw_free(rng, chaos, tb, times, held)
        if entry is not None:
            out.append({**times, **entry})
    return out


def _draw_free(rng: random.Random, chaos: ChaosSpec, tb: TestbedSpec, times: dict[str, float],
               held: _Held) -> dict[str, Any] | None:
    """A fault entry for these times (overlapping chaos: one whose node or clock is free
    then, in five draws at most; None if none was)."""
    for _ in range(5):
        entry = _fault(rng.choice(chaos.kinds), rng, chaos, tb)
        if not chaos.overlap or held.take(entry, times):
            return entry
    return None


class _Held:
    """The time intervals during which each node (or clock) is held by a drawn fault."""

    def __init__(self) -> None:
        self.by: dict[str, list[tuple[float, float]]] = {}

    def take(self, entry: dict[str, Any], times: dict[str, float]) -> bool:
        """Hold what ``entry`` holds over its times if it is free then (True), else False."""
        key = FAULT_ADAPTER.validate_python({**times, **entry}).holds()
        if key is None:
            return True
        at, end = times["at_s"], times["at_s"] + times["for_s"]
        xs = self.by.setdefault(key, [])
        i = bisect.bisect(xs, (at, end))
        if (i and xs[i - 1][1] > at) or (i < len(xs) and xs[i][0] < end):
            return False
        xs.insert(i, (at, end))
        return True
