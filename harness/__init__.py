"""edgeproof's public Python API, in one place.

    from harness import Scenario, load_scenario, run_scenario, Partition, mva_latency

Names are imported lazily (PEP 562), so ``import harness`` stays cheap for the CLI and never
imports Locust (which the load process keeps to itself).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    # scenario and runs
    "Scenario": "harness.scenario", "TestbedSpec": "harness.scenario",
    "load_scenario": "harness.scenario", "run_scenario": "harness.runner",
    "run": "harness.runner", "exercise": "harness.runner", "stand_up": "harness.runner",
    # errors
    "EdgeproofError": "harness.errors", "ConfigError": "harness.errors",
    "InfrastructureError": "harness.errors", "FaultError": "harness.errors",
    "TestbedError": "harness.errors",
    # testbeds
    "Testbed": "testbeds.base", "LocalTestbed": "testbeds.local",
    # faults
    "Fault": "faults.base", "ToxicFault": "faults.toxics", "Partition": "faults.partition",
    "ClockSkew": "faults.clock", "Crash": "faults.node", "Pause": "faults.node",
    "Stop": "faults.node", "Nemesis": "faults.schedule", "Scheduled": "faults.schedule",
    "ToxiproxyClient": "faults.toxiproxy", "ToxiproxyServer": "faults.toxiproxy_server",
    # models
    "predict": "harness.models", "Calibration": "harness.models",
    "erlang_c": "harness.queueing", "mva_latency": "harness.queueing",
    "mmc_mean_sojourn": "harness.queueing", "quorum_availability": "harness.availability",
    "lww_expected_lost": "harness.lww", "p_stale": "harness.staleness",
    # checks and histories
    "Verdict": "harness.checks", "run_checks": "harness.checks",
    "check_history": "harness.linearizability", "HistoryWriter": "workloads.history",
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
