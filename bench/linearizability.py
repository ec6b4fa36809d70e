"""Linearizability check time for 10k, 100k and 1M operations (16 processes, 32 keys).

Histories come from ``harness.lin_gen.simulate_register``: a correct atomic register per key,
closed-loop processes with exponential think time (mean 0.2 ms) and latency (mean 1 ms), so
about 13 operations are in flight at once; 50% reads, unique write values, 1% fail and 1%
info. Each size is checked with the Gibbons-Korach read-mapping test (what ``auto`` picks for
such histories) and with the Wing-Gong/Lowe search (what it picks for cas or duplicate
values), both on one core (CPython is single-threaded), plus the same history with one stale
read (must fail; the time includes shrinking the witness). ``--porcupine`` also runs
Porcupine (bench/porcupine, Go) on the same JSONL files and reports the ratio.

Run: ``.venv/bin/python bench/linearizability.py [--sizes 10000,100000,1000000]
[--wgl-max 1000000] [--porcupine]``. Prints a table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.checks.lin.check import check_ops  # noqa: E402
from harness.checks.lin.gen import inject_stale_read, simulate_register  # noqa: E402
from harness.checks.lin.ops import ops_from_events  # noqa: E402

TARGET_100K_S = 10.0


def _timed(fn: Any, *args: Any, **kw: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def _porcupine(path: Path) -> tuple[str, float] | None:
    """(verdict, seconds) from the Go helper, or None if it cannot be built."""
    exe = Path(tempfile.gettempdir()) / "edgeproof-porcupine-bench"
    if not exe.exists():
        b = subprocess.run(["go", "build", "-o", str(exe), "."], cwd=REPO / "bench/porcupine",
                           capture_output=True, text=True)
        if b.returncode:
            print(f"porcupine build failed: {b.stderr.strip()}", file=sys.stderr)
            return None
    env = {**os.environ, "GOMAXPROCS": "1"}  # one core, like CPython (it checks keys in parallel)
    r = subprocess.run([str(exe), str(path)], capture_output=True, text=True, timeout=3600,
                       env=env)
    if r.returncode:
        print(f"porcupine failed: {r.stderr.strip()}", file=sys.stderr)
        return None
    got = json.loads(r.stdout.strip().splitlines()[-1])
    return got["verdict"], got["check_s"]


def bench_size(n: int, wgl_max: int, porcupine: bool, tmp: Path) -> dict[str, Any]:
    """Figures for one history size."""
    events, gen_s = _timed(simulate_register, n, n_ops=n, processes=16, keys=32,
                           p_info=0.01, p_fail=0.01, mean_gap_ns=200_000,
                           mean_latency_ns=1_000_000)
    ops, load_s = _timed(ops_from_events, events)
    row: dict[str, Any] = {"ops": n, "register_ops": len(ops), "generate_s": gen_s,
                           "pair_s": load_s}
    res, row["read_mapping_s"] = _timed(check_ops, ops, algorithm="read-mapping")
    row["read_mapping_verdict"] = res.verdict
    if n <= wgl_max:
        res, row["wgl_s"] = _timed(check_ops, ops, algorithm="wgl", budget_s=600)
        row["wgl_verdict"] = res.verdict
    stale, _read = inject_stale_read(events, random.Random(n)) or (None, None)
    if stale is not None:
        res, row["stale_read_mapping_s"] = _timed(check_ops, ops_from_events(stale))
        row["stale_verdict"] = res.verdict
        row["stale_witness_ops"] = len(res.violations[0].witness) if res.violations else None
    if porcupine:
        path = tmp / f"h{n}.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in events))
        got = _porcupine(path)
        if got is not None:
            row["porcupine_verdict"], row["porcupine_s"] = got
    return row


def _print(rows: list[dict[str, Any]]) -> None:
    cols = ["ops", "pair_s", "read_mapping_s", "wgl_s", "stale_read_mapping_s", "porcupine_s"]
    print(" ".join(f"{c:>21}" for c in cols))
    for r in rows:
        print(" ".join(f"{r.get(c, float('nan')):>21.3f}" if c != "ops" else f"{r[c]:>21}"
                       for c in cols))
        if "wgl_s" in r and "porcupine_s" in r:
            print(f"{'':>21} wgl/porcupine = {r['wgl_s'] / r['porcupine_s']:.1f}x, "
                  f"read-mapping/porcupine = {r['read_mapping_s'] / r['porcupine_s']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--wgl-max", type=int, default=1_000_000,
                    help="skip the Wing-Gong/Lowe search above this many ops")
    ap.add_argument("--porcupine", action="store_true", help="also run bench/porcupine (Go)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            rows.append(bench_size(n, args.wgl_max, args.porcupine, Path(tmp)))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    _print(rows)
    hundred = next((r for r in rows if r["ops"] == 100_000), None)
    summary = {"rows": rows, "target_100k_s": TARGET_100K_S}
    if hundred:
        summary["target_met"] = {a: hundred[f"{a}_s"] <= TARGET_100K_S
                                 for a in ("read_mapping", "wgl") if f"{a}_s" in hundred}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
