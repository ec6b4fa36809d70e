"""The control plane, measured: each rollout's convergence (to 90% and to every node) against
the model's, for push and pull, on examples/fleet-rollout.yaml (29 nodes: a calm rollout,
two during a subtree cut, one during a control-port cut), side by side in one run.

    .venv/bin/python bench/rollout_accuracy.py [--modes push,pull] [--poll-s 1.0]

Prints a table and one JSON line (the last line of stdout). Target (issue 16): convergence
within 20% of the prediction (the check's verdict, which also allows the model's own range
and the host's slack); the data plane's separation verdict beside it.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from harness.runner import run_scenario
from harness.scenario import Scenario

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "fleet-rollout.yaml"


def scenario(mode: str, poll_s: float) -> dict[str, Any]:
    raw = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    raw["name"] = f"rollout-accuracy-{mode}"
    raw["testbed"]["service"]["control"].update(mode=mode, poll_s=poll_s)
    return raw


def accuracy(mode: str, poll_s: float, out: Path) -> list[dict[str, Any]]:
    """One run: a row per convergence verdict, and the separation and order verdicts."""
    res = run_scenario(Scenario.model_validate(scenario(mode, poll_s)), out=out,
                       say=lambda _m: None).results
    rows = []
    for v in res["checks"]:
        if v["kind"] not in ("rollout", "version_order"):
            continue
        p, m = v["predicted"], v["measured"]
        num = isinstance(p, int | float) and isinstance(m, int | float) and p
        rows.append({"mode": mode, "check": v["name"], "predicted": p, "measured": m,
                     "err": (m / p - 1) if num else None, "verdict": v["verdict"]})
    rows.append({"mode": mode, "check": "run", "predicted": None, "measured": None,
                 "err": None, "verdict": res["verdict"],
                 "hop_ms": res["prediction"].get("control_hop_ms"),
                 "harness": res["harness"].get("problem")})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--modes", default="push,pull")
    ap.add_argument("--poll-s", type=float, default=1.0)
    args = ap.parse_args()
    console = Console(width=140)
    os.environ.setdefault("EDGEPROOF_STATE_DIR", tempfile.mkdtemp(prefix="ep-bench-state-"))
    load = os.getloadavg()[0]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ep-bench-rollout-") as tmp:
        for mode in args.modes.split(","):
            rows += accuracy(mode, args.poll_s, Path(tmp) / mode)
    t = Table(title=f"rollout convergence: predicted vs measured, s after the publish "
                    f"(load average {load:.2f} at the start)")
    for col in ("mode", "check", "predicted", "measured", "error", "verdict"):
        t.add_column(col)
    for r in rows:
        err = "" if r["err"] is None else f"{r['err']:+.1%}"
        t.add_row(r["mode"], r["check"], str(r["predicted"] if r["predicted"] is not None
                                              else ""),
                  str(r["measured"] if r["measured"] is not None else ""), err, r["verdict"])
    console.print(t)
    print(json.dumps({"bench": "rollout_accuracy", "load_avg": round(load, 2),
                      "load_avg_end": round(os.getloadavg()[0], 2), "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
