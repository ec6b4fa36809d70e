"""Phases: baseline, one window per fault (or combination of faults), recovery."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.phases import Phase, fault_label, phases
from harness.scenario import Scenario

NODES = ["edge-1", "edge-2", "edge-3"]


def scenario(faults: list[dict[str, Any]], duration_s: float = 60) -> Scenario:
    return Scenario.model_validate({
        "testbed": {"nodes": [{"name": n} for n in NODES],
                    "links": [{"between": ["edge-1", "edge-2"]}]},
        "workload": {"duration_s": duration_s},
        "faults": faults,
    })


def crash(at: float, dur: float, node: str = "edge-3") -> dict[str, Any]:
    return {"at_s": at, "for_s": dur, "kind": "crash", "node": node}


def summary(ps: list[Phase]) -> list[tuple[str, str, float, float, tuple[int, ...]]]:
    return [(p.name, p.kind, p.start_s, p.end_s, p.faults) for p in ps]


def test_no_faults_is_one_baseline() -> None:
    assert summary(phases(scenario([]))) == [("baseline", "baseline", 0.0, 60.0, ())]


def test_design_example_phases() -> None:
    scn = scenario([
        {"at_s": 10, "for_s": 20, "kind": "partition",
         "groups": [["edge-1"], ["edge-2", "edge-3"]]},
        {"at_s": 35, "for_s": 10, "kind": "latency", "link": ["edge-1", "edge-2"], "ms": 100},
        {"at_s": 45, "for_s": 5, "kind": "clock_skew", "node": "edge-2", "offset_s": 30},
        crash(50, 5),
    ])
    assert summary(phases(scn)) == [
        ("baseline", "baseline", 0.0, 10.0, ()),
        ("partition edge-1|edge-2,edge-3", "fault", 10.0, 30.0, (0,)),
        ("recovery after partition edge-1|edge-2,edge-3", "recovery", 30.0, 35.0, ()),
        ("latency edge-1->edge-2", "fault", 35.0, 45.0, (1,)),
        ("clock_skew edge-2", "fault", 45.0, 50.0, (2,)),
        ("crash edge-3", "fault", 50.0, 55.0, (3,)),
        ("recovery after crash edge-3", "recovery", 55.0, 60.0, ()),
    ]


def test_overlapping_faults_give_a_combined_window() -> None:
    scn = scenario([crash(10, 20, "edge-3"),
                    {"at_s": 20, "for_s": 20, "kind": "latency", "link": ["clients", "*"],
                     "ms": 50}])
    assert summary(phases(scn)) == [
        ("baseline", "baseline", 0.0, 10.0, ()),
        ("crash edge-3", "fault", 10.0, 20.0, (0,)),
        ("crash edge-3 + latency clients->*", "fault", 20.0, 30.0, (0, 1)),
        ("latency clients->*", "fault", 30.0, 40.0, (1,)),
        ("recovery after latency clients->*", "recovery", 40.0, 60.0, ()),
    ]


def test_fault_at_zero_has_no_baseline_and_is_clipped_at_the_end() -> None:
    scn = scenario([crash(0, 100)], duration_s=30)
    assert summary(phases(scn)) == [("crash edge-3", "fault", 0.0, 30.0, (0,))]


def test_measured_times_override_the_schedule() -> None:
    scn = scenario([crash(10, 10)])
    got = phases(scn, times=[(10.4, 21.2)])
    assert summary(got) == [
        ("baseline", "baseline", 0.0, 10.4, ()),
        ("crash edge-3", "fault", 10.4, 21.2, (0,)),
        ("recovery after crash edge-3", "recovery", 21.2, 60.0, ()),
    ]


def test_names_are_stable_and_unique() -> None:
    scn = scenario([crash(10, 5), crash(20, 5), crash(30, 5)])
    got = phases(scn, times=[(10.01, 15.2), (20.3, 24.9), (30.0, 35.05)])
    assert [p.name for p in got] == [
        "baseline", "crash edge-3", "recovery after crash edge-3", "crash edge-3 #2",
        "recovery after crash edge-3 #2", "crash edge-3 #3", "recovery after crash edge-3 #3"]
    assert [p.name for p in got] == [p.name for p in phases(scn)], "times never name a phase"


def test_labels() -> None:
    scn = scenario([
        {"at_s": 1, "for_s": 1, "kind": "partition", "isolate": "edge-2"},
        {"at_s": 1, "for_s": 1, "kind": "partition", "from": ["edge-1"], "to": ["edge-2"]},
        {"at_s": 1, "for_s": 1, "kind": "bandwidth", "link": ["clients", "edge-1"], "kbps": 8},
        {"at_s": 1, "for_s": 1, "kind": "pause", "node": "edge-1"},
    ])
    assert [fault_label(f) for f in scn.faults] == [
        "partition isolate edge-2", "partition", "bandwidth clients->edge-1", "pause edge-1"]
    assert Phase("x", 0, 1, (1,)).as_dict() == {"name": "x", "kind": "fault", "start_s": 0,
                                                "end_s": 1, "faults": [1]}


_fault = st.tuples(st.integers(0, 59), st.integers(1, 40), st.sampled_from(NODES))


def client_latency(at: float, dur: float, node: str) -> dict[str, Any]:
    """A fault that may overlap another on the same node (crashes of one node may not)."""
    return {"at_s": at, "for_s": dur, "kind": "latency", "link": ["clients", node], "ms": 5}


@settings(max_examples=200, deadline=None)
@given(specs=st.lists(_fault, max_size=5))
def test_phases_tile_the_run_and_name_exactly_the_active_faults(
        specs: list[tuple[int, int, str]]) -> None:
    scn = scenario([client_latency(a, d, n) for a, d, n in specs])
    ps = phases(scn)
    # contiguous, non-empty, covering [0, duration)
    assert ps[0].start_s == 0.0 and ps[-1].end_s == 60.0
    for a, b in itertools.pairwise(ps):
        assert a.end_s == b.start_s
        assert (a.faults, a.name) != (b.faults, b.name), "equal neighbours are merged"
    assert len({p.name for p in ps}) == len(ps), "names are unique"
    for p in ps:
        assert p.start_s < p.end_s
        for t in (p.start_s, (p.start_s + p.end_s) / 2):
            active = tuple(i for i, (a, d, _) in enumerate(specs) if a <= t < a + d)
            assert p.faults == active, (p, t)
        first = min((a for a, _, _ in specs), default=60)
        name = p.name.split(" #")[0]
        if p.faults:
            assert p.kind == "fault"
            assert name == " + ".join(f"latency clients->{specs[i][2]}" for i in p.faults)
        elif p.end_s <= first:
            assert (p.name, p.kind) == ("baseline", "baseline")
        else:
            assert name.startswith("recovery after latency ") and p.kind == "recovery"
