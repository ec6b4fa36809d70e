"""Checks: functions from (prediction, measurements) to a verdict with its evidence.

A finding is a result, never an exception; a checker that crashes yields ``unknown`` (never
``pass``), and so does a phase with too few samples or a harness that was itself saturated.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.measure import PhaseMeasurement
from harness.models import Prediction
from harness.scenario import Scenario

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"


@dataclass
class Verdict:
    name: str
    kind: str
    verdict: str
    predicted: Any = None
    measured: Any = None
    tolerance: Any = None
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "predicted": self.predicted,
                "measured": self.measured, "tolerance": self.tolerance,
                "verdict": self.verdict, "detail": self.detail, "evidence": self.evidence}


def _r(x: float, nd: int = 2) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, nd)


def latency_check(scn: Scenario, pred: Prediction, meas: list[PhaseMeasurement]) -> list[Verdict]:
    """Per phase: measured mean latency within ``tolerance`` (relative) of the MVA prediction.

    The 95% confidence interval of the measured mean is reported as evidence; a phase with
    fewer than ``min_samples`` ok operations is ``unknown``.
    """
    cfg = scn.checks.latency
    assert cfg is not None
    out = []
    for m in meas:
        pp = next((p for p in pred.phases if p.phase == m.phase), None)
        name = f"latency[{m.phase.name} {m.phase.start_s:g}-{m.phase.end_s:g}s]"
        if pp is None or math.isnan(pp.latency_ms.get("mean", math.nan)):
            out.append(Verdict(name, "latency", UNKNOWN, detail="no prediction for this phase "
                               "(the model says the nodes cannot serve)"))
            continue
        want, got = pp.latency_ms["mean"], m.latency_ms["mean"]
        if m.latency_samples < cfg.min_samples:
            out.append(Verdict(name, "latency", UNKNOWN, _r(want), _r(got), cfg.tolerance,
                               f"not enough samples: {m.latency_samples} ok operations, "
                               f"{cfg.min_samples} needed (lengthen the phase or add users)"))
            continue
        half = 1.96 * m.latency_sd_ms / math.sqrt(m.latency_samples)
        err = (got - want) / want
        # the verdict uses the interval, not the point: pass when the 95% CI of the measured
        # mean meets the band [predicted * (1 - tol), predicted * (1 + tol)]
        gap = max(0.0, abs(got - want) - cfg.tolerance * want)
        ok = gap <= half
        detail = (f"measured mean {got:.2f} ms (95% CI ±{half:.2f}, n={m.latency_samples}) vs "
                  f"predicted {want:.2f} ms: {err:+.1%}, tolerance ±{cfg.tolerance:.0%}"
                  + ("" if ok else f"; the interval misses the band by {gap - half:.2f} ms"))
        out.append(Verdict(name, "latency", PASS if ok else FAIL, _r(want), _r(got),
                           cfg.tolerance, detail, {
                               "relative_error": _r(err, 4), "ci95_ms": _r(half, 3),
                               "predicted_p99": _r(pp.latency_ms.get("p99", math.nan)),
                               "measured_p99": _r(m.latency_ms["p99"])}))
    return out


CHECKS: dict[str, Callable[[Scenario, Prediction, list[PhaseMeasurement]], list[Verdict]]] = {
    "latency": latency_check,
}


def consistency_check(scn: Scenario, ops: Any) -> list[Verdict]:
    """Linearizability per key of the run's operations (harness/linearizability.py)."""
    from harness.linearizability import consistency_verdicts
    return consistency_verdicts(scn, ops)


# Checks that need the history itself: (scenario, operations frame) -> verdicts. A failure
# here is never turned into ``unknown`` by a saturated harness: a slow harness only widens
# the recorded intervals, which can hide a violation but not invent one.
def durability_check(scn: Scenario, ops: Any) -> list[Verdict]:
    """No acknowledged write lost (harness/durability.py)."""
    from harness.durability import durability_check as check
    return list(check(scn, ops))


def staleness_check(scn: Scenario, ops: Any) -> list[Verdict]:
    """PBS t-visibility of eventual mode's reads against the WARS model (harness/staleness.py)."""
    from harness.staleness import staleness_check as check
    return list(check(scn, ops))


def lost_updates_check(scn: Scenario, ops: Any) -> list[Verdict]:
    """Lost updates under clock skew against the LWW model (harness/lww.py)."""
    from harness.lww import lost_updates_check as check
    return [v for v in check(scn, ops) if isinstance(v, Verdict)]


HISTORY_CHECKS: dict[str, Callable[[Scenario, Any], list[Verdict]]] = {
    "consistency": consistency_check,
    "durability": durability_check,
    "lost_updates": lost_updates_check,
    "staleness": staleness_check,
}


def _run_history_checks(scn: Scenario, ops: Any, harness_problem: str | None) -> list[Verdict]:
    out: list[Verdict] = []
    for name, fn in HISTORY_CHECKS.items():
        if getattr(scn.checks, name, None) is None:
            continue
        try:
            verdicts = fn(scn, ops)
        except Exception as exc:  # a crashed checker is unknown, not pass
            tb = traceback.format_exc(limit=3)
            verdicts = [Verdict(name, name, UNKNOWN, detail=f"checker crashed: {exc!r}\n{tb}")]
        for v in verdicts:
            if harness_problem and v.verdict == PASS:
                v.detail = f"{v.detail} (note: {harness_problem})"
        out += verdicts
    return out


def run_checks(scn: Scenario, pred: Prediction, meas: list[PhaseMeasurement],
               harness_problem: str | None = None, ops: Any = None) -> list[Verdict]:
    """Run every configured check; a crash or a saturated harness gives ``unknown``.

    ``ops`` (the run's :func:`workloads.history.operations` frame) enables HISTORY_CHECKS;
    without it they are skipped, as before.
    """
    out: list[Verdict] = []
    if ops is not None:
        out += _run_history_checks(scn, ops, harness_problem)
    phased = dict(CHECKS)
    if ops is not None:
        from harness.availability import availability_check
        phased["availability"] = lambda s, _p, m: availability_check(s, ops, [x.phase for x in m])
    for name, fn in phased.items():
        if getattr(scn.checks, name, None) is None:
            continue
        try:
            verdicts = fn(scn, pred, meas)
        except Exception as exc:  # a crashed checker is unknown, not pass
            tb = traceback.format_exc(limit=3)
            out.append(Verdict(name, name, UNKNOWN, detail=f"checker crashed: {exc!r}\n{tb}"))
            continue
        if harness_problem:
            for v in verdicts:  # the harness, not the system, was the bottleneck
                v.verdict = UNKNOWN
                v.detail = f"unknown: {harness_problem}. {v.detail}"
        out += verdicts
    return out


def overall_verdict(verdicts: list[Verdict]) -> str:
    if any(v.verdict == FAIL for v in verdicts):
        return FAIL
    if any(v.verdict == UNKNOWN for v in verdicts):
        return UNKNOWN
    return PASS
