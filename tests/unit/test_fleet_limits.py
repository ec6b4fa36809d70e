"""Limits a 500-node local fleet meets: open files, bridge ports, the neighbour table."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from testbeds import netns
from testbeds.processes import nofile_for, nofile_target

INF = resource.RLIM_INFINITY


def test_nofile_asks_for_at_least_the_floor_and_grows_with_nodes() -> None:
    assert nofile_for(10) == 65536
    assert nofile_for(10_000) == 160_000


def test_nofile_root_lifts_the_hard_limit_up_to_nr_open() -> None:
    assert nofile_target(1024, 4096, 65536, 1 << 20, root=True) == (65536, 65536)
    assert nofile_target(1024, 4096, 1 << 21, 1 << 20, root=True) == (1 << 20, 1 << 20)


def test_nofile_without_root_stays_under_the_hard_limit_and_never_lowers() -> None:
    assert nofile_target(1024, 4096, 65536, 1 << 20, root=False) == (4096, 4096)
    assert nofile_target(100_000, 200_000, 65536, 1 << 20, root=False) == (100_000, 200_000)
    assert nofile_target(1024, INF, 65536, 1 << 20, root=False) == (65536, INF)


def test_bridge_ceiling() -> None:
    assert netns.bridge_ceiling(1) is None
    assert netns.bridge_ceiling(netns.MAX_BRIDGE_PORTS) is None
    why = netns.bridge_ceiling(netns.MAX_BRIDGE_PORTS + 1)
    assert why is not None and "1,024" in why


def test_neighbour_targets_fit_the_fleet_and_never_lower() -> None:
    default = {"gc_thresh1": 128, "gc_thresh2": 512, "gc_thresh3": 1024}
    got = netns.neighbour_targets(default, netns.neighbour_need(500))
    assert got["gc_thresh1"] == 128
    assert got["gc_thresh3"] >= 2 * 500 + 1024 and got["gc_thresh2"] >= 2 * 500
    assert got["gc_thresh3"] >= got["gc_thresh2"] >= got["gc_thresh1"]
    docker = {"gc_thresh1": 8192, "gc_thresh2": 49152, "gc_thresh3": 65536}
    assert netns.neighbour_targets(docker, netns.neighbour_need(500)) == docker


def test_neighbour_restored_only_what_is_still_ours() -> None:
    saved = {"gc_thresh1": 128, "gc_thresh2": 512, "gc_thresh3": 1024}
    ours = {"gc_thresh1": 128, "gc_thresh2": 2512, "gc_thresh3": 3024}
    assert netns.neighbour_restored(saved, ours, dict(ours)) == {
        "gc_thresh2": 512, "gc_thresh3": 1024}
    moved = {**ours, "gc_thresh3": 65536}  # someone else raised it since: theirs now
    assert netns.neighbour_restored(saved, ours, moved) == {"gc_thresh2": 512}


@pytest.fixture
def fake_neigh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    sysctl = tmp_path / "sysctl"
    sysctl.mkdir()
    for k, v in (("gc_thresh1", 128), ("gc_thresh2", 512), ("gc_thresh3", 1024)):
        (sysctl / k).write_text(f"{v}\n")
    monkeypatch.setattr(netns, "NEIGH_SYSCTL", sysctl)
    monkeypatch.setattr(netns, "NEIGH_DIR", tmp_path / "neigh")
    return sysctl


def test_neighbours_raised_while_testbeds_live_and_put_back_by_the_last(
        fake_neigh: Path) -> None:
    def value(k: str) -> int:
        return int((fake_neigh / k).read_text())

    netns.raise_neighbours("epaaaaaaaa", 500)
    first = value("gc_thresh3")
    assert first >= 2024
    netns.raise_neighbours("epbbbbbbbb", 500)
    assert value("gc_thresh3") > first
    assert netns.neighbour_runs() == ["epaaaaaaaa", "epbbbbbbbb"]
    netns.release_neighbours("epaaaaaaaa")
    assert value("gc_thresh3") > 1024  # the other testbed still lives
    netns.release_neighbours("epbbbbbbbb")
    netns.release_neighbours("epbbbbbbbb")  # idempotent
    assert (value("gc_thresh1"), value("gc_thresh2"), value("gc_thresh3")) == (128, 512, 1024)
    assert netns.neighbour_runs() == []


def test_headroom_reads_cpu_pressure_and_calls_a_queueing_host_saturated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness import headroom

    psi = tmp_path / "cpu"
    psi.write_text("some avg10=62.50 avg60=40.00 avg300=30.00 total=1\n"
                   "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    monkeypatch.setattr(headroom, "PRESSURE", psi)
    assert headroom.cpu_pressure() == 62.5
    watch = headroom.Headroom(None)
    watch.host, watch.pressure = [10.0, 80.0, 85.0], [0.0, 62.5, 70.0]
    problem = watch.problem()
    assert problem is not None and "pressure median 66%" in problem
    assert watch.as_dict()["host_cpu_pressure_median"] == 66.25
    watch.pressure = [0.0, 20.0, 30.0]
    assert watch.problem() is None
    monkeypatch.setattr(headroom, "PRESSURE", tmp_path / "missing")
    assert headroom.cpu_pressure() is None


def _big_testbed(network: str | None, n: int) -> object:
    from testbeds.local import LocalTestbed
    from testbeds.spec import TestbedSpec
    from testbeds.state import TestbedRecord

    spec = TestbedSpec.model_validate({"network": network, "topology": {"tiers": [
        {"name": "cloud", "count": 1}, {"name": "gw", "count": n - 1}]}})
    record = TestbedRecord(run_id="ep00000000", backend="local", name="big", workdir="/tmp",
                           owner_pid=0)
    return LocalTestbed(spec, record)


def test_a_fleet_larger_than_a_bridge_runs_on_loopback_unless_it_asks_for_namespaces(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.errors import InfrastructureError

    monkeypatch.setattr(netns, "unavailable", lambda backend="local": None)
    assert _big_testbed(None, 1000)._network_mode() == "namespaces"  # type: ignore[attr-defined]
    assert _big_testbed(None, 1100)._network_mode() == "loopback"  # type: ignore[attr-defined]
    with pytest.raises(InfrastructureError, match="1,024"):
        _big_testbed("namespaces", 1100)._network_mode()  # type: ignore[attr-defined]


def test_a_burst_in_one_phase_makes_that_phase_unknown_not_the_run() -> None:
    """20 calm seconds and 3 hot ones (both cores busy, tasks queueing): the whole run's
    medians are fine, the phase holding the burst is saturated by its own, and only that
    phase's latency verdict turns unknown."""
    from harness import headroom
    from harness.checks.evidence import Evidence
    from harness.checks.registry import run_checks
    from harness.measure import measure
    from harness.phases import Phase
    from harness.scenario import Scenario
    from workloads.history import operations

    watch = headroom.Headroom(None)
    for t in range(24):
        hot = 14 <= t < 17
        watch.add({"at_s": float(t), "host": 99.0 if hot else 30.0,
                   "pressure": 80.0 if hot else 10.0, "load": 20.0, "proxy": None})
    phases = [Phase("baseline", 0.0, 12.0), Phase("partition x", 12.0, 18.0, (0,)),
              Phase("recovery after partition x", 18.0, 24.0)]
    assert watch.problem() is None
    problems = watch.phase_problems(phases)
    assert list(problems) == ["partition x"], problems
    assert "3 of 6 s hot" in problems["partition x"] and "host CPU 99%" in problems["partition x"]
    assert watch.as_dict()["samples"][14]["host"] == 99.0

    scn = Scenario.model_validate({"testbed": {"nodes": [{"name": "a"}]},
                                   "workload": {"duration_s": 24},
                                   "checks": {"latency": {"min_samples": 1}}})
    events = []
    for i in range(240):
        t = int(i * 0.1e9)
        events += [{"process": 0, "type": "invoke", "f": "read", "key": "k", "value": None,
                    "node": "a", "time_ns": t},
                   {"process": 0, "type": "ok", "f": "read", "key": "k", "value": None,
                    "node": "a", "time_ns": t + 5_000_000}]
    ops = operations(events)
    ops["start_s"], ops["end_s"] = ops["start_ns"] / 1e9, ops["end_ns"] / 1e9
    predicted = [{"latency_ms": {"mean": 5.0}} for _ in phases]
    ev = Evidence(scn, phases, measure(ops, phases), predicted, ops,
                  phase_problems=problems)
    by_phase = {v.phase: v for v in run_checks(ev) if v.phase}
    assert by_phase["partition x"].verdict == "unknown", by_phase["partition x"].detail
    assert "saturated in this phase" in by_phase["partition x"].detail
    assert by_phase["baseline"].verdict != "unknown", by_phase["baseline"].detail
