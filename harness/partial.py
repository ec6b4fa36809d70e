"""What an interrupted run had measured: the history so far, per phase up to the signal,
and results.json's ``interrupted`` block (the signal, when, where, whether the faults
healed and how soon). No check is judged on a cut-off run: its phases are incomplete and
its predictions were made for the whole run, so a verdict would mislead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness import measure
from harness.interrupts import Interrupted
from harness.phases import Phase, phases
from harness.scenario import Scenario
from workloads.final_reads import FINAL_PROCESS_BASE
from workloads.history import operations, read_history

MAX_HISTORY_BYTES = 64 << 20  # read a cut-off history only when it is quick to (~2 s)
OPS_COLUMNS = ["process", "type", "f", "key", "value", "node", "start_ns", "end_ns",
               "latency_ms", "start_s", "end_s"]


@dataclass
class Partial:
    """The figures (``res``, results.json's shape) and operations of a cut-off run."""

    res: dict[str, Any]
    ops: pd.DataFrame


def empty(reason: str) -> Partial:
    """No operation could be read: zero counts and why."""
    res = measure.overall(pd.DataFrame(columns=OPS_COLUMNS), 1.0)
    return Partial({**res, "phases": [], "checks": [], "verdict": "interrupted",
                    "measured": reason}, pd.DataFrame(columns=OPS_COLUMNS))


def measured(scn: Scenario, history: Path, t0: float | None, at: float,
             times: list[tuple[float, float]]) -> Partial:
    """The history written until the signal at ``at`` (monotonic s; ``t0`` the load's
    start), measured per phase up to it; never raises (a problem becomes the reason)."""
    if not history.is_file() or history.stat().st_size == 0:
        return empty("no operation was recorded before the signal")
    if history.stat().st_size > MAX_HISTORY_BYTES:
        return empty(f"the history ({history.stat().st_size >> 20} MB) was not analysed "
                     "while stopping; it is complete up to the signal")
    try:
        return analyse(scn, history, t0, at, times)
    except Exception as exc:  # a cut-off history must not lose the run's other artefacts
        return empty(f"the history could not be analysed: {exc}")


def analyse(scn: Scenario, history: Path, t0: float | None, at: float,
            times: list[tuple[float, float]]) -> Partial:
    """Counts, latency and per-phase figures of the operations invoked before the signal."""
    ops = operations(read_history(history))
    if ops.empty:
        return empty("no operation was recorded before the signal")
    t0_ns = int(t0 * 1e9) if t0 else int(ops["start_ns"].min())
    ops = measure.with_phase_times(ops, t0_ns)
    ops = ops[ops["process"] < FINAL_PROCESS_BASE]
    until = min(max(at - t0_ns / 1e9, 0.0), scn.workload.duration_s)
    cut = clipped(phases(scn, times), until)
    res = measure.overall(ops, max(until, 1e-9))
    res["phases"] = [m.as_dict() for m in measure.measure(ops, cut, duration_s=until)]
    res.update(checks=[], verdict="interrupted", t0_ns=t0_ns,
               measured=f"{len(ops)} operation(s) in the first {until:.1f} s of "
                        f"{scn.workload.duration_s:g} s, per phase up to the signal")
    return Partial(res, ops)


def clipped(phs: list[Phase], until: float) -> list[Phase]:
    """The phases that had begun by ``until``, the last one cut there."""
    return [Phase(p.name, p.start_s, min(p.end_s, until), p.faults)
            for p in phs if p.start_s < until]


def heal_end(f: dict[str, Any], t0: float) -> float | None:
    """When a fault's heal finished (monotonic s), if it was healed."""
    if f.get("healed_at_s") is None:
        return None
    return t0 + float(f["healed_at_s"]) + float(f.get("heal_took_s") or 0.0)


def interruption(scn: Scenario, stop: Interrupted, t0: float | None,
                 faults: list[dict[str, Any]], *, judged: bool,
                 load_started: bool) -> dict[str, Any]:
    """results.json's ``interrupted``: signal, time, stage and phase, the heal, a reason."""
    at_s = stop.at - t0 if t0 else None
    applied = [f for f in faults if f.get("applied_at_s") is not None]
    unhealed = [f"{f['kind']} {f['target']}" for f in applied if f.get("healed_at_s") is None
                or str(f.get("error") or "").startswith("heal failed")]
    ends = [e for f in applied if t0 and (e := heal_end(f, t0)) is not None and e >= stop.at]
    healed_after = max(ends) - stop.at if ends else (0.0 if not unhealed else None)
    stage = stage_of(scn, at_s, judged, load_started)
    phase = phase_at(scn, at_s, faults) if load_started and not judged else None
    return {"signal": stop.name, "at_s": at_s, "stage": stage, "phase": phase,
            "faults_applied": len(applied), "healed": not unhealed, "unhealed": unhealed,
            "healed_after_signal_s": healed_after, "later_signals_ignored": [],
            "reason": reason(stop, at_s, stage, phase, unhealed, healed_after, judged, scn)}


def stage_of(scn: Scenario, at_s: float | None, judged: bool, load_started: bool) -> str:
    """Where the run was when the signal came."""
    if judged:
        return "teardown"
    if not load_started:
        return "setup"
    if at_s is not None and at_s < scn.workload.duration_s:
        return "load"
    return "after the load"


def phase_at(scn: Scenario, at_s: float | None, faults: list[dict[str, Any]]) -> str | None:
    """The phase the signal fell in (by the faults' actual times)."""
    if at_s is None:
        return None
    times = [(f["applied_at_s"] if f.get("applied_at_s") is not None else f["at_s"],
              f["healed_at_s"] if f.get("healed_at_s") is not None else f["at_s"] + f["for_s"])
             for f in faults]
    return next((p.name for p in phases(scn, times) if p.start_s <= at_s < p.end_s), None)


def reason(stop: Interrupted, at_s: float | None, stage: str, phase: str | None,
           unhealed: list[str], healed_after: float | None, judged: bool,
           scn: Scenario) -> str:
    """One sentence on what stopped the run and what the results hold."""
    when = {"setup": "while the testbed was being set up (before the load)",
            "teardown": "during the teardown, after the checks had been judged",
            "after the load": "after the load, before the checks were judged"}.get(
        stage, f"at {at_s or 0:.1f} s of the {scn.workload.duration_s:g} s load"
               + (f" (phase {phase})" if phase else ""))
    if unhealed:
        heal = f"could not heal {', '.join(unhealed)} (run `edgeproof clean`)"
    elif healed_after:
        heal = f"healed every fault {healed_after:.2f} s after the signal"
    else:
        heal = "had no fault to heal"
    held = ("the checks below are complete" if judged else
            "the figures are what was measured until then and no check was judged (a "
            "cut-off run cannot be judged against predictions for the whole run)")
    return (f"interrupted by {stop.name} {when}: the run {heal} and tore its testbed down; "
            f"{held}. Run it again to get verdicts")


__all__ = ["Partial", "interruption", "measured"]
