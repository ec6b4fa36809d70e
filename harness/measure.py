"""Measurements from a history: per phase counts, latency quantiles and throughput.

Operations are assigned to the phase in which they were invoked. Latency statistics skip the
first ``settle_s`` of every phase (connections are being set up or a fault is taking hold) and
count ``ok`` operations only; availability counts every completed operation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.phases import Phase

SETTLE_S = 0.25


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


def measure_phase(ops: pd.DataFrame, phase: Phase, settle_s: float = SETTLE_S) -> PhaseMeasurement:
    inside = ops[(ops["start_s"] >= phase.start_s) & (ops["start_s"] < phase.end_s)]
    counts = inside["type"].value_counts()
    settled = inside[(inside["start_s"] >= phase.start_s + settle_s) & (inside["type"] == "ok")]
    lat = settled["latency_ms"].astype(float)
    span = max(phase.end_s - phase.start_s, 1e-9)
    return PhaseMeasurement(
        phase=phase, ops=len(inside), ok=int(counts.get("ok", 0)),
        fail=int(counts.get("fail", 0)), info=int(counts.get("info", 0)),
        latency_ms=latency_summary(lat),
        latency_sd_ms=float(lat.std()) if len(lat) > 1 else math.nan,
        latency_samples=len(lat), throughput_rps=int(counts.get("ok", 0)) / span)


def measure(ops: pd.DataFrame, phases: list[Phase],
            warmup_s: float = 0.0) -> list[PhaseMeasurement]:
    """Per phase; latency statistics skip the warm-up that calibrated the model."""
    return [measure_phase(ops, ph, max(SETTLE_S, warmup_s - ph.start_s)) for ph in phases]


def overall(ops: pd.DataFrame, duration_s: float) -> dict[str, Any]:
    counts = ops["type"].value_counts() if len(ops) else pd.Series(dtype=int)
    ok = ops[ops["type"] == "ok"]["latency_ms"].astype(float) if len(ops) else pd.Series()
    return {
        "workload": {"ops": len(ops), "ok": int(counts.get("ok", 0)),
                     "fail": int(counts.get("fail", 0)), "info": int(counts.get("info", 0)),
                     "throughput_rps": int(counts.get("ok", 0)) / max(duration_s, 1e-9)},
        "latency_ms": latency_summary(ok),
    }
