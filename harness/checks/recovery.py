"""The recovery check: after every heal, whether the system stalled (ok completions below
``stall_below`` of the baseline's rate for ``min_stall_s`` or more) and for how long, against
the predicted recovery time (0 s: no model here predicts one) plus ``tolerance_s``. A stall
is a finding with its start and duration, never "not enough samples"."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.checks.config import RecoveryCheck
from harness.checks.evidence import Evidence
from harness.checks.verdict import FAIL, PASS, UNKNOWN, Verdict, rounded
from harness.measure import STOPPING_S

STEP_S = 0.05  # the sliding window's stride
SIGNIFICANCE = 1e-5  # per window: how often a Poisson dip may pass for a stall


@dataclass(frozen=True)
class Stall:
    """A stretch in which every window of ``min_stall_s`` completed too little."""

    start_s: float
    end_s: float
    completed: int

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def poisson_floor(mean: float, p: float = SIGNIFICANCE) -> int:
    """The largest k with P(X < k) <= p for X ~ Poisson(mean): fewer than k completions in a
    window is no chance dip of the baseline's rate."""
    k, cdf, term = 0, 0.0, math.exp(-mean)
    while cdf + term <= p:
        cdf += term
        k += 1
        term *= mean / k
    return k


def stall_threshold(rate: float, below: float, window_s: float) -> float:
    """Completions a window needs not to count as stalled: ``below`` of the baseline's, and
    few enough that a Poisson process at the baseline's rate would fall short by chance in
    no more than one window in 100,000 (a low rate needs a longer window to see)."""
    return min(below * rate * window_s, poisson_floor(rate * window_s))


def stalls(ends_s: np.ndarray, start: float, end: float, rate: float, below: float,
           window_s: float) -> list[Stall]:
    """Maximal stretches of [start, end) covered by windows of ``window_s`` that each held
    fewer than :func:`stall_threshold` completions (``ends_s`` sorted)."""
    need = stall_threshold(rate, below, window_s)
    out: list[Stall] = []
    t = start
    while t + window_s <= end + 1e-9:
        lo, hi = np.searchsorted(ends_s, [t, t + window_s])
        if hi - lo < need:
            if out and out[-1].end_s >= t:
                last = out[-1]
                out[-1] = Stall(last.start_s, t + window_s, 0)
            else:
                out.append(Stall(t, t + window_s, 0))
        t += STEP_S
    return [Stall(s.start_s, s.end_s, int(np.searchsorted(ends_s, s.end_s)
                                           - np.searchsorted(ends_s, s.start_s)))
            for s in out]


def recovery_check(ev: Evidence) -> list[Verdict]:
    """Per recovery phase (after a heal): the longest stall against the predicted recovery
    time (0 s) plus ``tolerance_s``; none found is a pass, naming the threshold it met."""
    cfg = ev.scenario.checks.recovery
    assert cfg is not None
    base = next((m for m in ev.measured if m.phase.kind == "baseline"), None)
    ok = ev.load_ops[ev.load_ops["type"] == "ok"]
    ends = np.sort(ok["end_s"].dropna().to_numpy(dtype=float))
    stop = ev.scenario.workload.duration_s - STOPPING_S
    out: list[Verdict] = []
    for m in ev.measured:
        ph = m.phase
        if ph.kind != "recovery":
            continue
        name = f"recovery[{ph.name}]"
        end = min(ph.end_s, stop)
        if base is None or not base.throughput_rps or end - ph.start_s < cfg.min_stall_s:
            why = ("no baseline rate to compare with" if base is None or not
                   base.throughput_rps else
                   f"the window ({end - ph.start_s:.2f} s) is shorter than min_stall_s")
            out.append(Verdict(name, "recovery", UNKNOWN, 0.0, None, cfg.tolerance_s,
                               f"unknown: {why}"))
            out[-1].phase = ph.name
            continue
        if stall_threshold(base.throughput_rps, cfg.stall_below, cfg.min_stall_s) < 1:
            out.append(Verdict(name, "recovery", UNKNOWN, 0.0, None, cfg.tolerance_s,
                               f"unknown: the baseline's {base.throughput_rps:.1f} ok/s is "
                               f"too low to tell a {cfg.min_stall_s:g} s stall from chance; "
                               "lengthen checks.recovery.min_stall_s or add users"))
        else:
            out.append(_judge(name, ph.start_s, end, ends, base.throughput_rps, cfg))
        out[-1].phase = ph.name
    return out or [Verdict("recovery", "recovery", UNKNOWN,
                           detail="no recovery phase (no fault healed before the end)")]


def _judge(name: str, start: float, end: float, ends: np.ndarray, rate: float,
           cfg: RecoveryCheck) -> Verdict:
    below, window, tol = cfg.stall_below, cfg.min_stall_s, cfg.tolerance_s
    found = stalls(ends, start, end, rate, below, window)
    predicted = 0.0
    evidence = {"window_s": [round(start, 3), round(end, 3)],
                "baseline_rps": rounded(rate, 2),
                "stalls": [{"start_s": round(s.start_s - start, 2),
                            "duration_s": round(s.duration_s, 2), "completed": s.completed}
                           for s in found]}
    if not found:
        need = stall_threshold(rate, below, window)
        return Verdict(name, "recovery", PASS, predicted, 0.0, tol,
                       f"no stall: every {window:g} s window after the heal completed {need:g} "
                       f"ok or more (the stall threshold at the baseline's {rate:.1f} ok/s: "
                       f"{below:.0%} of it, and beyond Poisson chance); predicted recovery "
                       f"{predicted:g} s", evidence)
    worst = max(found, key=lambda s: s.duration_s)
    ok = worst.duration_s <= predicted + tol
    got_rate = worst.completed / worst.duration_s if worst.duration_s else math.nan
    return Verdict(name, "recovery", PASS if ok else FAIL, predicted,
                   rounded(worst.duration_s, 2), tol,
                   f"stall {worst.start_s - start:+.2f} s after the heal for "
                   f"{worst.duration_s:.2f} s ({worst.completed} ok, {got_rate:.1f}/s vs the "
                   f"baseline's {rate:.1f}/s); predicted recovery {predicted:g} s, tolerance "
                   f"{tol:g} s" + ("" if ok else
                                   f"; {worst.duration_s - predicted - tol:.2f} s too long"),
                   evidence)
