"""A tiered fleet of reference nodes on one machine (issue 16.3): 100, 300 and 500 nodes.

Each size is 1 cloud, 10 aggregators and N-11 gateways (``testbed.topology.tiers``, the
default network: one namespace per node), the hardware and pipeline of
``examples/fleet-500.yaml``. Per size it measures:

- up: ``LocalTestbed.up()`` until every node answers its readiness probe; the harness's CPU
  seconds meanwhile (itself and the short commands it ran: ``ip``, ``iptables-restore``) and
  Toxiproxy's;
- memory: each node's USS once idle (per node and in total, with Toxiproxy and the template);
- idle: 10 s with nothing to do: Toxiproxy's CPU seconds, the host's CPU, the fleet's CPU
  seconds, and the headroom watch (``harness.headroom``) sampled once a second as a run does;
- partition: an aggregator's subtree cut (``isolate: {subtree: agg-3}``: its uplink, both
  directions) applied ``--reps`` times, the apply time, its effect (a connection from inside
  agg-3 to cloud-1) and the heal; and agg-3 with its gateways cut from the rest (groups);
- down: ``down()`` and what is left of the run after it (processes, namespaces, veths and
  bridges, cgroups, nft tables, iptables chains, the neighbour-table raise): must be 0;
- the 1-minute load average and the neighbour table's entries / table_fulls.

Prints a table and one JSON line (the last line of stdout). Bounded: every size stands up
once, each wait has a deadline. State lives in a temporary EDGEPROOF_STATE_DIR.

    .venv/bin/python bench/fleet_scale.py [--sizes 100,300,500[,1000]] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from faults.partition import Partition, cuts_for_groups  # noqa: E402
from harness.headroom import Headroom  # noqa: E402
from testbeds import netns  # noqa: E402
from testbeds.local import LocalTestbed  # noqa: E402
from testbeds.reaper import remains  # noqa: E402
from testbeds.spec import TestbedSpec  # noqa: E402

IDLE_S = 10.0


def fleet_spec(n: int) -> TestbedSpec:
    """1 cloud, 10 aggregators, n-11 gateways (as examples/fleet-500.yaml)."""
    return TestbedSpec.model_validate({
        "service": {"pipeline": {"batch": 50, "linger_ms": 50, "backoff_ms": 500,
                                 "timeout_ms": 2000, "ack": "local"}},
        "clients": {"latency_ms": 5},
        "topology": {"tiers": [
            {"name": "cloud", "count": 1,
             "hardware": {"workers": 4, "service_ms": 1, "distribution": "uniform"}},
            {"name": "agg", "count": 10, "uplink": {"latency_ms": 15, "bandwidth_kbps": 2000},
             "hardware": {"workers": 2, "service_ms": 1, "distribution": "uniform"}},
            {"name": "gw", "count": n - 11, "uplink": {"latency_ms": 20, "bandwidth_kbps": 500},
             "hardware": {"workers": 1, "service_ms": 1, "distribution": "uniform"}}]}})


def cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a live process (0 when gone)."""
    try:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except (psutil.Error, TypeError, ValueError):
        return 0.0


def uss_mb(pid: int | None) -> float | None:
    try:
        return psutil.Process(pid).memory_full_info().uss / 2**20
    except (psutil.Error, TypeError, ValueError):
        return None


