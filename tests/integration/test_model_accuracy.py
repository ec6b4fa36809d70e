"""The MVA model against the real reference service, no faults, at utilisation 0.2 to 0.8:
measured mean within 10% of the prediction and p99 within 20% (issue 6), seeded."""

from __future__ import annotations

from pathlib import Path

import pytest
from _cli import accuracy_applies

from harness.models.queueing import mva_latency
from harness.runner import run_scenario
from harness.scenario import Scenario

pytestmark = pytest.mark.integration

S_MS, WORKERS, THINK_MS = 10.0, 2, 40.0


def users_for(util: float) -> int:
    """The smallest closed population whose MVA utilisation reaches ``util``."""
    return next(n for n in range(1, 500)
                if mva_latency(n, THINK_MS / 1000, 0.002, WORKERS, S_MS / 1000).utilisation
                >= util)


@pytest.mark.parametrize("util", [0.2, 0.5, 0.8])
def test_mva_predicts_mean_and_p99(util: float, tmp_path: Path, ep_env: dict[str, str],
                                   quiet_host: float, request: pytest.FixtureRequest) -> None:
    scn = Scenario.model_validate({
        "name": f"accuracy-{util}", "seed": 42,
        "testbed": {"service": {"mode": "eventual"},
                    "nodes": [{"name": "edge-1",
                               "hardware": {"workers": WORKERS, "service_ms": S_MS}}]},
        "workload": {"users": users_for(util), "think_time_ms": THINK_MS, "duration_s": 15,
                     "keys": 50},
        "checks": {"latency": {"tolerance": 0.10, "min_samples": 100}},
    })
    outcome = run_scenario(scn, out=tmp_path / "run", say=lambda _m: None)
    base = outcome.results["phases"][0]
    pred, got = base["predicted"]["latency_ms"], base["latency_ms"]
    if not accuracy_applies(outcome.results, request.node.nodeid):
        return
    assert got["mean"] == pytest.approx(pred["mean"], rel=0.10), (pred, got)
    assert got["p99"] == pytest.approx(pred["p99"], rel=0.20), (pred, got)
    assert outcome.exit_code == 0
