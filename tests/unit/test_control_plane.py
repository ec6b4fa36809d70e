"""The control plane: its spec, the node's version log, the convergence model and the
rollout checks (fakes only: the history and control logs are built here)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _scenarios import changed
from pydantic import ValidationError

from harness.checks.evidence import Evidence
from harness.checks.rollout import rollout_check, version_order
from harness.checks.verdict import FAIL, PASS, UNKNOWN
from harness.measure import measure
from harness.models.rollout import HOP_MS, predict_rollouts
from harness.phases import phases
from harness.rollouts import end_rollouts
from harness.scenario import Scenario
from testbeds.control import STALE_VERSION, ControlConfig, ControlPlane

FLEET: dict[str, Any] = {
    "name": "rollout-unit",
    "seed": 1,
    "testbed": {
        "service": {"control": {"mode": "push", "retry_ms": 500, "timeout_ms": 1000}},
        "topology": {"tiers": [
            {"name": "cloud", "count": 1},
            {"name": "aggregation", "count": 2, "uplink": {"latency_ms": 10}},
            {"name": "edge", "per_parent": 2, "uplink": {"latency_ms": 20}}]}},
    "workload": {"locustfile": "builtin:devices", "users": 8, "duration_s": 30,
                 "devices": {"rate_hz": 1}},
    "faults": [{"at_s": 2, "kind": "rollout", "version": 2},
               {"at_s": 5, "for_s": 10.7, "kind": "partition",
                "isolate": {"subtree": "aggregation-2"}},
               {"at_s": 6, "kind": "rollout", "version": 3},
               {"at_s": 8, "kind": "rollout", "version": 4}],
    "checks": {"latency": None, "rollout": {}},
}
NODES = ["cloud-1", "aggregation-1", "aggregation-2", "edge-1-1", "edge-1-2", "edge-2-1",
         "edge-2-2"]


def _fleet(**changes: Any) -> Scenario:
    return changed(FLEET, **changes)


# ---------------------------------------------------------------- spec

def test_a_control_plane_gives_reference_nodes_a_control_port() -> None:
    scn = _fleet()
    assert all(n.ports == ["main", "control"] for n in scn.testbed.nodes)
    assert _fleet(**{"testbed.service": {}}, faults=[]).testbed.nodes[0].ports == ["main"]


@pytest.mark.parametrize(("change", "words"), [
    ({"faults": [{"at_s": 2, "for_s": 3, "kind": "rollout", "version": 2}]}, "remove for_s"),
    ({"faults": [{"at_s": 2, "kind": "rollout", "version": 3},
                 {"at_s": 4, "kind": "rollout", "version": 3}]}, "versions only grow"),
    ({"testbed.service": {}}, "needs a control plane"),
    ({"faults": [{"at_s": 2, "for_s": 3, "kind": "partition", "isolate": "cloud-1",
                  "port": "admin"}]}, "is not a port of this testbed"),
])
def test_bad_rollout_input_names_the_field_and_fix(change: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        _fleet(**change)


def test_a_control_plane_without_a_tree_is_refused() -> None:
    raw = {"name": "flat", "testbed": {"service": {"control": {}},
                                       "nodes": [{"name": "a"}, {"name": "b"}]}}
    with pytest.raises(ValidationError, match=r"declare testbed\.topology"):
        Scenario.model_validate(raw)


def test_a_control_port_cut_leaves_the_data_plane_in_the_model() -> None:
    scn = _fleet(faults=[{"at_s": 5, "for_s": 5, "kind": "partition",
                          "isolate": {"subtree": "aggregation-2"}, "port": "control"}])
    f = scn.faults[0]
    assert f.cuts(scn.testbed.node_names, 0) == set()
    assert f.label().endswith("(port control)")


# ---------------------------------------------------------------- the node's log

def test_a_node_applies_only_newer_versions_and_replays_its_log(tmp_path: Path) -> None:
    async def go() -> None:
        cp = ControlPlane("n", ControlConfig(), tmp_path, seed=1)
        assert cp.apply(3, "p") and not cp.apply(2, "p") and not cp.apply(3, "p")
        cp.close()
        again = ControlPlane("n", ControlConfig(), tmp_path, seed=1)
        assert again.version == 3 and [e["version"] for e in again.log] == [3]
        again.close()
        buggy = ControlPlane("b", ControlConfig(), None, seed=1, bug=STALE_VERSION)
        assert buggy.apply(3, "p") and buggy.apply(2, "p") and buggy.version == 2

    asyncio.run(go())


def test_bad_control_config_is_named() -> None:
    with pytest.raises(ValueError, match=r"control\.mode"):
        ControlConfig.parse({"mode": "gossip"})
    with pytest.raises(ValueError, match=r"control\.poll_s"):
        ControlConfig.parse({"poll_s": 0})
    assert ControlConfig.parse(None) is None


# ---------------------------------------------------------------- the model

def test_push_converges_hop_by_hop_when_calm() -> None:
    scn = _fleet(faults=[{"at_s": 2, "kind": "rollout", "version": 2}])
    (p,) = predict_rollouts(scn)
    hop = HOP_MS / 1000
    assert p.depth == 2 and p.nodes == 7
    assert p.to_all_s == pytest.approx(0.010 + 0.020 + 2 * hop, abs=0.002)
    assert p.to_fraction(0.5) <= p.to_all_s


def test_a_cut_subtree_converges_at_the_first_attempt_after_the_heal() -> None:
    preds = predict_rollouts(_fleet())
    v3, v4 = preds[1], preds[2]
    # v3 at 6 s: attempts every 1.5 s (timeout + retry) from 6 s: the first at or after the
    # heal at 15.7 s is 16.5 s; v4 at 8 s rides the same attempts (not a cadence of its own)
    assert v3.to_all_s == pytest.approx(16.5 - 6 + 0.030 + 2 * HOP_MS / 1000, abs=0.01)
    assert v4.to_all_s == pytest.approx(16.5 - 8 + 0.030 + 2 * HOP_MS / 1000, abs=0.01)
    assert v3.held_by and v3.range_s[0] <= v3.to_all_s <= v3.range_s[1]


def test_pull_waits_a_poll_per_hop() -> None:
    scn = _fleet(**{"testbed.service.control": {"mode": "pull", "poll_s": 1.0}},
                 faults=[{"at_s": 2, "kind": "rollout", "version": 2}])
    (p,) = predict_rollouts(scn)
    assert 1.0 < p.to_all_s < 2.2  # the slowest of 6 sums of two residuals on [0, 1)
    assert p.range_s[0] < p.to_all_s < p.range_s[1]
    assert p.to_fraction(0.5) < p.to_fraction(0.9) <= p.to_all_s


# ---------------------------------------------------------------- the checks

def _applies(seq: dict[str, list[tuple[int, float]]]) -> list[dict[str, Any]]:
    rows = [{"node": n, "version": v, "t_s": t, "t_ns": int(t * 1e9),
             "from": "publish" if n == "cloud-1" else "parent"}
            for n, vs in seq.items() for v, t in vs]
    return sorted(rows, key=lambda r: r["t_s"])


def _evidence(scn: Scenario, control: list[dict[str, Any]]) -> Evidence:
    faults = [{"kind": f.kind, "at_s": f.at_s, "for_s": f.for_s, "applied_at_s": f.at_s,
               "healed_at_s": f.at_s + f.for_s, "ok": True} for f in scn.faults]
    end_rollouts(scn, faults, control)
    ops = pd.DataFrame({"process": [], "f": [], "type": [], "start_s": [], "end_s": [],
                        "latency_ms": [], "node": [], "value": []})
    phs = phases(scn)
    return Evidence(scn, phs, measure(ops, phs), [], ops, faults=faults, control=control)


def test_a_node_that_goes_back_to_an_older_version_fails_the_order_check() -> None:
    scn = _fleet()
    good = {n: [(2, 2.05), (4, 16.55)] for n in NODES}
    assert version_order(_evidence(scn, _applies(good))).verdict == PASS
    bad = {**good, "aggregation-2": [(2, 2.05), (4, 16.55), (3, 16.6)]}
    v = version_order(_evidence(scn, _applies(bad)))
    assert v.verdict == FAIL and "aggregation-2" in v.detail and "v4 -> v3" in v.detail


def test_convergence_passes_near_the_model_and_fails_far_from_it() -> None:
    scn = _fleet(faults=[{"at_s": 2, "kind": "rollout", "version": 2}])
    near = {n: [(2, 2.0 if n == "cloud-1" else 2.04)] for n in NODES}
    verdicts = {v.name: v for v in rollout_check(_evidence(scn, _applies(near)))}
    assert verdicts["convergence v2"].verdict == PASS, verdicts["convergence v2"].detail
    far = {**near, "edge-2-2": [(2, 3.5)]}
    verdicts = {v.name: v for v in rollout_check(_evidence(scn, _applies(far)))}
    assert verdicts["convergence v2"].verdict == FAIL
    assert verdicts["convergence v2"].evidence["slowest"] == "edge-2-2"
    missing = {n: v for n, v in near.items() if n != "edge-1-1"}
    verdicts = {v.name: v for v in rollout_check(_evidence(scn, _applies(missing)))}
    assert verdicts["convergence v2"].verdict == FAIL and "edge-1-1" in verdicts[
        "convergence v2"].detail


def test_no_log_is_unknown_never_a_pass() -> None:
    (v,) = rollout_check(_evidence(_fleet(), []))
    assert v.verdict == UNKNOWN


def test_a_rollout_window_closes_at_convergence_or_the_next_fault() -> None:
    scn = _fleet()
    seq = {n: [(2, 2.05), (4, 16.55)] for n in NODES}
    ev = _evidence(scn, _applies(seq))
    v2, v3 = ev.faults[0], ev.faults[2]
    assert v2["healed_at_s"] == pytest.approx(2.05) and v2["converged_nodes"] == 7
    assert v3["healed_at_s"] == pytest.approx(8.0)  # v4 starts before v3 converged
    assert v3["converged_at_s"] == pytest.approx(16.55)


def test_version_order_judges_what_was_published_not_what_was_scheduled() -> None:
    scn = _fleet()  # v2, v3 and v4 scheduled; only v2 reached the root (a failed publish)
    only_v2 = {n: [(2, 2.05)] for n in NODES}
    assert version_order(_evidence(scn, _applies(only_v2))).verdict == PASS
    stale = {**only_v2, "cloud-1": [(2, 2.0), (4, 16.5)]}  # v4 published: the rest are stale
    v = version_order(_evidence(scn, _applies(stale)))
    assert v.verdict == FAIL and "ended on another than v4" in v.detail
