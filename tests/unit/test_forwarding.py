"""Store-and-forward, fast: the spec of a pipeline fleet, the node's buffer (overflow
policies, replay after a restart), the pipeline models (backlog, loss, drain, bounds) and the
delivery check on hand-made histories."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _scenarios import changed

from harness.checks.delivery import (
    Flow,
    calibrated_pipeline,
    delivery_check,
    outstanding,
    pipeline_check,
)
from harness.checks.evidence import Evidence
from harness.checks.verdict import FAIL, PASS, UNKNOWN
from harness.measure import measure
from harness.models.pipeline import forwarder_wait, predict_pipeline, uplinks_cut
from harness.phases import phases
from harness.scenario import Scenario
from testbeds.forward import Buffer, BufferFull

FLEET: dict[str, Any] = {
    "name": "fleet", "seed": 5,
    "testbed": {
        "service": {"pipeline": {"batch": 20, "linger_ms": 20, "backoff_ms": 200,
                                 "timeout_ms": 1000}},
        "topology": {"tiers": [
            {"name": "cloud", "count": 1, "hardware": {"distribution": "uniform"}},
            {"name": "aggregation", "count": 2, "hardware": {"distribution": "uniform"},
             "uplink": {"latency_ms": 10, "bandwidth_kbps": 48}},
            {"name": "edge", "per_parent": 2, "hardware": {"distribution": "uniform"},
             "uplink": {"latency_ms": 20, "bandwidth_kbps": 400},
             "buffer": {"capacity": 100, "overflow": "drop_oldest"}}]}},
    "workload": {"locustfile": "builtin:devices", "users": 8, "duration_s": 30,
                 "devices": {"rate_hz": 2, "arrivals": "periodic"}},
    "faults": [{"at_s": 10, "for_s": 10, "kind": "partition",
                "isolate": {"subtree": "edge-1-1"}}],
    "checks": {"latency": None, "delivery": {}},
}


def _fleet(**changes: Any) -> Scenario:
    return changed(FLEET, **changes)


def test_a_buffer_smaller_than_a_batch_is_refused() -> None:
    with pytest.raises(ValueError, match=r"buffer\.capacity 10 is below service\.pipeline\.batch"):
        _fleet(**{"testbed.topology.tiers": [
            {"name": "cloud", "count": 1},
            {"name": "edge", "count": 1, "buffer": {"capacity": 10}}]})


def test_devices_settings_belong_to_builtin_devices() -> None:
    with pytest.raises(ValueError, match="devices: only for locustfile builtin:devices"):
        _fleet(**{"workload.locustfile": "builtin:kv"})


def test_the_cut_model_gives_backlog_loss_and_a_drain() -> None:
    pred = predict_pipeline(_fleet())
    assert pred is not None
    (cut,) = pred.cuts
    # edge-1-1 takes devices 0 and 4: 2 devices x 2 readings/s, cut for 10 s
    assert cut.node == "edge-1-1" and cut.rate_in == pytest.approx(4.0)
    assert cut.loss == 0.0  # 40 readings fit the buffer of 100
    assert cut.backlog == pytest.approx(40.0)
    assert cut.drain_range_s is not None and cut.drain_s is not None
    lo, hi = cut.drain_range_s
    assert lo < cut.drain_s < hi
    small = predict_pipeline(_fleet(**{"faults": [{"at_s": 5, "for_s": 40, "kind": "partition",
                                                   "isolate": {"subtree": "edge-1-1"}}],
                                       "workload.duration_s": 60}))
    assert small is not None
    pend = small.cuts[0].pending_s  # the buffer stays full until the first retry lands
    assert small.cuts[0].loss == pytest.approx(4 * (40 + pend) - 100)  # 4/s x 40 s into 100


def test_bounds_need_bounded_parts_and_grow_with_the_burst() -> None:
    poisson = predict_pipeline(_fleet(**{"workload.devices": {"rate_hz": 2}}))
    assert poisson is not None and all(b is None for b in poisson.nc_bound_ms.values())
    assert any("Poisson" in n for n in poisson.notes)
    one = predict_pipeline(_fleet())
    five = predict_pipeline(_fleet(**{"workload.devices": {"rate_hz": 2, "burst": 5,
                                                           "arrivals": "periodic"}}))
    assert one is not None and five is not None
    for g, b in one.nc_bound_ms.items():
        assert b is not None and five.nc_bound_ms[g] is not None
        assert b > one.e2e_mean_ms[g]  # a worst case is above the mean
        assert five.nc_bound_ms[g] > b


def test_uplinks_cut_by_groups_and_subtrees() -> None:
    scn = _fleet(**{"faults": [{"at_s": 1, "for_s": 1, "kind": "partition", "groups": [
        ["cloud-1", "aggregation-1", "edge-1-1", "edge-1-2"],
        ["aggregation-2", "edge-2-1", "edge-2-2"]]}]})
    assert uplinks_cut(scn, 0) == ["aggregation-2"]
    assert uplinks_cut(_fleet(), 0) == ["edge-1-1"]


def test_forwarder_wait_lingers_when_idle_and_queues_when_busy() -> None:
    idle, per = forwarder_wait(0.5, 0.02, 50, 0.01, 0.0, seed=1)
    assert idle == pytest.approx(0.02, rel=0.05) and per == pytest.approx(1.0, abs=0.05)
    busy, big = forwarder_wait(200.0, 0.02, 50, 0.1, 0.0, seed=1)
    assert big > 15 and busy > 0.04  # batches fill while one is in flight


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.mark.parametrize(("policy", "kept", "dropped"), [
    ("drop_oldest", ["r2", "r3", "r4"], 2), ("drop_newest", ["r0", "r1", "r2"], 0)])
def test_buffer_overflow_policies(tmp_path: Path, policy: str, kept: list[str],
                                  dropped: int) -> None:
    async def go() -> tuple[Buffer, int]:
        buf = Buffer(tmp_path, 3, policy)
        refused = 0
        for i in range(5):
            try:
                await buf.put([[f"r{i}", "gw"]], 0.01)
            except BufferFull:
                refused += 1
        return buf, refused

    buf, refused = _run(go())
    assert [r[0] for r in buf.queue] == kept
    assert buf.dropped == dropped and refused == (2 if policy == "drop_newest" else 0)


def test_buffer_replays_what_was_not_forwarded(tmp_path: Path) -> None:
    async def first() -> None:
        buf = Buffer(tmp_path, 10, "drop_oldest")
        await buf.put([["a", "gw"], ["b", "gw"], ["c", "gw"]], 0.01)
        buf.take(2)
        buf.done()  # a and b acked upstream
        buf.close()  # c never went: a restart must bring it back

    _run(first())
    again = Buffer(tmp_path, 10, "drop_oldest")
    assert [r[0] for r in again.queue] == ["c"] and again.head == 2


def _sends(ids: list[str], node: str = "edge-1-1", t0: float = 1.0) -> list[dict[str, Any]]:
    return [{"process": i, "type": "ok", "f": "send", "key": "dev", "value": rid,
             "node": node, "start_s": t0 + i * 0.1, "end_s": t0 + i * 0.1 + 0.01,
             "latency_ms": 10.0} for i, rid in enumerate(ids)]


def _recvs(ids: list[str], t0: float = 2.0) -> list[dict[str, Any]]:
    return [{"process": 9_999_999, "type": "ok", "f": "recv", "key": "edge-1-1",
             "value": rid, "node": "cloud-1", "start_s": t0 + i * 0.1,
             "end_s": t0 + i * 0.1, "latency_ms": 0.0} for i, rid in enumerate(ids)]


def _evidence(scn: Scenario, rows: list[dict[str, Any]]) -> Evidence:
    ops = pd.DataFrame(rows)
    phs = phases(scn)
    return Evidence(scn, phs, measure(ops, phs), [], ops)


def test_delivery_names_what_was_lost_and_counts_duplicates() -> None:
    scn = _fleet(faults=[])
    ids = [f"dev-0:{i:07d}" for i in range(10)]
    ev = _evidence(scn, _sends(ids) + _recvs(ids[:7] + ids[:2]))
    (v,) = delivery_check(ev)
    assert v.verdict == FAIL and v.measured == 3, v.detail
    assert v.evidence["lost_ids"] == ids[7:] and v.evidence["duplicates"] == 2
    assert v.evidence["per_gateway"]["edge-1-1"]["lost"] == 3
    (ok,) = delivery_check(_evidence(scn, _sends(ids) + _recvs(ids)))
    assert ok.verdict == PASS, ok.detail


def test_delivery_without_receipts_is_unknown() -> None:
    ids = [f"dev-0:{i:07d}" for i in range(5)]
    (v,) = delivery_check(_evidence(_fleet(faults=[]), _sends(ids)))
    assert v.verdict == UNKNOWN and "f: recv" in v.detail


def test_outstanding_counts_what_is_on_its_way() -> None:
    ids = [f"d:{i}" for i in range(4)]
    flow = Flow.of(pd.DataFrame(_sends(ids) + _recvs(ids, t0=5.0)))
    got = outstanding(flow, {"edge-1-1"}, pd.Series([0.0, 1.5, 3.0, 5.05, 9.0]).to_numpy())
    assert got.tolist() == [0, 4, 4, 3, 0]


def _paced(scn: Scenario, extra_ms: Any) -> list[dict[str, Any]]:
    """Every device's readings every 0.5 s for 30 s, each reaching the sink the model's mean
    plus ``extra_ms(t)`` after its send."""
    pred = predict_pipeline(scn)
    assert pred is not None
    gateways = sorted(pred.devices)
    rows: list[dict[str, Any]] = []
    for d in range(scn.workload.users):
        gw = gateways[d % len(gateways)]
        for k in range(60):
            t, rid = 0.05 * d + 0.5 * k, f"dev-{d}:{k:07d}"
            got = t + (pred.e2e_mean_ms[gw] + extra_ms(t)) / 1000
            rows += [{"process": d, "type": "ok", "f": "send", "key": "dev", "value": rid,
                      "node": gw, "start_s": t, "end_s": t + 0.01, "latency_ms": 10.0},
                     {"process": 9_999_999, "type": "ok", "f": "recv", "key": gw,
                      "value": rid, "node": "cloud-1", "start_s": got, "end_s": got,
                      "latency_ms": 0.0}]
    return rows


def test_the_warm_up_calibrates_the_platform_overhead_and_a_later_slowdown_fails() -> None:
    """A platform that adds 15 ms to every path (measured in the warm-up, never judged)
    passes; the same platform slowed by 60 ms more after the warm-up fails the latency."""
    scn = _fleet(faults=[], **{"checks.pipeline": {"tolerance": 0.2}})
    steady = _evidence(scn, _paced(scn, lambda t: 15.0))
    pred = calibrated_pipeline(steady, predict_pipeline(scn))  # type: ignore[arg-type]
    assert set(pred.overhead_ms) == set(pred.devices)
    assert all(v == pytest.approx(15.0, abs=0.01) for v in pred.overhead_ms.values())
    e2e = [v for v in pipeline_check(steady) if v.kind == "e2e_latency"]
    assert e2e and all(v.verdict == PASS for v in e2e), [v.detail for v in e2e]
    assert "path overhead of 15.0 ms measured in the warm-up" in e2e[0].detail
    slowed = _evidence(scn, _paced(scn, lambda t: 15.0 if t < 3 else 75.0))
    e2e = [v for v in pipeline_check(slowed) if v.kind == "e2e_latency"]
    assert e2e and all(v.verdict == FAIL for v in e2e), [v.detail for v in e2e]


def test_a_system_slow_from_the_start_is_not_its_own_baseline() -> None:
    """120 ms more on every path from the first reading: the warm-up measures it, but only
    ``max_overhead_ms`` goes into the models; the overhead and the latency both fail."""
    scn = _fleet(faults=[], **{"checks.pipeline": {"tolerance": 0.2, "max_overhead_ms": 40}})
    slow = _evidence(scn, _paced(scn, lambda t: 120.0))
    got = pipeline_check(slow)
    (over,) = [v for v in got if v.kind == "pipeline_overhead"]
    assert over.verdict == FAIL and over.measured == pytest.approx(120.0, abs=0.1), over.detail
    assert "max_overhead_ms" in over.detail
    e2e = [v for v in got if v.kind == "e2e_latency"]
    assert e2e and all(v.verdict == FAIL for v in e2e), [v.detail for v in e2e]
    assert "path overhead of 40.0 ms" in e2e[0].detail
    steady = pipeline_check(_evidence(scn, _paced(scn, lambda t: 15.0)))
    (ok,) = [v for v in steady if v.kind == "pipeline_overhead"]
    assert ok.verdict == PASS and ok.measured == pytest.approx(15.0, abs=0.1), ok.detail
