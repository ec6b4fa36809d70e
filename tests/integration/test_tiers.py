"""A tiered topology on the local testbed, driven through the CLI: the generated fleet comes
up, `status` draws its tree, isolating a subtree cuts its uplink, proven on the wire, and a
latency fault on one seed-picked edge uplink delays that uplink alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from _cli import edgeproof, leftovers

from faults.base import LinkFaultSpec
from faults.schedule import Nemesis, schedule_from
from harness.scenario import Scenario
from testbeds.local import LocalTestbed

pytestmark = pytest.mark.integration

SCENARIO = {
    "name": "tiered", "seed": 3,
    "testbed": {"service": {"mode": "eventual"}, "topology": {"tiers": [
        {"name": "cloud", "count": 1},
        {"name": "aggregation", "count": 2, "uplink": {"latency_ms": 5}},
        {"name": "edge", "per_parent": 2, "uplink": {"latency_ms": 10}}]}},
    "workload": {"users": 4, "think_time_ms": 50, "duration_s": 10, "keys": 10},
    "faults": [{"at_s": 3, "for_s": 4, "kind": "partition",
                "isolate": {"subtree": "aggregation-2"}}],
    "checks": {"latency": None, "availability": {"tolerance_pp": 5}},
}


def test_status_draws_the_generated_tree(ep_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "tiered.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    edgeproof("up", str(path), env=ep_env, check=True)
    try:
        st = json.loads(edgeproof("status", "--json", env=ep_env, check=True).stdout)
        assert [(r["depth"], r["name"]) for r in st["tree"]] == [
            (0, "cloud-1"), (1, "aggregation-1"), (2, "edge-1-1"), (2, "edge-1-2"),
            (1, "aggregation-2"), (2, "edge-2-1"), (2, "edge-2-2")]
        assert all(n["healthy"] for n in st["nodes"]), st["nodes"]
        text = edgeproof("status", env=ep_env, check=True).stdout
        assert "edge-2-1 (edge" in text and "topology" in text
    finally:
        edgeproof("down", env=ep_env)
    assert leftovers(st["run_id"]) == {"processes": [], "cgroups": [], "records": [],
                                       "nft tables": []}


def test_isolating_a_subtree_cuts_its_uplink_and_is_proven(ep_env: dict[str, str],
                                                           tmp_path: Path) -> None:
    path = tmp_path / "tiered.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    proc = edgeproof("run", str(path), "--out", str(tmp_path / "run"), env=ep_env, timeout=180)
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    (fault,) = res["faults"]
    assert fault["target"] == "uplink of aggregation-2 (to cloud-1)", fault
    assert fault["ok"] and fault["effect"] == "verified", fault
    assert "aggregation-2->cloud-1, cloud-1->aggregation-2 cut" in fault["evidence"], fault
    # clients sit on the leaf tier, and the run's scenario.yaml holds the generated fleet
    nodes = {c["name"].split()[-2] for c in res["checks"] if c["kind"] == "availability"}
    assert nodes == {"edge-1-1", "edge-1-2", "edge-2-1", "edge-2-2"}, nodes
    assert [(r["depth"], r["name"], r["tier"]) for r in res["topology"]][:3] == [
        (0, "cloud-1", "cloud"), (1, "aggregation-1", "aggregation"), (2, "edge-1-1", "edge")]
    page = (tmp_path / "run" / "report.html").read_text()
    assert '<h2 id="topology">Topology</h2>' in page and "7 nodes: 1 cloud" in page
    again = yaml.safe_load((tmp_path / "run" / "scenario.yaml").read_text())
    assert again["testbed"]["topology"] is None and len(again["testbed"]["nodes"]) == 7
    assert proc.returncode == 0, [c for c in res["checks"] if c["verdict"] != "pass"]


def test_latency_on_a_picked_edge_uplink_delays_it_alone(ep_env: dict[str, str],
                                                          tmp_path: Path) -> None:
    scn = Scenario.model_validate({**SCENARIO, "faults": [
        {"at_s": 1, "for_s": 5, "kind": "latency", "ms": 60,
         "link": {"tier": "edge", "uplink": True, "pick": 1}}]})
    spec = scn.faults[0]
    assert isinstance(spec, LinkFaultSpec)
    (picked,) = spec.links
    uplinks = [(n.name, str(n.parent)) for n in scn.testbed.nodes if n.tier == "edge"]
    (entry,) = schedule_from(scn.faults, scn.testbed.node_names, scn.seed)
    tb = LocalTestbed.up(scn.testbed, run_id="eptest" + tmp_path.name[-6:].replace("_", ""),
                         name="tiered-uplink", workdir=tmp_path / "tb", seed=scn.seed)
    try:
        nemesis = Nemesis(tb)
        before = {u: tb.link_rtt_ms(*u, samples=7) for u in uplinks}
        nemesis.apply(entry)
        during = {u: tb.link_rtt_ms(*u, samples=7) for u in uplinks}
        nemesis.heal_all()
        after = {u: tb.link_rtt_ms(*u, samples=7) for u in uplinks}
    finally:
        tb.down()
    res = entry.result()
    name = f"{picked[0]}->{picked[1]}"
    assert res["ok"] and res["effect"] == "verified", res
    assert res["target"] == f"uplinks of tier edge, 1 of 4 picked by the seed: {name}", res
    assert res["detail"]["links"] == [name] and "round trip" in res["evidence"], res
    assert res["healed"]["status"] == "verified", res
    assert all(v is not None for d in (before, during, after) for v in d.values()), during
    added = {u: during[u] - before[u] for u in uplinks}  # type: ignore[operator]
    assert added[picked] >= 50, added
    assert all(added[u] < 15 for u in uplinks if u != picked), added
    assert after[picked] - before[picked] < 15, (before, after)  # type: ignore[operator]