def harness_cpu_s() -> float:
    """This process's CPU seconds and its reaped children's (ip, iptables, nsenter...)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


def one(n: int, reps: int, work: Path) -> dict[str, Any]:
    """Up, idle, partitions and down of one fleet of n nodes."""
    spec = fleet_spec(n)
    run_id = f"ep{random.getrandbits(32):08x}"
    neigh0 = netns.neighbour_stats()
    h0, t0 = harness_cpu_s(), time.perf_counter()
    tb = LocalTestbed.up(spec, run_id=run_id, name=f"fleet-{n}", workdir=work / run_id)
    up_s = time.perf_counter() - t0
    harness_up = harness_cpu_s() - h0
    row: dict[str, Any] = {"nodes": n, "network": tb.record.network,
                           "proxies": len(tb.record.proxies), "up_s": round(up_s, 1)}
    try:
        tp = tb.record.toxiproxy_pid
        row["toxiproxy_cpu_up_s"] = round(cpu_s(tp), 2)
        row["harness_cpu_up_s"] = round(harness_up, 1)
        row["harness_share_up"] = round(harness_up / up_s, 2)  # of one core
        pids = [int(r.pid or 0) for r in tb.record.nodes.values()]
        time.sleep(1.0)  # nodes settle to idle
        uss = [u for u in (uss_mb(p) for p in pids) if u is not None]
        extra = [u for u in (uss_mb(p) for p in [tp, *tb.record.extra_pids]) if u is not None]
        row["uss_per_node_mb"] = round(statistics.mean(uss), 1)
        row["uss_total_mb"] = round(sum(uss) + sum(extra), 0)
        row["toxiproxy_uss_mb"] = round(uss_mb(tp) or 0.0, 0)
        # idle: the headroom watch sampled once a second, as a run does
        watch = Headroom(tp)
        tp0, fleet0 = cpu_s(tp), sum(cpu_s(p) for p in pids)
        psutil.cpu_percent(interval=None)
        end = time.monotonic() + IDLE_S
        while time.monotonic() < end:
            time.sleep(1.0)
            watch.sample({})
        row["toxiproxy_cpu_idle10_s"] = round(cpu_s(tp) - tp0, 2)
        row["fleet_cpu_idle10_s"] = round(sum(cpu_s(p) for p in pids) - fleet0, 2)
        idle = watch.as_dict()
        row["host_cpu_idle_pct"] = idle["host_cpu_percent_median"]
        row["headroom_idle"] = idle["problem"] or "ok"
        # partitions: an aggregator's uplink, then its whole subtree from the rest
        names = tb.spec.node_names
        agg, cloud = "agg-3", tb.spec.node("agg-3").parent
        assert cloud is not None
        apply_ms, heal_ms, effect = [], [], ""
        for i in range(reps):
            p = Partition({(agg, cloud), (cloud, agg)}, label=f"uplink of {agg}", id=f"u{i}")
            t = time.perf_counter()
            p.apply(tb)
            apply_ms.append((time.perf_counter() - t) * 1000)
            effect = p.probe(tb, healed=False).status
            t = time.perf_counter()
            p.heal(tb)
            heal_ms.append((time.perf_counter() - t) * 1000)
        row["partition_apply_ms"] = round(statistics.median(apply_ms), 1)
        row["partition_heal_ms"] = round(statistics.median(heal_ms), 1)
        row["partition_effect"] = effect
        sub = [agg, *(x for x in names if tb.spec.node(x).parent == agg)]
        g = Partition(cuts_for_groups([sub], names), label=f"subtree {agg}", id="sub")
        t = time.perf_counter()
        g.apply(tb)
        row["subtree_cut_apply_ms"] = round((time.perf_counter() - t) * 1000, 1)
        row["subtree_cut_effect"] = g.probe(tb, healed=False).status
        g.heal(tb)
        neigh1 = netns.neighbour_stats()
        row["neigh_entries"] = neigh1.get("entries")
        row["neigh_table_fulls"] = neigh1.get("table_fulls", 0) - neigh0.get("table_fulls", 0)
    finally:
        t = time.perf_counter()
        tb.down()
        row["down_s"] = round(time.perf_counter() - t, 1)
    left = remains(run_id)
    row["leftovers"] = sum(len(v) for v in left.values())
    if row["leftovers"]:
        row["left"] = {k: v[:5] for k, v in left.items() if v}
    row["load_1m"] = round(os.getloadavg()[0], 2)
    return row


COLS = ["nodes", "proxies", "up_s", "harness_cpu_up_s", "toxiproxy_cpu_up_s",
        "uss_per_node_mb", "uss_total_mb", "toxiproxy_cpu_idle10_s", "host_cpu_idle_pct",
        "partition_apply_ms", "subtree_cut_apply_ms", "down_s", "leftovers", "load_1m"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="100,300,500",
                    help="fleet sizes (at least 12 each); add 1000 to try that")
    ap.add_argument("--reps", type=int, default=3, help="uplink cuts per size (1..20)")
    args = ap.parse_args()
    reps = max(1, min(args.reps, 20))
    sizes = [max(12, int(x)) for x in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        os.environ["EDGEPROOF_STATE_DIR"] = str(Path(d) / "state")
        for n in sizes:
            print(f"  {n} nodes: up ...", flush=True)
            try:
                rows.append(one(n, reps, Path(d)))
            except Exception as exc:  # a size that fails is a figure too
                rows.append({"nodes": n, "error": f"{type(exc).__name__}: {exc}"[:400]})
            print(f"  {n} nodes: {rows[-1]}", flush=True)
    print(" | ".join(COLS))
    for r in rows:
        print(" | ".join(str(r.get(c, "-")) for c in COLS))
    print(json.dumps({"bench": "fleet_scale", "cores": os.cpu_count(), "rows": rows}))


if __name__ == "__main__":
    main()
