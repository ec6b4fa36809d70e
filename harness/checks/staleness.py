"""The staleness check: eventual mode's reads against PBS t-visibility (Bailis et al.;
the WARS model in harness/models/staleness.py), in the phases without faults."""

from __future__ import annotations

from harness.checks.evidence import Evidence
from harness.checks.verdict import FAIL, PASS, UNKNOWN, Verdict
from harness.measure import wilson_interval
from harness.models.staleness import read_ages, staleness_table
from workloads.final_reads import FINAL_PROCESS_BASE


def staleness_check(ev: Evidence) -> list[Verdict]:
    """PBS t-visibility in the phases without faults: per bin of t, the measured share of
    stale reads within ``tolerance_pp`` of the prediction, judged with its Wilson 95%
    interval (bins with >= 30 reads)."""
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
        # judged with the interval, not the point (as the latency check): a bin of 30 reads
        # has a 95% interval of +-16 pp around 50%, so its point alone would often miss
        n = int(row["reads"])
        lo, hi = (100 * x for x in wilson_interval(round(row["measured"] * n), n))
        gap = max(0.0, lo - (want + cfg.tolerance_pp), (want - cfg.tolerance_pp) - hi)
        out.append(Verdict(name, "staleness", PASS if gap == 0 else FAIL, round(want, 1),
                           round(got, 1), cfg.tolerance_pp,
                           f"{got:.1f}% (95% CI {lo:.1f}-{hi:.1f}%) of {n} reads {row['bin']} "
                           f"ms after a write elsewhere were stale vs {want:.1f}% predicted "
                           f"(PBS t-visibility), tolerance ±{cfg.tolerance_pp:g} pp"
                           + ("" if gap == 0 else f"; the interval misses the band by "
                              f"{gap:.1f} pp"),
                           {"ci95_pp": [round(lo, 2), round(hi, 2)], "reads": n}))
    return out or [Verdict("staleness", "staleness", UNKNOWN, detail="no cross-node reads")]
