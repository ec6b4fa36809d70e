"""The latency check: per phase, the measured mean within ``tolerance`` of the model's
prediction (harness/models/latency.py), judged with the 95% interval of the mean."""

from __future__ import annotations

import math

from harness.checks.evidence import Evidence
from harness.checks.verdict import FAIL, PASS, UNKNOWN, Verdict, rounded
from harness.measure import number
from harness.phases import rollout_only


def latency_check(ev: Evidence) -> list[Verdict]:
    """Per phase: measured mean latency within ``tolerance`` (relative) of the MVA prediction.

    The 95% confidence interval of the measured mean is reported as evidence; a phase with
    fewer than ``min_samples`` ok operations is ``unknown``.
    """
    cfg = ev.scenario.checks.latency
    assert cfg is not None
    out = []
    for m, pp in zip(ev.measured, ev.predicted, strict=False):
        name = f"latency[{m.phase.name}]"
        window = {"window_s": [round(m.phase.start_s, 3), round(m.phase.end_s, 3)]}
        pred = pp.get("latency_ms") or {}
        want, got = number(pred.get("mean")), m.latency_ms["mean"]
        if math.isnan(want):
            out.append(Verdict(name, "latency", UNKNOWN, detail="no prediction for this phase "
                               "(the model says the nodes cannot serve)", evidence=window))
            continue
        if m.latency_samples < cfg.min_samples and rollout_only(ev.scenario, m.phase):
            continue  # a short rollout window: the rollout check judges it
        if m.latency_samples < cfg.min_samples:
            out.append(Verdict(name, "latency", UNKNOWN, rounded(want), rounded(got),
                               cfg.tolerance,
                               f"not enough samples: {m.latency_samples} ok operations, "
                               f"{cfg.min_samples} needed (lengthen the phase or add users)",
                               window))
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
        out.append(Verdict(name, "latency", PASS if ok else FAIL, rounded(want), rounded(got),
                           cfg.tolerance, detail, {
                               **window, "relative_error": rounded(err, 4),
                               "ci95_ms": rounded(half, 3),
                               "predicted_p99": rounded(number(pred.get("p99"))),
                               "measured_p99": rounded(m.latency_ms["p99"])}))
    for v, m in zip(out, ev.measured, strict=False):
        v.phase = m.phase.name
    return out
