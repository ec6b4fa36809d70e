"""edgeproof's public Python API, in one place.

    from harness import Scenario, load_scenario, run_scenario, Partition, mva_latency

Names are imported lazily (PEP 562), so ``import harness`` stays cheap for the CLI and never
imports Locust (which the load process keeps to itself), and importing ``harness.errors``
from a lower layer runs nothing else.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    # scenario and runs
    "Scenario": "harness.scenario", "TestbedSpec": "testbeds.spec",
    "load_scenario": "harness.scenario", "run_scenario": "harness.runner",
    "run": "harness.runner", "exercise": "harness.runner", "stand_up": "harness.runner",
    "RunDir": "harness.rundir",
    # errors
    "EdgeproofError": "harness.errors", "ConfigError": "harness.errors",
    "InfrastructureError": "harness.errors", "FaultError": "harness.errors",
    "TestbedError": "harness.errors",
    # testbeds
    "Testbed": "testbeds.base", "LocalTestbed": "testbeds.local",
    "ToxiproxyClient": "testbeds.toxiproxy.client",
    "ToxiproxyServer": "testbeds.toxiproxy.server",
    # faults
    "Fault": "faults.base", "ToxicFault": "faults.toxics", "Partition": "faults.partition",
    "ClockSkew": "faults.clock", "Crash": "faults.node", "Pause": "faults.node",
    "Stop": "faults.node", "Rollout": "faults.rollout", "Nemesis": "faults.schedule",
    "Scheduled": "faults.schedule",
    # models
    "predict": "harness.models.latency", "Calibration": "harness.models.latency",
    "erlang_c": "harness.models.queueing", "mva_latency": "harness.models.queueing",
    "mmc_mean_sojourn": "harness.models.queueing",
    "quorum_availability": "harness.models.availability",
    "lww_expected_lost": "harness.models.lww", "p_stale": "harness.models.staleness",
    "predict_pipeline": "harness.models.pipeline", "predict_rollouts": "harness.models.rollout",
    # checks and histories
    "Verdict": "harness.checks.verdict", "run_checks": "harness.checks.registry",
    "check_history": "harness.checks.lin", "HistoryWriter": "workloads.history",
    "read_history": "workloads.history", "operations": "workloads.history",
    "windows": "workloads.history",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
