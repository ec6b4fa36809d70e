"""The lost-updates check: acknowledged writes that last-writer-wins lost under a clock
skew (eventual mode), against the LWW model (harness/models/lww.py)."""

from __future__ import annotations

from faults.clock import ClockSkewFault
from harness.checks.durability import lost_writes
from harness.checks.evidence import Evidence
from harness.checks.verdict import FAIL, PASS, UNKNOWN, Verdict
from harness.models.lww import lww_expected_lost, poisson_interval
from workloads.final_reads import FINAL_PROCESS_BASE


def lost_updates_check(ev: Evidence) -> list[Verdict]:
    """Measured lost updates (acknowledged writes gone from the final state) against the LWW
    model, for eventual mode with a clock skew that holds until the load ends."""
    scn, ops = ev.scenario, ev.ops
    cfg = scn.checks.lost_updates
    assert cfg is not None
    dur = scn.workload.duration_s
    skews = [f for f in scn.faults if isinstance(f, ClockSkewFault) and f.at_s + f.for_s >= dur]
    if scn.testbed.service.mode != "eventual" or len(skews) != 1:
        return [Verdict("lost_updates", "lost_updates", UNKNOWN, detail="the model covers "
                        "eventual mode with one clock_skew fault lasting to the end of the load")]
    skew = skews[0]
    load = ops[(ops["process"] < FINAL_PROCESS_BASE) & (ops["f"] == "write")
               & (ops["type"] == "ok") & (ops["start_s"] >= skew.at_s)]
    span = max(dur - skew.at_s, 1e-9)
    lam_i = (load["node"] == skew.node).sum() / span / scn.workload.keys
    lam_o = (load["node"] != skew.node).sum() / span / scn.workload.keys
    want = lww_expected_lost(scn.workload.keys, lam_i, lam_o, skew.offset_s)
    got = len(lost_writes(ops)[0])
    lo, hi = poisson_interval(want)
    lo, hi = lo * (1 - cfg.tolerance), hi * (1 + cfg.tolerance)
    ok = lo <= got <= hi
    return [Verdict("lost_updates", "lost_updates", PASS if ok else FAIL, round(want, 2), got,
                    cfg.tolerance, f"{got} acknowledged writes lost vs {want:.1f} expected "
                    f"(LWW with {skew.node} {skew.offset_s:+g} s; write rates per key "
                    f"{lam_i:.2f}/s there, {lam_o:.2f}/s elsewhere); accepted range "
                    f"[{lo:.1f}, {hi:.1f}]", {"lam_skewed": lam_i, "lam_other": lam_o})]
