"""Partition apply time against fleet size: a mesh cut in halves, both networks side by side.

For each size N (default 20 and 50) a full mesh of N reference nodes comes up once per
variant: ``namespaces/nft`` (the default: one nftables table in the root namespace), beside it
``namespaces/chains`` (without nft: the cut proxies' toxics plus rules in each cut node's
namespace, 8 namespaces at once) and ``loopback/toxics`` (the toxics alone); halves are cut and
mended ``--reps`` times. The figure is
``Partition.apply`` (the rules and toxics in place), effect probes excluded, and its heal.
Issue 14's target: growth with the nodes cut, not the directed links (50-node halves <= 50 ms,
100 <= 100 ms in namespaces). Prints a table and one JSON line.

    .venv/bin/python bench/partition_scale.py [--sizes 20,50] [--reps 5]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from faults.partition import Partition
from testbeds import nftcut
from testbeds.local import LocalTestbed
from testbeds.spec import TestbedSpec

TARGET_MS = {50: 50.0, 100: 100.0}


def mesh(n: int, network: str) -> TestbedSpec:
    """N reference nodes, every pair linked."""
    names = [f"n{i}" for i in range(n)]
    return TestbedSpec.model_validate({
        "network": network,
        "nodes": [{"name": x, "hardware": {"service_ms": 0}} for x in names],
        "links": [{"between": [a, b]} for a, b in itertools.combinations(names, 2)]})


def one(n: int, network: str, cut: str, reps: int, work: Path) -> dict[str, Any]:
    """Apply and heal times of halves on one mesh (``cut``: nft, chains or toxics)."""
    has_nft = nftcut.available
    nftcut.available = (lambda: False) if cut != "nft" else has_nft  # type: ignore[assignment]
    t = time.perf_counter()
    try:
        tb = LocalTestbed.up(mesh(n, network), run_id=f"eppart{n}{network[0]}{cut[0]}",
                             name="part", workdir=work / f"{network}{n}{cut}")
    except BaseException:
        nftcut.available = has_nft  # type: ignore[assignment]
        raise
    up_s = time.perf_counter() - t
    apply_ms, heal_ms = [], []
    try:
        names = tb.spec.node_names
        for i in range(reps):
            p = Partition.groups([names[: n // 2]], names, id=f"h{i}")
            t = time.perf_counter()
            p.apply(tb)
            apply_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            p.heal(tb)
            heal_ms.append((time.perf_counter() - t) * 1000)
        cuts = len(p.cuts)
        proxies = len(tb.record.proxies)
    finally:
        tb.down()
        nftcut.available = has_nft  # type: ignore[assignment]
    return {"nodes": n, "network": network, "cut": cut, "directed_cuts": cuts,
            "proxies": proxies,
            "up_s": round(up_s, 2), "apply_p50_ms": round(statistics.median(apply_ms), 1),
            "apply_max_ms": round(max(apply_ms), 1),
            "heal_p50_ms": round(statistics.median(heal_ms), 1),
            "apply_per_cut_node_ms": round(statistics.median(apply_ms) / n, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="20,50")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        os.environ.setdefault("EDGEPROOF_STATE_DIR", str(Path(d) / "state"))
        for n in (int(x) for x in args.sizes.split(",")):
            for network, cut in (("namespaces", "nft"), ("namespaces", "chains"),
                                 ("loopback", "toxics")):
                if cut == "nft" and not nftcut.available():
                    print("  (no nft here: the namespaces/nft rows are missing)")
                    continue
                rows.append(one(n, network, cut, args.reps, Path(d)))
                print(f"  {n} nodes, {network}/{cut}: apply p50 "
                      f"{rows[-1]['apply_p50_ms']} ms", flush=True)
    cols = list(rows[0])
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))
    verdicts = {f"{r['nodes']}": r["apply_max_ms"] <= TARGET_MS[r["nodes"]] for r in rows
                if r["cut"] == "nft" and r["nodes"] in TARGET_MS}
    print(json.dumps({"bench": "partition_scale", "rows": rows, "targets_ms": TARGET_MS,
                      "pass": verdicts}))


if __name__ == "__main__":
    main()
