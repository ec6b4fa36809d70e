"""The evidence of a run: the one value every check reads (Jepsen's checker input).

Built by the runner as the run ends, or from a finished run directory by
:meth:`harness.rundir.RunDir.evidence` (``edgeproof check RUN_DIR``): the same value either
way, so re-checking from disk gives the verdicts the run gave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.measure import PhaseMeasurement
from harness.phases import Phase
from harness.scenario import Scenario
from workloads.final_reads import FINAL_PROCESS_BASE

if TYPE_CHECKING:  # cost: pandas only for the annotation
    import pandas as pd


@dataclass
class Evidence:
    """What a run measured, and what was predicted for it."""

    scenario: Scenario
    """The scenario as it ran (chaos expanded)."""
    phases: list[Phase]
    """The phases, cut at the faults' actual apply and heal times."""
    measured: list[PhaseMeasurement]
    """Per phase: counts, latency and throughput (the warm-up left out of latency)."""
    predicted: list[dict[str, Any]]
    """Per phase: the model's prediction as results.json stores it (``latency_ms`` ...)."""
    ops: pd.DataFrame
    """Every operation (final reads included), with ``start_s``/``end_s`` from t0."""
    harness_problem: str | None = None
    """Why the harness itself may have been the bottleneck (None: it was not)."""
    faults: list[dict[str, Any]] = field(default_factory=list)
    """What happened to each scheduled fault (results.json's ``faults``: applied, effect,
    traffic)."""
    testbed_lost: str | None = None
    """Why the testbed disappeared under the run (results.json's ``testbed_lost``): then
    nothing measured says anything about the system."""
    control: list[dict[str, Any]] = field(default_factory=list)
    """Every config version each node applied (``control.jsonl``: node, version, t_s,
    from), in time order; empty without a control plane."""
    phase_problems: dict[str, str] = field(default_factory=dict)
    """Phases in which the harness itself ran hot (by their own seconds), by phase name:
    their verdicts on load figures are unknown even when the whole run's medians were fine."""
    clock_error_ns: int | None = 0
    """How far the load's clocks may still be apart after their alignment (the Locust
    workers' ``clock.error_ns``): 0 on one clock, None when it could not be measured.
    Operations closer than this may have happened in either real-time order."""

    @property
    def load_ops(self) -> pd.DataFrame:
        """The load's own operations (without the final reads)."""
        return self.ops[self.ops["process"] < FINAL_PROCESS_BASE]
