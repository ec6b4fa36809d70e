"""Up-to-ready time and idle memory of the local testbed, for 3, 20 and 100 reference nodes.

Stands up a ring (node i <-> i+1, and the last back to the first) of reference-service nodes
with default hardware and a client proxy on every node, times ``LocalTestbed.up()`` until
every node answers its readiness probe, reads each node process's memory (RSS, and PSS/USS
where psutil gives them) once it is ready, and brings the testbed down again.

Where the time goes is measured too, by a subclass that times the backend's own stages:
Toxiproxy start, address assignment (cgroup creation), proxy creation, process launch and
readiness polling. The start-up cost of one bare service process (``python -c 'import
testbeds.service'``) is measured on its own as a reference.

Run: ``.venv/bin/python bench/up_time.py [--quick] [--sizes 3,20,100]``
Loopback only; state lives in a temporary EDGEPROOF_STATE_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Targets (this 2-core machine).
TARGET_S = {3: 1.5, 100: 5.0, 300: 15.0}  # issue 14.2 (was 20 s for 100 in issue 3)
TARGET_USS_MB = 15.0  # issue 14.2 (was 40 MB)


def ring_spec(n: int) -> Any:
    from testbeds.spec import TestbedSpec
    names = [f"node-{i}" for i in range(n)]
    links = [{"between": [names[i], names[(i + 1) % n]]} for i in range(n)] if n > 1 else []
    if n == 2:
        links = links[:1]
    return TestbedSpec.model_validate({"nodes": [{"name": m} for m in names], "links": links})


def timed_class() -> Any:
    """LocalTestbed with its start-up stages timed (bench only; the library is untouched)."""
    import httpx

    from testbeds.local import LocalTestbed

    class Timed(LocalTestbed):
        stages: dict[str, float] = {}
        _http: httpx.Client | None = None

        @classmethod
        def reset(cls) -> None:
            cls.stages = {k: 0.0 for k in
                          ("toxiproxy", "addresses+cgroups", "proxies", "launch", "ready-wait")}

        def _add(self, key: str, t0: float) -> None:
            type(self).stages[key] += time.perf_counter() - t0

        def _start(self, binary: Path, progress: Any) -> None:
            t0 = time.perf_counter()
            self._t_start = t0
            super()._start(binary, progress)

        def _assign_addresses(self) -> None:
            # Toxiproxy start is what precedes this inside _start
            self._add("toxiproxy", self._t_start)
            t0 = time.perf_counter()
            super()._assign_addresses()
            self._add("addresses+cgroups", t0)

        def _create_proxies(self) -> None:
            t0 = time.perf_counter()
            super()._create_proxies()
            self._add("proxies", t0)

        def _launch(self, name: str) -> None:
            t0 = time.perf_counter()
            super()._launch(name)
            self._add("launch", t0)

        def wait_ready(self, names: list[str], timeout_s: float, progress: Any = None,
                       alive: Any = None) -> None:
            t0 = time.perf_counter()
            kw = {"alive": alive}
            if progress is not None:
                kw["progress"] = progress
            super().wait_ready(names, timeout_s, **kw)
            self._add("ready-wait", t0)
            if self._http is not None:
                self._http.close()
                self._http = None

    return Timed


def node_memory(pid: int) -> dict[str, float] | None:
    """RSS/PSS/USS in MB of a live process and its children; None if it is gone or a zombie."""
    import psutil
    try:
        root = psutil.Process(pid)
        if root.status() == psutil.STATUS_ZOMBIE:
            return None
        procs = [root, *root.children(recursive=True)]
        out = {"rss": 0.0, "pss": 0.0, "uss": 0.0}
        for p in procs:
            mi = p.memory_full_info()
            out["rss"] += mi.rss / 2**20
            out["pss"] += getattr(mi, "pss", float("nan")) / 2**20
            out["uss"] += mi.uss / 2**20
        return out
    except psutil.NoSuchProcess:
        return None


class ExternalKill(RuntimeError):
    """A node was SIGKILLed by something other than this benchmark (see README: clean)."""


def one_run(cls: Any, n: int, base: Path, rep: int, slot: int, tag: str) -> dict[str, Any]:
    import resource

    import testbeds.local as local_mod
    from harness.errors import TestbedError
    spec = ring_spec(n)
    workdir = base / f"{tag}-n{n}-r{rep}"
    local_mod.free_slot = lambda: slot  # a loopback range of our own (see README)
    cls.reset()
    ready_at: list[float] = []
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()

    def progress(msg: str) -> None:
        if msg.startswith("ready "):
            ready_at.append(time.perf_counter() - t0)

    tb = None
    try:
        try:
            tb = cls.up(spec, run_id=f"bench{tag[0]}{n}r{rep}{os.getpid() % 10000}",
                        name=f"bench-{n}", workdir=workdir, seed=rep, detached=False,
                        progress=progress)
        except TestbedError as exc:
            if "exited with code -9" in str(exc):
                raise ExternalKill(str(exc).splitlines()[0]) from None
            raise
        up_s = time.perf_counter() - t0
        load_1m = os.getloadavg()[0]  # how busy the machine was: a noisy host reads slow
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        parent_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        time.sleep(0.5)  # let each node settle to idle before reading memory
        got = [node_memory(int(tb.record.nodes[m].pid or 0)) for m in spec.node_names]
        mem = [m for m in got if m is not None]
        if len(mem) < n:
            raise ExternalKill(f"{n - len(mem)} node(s) gone right after ready")
        proxies = len(tb.record.proxies)
        tox = node_memory(int(tb.record.toxiproxy_pid or 0))
    finally:
        t1 = time.perf_counter()
        if tb is not None:
            tb.down()
        down_s = time.perf_counter() - t1
    return {"n": n, "rep": rep, "up_s": up_s, "down_s": down_s, "stages": dict(cls.stages),
            "parent_cpu_s": parent_cpu, "load_1m": load_1m,
            "harness_cpu_share": parent_cpu / up_s if up_s else None,
            "first_ready_s": ready_at[0] if ready_at else None, "proxies": proxies,
            "toxiproxy_rss_mb": tox["rss"] if tox else None, "mem": mem}


def process_cost(samples: int) -> dict[str, float]:
    """Wall time of one bare Python that imports the service (what each node pays first)."""
    codes = {"python -c pass": "pass", "import aiohttp": "import aiohttp",
             "import testbeds.service": "import testbeds.service"}
    got: dict[str, list[float]] = {k: [] for k in codes}
    for _ in range(samples):
        for k, code in codes.items():
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
            got[k].append((time.perf_counter() - t) * 1000)
    return {k: statistics.median(v) for k, v in got.items()}


def summarise(runs: list[dict[str, Any]], variant: str, retries: int) -> dict[str, Any]:
    ups = [r["up_s"] for r in runs]
    mem = [m for r in runs for m in r["mem"]]
    rss = [m["rss"] for m in mem]
    pss = [m["pss"] for m in mem]
    uss = [m["uss"] for m in mem]
    stages = {k: statistics.median(r["stages"][k] for r in runs) for k in runs[0]["stages"]}
    tox = [r["toxiproxy_rss_mb"] for r in runs if r["toxiproxy_rss_mb"] is not None]
    return {
        "n": runs[0]["n"], "probe": variant, "reps": len(runs), "retries": retries,
        "proxies": runs[0]["proxies"], "up_s": [round(u, 3) for u in ups],
        "up_median_s": statistics.median(ups), "up_max_s": max(ups),
        "down_median_s": statistics.median(r["down_s"] for r in runs),
        "first_ready_s": statistics.median(r["first_ready_s"] or 0 for r in runs),
        "parent_cpu_s": statistics.median(r["parent_cpu_s"] for r in runs),
        "harness_cpu_share": statistics.median(r["harness_cpu_share"] or 0 for r in runs),
        "load_1m_max": max(r["load_1m"] for r in runs),
        "stages_median_s": stages,
        "rss_mean_mb": statistics.fmean(rss), "rss_max_mb": max(rss),
        "pss_mean_mb": statistics.fmean(pss), "pss_max_mb": max(pss),
        "uss_mean_mb": statistics.fmean(uss), "uss_max_mb": max(uss),
        "toxiproxy_rss_mb": statistics.median(tox) if tox else None,
    }


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "MISS")


def time_ok(r: dict[str, Any]) -> bool | None:
    tgt = TARGET_S.get(r["n"])
    return None if tgt is None else r["up_max_s"] <= tgt


def print_tables(rows: list[dict[str, Any]], cost: dict[str, float]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text fallback
        for r in rows:
            print(r)
        print(cost)
        return
    con = Console(width=max(Console().width, 150))
    t = Table(title="local testbed: up-to-ready time and idle memory per node process")
    for col in ("nodes", "probe", "reps", "proxies", "up median s", "up max s", "target",
                "time", "RSS mean/max MB", "PSS mean/max MB", "USS mean/max MB",
                f"USS<={TARGET_USS_MB:g}MB", "down s"):
        t.add_column(col, justify="right")
    for r in rows:
        tgt = TARGET_S.get(r["n"])
        t.add_row(str(r["n"]), r["probe"], str(r["reps"]), str(r["proxies"]),
                  f"{r['up_median_s']:.2f}", f"{r['up_max_s']:.2f}",
                  f"<= {tgt}" if tgt else "-", verdict(time_ok(r)),
                  f"{r['rss_mean_mb']:.1f} / {r['rss_max_mb']:.1f}",
                  f"{r['pss_mean_mb']:.1f} / {r['pss_max_mb']:.1f}",
                  f"{r['uss_mean_mb']:.1f} / {r['uss_max_mb']:.1f}",
                  verdict(r["uss_max_mb"] <= TARGET_USS_MB), f"{r['down_median_s']:.2f}")
    con.print(t)
    s = Table(title="where start-up time goes (median s per stage of LocalTestbed.up)")
    s.add_column("nodes", justify="right")
    s.add_column("probe", justify="right")
    for k in rows[0]["stages_median_s"]:
        s.add_column(k, justify="right")
    s.add_column("first node ready", justify="right")
    s.add_column("harness CPU s", justify="right")
    s.add_column("harness CPU share", justify="right")
    s.add_column("load 1 min (max)", justify="right")
    for r in rows:
        s.add_row(str(r["n"]), r["probe"], *(f"{v:.3f}" for v in r["stages_median_s"].values()),
                  f"{r['first_ready_s']:.2f}", f"{r['parent_cpu_s']:.2f}",
                  f"{r['harness_cpu_share']:.0%}", f"{r['load_1m_max']:.2f}")
    con.print(s)
    c = Table(title="one bare node-like process, alone (median wall ms)")
    for k in cost:
        c.add_column(k, justify="right")
    c.add_row(*(f"{v:.0f}" for v in cost.values()))
    con.print(c)


def clean_nan(o: Any) -> Any:
    if isinstance(o, float) and o != o:
        return None
    if isinstance(o, dict):
        return {k: clean_nan(v) for k, v in o.items()}
    if isinstance(o, list):
        return [clean_nan(v) for v in o]
    return o


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one repetition per size")
    ap.add_argument("--sizes", default="3,20,100")
    ap.add_argument("--slot", type=int, default=None,
                    help="loopback slot 1..149 (default: random 60..140)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    slot = args.slot or random.randint(60, 140)
    plan = [(n, "library") for n in sizes]  # (the "shared probe" variant is the library now)

    with tempfile.TemporaryDirectory(prefix="ep-bench-up-") as tmp:
        os.environ["EDGEPROOF_STATE_DIR"] = str(Path(tmp) / "state")
        classes = {"library": timed_class()}
        cost = process_cost(1 if args.quick else 3)
        rows = []
        for n, variant in plan:
            reps = 1 if args.quick or n >= 100 else 3
            runs: list[dict[str, Any]] = []
            retries = 0
            while len(runs) < reps:
                try:
                    r = one_run(classes[variant], n, Path(tmp), len(runs) + retries, slot,
                                variant)
                except ExternalKill as exc:
                    retries += 1
                    print(f"  n={n} {variant}: killed from outside ({exc}); retry {retries}",
                          file=sys.stderr)
                    if retries > 3:
                        raise
                    continue
                print(f"  n={n} {variant} rep={len(runs)}: up {r['up_s']:.2f} s, "
                      f"down {r['down_s']:.2f} s", file=sys.stderr)
                runs.append(r)
            rows.append(summarise(runs, variant, retries))
    print_tables(rows, cost)
    lib = [r for r in rows if r["probe"] == "library"]
    result = {
        "bench": "up_time", "cpus": os.cpu_count(), "process_cost_ms": cost,
        "targets": {"up_s": TARGET_S, "uss_mb": TARGET_USS_MB},
        "sizes": rows,
        "pass": {
            "time": all(time_ok(r) is not False for r in lib),
            "memory": all(r["uss_max_mb"] <= TARGET_USS_MB for r in lib),
        },
    }
    print(json.dumps(clean_nan(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
