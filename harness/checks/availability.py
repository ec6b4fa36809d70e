"""The availability check: per phase, client node and operation, the measured share of
completed operations that succeeded against the model's 0 or 100% (models/availability.py),
with Wilson intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from harness.checks.evidence import Evidence
from harness.checks.verdict import FAIL, PASS, UNKNOWN, Verdict
from harness.measure import wilson_interval
from harness.models.availability import predict_phase, promise
from harness.phases import Phase
from harness.scenario import Scenario


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
        lo, hi = wilson_interval(self.ok, self.done)
        return 100 * (hi - lo) / 2


def measure_cells(scn: Scenario, ops: pd.DataFrame, phases: list[Phase],
                  settle_s: float) -> list[Cell]:
    """Availability cells, skipping ``settle_s`` after each phase boundary (operations that
    straddle a fault's onset or heal belong to neither side)."""
    cells = []
    for ph in phases:
        pred = predict_phase(scn, ph)
        # an operation counts in the window it was invoked in once it ended there, or timed
        # out (info): a node whose clients all time out is unavailable, not unsampled
        inside = ops[(ops["start_s"] >= ph.start_s + settle_s) & (ops["start_s"] < ph.end_s)
                     & ((ops["end_s"].fillna(math.inf) < ph.end_s) | (ops["type"] == "info"))]
        for node, per_op in pred.items():
            for op, want in per_op.items():
                sel = inside[(inside["node"] == node) & (inside["f"] == op)]
                cells.append(Cell(ph, node, op, want, int((sel["type"] == "ok").sum()),
                                  len(sel)))
    return cells


def availability_check(ev: Evidence) -> list[Verdict]:
    """Per phase and client node: measured availability of reads and writes within
    ``tolerance_pp`` percentage points of the prediction (0 or 100%), with Wilson intervals;
    a cell with fewer than 5 completed operations is ``unknown``."""
    scn = ev.scenario
    cfg = scn.checks.availability
    assert cfg is not None
    settle = cfg.settle_s if cfg.settle_s is not None else (
        scn.testbed.service.replica_timeout_ms / 1000 + 0.25)
    if promise(scn) is None:
        return unmodelled(ev, settle)
    out = []
    for cell in measure_cells(scn, ev.ops, ev.phases, settle):
        name = f"availability[{cell.phase.name} {cell.node} {cell.op}]"
        window = [round(cell.phase.start_s, 3), round(cell.phase.end_s, 3)]
        want, got = 100 * cell.predicted, 100 * cell.measured
        if cell.done < 5:
            out.append(Verdict(name, "availability", UNKNOWN, want, None, cfg.tolerance_pp,
                               f"not enough samples: {cell.done} completed {cell.op}s at "
                               f"{cell.node} in this phase (5 needed)",
                               {"window_s": window}))
            continue
        ok = abs(got - want) <= cfg.tolerance_pp
        out.append(Verdict(
            name, "availability", PASS if ok else FAIL, round(want, 2), round(got, 2),
            cfg.tolerance_pp,
            f"{cell.ok}/{cell.done} {cell.op}s at {cell.node} succeeded ({got:.1f}%, 95% CI "
            f"±{cell.ci95_pp():.1f} pp) vs predicted {want:.0f}%; tolerance "
            f"±{cfg.tolerance_pp:g} pp",
            {"ok": cell.ok, "done": cell.done, "ci95_pp": round(cell.ci95_pp(), 2),
             "window_s": window}))
        out[-1].phase = cell.phase.name
    return out


def unmodelled(ev: Evidence, settle: float) -> list[Verdict]:
    """A user's system that does not say what it promises (``testbed.expect``): its
    availability is measured and shown, never judged."""
    out = []
    for cell in measure_cells(ev.scenario, ev.ops, ev.phases, settle):
        got = None if math.isnan(cell.measured) else round(100 * cell.measured, 2)
        out.append(Verdict(
            f"availability[{cell.phase.name} {cell.node} {cell.op}]", "availability", UNKNOWN,
            None, got, None,
            f"unknown: no model for this system: {cell.ok}/{cell.done} {cell.op}s at "
            f"{cell.node} succeeded; say what it promises with testbed.expect.availability "
            "(majority, every_node, {primary: NAME} or none)",
            {"ok": cell.ok, "done": cell.done}, phase=cell.phase.name))
    return out
