"""Calibration: measure what the model would otherwise assume (the client path's overhead,
the replication cost beyond the link delays, the service time a node really holds a worker
for), at no load before the run and at the operating point during its warm-up."""

from __future__ import annotations

import contextlib
import statistics
import time
from typing import Any

import httpx

from harness.models.latency import Calibration, replication_ms
from harness.scenario import Scenario
from testbeds.base import Testbed
from workloads.timing import parse_server_timing


def _probe_node(http: httpx.Client, url: str, node: str, samples: int) -> dict[str, list[float]]:
    """Sequential writes then reads of a calibration key; client-side RTT and server timings."""
    got: dict[str, list[float]] = {"client": [], "read_repl": [], "write_repl": []}
    key = f"_calibration-{node}"
    for i in range(2 * samples):
        write = i < samples
        t = time.perf_counter()
        try:
            r = (http.put(f"{url}/kv/{key}", json={"value": -i - 1}) if write
                 else http.get(f"{url}/kv/{key}"))
        except httpx.HTTPError:
            continue
        rtt = (time.perf_counter() - t) * 1000
        st = parse_server_timing(r.headers.get("Server-Timing", ""))
        if r.status_code >= 300 or not st:
            continue
        got["client"].append(rtt - sum(st.values()))
        got["write_repl" if write else "read_repl"].append(st.get("replication", 0.0))
    return got


def calibrate(tb: Testbed, samples: int = 25) -> Calibration:
    """Measure, at no load, what the model would otherwise assume: the client path overhead
    (proxy hop, HTTP, client) and the cost of one replica round beyond the link delays. The
    warm-up's server timings refine both at the operating point (calibrate_from_load), and
    the nodes report their real service times after the run (measure_service_times)."""
    cal = Calibration(peer_overhead_ms=0.0)
    spec = tb.spec
    if not all(spec.node(n).is_reference for n in spec.node_names):
        return cal
    repl_extra: list[float] = []
    with httpx.Client(timeout=2.0, trust_env=False) as http:
        for node, url in tb.client_targets():
            got = _probe_node(http, url, node, samples)
            if got["client"]:
                cal.client_overhead_ms[node] = max(
                    0.0, statistics.median(got["client"]) - 2 * spec.clients.latency_ms)
            static = replication_ms(Scenario(testbed=spec), node, [], 0.0)
            if static and got["write_repl"] and static[1] > 0:
                rounds = 2 if spec.service.mode == "quorum" else 1
                repl_extra.append((statistics.median(got["write_repl"]) - static[1]) / rounds)
    if repl_extra:
        cal.peer_overhead_ms = max(0.0, statistics.median(repl_extra))
    return cal


def measure_service_times(tb: Testbed, cal: Calibration) -> None:
    """The service time nodes really held a worker for during the run (the emulation's timer
    granularity included), as the nodes measured it themselves; replaces the no-load figure."""
    with httpx.Client(timeout=2.0, trust_env=False) as http:
        for node in tb.spec.node_names:
            if not tb.spec.node(node).is_reference:
                continue
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                m = http.get(f"{tb.direct_url(node)}/metrics").json()
                if m.get("completed"):
                    cal.service_ms[node] = tb.spec.node(node).hardware.service_ms + max(
                        0.0, float(m["service_overshoot_ms"]))


def warmup_s(scn: Scenario) -> float:
    """The start of the load that calibrates the model at the scenario's own operating
    point (and is left out of the checks): ``workload.warmup_s`` or 3 s, shorter if a fault
    or the end comes first (never calibrated under a fault)."""
    first = min((f.at_s for f in scn.faults), default=scn.workload.duration_s)
    want = 3.0 if scn.workload.warmup_s is None else scn.workload.warmup_s
    return max(0.0, min(want, first - 0.5, scn.workload.duration_s / 4))


def trimmed_mean(xs: list[float], top: float = 0.1) -> float:
    """Mean without the slowest ``top`` share: a warm-up stall (GC, a first connection)
    must not set the model's overhead for the whole run."""
    xs = sorted(xs)
    keep = xs[: max(1, int(len(xs) * (1 - top)))]
    return statistics.fmean(keep)


def calibrate_from_load(scn: Scenario, cal: Calibration, timings: list[dict[str, Any]]) -> None:
    """From the servers' own timings of the warm-up's operations: the client path overhead
    (round trip minus server time minus the link), the replication cost beyond what the
    link delays explain, per node and operation, and the service time actually held."""
    if len(timings) < 20:
        return
    link = 2 * scn.testbed.clients.latency_ms
    cal.warmup_s = warmup_s(scn)
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for t in timings:
        by.setdefault((t["node"], t["f"]), []).append(t)
    for node in scn.testbed.client_nodes:
        rows = by.get((node, "read"), []) + by.get((node, "write"), [])
        if len(rows) < 10:
            continue
        server = [sum(r.get(k, 0.0) for k in ("wait", "service", "replication")) for r in rows]
        cal.client_overhead_ms[node] = max(0.0, trimmed_mean(
            [r["latency_ms"] - s for r, s in zip(rows, server, strict=True)]) - link)
        static = replication_ms(scn, node, [], 0.0) or (0.0, 0.0)
        extra = []
        for i, f in enumerate(("read", "write")):
            got = [r.get("replication", 0.0) for r in by.get((node, f), [])]
            extra.append(max(0.0, trimmed_mean(got) - static[i]) if got else 0.0)
        cal.repl_extra_ms[node] = (extra[0], extra[1])
    for node in scn.testbed.node_names:
        # the service time held, where the run's own figure (measure_service_times) is not
        # known yet: a mean, not trimmed (the emulated service time is exponential)
        held = [r["service"] for (n, _f), rows in by.items() if n == node for r in rows
                if "service" in r]
        if node not in cal.service_ms and len(held) >= 10 and scn.testbed.node(node).is_reference:
            cal.service_ms[node] = statistics.fmean(held)


OVERHEAD_MIN_READINGS = 20  # per path depth: fewer, and the warm-up calibrates nothing there


def pipeline_overhead(scn: Scenario, e2e_model_ms: dict[str, float], acked: Any,
                      latency_ms: Any) -> tuple[dict[str, float], dict[str, float]]:
    """Per gateway the platform's own path overhead, from the warm-up's readings: their
    send-to-sink latency minus the tandem model's, pooled over gateways at the same depth
    (a few readings each), each device's first reading (its connection opening) left out.
    Returns (trimmed mean, 99th percentile) in ms; a depth with too few readings gets none.
    ``acked`` is the acked sends (columns node, value, start_s), ``latency_ms`` their
    latency by the same index (received ones only)."""
    w = warmup_s(scn)
    rows = acked.loc[latency_ms.index]
    rows = rows[rows["start_s"] < w]
    device = rows["value"].astype(str).str.split(":").str[0]
    rows = rows[device.duplicated()]  # not a device's first reading
    by_depth: dict[int, list[float]] = {}
    for idx, gw in rows["node"].items():
        if (model := e2e_model_ms.get(str(gw))) is not None:
            depth = len(scn.testbed.path_up(str(gw)))
            by_depth.setdefault(depth, []).append(float(latency_ms[idx]) - model)
    mean: dict[str, float] = {}
    peak: dict[str, float] = {}
    for gw in e2e_model_ms:
        got = by_depth.get(len(scn.testbed.path_up(gw)), [])
        if len(got) >= OVERHEAD_MIN_READINGS:
            mean[gw] = max(0.0, trimmed_mean(got))
            peak[gw] = max(mean[gw], sorted(got)[int(0.99 * (len(got) - 1))])
    return mean, peak
