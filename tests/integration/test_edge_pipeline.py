"""The store-and-forward pipeline end to end on the local testbed, through the CLI as a user
types it (a relative scenario path, from a folder outside the checkout): a shortened
edge-fleet passes as `predict` said; a forwarder that drops a batch whose send failed is
caught by the delivery check; a buffer too small for the cut loses what the model predicts,
the oldest readings under drop_oldest and the newest under drop_newest."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from _cli import EDGEPROOF, REPO, leftovers, run_as_typed

pytestmark = pytest.mark.integration

EXAMPLE = yaml.safe_load((REPO / "examples" / "edge-fleet.yaml").read_text())


def short_fleet() -> dict[str, Any]:
    """examples/edge-fleet.yaml, smaller: 1 cloud, 2 aggregators, 6 gateways, 36 devices,
    30 s, an aggregator cut for 8 s and a gateway isolated for 4 s."""
    raw = copy.deepcopy(EXAMPLE)
    raw["name"] = "edge-fleet-short"
    tiers = raw["testbed"]["topology"]["tiers"]
    tiers[1]["count"], tiers[2]["per_parent"] = 2, 3
    raw["workload"].update(users=36, duration_s=30)
    raw["workload"]["devices"].update(rate_hz=1.0, drain_s=20)
    raw["faults"] = [
        {"at_s": 8, "for_s": 8, "kind": "partition", "isolate": {"subtree": "aggregation-2"}},
        {"at_s": 20, "for_s": 4, "kind": "partition", "isolate": {"subtree": "edge-1-2"}}]
    return raw


def one_gateway(capacity: int, overflow: str, bug: str | None = None) -> dict[str, Any]:
    """A cloud and two gateways; gateway edge-1 (6 devices x 2 readings/s) is cut for 10 s."""
    return {
        "name": f"overflow-{overflow}", "seed": 4,
        "testbed": {
            "service": {"pipeline": {"batch": 20, "linger_ms": 20, "backoff_ms": 100,
                                     "timeout_ms": 500}, "bug": bug},
            "clients": {"latency_ms": 2},
            "topology": {"tiers": [
                {"name": "cloud", "count": 1},
                {"name": "edge", "count": 2, "uplink": {"latency_ms": 10},
                 "buffer": {"capacity": capacity, "overflow": overflow}}]}},
        "workload": {"locustfile": "builtin:devices", "users": 12, "duration_s": 22,
                     "devices": {"rate_hz": 2.0, "arrivals": "periodic", "drain_s": 15}},
        "faults": [{"at_s": 6, "for_s": 10, "kind": "partition",
                    "isolate": {"subtree": "edge-1"}}],
        "checks": {"latency": None, "delivery": {}},
    }


def _checks(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in res["checks"]}


def test_a_short_edge_fleet_passes_as_predicted(ep_env: dict[str, str],
                                                tmp_path: Path) -> None:
    raw = short_fleet()
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(raw))
    pred = subprocess.run([EDGEPROOF, "predict", "scenario.yaml", "--json"], cwd=tmp_path,
                          env=ep_env, capture_output=True, text=True, timeout=60)
    assert pred.returncode == 0, pred.stderr
    cuts = json.loads(pred.stdout)["pipeline"]["cuts"]
    assert [c["node"] for c in cuts] == ["aggregation-2", "edge-1-2"]
    proc, res = run_as_typed(raw, tmp_path, ep_env)
    assert res["harness"].get("saturated") in (None, False), res["harness"]  # headroom first
    assert proc.returncode == 0 and res["verdict"] == "pass", proc.stdout[-4000:]
    checks = _checks(res)
    assert checks["delivery"]["measured"] == 0 and checks["delivery"]["evidence"]["acked"] > 500
    held = checks["backlog[partition uplink of aggregation-2 (to cloud-1)]"]
    assert held["predicted"] == pytest.approx(cuts[0]["backlog"], rel=1e-3), held
    assert checks["delay bound"]["verdict"] == "pass"
    assert res["prediction"]["pipeline"]["nc_bound_ms"], res["prediction"]
    assert "backlog below aggregation-2" in (tmp_path / "run" / "report.html").read_text()
    assert leftovers()["processes"] == []


def test_a_forwarder_that_drops_on_retry_is_caught(ep_env: dict[str, str],
                                                   tmp_path: Path) -> None:
    proc, res = run_as_typed(one_gateway(1000, "drop_oldest", bug="drop_on_retry"), tmp_path,
                             ep_env)
    delivery = _checks(res)["delivery"]
    assert proc.returncode == 1 and delivery["verdict"] == "fail", delivery
    ev = delivery["evidence"]
    assert ev["lost"] > 10 and ev["per_gateway"]["edge-1"]["lost"] == ev["lost"], ev
    first, last = ev["lost_span_s"]
    assert 5.0 <= first and last <= 16.5, ev  # lost in the cut, where the retries failed
    assert "never reached the sink" in delivery["detail"]


@pytest.mark.slow
@pytest.mark.parametrize("overflow", ["drop_oldest", "drop_newest"])
def test_a_small_buffer_loses_what_the_model_predicts(overflow: str, ep_env: dict[str, str],
                                                      tmp_path: Path) -> None:
    proc, res = run_as_typed(one_gateway(40, overflow), tmp_path, ep_env)
    delivery = _checks(res)["delivery"]
    ev = delivery["evidence"]
    assert delivery["verdict"] == "pass", delivery  # within +-10% of the predicted loss
    predicted = res["prediction"]["pipeline"]["cuts"][0]["loss"]
    assert predicted > 60, predicted
    if overflow == "drop_oldest":  # acked, then evicted: the early part of the cut
        assert ev["refused"] == 0 and ev["lost"] > 0.8 * predicted, ev
        assert ev["lost_span_s"][0] < 6 + 3, ev
    else:  # refused at the door once full: the late part of the cut, nothing acked lost
        assert ev["lost"] == 0 and ev["refused"] > 0.8 * predicted, ev
        assert ev["refused_span_s"][0] > 6 + 2 and ev["refused_span_s"][1] > 15, ev
    assert proc.returncode == 0, proc.stdout[-2000:]
