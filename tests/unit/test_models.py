"""Models: predictions per phase from the scenario (delays, availability, users per node)."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faults.partition import cuts_for_groups
from harness.models.latency import Calibration, Prediction, predict, users_per_node
from harness.models.queueing import mva_latency
from harness.scenario import Scenario

NODES = ["edge-1", "edge-2", "edge-3"]

# the DESIGN.md example, as data
EXAMPLE: dict[str, Any] = {
    "name": "quorum-partition",
    "seed": 7,
    "testbed": {
        "backend": "local",
        "service": {"mode": "quorum"},
        "nodes": [{"name": n, "tier": "edge",
                   "hardware": {"cpus": 0.5, "memory_mb": 256, "workers": 2, "service_ms": 5}}
                  for n in NODES],
        "links": [
            {"between": ["edge-1", "edge-2"], "latency_ms": 2, "jitter_ms": 0,
             "bandwidth_kbps": None},
            {"between": ["edge-2", "edge-3"], "latency_ms": 2},
            {"between": ["edge-1", "edge-3"], "latency_ms": 2},
        ],
        "clients": {"nodes": NODES, "latency_ms": 1},
    },
    "workload": {"locustfile": "builtin:kv", "users": 20, "think_time_ms": 50,
                 "duration_s": 60, "keys": 10, "read_fraction": 0.5},
    "faults": [
        {"at_s": 10, "for_s": 20, "kind": "partition",
         "groups": [["edge-1"], ["edge-2", "edge-3"]]},
        {"at_s": 35, "for_s": 10, "kind": "latency", "link": ["edge-1", "edge-2"], "ms": 100,
         "jitter_ms": 10},
        {"at_s": 45, "for_s": 5, "kind": "clock_skew", "node": "edge-2", "offset_s": 30},
        {"at_s": 50, "for_s": 5, "kind": "crash", "node": "edge-3"},
    ],
    "checks": {"latency": {"model": "mva", "tolerance": 0.15},
               "availability": {"tolerance_pp": 2},
               "consistency": {"model": "linearizable"}},
}


def scenario(faults: list[dict[str, Any]] | None = None, mode: str | None = None,
             **workload: Any) -> Scenario:
    data = copy.deepcopy(EXAMPLE)
    if faults is not None:
        data["faults"] = faults
    if mode is not None:
        data["testbed"]["service"]["mode"] = mode
    data["workload"].update(workload)
    return Scenario.model_validate(data)


def nodes_of(pred: Prediction, phase: str) -> dict[str, Any]:
    ph = pred.phase(phase)
    assert ph is not None, [p.phase.name for p in pred.phases]
    return {n.node: n for n in ph.nodes}


def test_example_predicts_every_phase() -> None:
    pred = predict(scenario())
    names = [p.phase.name for p in pred.phases]
    assert names == ["baseline", "partition edge-1|edge-2,edge-3",
                     "recovery after partition edge-1|edge-2,edge-3",
                     "latency edge-1->edge-2", "clock_skew edge-2", "crash edge-3",
                     "recovery after crash edge-3"]
    base = pred.phase("baseline")
    assert base is not None
    assert base.latency_ms["mean"] > 0
    assert base.latency_ms["p50"] <= base.latency_ms["p95"] <= base.latency_ms["p99"]
    assert pred.bottleneck in NODES
    assert pred.saturation_users > 0


@pytest.mark.parametrize(("direction", "extra"), [("downstream", 50.0), ("upstream", 50.0),
                                                  ("both", 100.0)])
def test_client_latency_fault_adds_exactly_its_delay(direction: str, extra: float) -> None:
    scn = scenario([{"at_s": 10, "for_s": 10, "kind": "latency", "link": ["clients", "*"],
                     "ms": 50, "direction": direction}])
    pred = predict(scn)
    base, hit = nodes_of(pred, "baseline"), nodes_of(pred, "latency clients->*")
    assert set(hit) == set(NODES)
    for n in NODES:
        assert hit[n].available and base[n].available
        assert hit[n].delay_read_ms - base[n].delay_read_ms == pytest.approx(extra, abs=1e-9)
        assert hit[n].delay_write_ms - base[n].delay_write_ms == pytest.approx(extra, abs=1e-9)
    after = nodes_of(pred, "recovery after latency clients->*")
    for n in NODES:
        assert after[n].delay_read_ms == pytest.approx(base[n].delay_read_ms)


def test_client_latency_fault_on_one_node_leaves_the_others() -> None:
    scn = scenario([{"at_s": 10, "for_s": 10, "kind": "latency", "link": ["clients", "edge-2"],
                     "ms": 30}])
    pred = predict(scn)
    base, hit = nodes_of(pred, "baseline"), nodes_of(pred, "latency clients->edge-2")
    assert hit["edge-2"].delay_read_ms - base["edge-2"].delay_read_ms == pytest.approx(30)
    for n in ("edge-1", "edge-3"):
        assert hit[n].delay_read_ms == pytest.approx(base[n].delay_read_ms)


def test_quorum_baseline_delays() -> None:
    # client link 1 ms each way; one remote answer needed out of 3 nodes: 2*2 ms + peer overhead
    cal = Calibration(peer_overhead_ms=0.5)
    pred = predict(scenario([]), cal)
    for n in nodes_of(pred, "baseline").values():
        assert n.delay_read_ms == pytest.approx(2 * 1 + (2 * 2 + 0.5))
        assert n.delay_write_ms == pytest.approx(2 * 1 + 2 * (2 * 2 + 0.5))


def test_quorum_partition_isolating_one_node() -> None:
    scn = scenario([{"at_s": 10, "for_s": 10, "kind": "partition", "isolate": "edge-1"}])
    pred = predict(scn)
    hit = nodes_of(pred, "partition isolate edge-1")
    assert not hit["edge-1"].available
    assert math.isnan(hit["edge-1"].delay_read_ms)
    assert hit["edge-1"].throughput_rps == 0.0
    assert hit["edge-2"].available and hit["edge-3"].available
    phase = pred.phase("partition isolate edge-1")
    assert phase is not None and phase.throughput_rps > 0
    assert not math.isnan(phase.latency_ms["mean"])


def test_quorum_partition_groups_minority_is_unavailable() -> None:
    pred = predict(scenario())  # the example: [[edge-1], [edge-2, edge-3]]
    hit = nodes_of(pred, "partition edge-1|edge-2,edge-3")
    assert [n for n in NODES if hit[n].available] == ["edge-2", "edge-3"]


def test_quorum_crash_makes_the_node_unavailable_but_not_the_rest() -> None:
    hit = nodes_of(predict(scenario()), "crash edge-3")
    assert not hit["edge-3"].available
    assert hit["edge-1"].available and hit["edge-2"].available


def test_quorum_uses_the_fastest_peer() -> None:
    # a slow edge-1<->edge-2 link does not slow edge-1, which still reaches edge-3 in 4.5 ms
    pred = predict(scenario([{"at_s": 5, "for_s": 5, "kind": "latency",
                              "link": ["edge-1", "edge-2"], "ms": 100}]))
    base, hit = nodes_of(pred, "baseline"), nodes_of(pred, "latency edge-1->edge-2")
    for n in NODES:
        assert hit[n].delay_write_ms == pytest.approx(base[n].delay_write_ms)


def test_quorum_with_one_peer_reachable_slow_path_counts() -> None:
    # cut edge-1 from edge-3: edge-1's only quorum peer is edge-2, 100 ms slower now
    pred = predict(scenario([
        {"at_s": 5, "for_s": 10, "kind": "partition", "from": ["edge-1"], "to": ["edge-3"]},
        {"at_s": 5, "for_s": 10, "kind": "latency", "link": ["edge-1", "edge-2"], "ms": 100},
    ]), Calibration(peer_overhead_ms=0.0))
    ph = next(p for p in pred.phases if p.phase.faults == (0, 1))
    e1 = {n.node: n for n in ph.nodes}["edge-1"]
    assert e1.delay_read_ms == pytest.approx(2 * 1 + 2 * 2 + 100)


def test_eventual_has_no_replication_delay() -> None:
    pred = predict(scenario(mode="eventual"))
    for ph in pred.phases:
        for n in ph.nodes:
            if not n.available:
                assert ph.phase.name == "crash edge-3" and n.node == "edge-3"
                continue
            assert n.delay_read_ms == pytest.approx(2 * 1)
            assert n.delay_write_ms == pytest.approx(2 * 1)
    # an eventual node serves alone, even when partitioned from everyone
    hit = nodes_of(pred, "partition edge-1|edge-2,edge-3")
    assert all(hit[n].available for n in NODES)


def test_primary_partitioned_from_primary_cannot_write() -> None:
    scn = scenario([{"at_s": 10, "for_s": 10, "kind": "partition", "isolate": "edge-3"}],
                   mode="primary")
    hit = nodes_of(predict(scn), "partition isolate edge-3")
    assert not hit["edge-3"].available     # cut off from edge-1, the default primary
    assert hit["edge-1"].available and hit["edge-2"].available


def test_station_is_the_mva_residence() -> None:
    scn = scenario([], users=9)
    cal = Calibration(peer_overhead_ms=0.5)
    base = nodes_of(predict(scn, cal), "baseline")
    n = base["edge-1"]
    assert n.users == 3
    delay = 0.5 * n.delay_read_ms + 0.5 * n.delay_write_ms
    want = mva_latency(3, 0.05, delay / 1000, 2, 0.005)
    assert n.station_ms == pytest.approx(want.residence_s * 1000)
    assert n.throughput_rps == pytest.approx(want.throughput)


def test_calibrated_service_time_is_used() -> None:
    scn = scenario([])
    slow = Calibration(service_ms={"edge-2": 50.0})
    pred = predict(scn, slow)
    base = nodes_of(pred, "baseline")
    assert base["edge-2"].service_ms == 50.0
    assert base["edge-2"].station_ms > base["edge-1"].station_ms
    assert pred.bottleneck == "edge-2"


def test_users_per_node_round_robin() -> None:
    assert users_per_node(scenario(users=20)) == {"edge-1": 7, "edge-2": 7, "edge-3": 6}
    assert users_per_node(scenario(users=2)) == {"edge-1": 1, "edge-2": 1, "edge-3": 0}


@settings(max_examples=100, deadline=None)
@given(users=st.integers(1, 500), k=st.integers(1, 3))
def test_users_per_node_is_balanced(users: int, k: int) -> None:
    data = copy.deepcopy(EXAMPLE)
    data["testbed"]["clients"]["nodes"] = NODES[:k]
    data["workload"]["users"] = users
    counts = users_per_node(Scenario.model_validate(data))
    assert list(counts) == NODES[:k]
    assert sum(counts.values()) == users
    assert max(counts.values()) - min(counts.values()) <= 1
    assert list(counts.values()) == sorted(counts.values(), reverse=True)  # first nodes first


def test_cuts_for_groups() -> None:
    assert cuts_for_groups([["a"], ["b", "c"]], ["a", "b", "c"]) == {
        ("a", "b"), ("b", "a"), ("a", "c"), ("c", "a")}
    # unlisted nodes form one more group
    assert cuts_for_groups([["a"]], ["a", "b", "c"]) == cuts_for_groups([["a"], ["b", "c"]],
                                                                         ["a", "b", "c"])
    assert cuts_for_groups([["a", "b", "c"]], ["a", "b", "c"]) == set()


def test_saturation_is_the_knee_of_the_asymptotic_bounds() -> None:
    """N* where N/(Z + D + S) meets c/S, per client node (D: the mean delay a request pays)."""
    scn = scenario([])
    pred = predict(scn, Calibration(peer_overhead_ms=0.5))
    n = nodes_of(pred, "baseline")["edge-1"]
    delay = 0.5 * n.delay_read_ms + 0.5 * n.delay_write_ms
    z, s, c = 50.0, 5.0, 2
    knee = (z + delay + s) / (s / c)
    assert pred.saturation_users == pytest.approx(len(NODES) * knee, rel=1e-9)
    # at the knee the two throughput bounds meet
    assert knee / (z + delay + s) == pytest.approx(c / s)


def test_each_window_is_checked_against_its_own_prediction() -> None:
    from harness.checks.evidence import Evidence
    from harness.checks.latency import latency_check
    from harness.checks.verdict import PASS
    from harness.measure import PhaseMeasurement

    scn = scenario([
        {"at_s": 10, "for_s": 10, "kind": "latency", "link": ["clients", "*"], "ms": 50},
        {"at_s": 30, "for_s": 10, "kind": "latency", "link": ["clients", "*"], "ms": 300},
    ])
    pred = predict(scn)
    windows = [p for p in pred.phases if p.phase.faults]
    assert [w.phase.name for w in windows] == ["latency clients->*", "latency clients->* #2"]
    assert windows[1].latency_ms["mean"] > windows[0].latency_ms["mean"] + 200
    # a system that behaves exactly as predicted passes every phase
    meas = [PhaseMeasurement(p.phase, 1000, 1000, 0, 0, dict(p.latency_ms), 1.0, 1000,
                             p.throughput_rps) for p in pred.phases]
    verdicts = latency_check(Evidence(scn, [p.phase for p in pred.phases], meas,
                                      [p.as_dict() for p in pred.phases], None))  # type: ignore[arg-type]
    assert [v.verdict for v in verdicts] == [PASS] * len(pred.phases), [v.detail
                                                                       for v in verdicts]
