"""Measurements from a history: per phase counts, latency quantiles and throughput.

Operations are assigned to the phase in which they were invoked. Latency statistics skip the
first ``settle_s`` of every phase (connections are being set up or a fault is taking hold) and
count ``ok`` operations only; availability counts every completed operation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.phases import Phase

if TYPE_CHECKING:  # cost: pandas only where frames are built (a run directory's reader
    import pandas as pd  # and `edgeproof check` need no pandas to start)

SETTLE_S = 0.25
HEALED_S = 1.0  # a heal's tail: data a fault held back still drains after it is lifted
STOPPING_S = 0.5  # the load's end: the load process stops its users and writes its stats


@dataclass
class PhaseMeasurement:
    phase: Phase
    ops: int
    ok: int
    fail: int
    info: int
    latency_ms: dict[str, float]
    latency_sd_ms: float
    latency_samples: int
    throughput_rps: float

    @property
    def availability(self) -> float:
        done = self.ok + self.fail + self.info
        return self.ok / done if done else math.nan

    def as_dict(self) -> dict[str, Any]:
        """The measurement as results.json reports it (with its phase's fields)."""
        return {**self.phase.as_dict(), "ops": self.ops, "ok": self.ok, "fail": self.fail,
                "info": self.info, "latency_ms": self.latency_ms,
                "latency_sd_ms": self.latency_sd_ms, "latency_samples": self.latency_samples,
                "throughput_rps": self.throughput_rps, "availability": self.availability}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PhaseMeasurement:
        """A measurement as results.json stored it (null figures back to NaN)."""
        lat = {k: number(v) for k, v in (d.get("latency_ms") or {}).items()}
        return cls(Phase.from_dict(d), int(d["ops"]), int(d["ok"]), int(d["fail"]),
                   int(d["info"]), lat, number(d.get("latency_sd_ms")),
                   int(d["latency_samples"]), float(d["throughput_rps"]))


def number(x: Any) -> float:
    """A stored figure as a float (null, as JSON writes NaN, back to NaN)."""
    return math.nan if x is None else float(x)


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n (Wilson 1927): unlike p +- z*se it
    stays inside [0, 1] and keeps its coverage near 0 and 1 and for small n."""
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def with_phase_times(ops: pd.DataFrame, t0_ns: int) -> pd.DataFrame:
    """Add start_s/end_s columns: seconds after the load started."""
    out = ops.copy()
    out["start_s"] = (out["start_ns"] - t0_ns) / 1e9
    out["end_s"] = (out["end_ns"] - t0_ns) / 1e9
    return out


def latency_summary(lat: pd.Series) -> dict[str, float]:
    if lat.empty:
        return {"mean": math.nan, "p50": math.nan, "p95": math.nan, "p99": math.nan}
    return {"mean": float(lat.mean()), "p50": float(lat.quantile(0.5)),
            "p95": float(lat.quantile(0.95)), "p99": float(lat.quantile(0.99))}


def measure_phase(ops: pd.DataFrame, phase: Phase, settle_s: float = SETTLE_S,
                  until_s: float = math.inf) -> PhaseMeasurement:
    """One phase: every operation invoked in it counts; latency statistics take the ``ok``
    ones invoked from ``settle_s`` after its start until ``until_s`` (in a fault's window,
    those that also ended in it: one held across the heal measured the fault's end)."""
    inside = ops[(ops["start_s"] >= phase.start_s) & (ops["start_s"] < phase.end_s)]
    counts = inside["type"].value_counts()
    settled = inside[(inside["start_s"] >= phase.start_s + settle_s)
                     & (inside["start_s"] < until_s) & (inside["type"] == "ok")]
    if phase.kind == "fault":  # an operation held across the heal (a paused node's) belongs
        settled = settled[settled["end_s"] <= phase.end_s]  # to neither side of it
    lat = settled["latency_ms"].astype(float)
    span = max(phase.end_s - phase.start_s, 1e-9)
    return PhaseMeasurement(
        phase=phase, ops=len(inside), ok=int(counts.get("ok", 0)),
        fail=int(counts.get("fail", 0)), info=int(counts.get("info", 0)),
        latency_ms=latency_summary(lat),
        latency_sd_ms=float(lat.std()) if len(lat) > 1 else math.nan,
        latency_samples=len(lat), throughput_rps=int(counts.get("ok", 0)) / span)


def measure(ops: pd.DataFrame, phases: list[Phase], warmup_s: float = 0.0,
            duration_s: float = math.inf) -> list[PhaseMeasurement]:
    """Per phase. Latency statistics skip the warm-up that calibrated the model, the first
    second after a heal (what the fault held back drains) and the load's last half second
    (the load process stopping): the harness's own transitions, not the system's steady
    state."""
    out = []
    for ph in phases:
        settle = max(SETTLE_S, warmup_s - ph.start_s)
        if ph.kind == "recovery":
            settle = max(settle, min(HEALED_S, (ph.end_s - ph.start_s) / 4))
        out.append(measure_phase(ops, ph, settle, duration_s - STOPPING_S))
    return out


def overall(ops: pd.DataFrame, duration_s: float) -> dict[str, Any]:
    """The whole load's counts, throughput and latency quantiles (results.json)."""
    import pandas as pd  # cost: see the imports

    counts = ops["type"].value_counts() if len(ops) else pd.Series(dtype=int)
    ok = ops[ops["type"] == "ok"]["latency_ms"].astype(float) if len(ops) else pd.Series()
    return {
        "workload": {"ops": len(ops), "ok": int(counts.get("ok", 0)),
                     "fail": int(counts.get("fail", 0)), "info": int(counts.get("info", 0)),
                     "throughput_rps": int(counts.get("ok", 0)) / max(duration_s, 1e-9)},
        "latency_ms": latency_summary(ok),
    }
