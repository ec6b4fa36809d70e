"""Example edgeproof suite: a quorum-replicated edge cluster under test from pytest.

Run it with ``pytest examples/pytest`` (the plugin loads itself once edgeproof is installed);
``--edgeproof-report reports/pytest`` keeps each test's run directory and HTML report.
"""

from __future__ import annotations

import httpx
import pytest

from harness.pytest_plugin import EdgeLoad, EdgeRun, PytestNemesis
from testbeds.base import Testbed

pytestmark = pytest.mark.edgeproof_scenario("quorum.yaml")


def test_whole_scenario_passes(edge_run: EdgeRun) -> None:
    """The whole scenario, as `edgeproof run quorum.yaml` would run it: fails on a check."""
    result = edge_run()
    assert result.verdict == "pass"
    assert {c["kind"] for c in result.checks} == {"latency", "consistency"}


def test_partition_minority_unavailable_majority_available(edge_testbed: Testbed,
                                                          nemesis: PytestNemesis) -> None:
    """Cut edge-3 off: its clients get 503 (no quorum), the majority's clients get 200."""
    urls = dict(edge_testbed.client_targets())
    with httpx.Client(timeout=5.0, trust_env=False) as http:
        assert http.put(f"{urls['edge-1']}/kv/k1", json={"value": 1}).status_code == 200

        with nemesis.partition(isolate="edge-3"):
            assert http.put(f"{urls['edge-3']}/kv/k1", json={"value": 2}).status_code == 503
            assert http.get(f"{urls['edge-3']}/kv/k1").status_code == 503
            assert http.put(f"{urls['edge-1']}/kv/k1", json={"value": 3}).status_code == 200
            read = http.get(f"{urls['edge-2']}/kv/k1")
            assert read.status_code == 200 and read.json()["value"] == 3

        # healed: the former minority serves again, and sees the majority's write
        read = http.get(f"{urls['edge-3']}/kv/k1")
        assert read.status_code == 200 and read.json()["value"] == 3


def test_client_latency_fault_shows_in_windows(edge_load: EdgeLoad) -> None:
    """50 ms on every client link from second 3 to 6: the per-second windows show it, and the
    history stays linearizable."""
    load = edge_load(duration_s=8, faults=[
        {"at_s": 3, "for_s": 3, "kind": "latency", "link": ["clients", "*"], "ms": 50}])
    w = load.windows.set_index("second")
    before = w.loc[0:2, "latency_mean_ms"]
    during = w.loc[4:5, "latency_mean_ms"]
    assert before.median() < 40, before  # a sane baseline (~20 ms); a host hiccup moves one
    assert (during > before.median() + 40).all(), (before, during)
    assert (w.loc[0:7, "throughput_rps"] > 0).all()
    assert w["error_rate"].fillna(0).max() == 0
    assert len(load.ops) == load.results["workload"]["ops"]
    assert load.stats["total"]["num_requests"].iloc[0] == len(load.ops)
    load.assert_checks("consistency")
