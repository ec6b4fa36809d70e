"""500 reference nodes on one machine (issue 16.3): the fleet of examples/fleet-500.yaml comes
up on the local backend (namespaces), an aggregator's subtree is cut with its effect proven
from inside the aggregator and counted on the wire, the cut heals, and after ``down`` nothing
of the run is left: processes, cgroups, namespaces, veths, bridge, nft tables, iptables
chains, the neighbour-table raise (and the kernel's gc_thresh are back)."""

from __future__ import annotations

import os
import random
import resource
from pathlib import Path

import pytest
import yaml
from _cli import accuracy_applies, leftovers, run_as_typed, wait_for_quiet_host

from faults.base import VERIFIED
from faults.partition import Partition
from harness.scenario import load_scenario
from testbeds import netns
from testbeds.local import LocalTestbed
from testbeds.reaper import remains

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet-500.yaml"


def test_500_nodes_up_cut_an_aggregator_and_down_with_nothing_left(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if netns.unavailable():
        pytest.skip(f"namespaces: {netns.unavailable()}")
    monkeypatch.setenv("EDGEPROOF_STATE_DIR", str(tmp_path / "state"))
    spec = load_scenario(EXAMPLE).testbed
    assert len(spec.nodes) == 500
    neigh_before = netns.neighbour_values()
    run_id = f"ep{random.getrandbits(32):08x}"
    tb = LocalTestbed.up(spec, run_id=run_id, name="fleet-500", workdir=tmp_path / "tb")
    try:
        assert tb.record.network == "namespaces"
        assert all(tb.node_running(n) for n in spec.node_names)
        # the limits were raised for the run
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= 65536 or \
            resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 65536
        tp = resource.prlimit(int(tb.record.toxiproxy_pid or 0), resource.RLIMIT_NOFILE)
        assert tp[0] >= min(65536, tp[1])
        assert netns.neighbour_values()["gc_thresh3"] >= 2 * 500 + 1024
        agg = "agg-3"
        cloud = spec.node(agg).parent
        assert cloud == "cloud-1"
        cut = Partition({(agg, cloud), (cloud, agg)}, label=f"uplink of {agg}", id="agg")
        cut.apply(tb)
        try:
            effect = cut.probe(tb, healed=False)
            assert effect.status == VERIFIED, effect
            assert (cut.traffic(tb) or 0) > 0  # the probe's own SYNs died on the wire
            assert tb.reaches("gw-3-1", agg)  # below the cut the subtree still talks
        finally:
            cut.heal(tb)
        healed = cut.probe(tb, healed=True)
        assert healed.status == VERIFIED, healed
    finally:
        tb.down()
    left = remains(run_id)
    assert not any(left.values()), {k: v[:5] for k, v in left.items() if v}
    if not netns.neighbour_runs():  # no other testbed on the machine holds a raise
        assert netns.neighbour_values() == neigh_before
    assert not os.path.exists(tmp_path / "state" / "testbeds" / f"{run_id}.json")


def test_the_500_node_example_rolls_out_under_a_cut_and_passes(
        ep_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """`edgeproof run fleet-500.yaml` as a user types it, from a folder of their own: the
    pipeline's figures and the rollout's convergence (pull, v2 during the cut) as predicted,
    and nothing left after the run."""
    raw = yaml.safe_load(EXAMPLE.read_text())
    wait_for_quiet_host()
    proc, res = run_as_typed(raw, tmp_path, ep_env, timeout=600)
    checks = {c["name"]: c for c in res["checks"]}
    order = checks["version order"]
    assert order["verdict"] == "pass", order["detail"]
    assert not any(leftovers().values())
    if not accuracy_applies(res, request.node.nodeid):
        return
    bad = [f"{c['verdict']} {c['name']}: {c['detail']}" for c in res["checks"]
           if c["verdict"] != "pass"]
    assert proc.returncode == 0 and not bad, "\n".join(bad)
    assert checks["convergence v2"]["measured"] > 15  # the cut subtree waited for the heal
