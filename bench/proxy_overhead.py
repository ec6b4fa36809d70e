"""Toxiproxy hop overhead: latency of the reference service with and without its client proxy.

Stands up one reference node (4 workers, service_ms 0, client link latency 0), then sends
the same requests (GET /health and GET /kv/x) straight at the node's own address and through
its client proxy, interleaved in the same run (the order alternates every round), and reports
p50/p90/p99 of both and the p50 difference. Two connection modes: one keep-alive httpx.Client
per path (the load generator's case), and a fresh TCP connection per request (where the
proxy also pays its accept and its own upstream connect).

Run: ``.venv/bin/python bench/proxy_overhead.py [--quick] [--n 2000] [--fresh 500]``
Loopback only; state lives in a temporary EDGEPROOF_STATE_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGET_ADDED_MS = 0.3
PATHS = ("/health", "/kv/x")


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


Samples = dict[str, dict[str, list[float]]]


def measure(urls: dict[str, str], rounds: int, keepalive: bool) -> Samples:
    """{route: {path: [ms, ...]}}, requests interleaved route by route, order alternating."""
    import httpx
    limits = None if keepalive else httpx.Limits(max_keepalive_connections=0)
    kw: dict[str, Any] = {"timeout": 5.0}
    if limits is not None:
        kw["limits"] = limits
    clients = {route: httpx.Client(**kw) for route in urls}
    got: Samples = {r: {p: [] for p in PATHS} for r in urls}
    routes = list(urls)
    try:
        for route in routes:  # warm-up (connections, the node's first request)
            for path in PATHS:
                for _ in range(20):
                    clients[route].get(urls[route] + path)
        for i in range(rounds):
            order = routes if i % 2 == 0 else routes[::-1]
            for path in PATHS:
                for route in order:
                    t = time.perf_counter()
                    r = clients[route].get(urls[route] + path)
                    dt = (time.perf_counter() - t) * 1000
                    if r.status_code >= 500:
                        raise RuntimeError(f"{route} {path}: HTTP {r.status_code}")
                    got[route][path].append(dt)
    finally:
        for c in clients.values():
            c.close()
    return got


def summarise(got: Samples) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in PATHS:
        row: dict[str, Any] = {}
        for route in got:
            xs = got[route][path]
            row[route] = {"n": len(xs), "p50": pct(xs, 50), "p90": pct(xs, 90),
                          "p99": pct(xs, 99), "mean": statistics.fmean(xs)}
        row["added_p50_ms"] = row["proxy"]["p50"] - row["direct"]["p50"]
        row["added_p90_ms"] = row["proxy"]["p90"] - row["direct"]["p90"]
        out[path] = row
    return out


def print_tables(results: dict[str, dict[str, Any]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(json.dumps(results, indent=1))
        return
    con = Console(width=max(Console().width, 130))
    t = Table(title="Toxiproxy client-hop overhead (ms, client-side wall time, loopback)")
    for col in ("connections", "path", "n", "direct p50", "p90", "p99", "proxy p50", "p90",
                "p99", "added p50", "added p90", f"<= {TARGET_ADDED_MS} ms"):
        t.add_column(col, justify="right")
    for mode, res in results.items():
        for path, row in res.items():
            d, p = row["direct"], row["proxy"]
            gate = (("PASS" if row["added_p50_ms"] <= TARGET_ADDED_MS else "MISS")
                    if mode == "keep-alive" else "-")
            t.add_row(mode, path, str(d["n"]), f"{d['p50']:.3f}", f"{d['p90']:.3f}",
                      f"{d['p99']:.3f}", f"{p['p50']:.3f}", f"{p['p90']:.3f}",
                      f"{p['p99']:.3f}", f"{row['added_p50_ms']:+.3f}",
                      f"{row['added_p90_ms']:+.3f}", gate)
    con.print(t)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="500 keep-alive, 100 fresh per cell")
    ap.add_argument("--n", type=int, default=2000, help="keep-alive requests per route and path")
    ap.add_argument("--fresh", type=int, default=500,
                    help="fresh-connection requests per route and path (0 = skip)")
    ap.add_argument("--slot", type=int, default=None,
                    help="loopback slot 1..149 (default: random 60..140)")
    args = ap.parse_args()
    n, fresh = (500, 100) if args.quick else (args.n, args.fresh)
    slot = args.slot or random.randint(60, 140)

    with tempfile.TemporaryDirectory(prefix="ep-bench-proxy-") as tmp:
        os.environ["EDGEPROOF_STATE_DIR"] = str(Path(tmp) / "state")
        import httpx

        import testbeds.local as local_mod
        from testbeds.local import LocalTestbed
        from testbeds.spec import TestbedSpec
        local_mod.free_slot = lambda: slot  # a loopback range of our own (see README)
        spec = TestbedSpec.model_validate({
            "nodes": [{"name": "node-0", "hardware": {"workers": 4, "service_ms": 0}}],
            "clients": {"latency_ms": 0},
        })
        tb = None
        t0 = time.perf_counter()
        try:
            tb = LocalTestbed.up(spec, run_id=f"benchpx{os.getpid() % 100000}",
                                 name="bench-proxy", workdir=Path(tmp) / "wd", seed=0)
            node, proxy_url = tb.client_targets()[0]
            urls = {"direct": tb.direct_url(node), "proxy": proxy_url}
            r = httpx.put(urls["direct"] + "/kv/x", json={"value": 1}, timeout=5.0)
            r.raise_for_status()
            results = {"keep-alive": summarise(measure(urls, n, keepalive=True))}
            if fresh:
                results["fresh"] = summarise(measure(urls, fresh, keepalive=False))
        finally:
            if tb is not None:
                tb.down()
    print_tables(results)
    ka = results["keep-alive"]
    out = {
        "bench": "proxy_overhead", "cpus": os.cpu_count(), "urls": urls,
        "n_keepalive": n, "n_fresh": fresh, "target_added_p50_ms": TARGET_ADDED_MS,
        "results": results,
        "pass": all(ka[p]["added_p50_ms"] <= TARGET_ADDED_MS for p in PATHS),
        "elapsed_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
