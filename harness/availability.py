"""Availability: predicted per phase, per client node and per operation from the fault
schedule and quorum reachability on the partitioned graph; measured from the history.

Also the k-of-n steady state for random node loss: with independent nodes that fail after
exp(MTTF) and are repaired after exp(MTTR), each node's two-state Markov chain is up with
probability A = MTTF / (MTTF + MTTR), and a k-of-n service is up with the binomial tail
sum_{j>=k} C(n, j) A^j (1-A)^(n-j) (Trivedi, *Probability and Statistics with Reliability,
Queuing and Computer Science Applications*, ch. 8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness import scenario as sc
from harness.models import NODE_DOWN, peer_rtt_map
from harness.phases import Phase

OPS = ("read", "write")


def node_availability(mttf_s: float, mttr_s: float) -> float:
    """Steady-state probability that one repairable node is up."""
    return mttf_s / (mttf_s + mttr_s)


def quorum_availability(n: int, k: int, mttf_s: float, mttr_s: float) -> float:
    """Probability that at least k of n independent repairable nodes are up (k-of-n)."""
    a = node_availability(mttf_s, mttr_s)
    return sum(math.comb(n, j) * a**j * (1 - a) ** (n - j) for j in range(k, n + 1))


def can_serve(scn: sc.Scenario, node: str, op: str, active: list[Any]) -> bool:
    """Whether a client of ``node`` can complete ``op`` while ``active`` faults hold."""
    if any(f.kind in NODE_DOWN and f.node == node for f in active):
        return False
    mode = scn.testbed.service.mode
    if mode == "eventual":
        return True
    reach = peer_rtt_map(scn, node, active, 0.0)
    n = len(scn.testbed.nodes)
    if mode == "quorum":
        return len(reach) + 1 >= n // 2 + 1
    if op == "read":
        return True
    primary = scn.testbed.service.primary or scn.testbed.node_names[0]
    if node != primary and primary not in reach:
        return False
    if any(f.kind in NODE_DOWN and f.node == primary for f in active):
        return False
    replicas = peer_rtt_map(scn, primary, active, 0.0)
    return len(replicas) == n - 1


def predict_phase(scn: sc.Scenario, phase: Phase) -> dict[str, dict[str, float]]:
    """{client node: {op: 1.0 or 0.0}} for one phase."""
    active = [scn.faults[i] for i in phase.faults]
    return {node: {op: float(can_serve(scn, node, op, active)) for op in OPS}
            for node in scn.testbed.client_nodes}


@dataclass
class Cell:
    """One (phase, client node, operation) cell: predicted vs measured availability."""

    phase: Phase
    node: str
    op: str
    predicted: float
    ok: int
    done: int

    @property
    def measured(self) -> float:
        return self.ok / self.done if self.done else math.nan

    def ci95_pp(self) -> float:
        """Half-width of the Wilson 95% interval, in percentage points."""
        if not self.done:
            return math.nan
        z, n, p = 1.96, self.done, self.measured
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return 100 * half


def measure_cells(scn: sc.Scenario, ops: pd.DataFrame, phases: list[Phase],
                  settle_s: float) -> list[Cell]:
    """Availability cells, skipping ``settle_s`` after each phase boundary (operations that
    straddle a fault's onset or heal belong to neither side)."""
    cells = []
    for ph in phases:
        pred = predict_phase(scn, ph)
        inside = ops[(ops["start_s"] >= ph.start_s + settle_s) & (ops["start_s"] < ph.end_s)
                     & (ops["end_s"].fillna(math.inf) < ph.end_s + 0.0)]
        for node, per_op in pred.items():
            for op, want in per_op.items():
                sel = inside[(inside["node"] == node) & (inside["f"] == op)]
                cells.append(Cell(ph, node, op, want, int((sel["type"] == "ok").sum()),
                                  len(sel)))
    return cells


def availability_check(scn: sc.Scenario, ops: pd.DataFrame, phases: list[Phase]) -> list[Any]:
    """Per phase and client node: measured availability of reads and writes within
    ``tolerance_pp`` percentage points of the prediction (0 or 100%), with Wilson intervals;
    a cell with fewer than 5 completed operations is ``unknown``."""
    from harness.checks import FAIL, PASS, UNKNOWN, Verdict
    cfg = scn.checks.availability
    assert cfg is not None
    settle = scn.testbed.service.replica_timeout_ms / 1000 + 0.25
    out = []
    for cell in measure_cells(scn, ops, phases, settle):
        name = (f"availability[{cell.phase.name} {cell.phase.start_s:g}-{cell.phase.end_s:g}s "
                f"{cell.node} {cell.op}]")
        want, got = 100 * cell.predicted, 100 * cell.measured
        if cell.done < 5:
            out.append(Verdict(name, "availability", UNKNOWN, want, None, cfg.tolerance_pp,
                               f"not enough samples: {cell.done} completed {cell.op}s at "
                               f"{cell.node} in this phase (5 needed)"))
            continue
        ok = abs(got - want) <= cfg.tolerance_pp
        out.append(Verdict(
            name, "availability", PASS if ok else FAIL, round(want, 2), round(got, 2),
            cfg.tolerance_pp,
            f"{cell.ok}/{cell.done} {cell.op}s at {cell.node} succeeded ({got:.1f}%, 95% CI "
            f"±{cell.ci95_pp():.1f} pp) vs predicted {want:.0f}%; tolerance "
            f"±{cfg.tolerance_pp:g} pp",
            {"ok": cell.ok, "done": cell.done, "ci95_pp": round(cell.ci95_pp(), 2)}))
    return out
