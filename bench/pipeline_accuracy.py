"""The edge data plane, measured: the fleet of examples/edge-fleet.yaml up to ready and its
memory, then the pipeline models' accuracy (backlog at the heal, drain time, end-to-end mean
latency) at three device rates, on a smaller fleet with the same tiers (1 cloud, 2
aggregators, 6 gateways, 36 devices; one aggregator's uplink cut for 10 s).

    .venv/bin/python bench/pipeline_accuracy.py [--rates 0.5,1,2] [--skip-up]

Prints a table per part and one JSON line (the last line of stdout). Target (issue 15): the
backlog and drain within 20% of the prediction; end-to-end latency is reported beside them.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from up_time import node_memory  # noqa: E402

from harness.runner import run_scenario  # noqa: E402
from harness.scenario import Scenario  # noqa: E402

EXAMPLE = REPO / "examples" / "edge-fleet.yaml"
TARGET = 0.20


def fleet_up() -> dict[str, Any]:
    """examples/edge-fleet.yaml's testbed: seconds to ready, USS per node, then down."""
    from testbeds.local import LocalTestbed

    scn = Scenario.model_validate(yaml.safe_load(EXAMPLE.read_text()))
    work = Path(tempfile.mkdtemp(prefix="ep-bench-fleet-"))
    t0 = time.monotonic()
    tb = LocalTestbed.up(scn.testbed, run_id=f"bfleet{os.getpid() % 100000}",
                         name="edge-fleet", workdir=work, seed=scn.seed)
    up_s = time.monotonic() - t0
    try:
        mem = [m for n in tb.nodes.values() if n.pid and (m := node_memory(n.pid))]
    finally:
        t1 = time.monotonic()
        tb.down()
        down_s = time.monotonic() - t1
    uss = [m["uss"] for m in mem]
    return {"nodes": len(tb.nodes), "up_s": round(up_s, 2), "down_s": round(down_s, 2),
            "uss_mean_mb": round(statistics.fmean(uss), 1) if uss else None,
            "uss_max_mb": round(max(uss), 1) if uss else None}


def scenario(rate: float) -> dict[str, Any]:
    raw = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    raw["name"] = f"pipeline-accuracy-{rate:g}hz"
    tiers = raw["testbed"]["topology"]["tiers"]
    tiers[1]["count"], tiers[2]["per_parent"] = 2, 3
    raw["workload"].update(users=36, duration_s=30)
    raw["workload"]["devices"].update(rate_hz=rate, drain_s=30)
    raw["faults"] = [{"at_s": 10, "for_s": 10, "kind": "partition",
                      "isolate": {"subtree": "aggregation-2"}}]
    return raw


def accuracy(rate: float, out: Path) -> list[dict[str, Any]]:
    """One run: a row each for backlog, drain and the baseline's end-to-end latency."""
    res = run_scenario(Scenario.model_validate(scenario(rate)), out=out,
                       say=lambda _m: None).results
    rows = []
    for v in res["checks"]:
        kind = v["kind"]
        if kind in ("backlog", "drain") or v["name"] == "e2e latency[baseline]":
            p, m = v["predicted"], v["measured"]
            err = (m / p - 1) if p and m is not None else None
            judged = kind in ("backlog", "drain")
            rows.append({"rate_hz": rate, "row": v["name"].split("[")[0], "predicted": p,
                         "measured": m, "err": err, "verdict": v["verdict"],
                         "target": ("MET" if v["verdict"] == "pass" else "**MISS**")
                         if judged else "-"})
    rows.append({"rate_hz": rate, "row": "run", "predicted": None, "measured": None,
                 "err": None, "verdict": res["verdict"],
                 "target": json.dumps(res["harness"].get("problem"))})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rates", default="0.5,1,2")
    ap.add_argument("--skip-up", action="store_true", help="leave out the fleet up-time part")
    args = ap.parse_args()
    console = Console(width=120)
    os.environ.setdefault("EDGEPROOF_STATE_DIR", tempfile.mkdtemp(prefix="ep-bench-state-"))
    load = os.getloadavg()[0]
    up = None if args.skip_up else fleet_up()
    if up:
        t = Table(title=f"{EXAMPLE.name}: up to ready (load average {load:.2f})")
        for col in up:
            t.add_column(col)
        t.add_row(*(str(v) for v in up.values()))
        console.print(t)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ep-bench-pipe-") as tmp:
        for rate in [float(r) for r in args.rates.split(",")]:
            rows += accuracy(rate, Path(tmp) / f"r{rate:g}")
    t = Table(title="pipeline models: predicted vs measured (target: backlog and drain "
                    f"within {TARGET:.0%})")
    for col in ("rate Hz", "figure", "predicted", "measured", "error", "verdict", "target"):
        t.add_column(col)
    for r in rows:
        err = "" if r["err"] is None else f"{r['err']:+.1%}"
        t.add_row(f"{r['rate_hz']:g}", r["row"], str(r["predicted"] or ""),
                  str(r["measured"] or ""), err, r["verdict"], r["target"])
    console.print(t)
    print(json.dumps({"bench": "pipeline_accuracy", "load_avg": round(load, 2), "up": up,
                      "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
