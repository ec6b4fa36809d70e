"""The consistency check: the run's history against a consistency model (linearizable
registers per key, harness/checks/lin)."""

from __future__ import annotations

from harness.checks.evidence import Evidence
from harness.checks.lin.check import check_ops
from harness.checks.lin.ops import ops_from_frame
from harness.checks.verdict import FAIL, PASS, UNKNOWN, Verdict


def consistency_check(ev: Evidence) -> list[Verdict]:
    """One verdict from the run's operations (the final reads included)."""
    cfg = ev.scenario.checks.consistency
    model = getattr(cfg, "model", "linearizable")
    res = check_ops(ops_from_frame(ev.ops))
    verdict = res.verdict if res.ops else UNKNOWN
    detail = res.summary() if res.ops else "no read/write/cas operations in the history"
    measured = {PASS: "linearizable", FAIL: "not linearizable", UNKNOWN: "unknown"}[verdict]
    evidence = {"ops": res.ops, "keys": len(res.keys), "elapsed_s": round(res.elapsed_s, 3),
                "violations": [k.as_dict() for k in res.violations[:5]],
                "unknown_keys": [k.key for k in res.unknown], "reason": res.reason or None}
    return [Verdict(f"consistency[{model}]", "consistency", verdict, predicted=model,
                    measured=measured, detail=detail, evidence=evidence)]
