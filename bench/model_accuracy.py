"""Model accuracy: predicted vs measured mean and p99 latency at 5 utilisations, per backend.

One reference node (2 workers, exponential 10 ms service), closed loop with 40 ms think
time; the population for each target utilisation comes from MVA itself. No faults.

    .venv/bin/python bench/model_accuracy.py [--backends local,docker] [--duration 20]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.models.queueing import mva_latency
from harness.runner import run_scenario
from harness.scenario import Scenario

S_MS, WORKERS, THINK_MS = 10.0, 2, 40.0
UTILS = (0.2, 0.35, 0.5, 0.65, 0.8)


def users_for(util: float) -> int:
    return next(n for n in range(1, 500) if mva_latency(
        n, THINK_MS / 1000, 0.002, WORKERS, S_MS / 1000).utilisation >= util)


def one(backend: str, util: float, duration: float, work: Path) -> dict[str, float]:
    scn = Scenario.model_validate({
        "name": f"acc-{backend}-{util}", "seed": 42,
        "testbed": {"backend": backend, "service": {"mode": "eventual"},
                    "nodes": [{"name": "edge-1", "hardware": {"workers": WORKERS,
                                                              "service_ms": S_MS}}]},
        "workload": {"users": users_for(util), "think_time_ms": THINK_MS,
                     "duration_s": duration, "keys": 50},
        "checks": {"latency": {"tolerance": 0.10, "min_samples": 100}}})
    res = run_scenario(scn, out=work / scn.name, say=lambda _m: None).results
    ph = res["phases"][0]
    pred, got = ph["predicted"]["latency_ms"], ph["latency_ms"]
    return {"backend": backend, "target_util": util, "users": scn.workload.users,
            "model_util": ph["predicted"]["nodes"]["edge-1"]["utilisation"],
            "pred_mean": pred["mean"], "meas_mean": got["mean"],
            "pred_p99": pred["p99"], "meas_p99": got["p99"],
            "err_mean": got["mean"] / pred["mean"] - 1, "err_p99": got["p99"] / pred["p99"] - 1,
            "saturated": res["harness"]["saturated"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backends", default="local,docker")
    ap.add_argument("--duration", type=float, default=20.0)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        os.environ.setdefault("EDGEPROOF_STATE_DIR", str(Path(d) / "state"))
        for backend in args.backends.split(","):
            for u in UTILS:
                rows.append(one(backend, u, args.duration, Path(d)))
    t = Table(title="model accuracy (MVA, closed loop, 1 node, c=2, S=10 ms, Z=40 ms)")
    for col in ("backend", "util", "users", "pred mean", "meas mean", "err", "pred p99",
                "meas p99", "err p99"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["backend"], f"{r['model_util']:.2f}", str(r["users"]),
                  f"{r['pred_mean']:.2f}", f"{r['meas_mean']:.2f}", f"{r['err_mean']:+.1%}",
                  f"{r['pred_p99']:.1f}", f"{r['meas_p99']:.1f}", f"{r['err_p99']:+.1%}")
    Console().print(t)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
