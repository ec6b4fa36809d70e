"""The consistency check: the run's history against a consistency model (linearizable
registers per key, harness/checks/lin)."""

from __future__ import annotations

from typing import Any

from harness.checks.evidence import Evidence
from harness.checks.lin.check import check_key, check_ops
from harness.checks.lin.ops import Op, ops_from_frame, widened
from harness.checks.lin.stale import stale_reads
from harness.checks.verdict import FAIL, PASS, UNKNOWN, Verdict
from harness.phases import Phase


def consistency_check(ev: Evidence) -> list[Verdict]:
    """One verdict from the run's operations (the final reads included), with what a user
    acts on when it fails: how many reads were stale, in which phases, the first per key,
    and a witness from inside a fault window when one lies there."""
    cfg = ev.scenario.checks.consistency
    model = getattr(cfg, "model", "linearizable")
    if ev.clock_error_ns is None:
        return [Verdict(f"consistency[{model}]", "consistency", UNKNOWN, predicted=model,
                        measured="unknown", detail="unknown: the load's worker clocks could "
                        "not be aligned (results.json clock_alignment), so the real-time order "
                        "of their operations is unknown")]
    eps = int(ev.clock_error_ns)
    ops = widened(ops_from_frame(ev.ops), eps)
    res = check_ops(ops)
    verdict = res.verdict if res.ops else UNKNOWN
    detail = res.summary() if res.ops else "no read/write/cas operations in the history"
    if eps and res.ops:
        detail += (f" (operations closer than the clock alignment's {eps / 1e6:.3f} ms "
                   "error taken as concurrent)")
    measured = {PASS: "linearizable", FAIL: "not linearizable", UNKNOWN: "unknown"}[verdict]
    violations = _fault_witness_first(ev, ops, res.violations)
    evidence: dict[str, Any] = {
        "ops": res.ops, "keys": len(res.keys), "elapsed_s": round(res.elapsed_s, 3),
        "violations": [k.as_dict() for k in violations[:5]],
        "unknown_keys": [k.key for k in res.unknown], "reason": res.reason or None,
        "clock_error_ns": eps}
    if verdict == FAIL:
        evidence.update(_violation_figures(ev, ops, violations))
        detail = (f"{detail}; {evidence['stale_reads']} stale read(s) on "
                  f"{evidence['violating_keys']} key(s)"
                  + (f", the witness in {evidence['witness_phase']}"
                     if evidence["witness_phase"] else ""))
    return [Verdict(f"consistency[{model}]", "consistency", verdict, predicted=model,
                    measured=measured, detail=detail, evidence=evidence)]


def _start_s(ev: Evidence, op: Op) -> float:
    if "start_s" in ev.ops:
        return float(ev.ops["start_s"].iloc[op.id])
    return (float(op.start) - float(ev.ops["start_ns"].min())) / 1e9  # a frame without t0


def _phase_of(ev: Evidence, t: float) -> Phase | None:
    return next((p for p in ev.phases if p.start_s <= t < p.end_s), None)


def _in_fault(ev: Evidence, witness: list[Op]) -> str | None:
    """The fault phase the witness lies in (by its last operation, the observation that
    cannot be explained), if any."""
    if not witness:
        return None
    ph = _phase_of(ev, _start_s(ev, max(witness, key=lambda o: o.start)))
    return ph.name if ph is not None and ph.faults else None


def _fault_witness_first(ev: Evidence, ops: list[Op], violations: list[Any]) -> list[Any]:
    """The violations, one whose witness lies inside a fault window first. Each key's own
    witness is its first conflict (often at baseline, for a system that is stale by design),
    so a failing key is checked again with its reads inside fault windows only (and all its
    writes): dropping reads never invents a violation, so a failure there is one to show."""
    if not violations or any(_in_fault(ev, k.witness) for k in violations[:1]):
        return violations
    windows = [p for p in ev.phases if p.faults]
    for k in violations[:5]:
        sub = [o for o in ops if o.key == k.key and (
            o.f != "read" or any(w.start_s <= _start_s(ev, o) < w.end_s for w in windows))]
        again = check_key(k.key, sub, shrink_s=10.0)
        if again.verdict == FAIL and _in_fault(ev, again.witness):
            return [again, *[v for v in violations if v is not k]]
    return sorted(violations, key=lambda v: _in_fault(ev, v.witness) is None)


def _violation_figures(ev: Evidence, ops: list[Op], violations: list[Any]) -> dict[str, Any]:
    """Stale reads counted, per phase and per key (first one), and the witness's phase."""
    stale, uncounted = stale_reads(ops)
    per_phase: dict[str, int] = {}
    first: dict[str, float] = {}
    for r in stale:
        t = _start_s(ev, r)
        ph = _phase_of(ev, t)
        name = ph.name if ph is not None else "after the load"
        per_phase[name] = per_phase.get(name, 0) + 1
        first.setdefault(str(r.key), round(t, 3))
    return {"stale_reads": len(stale), "violating_keys": len({r.key for r in stale}) or len(
                violations),
            "stale_per_phase": per_phase, "first_stale_s": first,
            "keys_not_counted": [str(k) for k in uncounted][:20],
            "witness_phase": _in_fault(ev, violations[0].witness) if violations else None}
