"""Models under faults: predicted vs measured mean latency in every window of
examples/quorum-faults.yaml (5 quorum nodes; a 2|3 partition, a crash, a pause, each with its
recovery), and the recovery check's stalls after each heal. Target (issue 14.5): every window
with at least the check's ``min_samples`` within 10% of the prediction; no stall.

    .venv/bin/python bench/model_faults.py [--runs 2] [--backend local]

Prints one table per run, a summary, and one JSON line (the last line of stdout).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from harness.runner import run_scenario
from harness.scenario import Scenario

SCENARIO = Path(__file__).resolve().parent.parent / "examples" / "quorum-faults.yaml"
TARGET = 0.10


def one(raw: dict[str, Any], backend: str, seed: int, out: Path) -> list[dict[str, Any]]:
    """One run: a row per latency window and per recovery verdict."""
    raw = {**raw, "seed": seed, "testbed": {**raw["testbed"], "backend": backend}}
    scn = Scenario.model_validate(raw)
    res = run_scenario(scn, out=out, say=lambda _m: None).results
    need = scn.checks.latency.min_samples if scn.checks.latency else 50
    rows = []
    for v in res["checks"]:
        if v["kind"] == "latency":
            ev = v.get("evidence") or {}
            err = ev.get("relative_error")
            judged = err is not None and v["verdict"] != "unknown"
            rows.append({"seed": seed, "row": v["name"], "predicted": v["predicted"],
                         "measured": v["measured"], "err": err, "judged": judged,
                         "met": judged and abs(err) <= TARGET, "verdict": v["verdict"],
                         "detail": "" if judged else v["detail"][:60], "min_samples": need})
        elif v["kind"] in ("recovery", "availability") and v["verdict"] != "pass":
            rows.append({"seed": seed, "row": v["name"], "predicted": v["predicted"],
                         "measured": v["measured"], "err": None, "judged": True,
                         "met": False, "verdict": v["verdict"], "detail": v["detail"][:80]})
        elif v["kind"] == "recovery":
            rows.append({"seed": seed, "row": v["name"], "predicted": v["predicted"],
                         "measured": v["measured"], "err": None, "judged": True,
                         "met": True, "verdict": v["verdict"], "detail": v["detail"][:80]})
    rows.append({"seed": seed, "row": "harness", "predicted": None, "measured": None,
                 "err": None, "judged": False, "met": True, "verdict": res["verdict"],
                 "detail": json.dumps(res["harness"])[:80]})
    return rows


def table(rows: list[dict[str, Any]], seed: int) -> Table:
    t = Table(title=f"{SCENARIO.name}, seed {seed}: predicted vs measured per window")
    for col in ("window / check", "predicted", "measured", "error", "target", "verdict",
                "detail"):
        t.add_column(col)
    for r in rows:
        err = "" if r["err"] is None else f"{r['err']:+.1%}"
        target = ("-" if not r["judged"] else "MET" if r["met"] else "**MISS**")
        t.add_row(r["row"], str(r["predicted"] or ""), str(r["measured"] or ""), err, target,
                  r["verdict"], r["detail"])
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--backend", default="local")
    args = ap.parse_args()
    raw = yaml.safe_load(SCENARIO.read_text())
    console, every = Console(), []
    with tempfile.TemporaryDirectory() as d:
        os.environ.setdefault("EDGEPROOF_STATE_DIR", str(Path(d) / "state"))
        for i in range(args.runs):
            seed = int(raw["seed"]) + i
            rows = one(raw, args.backend, seed, Path(d) / f"run-{seed}")
            console.print(table(rows, seed))
            every += rows
    judged = [r for r in every if r["judged"] and r["err"] is not None]
    worst = max((abs(r["err"]) for r in judged), default=None)
    summary = {"bench": "model_faults", "backend": args.backend, "runs": args.runs,
               "windows_judged": len(judged), "windows_met": sum(r["met"] for r in judged),
               "worst_abs_err": worst, "target": TARGET,
               "stalls_or_misses": [r["row"] for r in every
                                    if r["judged"] and not r["met"] and r["err"] is None],
               "rows": every}
    console.print(f"windows within {TARGET:.0%}: {summary['windows_met']}/{len(judged)}; "
                  f"worst |error| {worst if worst is None else f'{worst:.1%}'}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
