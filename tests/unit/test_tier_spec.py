"""Tiered topologies: stable generated names, count spread round-robin, uplinks, clients on
the leaf tier, subtrees and their isolation, and the spec as it runs loading back the same."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from faults.partition import PartitionFault
from harness.scenario import Scenario
from testbeds.spec import TestbedSpec
from testbeds.tiers import Topology, generate

TIERS: dict[str, Any] = {"tiers": [
    {"name": "cloud", "count": 1},
    {"name": "aggregation", "count": 3, "uplink": {"latency_ms": 15, "bandwidth_kbps": 100000}},
    {"name": "edge", "per_parent": 8, "uplink": {"latency_ms": 40, "jitter_ms": 10},
     "hardware": {"workers": 4}}]}


def test_names_parents_uplinks_and_clients_follow_the_tiers() -> None:
    tb = TestbedSpec.model_validate({"topology": TIERS})
    assert len(tb.nodes) == 1 + 3 + 24 and len(tb.links) == 27
    assert tb.node_names[:4] == ["cloud-1", "aggregation-1", "aggregation-2", "aggregation-3"]
    assert tb.node("edge-2-5").parent == "aggregation-2"
    assert tb.node("edge-2-5").hardware.workers == 4 and tb.node("edge-2-5").tier == "edge"
    up = next(link for link in tb.links if set(link.between or ()) == {"edge-2-5",
                                                                        "aggregation-2"})
    assert up.latency_ms == 40 and up.jitter_ms == 10
    assert tb.client_nodes == [n for n in tb.node_names if n.startswith("edge-")]
    assert sorted(tb.subtree("aggregation-2")) == sorted(
        ["aggregation-2", *(f"edge-2-{j}" for j in range(1, 9))])
    assert tb.tree()[:3] == [(0, "cloud-1", "cloud"), (1, "aggregation-1", "aggregation"),
                             (2, "edge-1-1", "edge")]


def test_count_spreads_round_robin_and_explicit_nodes_stand_beside() -> None:
    tb = TestbedSpec.model_validate({
        "topology": {"tiers": [{"name": "cloud", "count": 1},
                               {"name": "gw", "count": 2},
                               {"name": "dev", "count": 5}]},
        "nodes": [{"name": "extra"}], "links": [{"between": ["extra", "cloud-1"]}]})
    assert [n.name for n in tb.nodes if n.tier == "dev"] == [
        "dev-1-1", "dev-2-1", "dev-1-2", "dev-2-2", "dev-1-3"]
    assert tb.node_names[-1] == "extra" and tb.node("extra").parent is None


def test_the_spec_as_it_runs_loads_back_the_same() -> None:
    tb = TestbedSpec.model_validate({"topology": TIERS})
    again = TestbedSpec.model_validate(tb.model_dump(mode="json", by_alias=True))
    assert again.node_names == tb.node_names and again.topology is None
    assert [n.parent for n in again.nodes] == [n.parent for n in tb.nodes]


@pytest.mark.parametrize(("tiers", "says"), [
    ([{"name": "cloud", "per_parent": 2}], "first tier has no parent"),
    ([{"name": "cloud", "count": 1}, {"name": "cloud", "count": 2}], "names repeat"),
    ([{"name": "cloud", "count": 1}, {"name": "e", "count": 2, "per_parent": 2}],
     "exactly one of count or per_parent"),
    ([{"name": "c", "count": 100}, {"name": "e", "per_parent": 101}], "at most 10000"),
])
def test_bad_tiers_are_refused_with_the_fix(tiers: list[dict[str, Any]], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        TestbedSpec.model_validate({"topology": {"tiers": tiers}})


def _scenario(isolate: Any) -> Scenario:
    return Scenario.model_validate({
        "name": "t", "testbed": {"service": {"mode": "eventual"}, "topology": TIERS},
        "workload": {"users": 2, "duration_s": 10},
        "faults": [{"at_s": 1, "for_s": 2, "kind": "partition", "isolate": isolate}],
        "checks": {"latency": None}})


def test_isolating_a_subtree_cuts_its_uplink_only() -> None:
    scn = _scenario({"subtree": "aggregation-2"})
    fault = scn.faults[0]
    assert isinstance(fault, PartitionFault)
    assert fault.cuts(scn.testbed.node_names, 0) == {("aggregation-2", "cloud-1"),
                                                     ("cloud-1", "aggregation-2")}
    assert fault.label() == "partition isolate subtree aggregation-2"
    again = Scenario.model_validate(scn.as_run())  # the run's scenario.yaml runs the same
    assert again.faults[0].cuts(again.testbed.node_names, 0) == fault.cuts(
        scn.testbed.node_names, 0)


@pytest.mark.parametrize(("isolate", "says"), [
    ({"subtree": "cloud-1"}, "has no parent"),
    ({"subtree": "nope"}, "is not a node of this testbed"),
])
def test_a_subtree_without_an_uplink_is_bad_input(isolate: Any, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        _scenario(isolate)


def test_per_parent_below_the_first_tier_numbers_across_it() -> None:
    nodes, _ = generate(Topology.model_validate({"tiers": [
        {"name": "cloud", "count": 2}, {"name": "edge", "per_parent": 2}]}))
    assert [(n["name"], n["parent"]) for n in nodes[2:]] == [
        ("edge-1", "cloud-1"), ("edge-2", "cloud-1"), ("edge-3", "cloud-2"),
        ("edge-4", "cloud-2")]
