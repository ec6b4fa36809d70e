"""The staleness check: eventual mode's reads against PBS t-visibility (Bailis et al.;
the WARS model in harness/models/staleness.py), in the phases without faults."""

from __future__ import annotations

from harness.checks.evidence import Evidence
from harness.checks.verdict import FAIL, PASS, UNKNOWN, Verdict
from harness.models.staleness import read_ages, staleness_table
from workloads.final_reads import FINAL_PROCESS_BASE


def staleness_check(ev: Evidence) -> list[Verdict]:
    """PBS t-visibility in the phases without faults: per bin of t, the measured share of
    stale reads within ``tolerance_pp`` of the prediction (bins with >= 30 reads)."""
    scn, ops = ev.scenario, ev.ops
    cfg = scn.checks.staleness
    if scn.testbed.service.mode != "eventual":
        return [Verdict("staleness", "staleness", UNKNOWN,
                        detail="PBS staleness applies to eventual mode only")]
    quiet = ops[ops["process"] < FINAL_PROCESS_BASE]
    for f in scn.faults:  # fault windows change delivery; PBS here is for the quiet phases
        quiet = quiet[(quiet["start_s"] < f.at_s) | (quiet["start_s"] >= f.at_s + f.for_s + 1)]
    one_way = {(s, d): link.latency_ms for s, d, link in scn.testbed.link_directions()}
    read_ms = {n.name: n.hardware.service_ms + cfg.timer_ms for n in scn.testbed.nodes}
    one_way = {k: v - cfg.transit_ms for k, v in one_way.items()}
    table = staleness_table(read_ages(quiet), one_way, cfg.processing_ms,
                            scn.testbed.service.anti_entropy_ms, read_ms)
    out = []
    for _, row in table.iterrows():
        name = f"staleness[t in {row['bin']} ms]"
        want, got = 100 * row["predicted"], 100 * row["measured"]
        if row["reads"] < 30:
            out.append(Verdict(name, "staleness", UNKNOWN, round(want, 1), round(got, 1),
                               cfg.tolerance_pp, f"not enough samples: {row['reads']} reads"))
            continue
        ok = abs(got - want) <= cfg.tolerance_pp
        out.append(Verdict(name, "staleness", PASS if ok else FAIL, round(want, 1),
                           round(got, 1), cfg.tolerance_pp,
                           f"{got:.1f}% of {row['reads']} reads {row['bin']} ms after a write "
                           f"elsewhere were stale vs {want:.1f}% predicted (PBS t-visibility)"))
    return out or [Verdict("staleness", "staleness", UNKNOWN, detail="no cross-node reads")]
