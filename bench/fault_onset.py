"""Fault onset and heal latency, and the time to partition a 20-node testbed.

Onset error = actual apply time - scheduled time, over N scheduled faults played by the
Nemesis (latency toxics, partitions, pauses and clock skews on a 3-node local testbed);
heal error likewise. Targets (issue 4): onset p99 <= 20 ms; 20-node partition <= 100 ms.

    .venv/bin/python bench/fault_onset.py [--faults 200] [--quick]
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

from faults.clock import ClockSkew
from faults.node import Pause
from faults.partition import Partition
from faults.schedule import Nemesis, Scheduled
from faults.toxics import ToxicFault
from testbeds.local import LocalTestbed
from testbeds.spec import TestbedSpec


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def spec(n: int, mesh: bool) -> TestbedSpec:
    names = [f"n{i}" for i in range(n)]
    pairs = ([(a, b) for i, a in enumerate(names) for b in names[i + 1:]] if mesh
             else list(itertools.pairwise(names)))
    return TestbedSpec.model_validate({
        "nodes": [{"name": x, "hardware": {"service_ms": 0}} for x in names],
        "links": [{"between": list(p)} for p in pairs]})


def onset(n_faults: int, work: Path) -> dict[str, float]:
    tb = LocalTestbed.up(spec(3, True), run_id="epbench1", name="onset", workdir=work / "a")
    try:
        kinds = [lambda i: ToxicFault("latency", ("n0", "n1"), {"latency": 5, "jitter": 0},
                                      id=f"f{i}"),
                 lambda i: Partition.isolate("n2", tb.spec.node_names, id=f"p{i}"),
                 lambda i: Pause("n1"),
                 lambda i: ClockSkew("n0", 3.0)]
        gap = 0.06
        entries = [Scheduled(0.2 + i * gap, gap * 0.5, kinds[i % len(kinds)](i), index=i)
                   for i in range(n_faults)]
        nem = Nemesis(tb, entries)
        nem.start()
        deadline = time.monotonic() + 0.5 + n_faults * gap + 5
        while any(e.healed_at_s is None for e in entries) and time.monotonic() < deadline:
            time.sleep(0.05)
        nem.heal_all()
    finally:
        tb.down()
    on = [(e.applied_at_s + (e.apply_took_s or 0.0) - e.at_s) * 1000  # until the apply is done
          for e in entries if e.applied_at_s is not None]
    he = [(e.healed_at_s - e.at_s - e.for_s) * 1000 for e in entries if e.healed_at_s]
    return {"faults": len(on), "onset_p50_ms": statistics.median(on),
            "onset_p99_ms": pct(on, 0.99), "heal_p50_ms": statistics.median(he),
            "heal_p99_ms": pct(he, 0.99), "failed": sum(not e.ok for e in entries)}


def partition20(work: Path, reps: int) -> dict[str, float]:
    tb = LocalTestbed.up(spec(20, True), run_id="epbench2", name="p20", workdir=work / "b")
    try:
        apply_ms, heal_ms = [], []
        for i in range(reps):
            p = Partition.groups([tb.spec.node_names[:10]], tb.spec.node_names, id=f"h{i}")
            t = time.perf_counter()
            p.apply(tb)
            apply_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            p.heal(tb)
            heal_ms.append((time.perf_counter() - t) * 1000)
        proxies = len(tb.record.proxies)
    finally:
        tb.down()
    return {"nodes": 20, "proxies": proxies, "cut_toxics": 2 * 10 * 10 * 2,
            "apply_p50_ms": statistics.median(apply_ms), "apply_max_ms": max(apply_ms),
            "heal_p50_ms": statistics.median(heal_ms)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--faults", type=int, default=200)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n = 40 if args.quick else args.faults
    with tempfile.TemporaryDirectory() as d:
        os.environ.setdefault("EDGEPROOF_STATE_DIR", str(Path(d) / "state"))
        a = onset(n, Path(d))
        b = partition20(Path(d), 3 if args.quick else 10)
    print(f"onset over {a['faults']} faults: p50 {a['onset_p50_ms']:.2f} ms, p99 "
          f"{a['onset_p99_ms']:.2f} ms (target p99 <= 20: "
          f"{'PASS' if a['onset_p99_ms'] <= 20 else 'MISS'}); heal p50 {a['heal_p50_ms']:.2f} "
          f"ms, p99 {a['heal_p99_ms']:.2f} ms; failed {a['failed']}")
    print(f"20-node partition (halves, {b['proxies']} proxies): apply p50 "
          f"{b['apply_p50_ms']:.1f} ms, max {b['apply_max_ms']:.1f} ms (target <= 100: "
          f"{'PASS' if b['apply_max_ms'] <= 100 else 'MISS'}); heal p50 {b['heal_p50_ms']:.1f} ms")
    print(json.dumps({"onset": a, "partition20": b}))


if __name__ == "__main__":
    main()
