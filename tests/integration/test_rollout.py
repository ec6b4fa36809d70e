"""The control plane end to end on the local testbed, through the CLI as a user types it
(a relative scenario path, from a folder outside the checkout): a shortened fleet-rollout
converges as `predict` said, in order, with the data plane untouched while only the control
port is cut; a node that applies a stale version is caught; pull mode converges too."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from _cli import (
    EDGEPROOF,
    REPO,
    accuracy_applies,
    leftovers,
    run_as_typed,
    wait_for_quiet_host,
)

pytestmark = pytest.mark.integration

EXAMPLE = yaml.safe_load((REPO / "examples" / "fleet-rollout.yaml").read_text())


def short_rollout(**service: Any) -> dict[str, Any]:
    """examples/fleet-rollout.yaml, smaller: 1 cloud, 2 aggregators, 6 gateways, 30 s; two
    versions while aggregation-2 is cut, one while aggregation-1's control port is."""
    raw = copy.deepcopy(EXAMPLE)
    raw["name"] = "fleet-rollout-short"
    tiers = raw["testbed"]["topology"]["tiers"]
    tiers[1]["count"], tiers[2]["per_parent"] = 2, 3
    raw["testbed"]["service"].update(service)
    raw["workload"].update(users=48, duration_s=30)
    raw["workload"]["devices"].update(rate_hz=2.0, drain_s=10)
    raw["faults"] = [
        {"at_s": 4, "kind": "rollout", "version": 2},
        {"at_s": 7, "for_s": 6.7, "kind": "partition", "isolate": {"subtree": "aggregation-2"}},
        {"at_s": 8, "kind": "rollout", "version": 3},
        {"at_s": 10, "kind": "rollout", "version": 4},
        {"at_s": 17, "for_s": 8, "kind": "partition", "isolate": {"subtree": "aggregation-1"},
         "port": "control"},
        {"at_s": 18, "kind": "rollout", "version": 5}]
    raw["checks"] = {"latency": None, "delivery": {}, "rollout": {"tolerance": 0.2}}
    return raw


def _checks(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in res["checks"]}


@pytest.mark.slow  # 40-70 s of the default run's 25 min; CI runs it with -m slow
def test_a_rollout_under_a_partition_converges_as_predicted(
        ep_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest) -> None:
    raw = short_rollout()
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(raw))
    pred = subprocess.run([EDGEPROOF, "predict", "scenario.yaml", "--json"], cwd=tmp_path,
                          env=ep_env, capture_output=True, text=True, timeout=60)
    assert pred.returncode == 0, pred.stderr
    outs = {r["version"]: r for r in json.loads(pred.stdout)["rollouts"]}
    assert outs[3]["to_all_s"] > 4 and outs[2]["to_all_s"] < 0.5  # held by the cut, or not

    wait_for_quiet_host()
    proc, res = run_as_typed(raw, tmp_path / "a", ep_env)
    checks = _checks(res)
    assert checks["version order"]["verdict"] == "pass"
    if not accuracy_applies(res, request.node.nodeid):
        return
    assert proc.returncode == 0, "\n".join(
        f"{c['verdict']} {c['name']}: {c['detail']}" for c in res["checks"])
    for v in (2, 3, 4, 5):
        assert checks[f"convergence v{v}"]["verdict"] == "pass"
    assert checks["version order"]["verdict"] == "pass"
    sep = checks["control separation: partition isolate subtree aggregation-1 (port control)"]
    assert sep["verdict"] == "pass", sep["detail"]
    faults = {f["target"]: f for f in res["faults"]}
    ctl_cut = next(f for t, f in faults.items() if "(port control)" in t)
    assert ctl_cut["effect"] == "verified", ctl_cut["evidence"]
    applies = [json.loads(x) for x in (tmp_path / "a/run/control.jsonl").read_text().splitlines()]
    agg2 = [r["version"] for r in applies if r["node"] == "aggregation-2"]
    assert agg2 == [1, 2, 4, 5], agg2  # v3 and v4 came during the cut: only v4 after it
    again = subprocess.run([EDGEPROOF, "check", "run"], cwd=tmp_path / "a", env=ep_env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert not any(leftovers().values())


def test_a_node_that_applies_a_stale_version_is_caught(ep_env: dict[str, str],
                                                      tmp_path: Path) -> None:
    raw = short_rollout(bug="stale_version")
    raw["faults"] = raw["faults"][:4]
    raw["workload"]["duration_s"] = 20
    proc, res = run_as_typed(raw, tmp_path, ep_env)
    order = _checks(res)["version order"]
    assert proc.returncode == 1 and order["verdict"] == "fail", order
    assert "aggregation-2" in order["detail"] and "v4 -> v3" in order["detail"], order["detail"]


@pytest.mark.slow  # the default run keeps push; CI runs this with -m slow
def test_pull_converges_within_the_poll_model(ep_env: dict[str, str], tmp_path: Path,
                                             request: pytest.FixtureRequest) -> None:
    raw = short_rollout(control={"mode": "pull", "poll_s": 0.5, "timeout_ms": 400})
    raw["faults"] = raw["faults"][:3]
    raw["workload"]["duration_s"] = 18
    proc, res = run_as_typed(raw, tmp_path, ep_env)
    checks = _checks(res)
    assert checks["version order"]["verdict"] == "pass"
    if not accuracy_applies(res, request.node.nodeid):
        return
    assert checks["convergence v2"]["verdict"] == "pass", checks["convergence v2"]["detail"]
    assert checks["convergence v3"]["verdict"] == "pass", checks["convergence v3"]["detail"]
    assert checks["version order"]["verdict"] == "pass"
    assert proc.returncode == 0, proc.stdout[-3000:]
