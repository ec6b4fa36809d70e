"""Link faults on a tier's uplinks (``link: {tier: edge, uplink: true, pick: N}``): every link
kind resolves them, a pick is the seed's and the same on every load, the fault value names
the chosen links and puts its toxics on them alone, and bad input names the field and fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from faults.base import VERIFIED, LinkFaultSpec
from faults.registry import build_fault
from faults.toxics import ToxicFault
from harness.errors import ConfigError
from harness.scenario import Scenario, load_scenario
from testbeds.state import ProxyRecord

TIERS: dict[str, Any] = {"tiers": [
    {"name": "cloud", "count": 1},
    {"name": "aggregation", "count": 2, "uplink": {"latency_ms": 5}},
    {"name": "edge", "per_parent": 3, "uplink": {"latency_ms": 10}}]}
EDGE_UPLINKS = [(f"edge-{a}-{j}", f"aggregation-{a}") for a in (1, 2) for j in (1, 2, 3)]
# every link kind, with the fields it needs besides its link
LINK_KINDS: dict[str, dict[str, Any]] = {
    "latency": {"ms": 20}, "bandwidth": {"kbps": 64}, "timeout": {}, "reset_peer": {},
    "slicer": {}, "limit_data": {"bytes": 1000}}


def _data(link: Any, seed: int = 0, kind: str = "latency", **extra: Any) -> dict[str, Any]:
    return {"name": "t", "seed": seed,
            "testbed": {"service": {"mode": "eventual"}, "topology": TIERS},
            "workload": {"users": 2, "duration_s": 10},
            "faults": [{"at_s": 1, "for_s": 2, "kind": kind, "link": link,
                        **(extra or LINK_KINDS[kind])}],
            "checks": {"latency": None}}


def _fault(link: Any, seed: int = 0, kind: str = "latency") -> tuple[Scenario, LinkFaultSpec]:
    scn = Scenario.model_validate(_data(link, seed, kind))
    fault = scn.faults[0]
    assert isinstance(fault, LinkFaultSpec)
    return scn, fault


@pytest.mark.parametrize("kind", sorted(LINK_KINDS))
def test_every_link_kind_takes_all_uplinks_of_a_tier(kind: str) -> None:
    scn, fault = _fault({"tier": "edge", "uplink": True}, kind=kind)
    assert fault.links == EDGE_UPLINKS
    assert fault.label() == f"{kind} edge uplinks"
    value = build_fault(fault, 0, scn.testbed.node_names, scn.seed)
    assert isinstance(value, ToxicFault) and value.every_link == EDGE_UPLINKS
    assert value.target.startswith("uplinks of tier edge: edge-1-1->aggregation-1, ")
    assert value.describe()["links"] == [f"{a}->{b}" for a, b in EDGE_UPLINKS]


def test_the_aggregation_tier_has_its_uplinks_to_the_cloud() -> None:
    _, fault = _fault({"tier": "aggregation", "uplink": True})
    assert fault.links == [("aggregation-1", "cloud-1"), ("aggregation-2", "cloud-1")]


def test_a_pick_is_the_seeds_the_same_on_every_load_and_named_in_the_target() -> None:
    link = {"tier": "edge", "uplink": True, "pick": 2}
    picks = {seed: _fault(link, seed)[1].links for seed in range(12)}
    assert all(len(p) == 2 and set(p) <= set(EDGE_UPLINKS) for p in picks.values())
    assert len({tuple(p) for p in picks.values()}) > 1, "the seed must choose"
    scn, fault = _fault(link, 5)
    assert fault.links == picks[5] == _fault(link, 5)[1].links
    again = Scenario.model_validate(scn.as_run())  # the run's scenario.yaml picks the same
    assert again.faults[0].links == fault.links
    value = build_fault(fault, 0, scn.testbed.node_names, scn.seed)
    named = ", ".join(f"{a}->{b}" for a, b in fault.links)
    assert value.target == f"uplinks of tier edge, 2 of 6 picked by the seed: {named}"
    assert value.describe()["selection"] == "uplinks of tier edge, 2 of 6 picked by the seed"
    nodes = ",".join(a for a, _ in fault.links)
    assert fault.label() == f"latency edge uplinks {nodes}"


def test_the_models_see_the_delay_on_the_picked_uplinks_only() -> None:
    _, fault = _fault({"tier": "edge", "uplink": True, "pick": 1}, 3)
    ((node, parent),) = fault.links
    assert fault.added_delay_ms(node, parent) == 20 and fault.added_delay_ms(parent, node) == 20
    for a, b in EDGE_UPLINKS:
        if a != node:
            assert fault.added_delay_ms(a, b) == 0.0
    assert fault.added_delay_ms("clients", node) == 0.0


def test_named_links_stay_as_they_were() -> None:
    _, fault = _fault(["edge-1-1", "aggregation-1"])
    assert fault.links == [("edge-1-1", "aggregation-1")] and fault.selection == ""
    assert fault.label() == "latency edge-1-1->aggregation-1"


@dataclass
class FakeAdmin:
    """Records the toxics a fault adds and removes."""

    added: list[tuple[str, str]] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)

    def add_toxics(self, items: list[tuple[str, str, str, str, Any]]) -> None:
        self.added += [(p, n) for p, n, *_ in items]

    def add_toxic(self, proxy: str, name: str, *_: Any, **__: Any) -> None:
        self.added.append((proxy, name))

    def remove_toxics(self, items: list[tuple[str, str]]) -> None:
        self.removed += items


@dataclass
class FakeTestbed:
    """Proxies of both directions of every link; round trips that grow by the toxic's
    latency on the links it is on."""

    admin: FakeAdmin = field(default_factory=FakeAdmin)
    slow: set[tuple[str, str]] = field(default_factory=set)

    def link_proxies(self, a: str, b: str) -> list[ProxyRecord]:
        return [ProxyRecord(f"{s}--{d}", s, d, "main", "", "") for s, d in ((a, b), (b, a))]

    def link_rtt_ms(self, src: str, dst: str, samples: int = 5) -> float:
        return 2.0 + (40.0 if (src, dst) in self.slow else 0.0)


def test_the_toxics_go_on_the_picked_uplinks_and_the_probe_times_them() -> None:
    scn, spec = _fault({"tier": "edge", "uplink": True, "pick": 2}, 9)
    value = build_fault(spec, 4, scn.testbed.node_names, scn.seed)
    assert isinstance(value, ToxicFault)
    tb = FakeTestbed()
    value.apply(tb)  # type: ignore[arg-type]
    want = {f"{a}--{b}" for x, y in spec.links for a, b in ((x, y), (y, x))}
    assert {p for p, _ in tb.admin.added} == want
    tb.slow = set(spec.links)
    effect = value.probe(tb, healed=False)  # type: ignore[arg-type]
    assert effect.status == VERIFIED, effect
    for a, b in spec.links:
        assert f"{a}->{b}: round trip 42.0 ms while applied vs 2.0 ms before" in effect.evidence
    tb.slow = {spec.links[0]}  # one picked uplink without the delay: not verified
    assert value.probe(tb, healed=False).status == "none"  # type: ignore[arg-type]
    value.heal(tb)  # type: ignore[arg-type]
    assert sorted(tb.admin.removed) == sorted(tb.admin.added)


@pytest.mark.parametrize(("link", "field", "says"), [
    ({"tier": "edgy", "uplink": True}, "faults[0].link.tier",
     "'edgy' is not a tier of this testbed (tiers: cloud, aggregation, edge); use one of those"),
    ({"tier": "cloud", "uplink": True}, "faults[0].link.tier",
     "no node of tier 'cloud' has a parent, so the tier has no uplinks; name a tier with "
     "uplinks (aggregation, edge)"),
    ({"tier": "edge", "uplink": True, "pick": 7}, "faults[0].link.pick",
     "7 is more than the 6 uplink(s) of tier 'edge'; give at most 6"),
    ({"tier": "edge", "uplink": True, "pick": 0}, "faults[0].link.pick",
     "0 picks no uplink; give a whole number from 1"),
    ({"tier": "edge", "uplink": True, "pick": -2}, "faults[0].link.pick", "-2 picks no uplink"),
    ({"tier": "edge", "uplink": False}, "faults[0].link.uplink",
     "false selects no link of tier 'edge'; a tier's links are its uplinks: write uplink: true"),
    ({"tier": "edge", "uplink": True, "pik": 1}, "faults[0].link.pik",
     "unknown field 'pik'; the fields of a tier's links are: tier, uplink, pick"),
    ({"uplink": True}, "faults[0].link.tier", "this field is required"),
])
def test_bad_tier_links_name_the_field_the_value_and_the_fix(
        tmp_path: Path, link: dict[str, Any], field: str, says: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_data(link), default_flow_style=None, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    text = str(err.value)
    assert text.count("\n") == 0, text  # one problem, one paragraph
    assert text.startswith(f"{path}: {field} (line "), text
    assert says in text, text


def test_a_flat_testbed_has_no_uplinks_to_pick(tmp_path: Path) -> None:
    data = _data({"tier": "edge", "uplink": True})
    data["testbed"] = {"nodes": [{"name": "edge-1"}, {"name": "edge-2"}],
                       "links": [{"between": ["edge-1", "edge-2"]}]}
    path = tmp_path / "flat.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"faults\[0\]\.link\.tier .*declare testbed\.topology"):
        load_scenario(path)



@dataclass
class FakeRecord:
    """The testbed record the nemesis writes its active faults to."""

    active_faults: list[dict[str, Any]] = field(default_factory=list)

    def save(self) -> None:
        """Nothing to write."""


def test_the_pytest_nemesis_resolves_a_tiers_uplinks() -> None:
    from harness.pytest_plugin import PytestNemesis

    scn, _ = _fault(["edge-1-1", "aggregation-1"])
    tb = FakeTestbed()
    tb.spec, tb.record = scn.testbed, FakeRecord()  # type: ignore[attr-defined]
    nemesis = PytestNemesis(tb, seed=4)  # type: ignore[arg-type]
    with nemesis.latency({"tier": "aggregation", "uplink": True, "pick": 1}, ms=5) as fault:
        (active,) = tb.record.active_faults  # type: ignore[attr-defined]
        assert active["target"].startswith("uplinks of tier aggregation, 1 of 2 picked")
        assert active["links"][0].endswith("->cloud-1") and fault.active
    assert tb.admin.removed and not tb.record.active_faults  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"nemesis\.latency: link\.tier: 'fog'"):
        nemesis.latency({"tier": "fog", "uplink": True}, ms=5)
