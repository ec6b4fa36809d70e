"""Models of the store-and-forward pipeline (``builtin:devices`` over a tiered topology).

Pure functions of the scenario, computed before the run:

- **Stations per hop.** Each node is an M/M/c station (its ``workers`` and ``service_ms``);
  each uplink a batch server: one batch of up to ``batch`` readings in flight, a cycle of
  ``2 x latency + bytes / bandwidth + the parent's service``, so it carries at most
  ``batch / cycle`` readings a second. Utilisation per node and per uplink, the bottleneck
  and the device rate at which the fleet saturates follow (the utilisation law).
- **End-to-end latency** along each gateway's path as a tandem of those stations (a Jackson
  network: each hop's delay adds, Jackson 1957): the client link, the gateway's M/M/c
  response time (Erlang C), then per uplink the wait for the batch to close (the linger, or
  the batch filling), the residual of the batch in flight (Pollaczek-Khinchine), the one-way
  latency, the transmission and the parent's station.
- **Network calculus** (Le Boudec and Thiran, 2001): token-bucket devices (``periodic``,
  burst b, rate r) through rate-latency service curves per hop; the per-hop delay bound
  ``T + b / R`` with the output burst ``b + r T`` handed to the next hop, summed along the
  path, and a backlog bound ``b + r T`` per node. Only for bounded parts: periodic devices,
  ``deterministic`` or ``uniform`` service, bounded jitter; plus a stated slack for the
  measuring host.
- **An uplink cut** for T seconds at node v (arrival rate lambda): backlog lambda T at v,
  loss max(0, lambda (T + pending) - capacity) under a dropping overflow policy, a drain
  after the heal of ``pending + (backlog + lambda pending) / (mu - lambda)``, where pending is the
  retry still under way at the heal (half a cycle of timeout plus the backoff in force, on
  average), and the sink's
  staleness for v's gateways growing to T + pending.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from harness.models.queueing import erlang_c
from harness.scenario import Scenario

WIRE_OVERHEAD = 2  # bytes around each [id, gateway] pair: the comma and the newline-free join
REQUEST_HEADERS = 198  # bytes of an aiohttp POST's request line and headers (measured, 3.14)
BODY_FRAME = 25  # {"from":"","readings":[]} around the pairs, beyond the name
RESPONSE_BYTES = 175  # the parent's 200 answer with its headers (measured)
ID_DIGITS = 7  # reading ids are dev-<process>:<seq, 7 digits>


@dataclass
class Hop:
    """One uplink (node -> parent) as a batch server."""

    node: str
    parent: str
    rate_in: float  # readings/s arriving at the node (from its subtree)
    reading_bytes: float
    cycle_s: float  # a full batch's send cycle
    capacity_rps: float  # readings/s the uplink carries at most (full batches)
    utilisation: float
    delay_s: float  # mean per-reading delay of this hop (tandem model)
    transit_s: float = 0.0  # of delay_s: latency, transmission, the parent's station
    nc_rate: float | None = None
    nc_latency_s: float | None = None


@dataclass
class Cut:
    """An uplink cut by a fault: what the model expects at the cut node."""

    fault: int
    node: str
    duration_s: float
    rate_in: float
    backlog: float
    loss: float
    pending_s: float
    drain_s: float | None  # None: the uplink cannot catch up (mu <= lambda)
    staleness_s: float
    drain_range_s: tuple[float, float] | None = None  # heal at the start / end of a retry
    gateways: list[str] = field(default_factory=list)


@dataclass
class PipelinePrediction:
    """What the pipeline models expect for a scenario, before it runs."""

    device_rate_hz: float
    devices: dict[str, int]  # gateway -> devices pinned to it
    node_utilisation: dict[str, float]
    hops: list[Hop]
    e2e_mean_ms: dict[str, float]  # per gateway: tandem end-to-end mean
    nc_bound_ms: dict[str, float | None]  # per gateway: the worst-case delay bound
    nc_backlog: dict[str, float | None]  # per node: the backlog bound (readings)
    slack_ms: float
    bottleneck: str
    saturation_rate_hz: float
    cuts: list[Cut]
    notes: list[str] = field(default_factory=list)
    overhead_ms: dict[str, float] = field(default_factory=dict)  # per gateway, in e2e_mean_ms
    overhead_peak_ms: dict[str, float] = field(default_factory=dict)  # in nc_bound_ms

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_overhead(self, mean_ms: dict[str, float],
                      peak_ms: dict[str, float]) -> PipelinePrediction:
        """This prediction plus the platform's own path overhead per gateway (the client
        stack, proxies, HTTP, timers: what the tandem and network-calculus models leave out),
        as measured before the judged phases: the mean onto the mean, the peak onto the
        bound."""
        e2e = {g: v + mean_ms.get(g, 0.0) for g, v in self.e2e_mean_ms.items()}
        bound = {g: None if v is None else v + peak_ms.get(g, 0.0)
                 for g, v in self.nc_bound_ms.items()}
        return replace(self, e2e_mean_ms=e2e, nc_bound_ms=bound, overhead_ms=dict(mean_ms),
                       overhead_peak_ms=dict(peak_ms))

    def with_overhead_capped(self, cap_ms: float) -> PipelinePrediction:
        """The calibrated mean overhead cut to ``cap_ms`` per gateway, its peak lowered by
        as much: beyond the cap, the measured slowness is judged, not absorbed."""
        base = replace(self, e2e_mean_ms={g: v - self.overhead_ms.get(g, 0.0)
                                          for g, v in self.e2e_mean_ms.items()},
                       nc_bound_ms={g: None if v is None else v - self.overhead_peak_ms.get(g, 0.0)
                                    for g, v in self.nc_bound_ms.items()})
        mean = {g: min(v, cap_ms) for g, v in self.overhead_ms.items()}
        peak = {g: v - (self.overhead_ms.get(g, 0.0) - mean.get(g, 0.0))
                for g, v in self.overhead_peak_ms.items()}
        return base.with_overhead(mean, peak)


def devices_per_gateway(scn: Scenario) -> dict[str, int]:
    """Devices are pinned round-robin over the client nodes by device index."""
    gws = scn.testbed.client_nodes
    out = {g: 0 for g in gws}
    for i in range(scn.workload.users):
        out[gws[i % len(gws)]] += 1
    return out


def reading_bytes(scn: Scenario, gateway: str) -> float:
    """Bytes of one reading on the wire: ``["dev-P:SSSSSSS","gateway"],``."""
    digits = len(str(max(0, scn.workload.users - 1)))
    return len('["dev-:",""]') + digits + ID_DIGITS + len(gateway) + WIRE_OVERHEAD - 1


def station_ms(scn: Scenario, node: str, arrivals_per_s: float) -> tuple[float, float]:
    """(mean response, utilisation) of a node's M/M/c station (Erlang C)."""
    hw = scn.testbed.node(node).hardware
    s = hw.service_ms / 1000.0
    if s <= 0:
        return 0.0, 0.0
    rho = arrivals_per_s * s / hw.workers
    if rho >= 1:
        return math.inf, rho
    if hw.distribution == "deterministic":  # M/D/c: about half the M/M/c wait (Cosmetatos)
        wait = 0.5 * erlang_c(hw.workers, arrivals_per_s * s) * s / (hw.workers * (1 - rho))
    else:
        wait = erlang_c(hw.workers, arrivals_per_s * s) * s / (hw.workers * (1 - rho))
    return (wait + s) * 1000.0, rho


def _link(scn: Scenario, a: str, b: str) -> tuple[float, float, float | None]:
    """(latency, jitter, bandwidth bytes/s) of the link a -> b."""
    for src, dst, link in scn.testbed.link_directions():
        if (src, dst) == (a, b):
            bw = link.bandwidth_kbps
            return (link.latency_ms / 1000.0, link.jitter_ms / 1000.0,
                    max(1, round(bw / 8)) * 1000.0 if bw else None)
    return 0.0, 0.0, None


@functools.lru_cache(maxsize=256)
def forwarder_wait(rate: float, linger_s: float, batch: int, c0: float, c1: float,
                   seed: int = 0, readings: int = 10_000) -> tuple[float, float]:
    """(mean wait of a reading until its batch leaves, mean batch size) of a forwarder with
    one batch in flight: the next batch closes ``linger_s`` after its first reading came or
    when ``batch`` wait, and leaves once the one in flight is back (``c0 + c1 n`` seconds
    for n readings). A seeded event walk over Poisson arrivals (the mechanism is a renewal
    process whose closed form is not worth its approximations)."""
    if rate <= 0:
        return linger_s, 1.0
    rng = random.Random(seed)
    t, arrivals = 0.0, []
    for _ in range(readings):
        t += rng.expovariate(rate)
        arrivals.append(t)
    free_at, i, waited, sizes = 0.0, 0, 0.0, []
    while i < len(arrivals):
        first = arrivals[i]
        close = max(first + linger_s, free_at)
        j = i
        while j < len(arrivals) and arrivals[j] <= close and j - i < batch:
            j += 1
        leave = arrivals[j - 1] if j - i == batch and arrivals[j - 1] > free_at and \
            arrivals[j - 1] < first + linger_s else close
        waited += sum(leave - a for a in arrivals[i:j])
        sizes.append(j - i)
        free_at = leave + c0 + c1 * (j - i)
        i = j
    return waited / len(arrivals), sum(sizes) / len(sizes)


def predict_pipeline(scn: Scenario) -> PipelinePrediction | None:
    """The pipeline's predictions, or None when the scenario runs no pipeline."""
    tb = scn.testbed
    if not tb.is_pipeline or scn.workload.locustfile != "builtin:devices":
        return None
    dev = scn.workload.devices
    assert dev is not None
    pipe = tb.service.pipeline
    per_gw = devices_per_gateway(scn)
    gw_rate = {g: n * dev.rate_hz for g, n in per_gw.items()}
    rate_in = {n.name: sum(gw_rate.get(x, 0.0) for x in tb.subtree(n.name)) for n in tb.nodes}
    hops: dict[str, Hop] = {}
    order = sorted((n for n in tb.nodes if n.parent), key=lambda n: -len(tb.path_up(n.name)))
    batches: dict[str, float] = {}
    for n in order:
        lam = rate_in[n.name]
        batches[n.name] = lam / _batch_size(lam, pipe.linger_ms / 1000.0, pipe.batch)
    util: dict[str, float] = {}
    resp: dict[str, float] = {}
    for _ in range(2):  # batch sizes set the parents' load, which sets the cycles
        reqs = {n: gw_rate.get(n, 0.0) for n in tb.node_names}
        for n in order:
            reqs[str(n.parent)] += batches[n.name]
        for name in tb.node_names:
            resp[name], util[name] = station_ms(scn, name, reqs.get(name, 0.0))
        for n in order:
            hops[n.name] = _hop(scn, n.name, str(n.parent), rate_in[n.name], resp, batches)
    e2e, bound, backlog = {}, {}, {}
    lat_c = scn.testbed.clients.latency_ms
    for g in per_gw:
        path = tb.path_up(g)
        total = lat_c + resp[g] + sum(hops[x].delay_s * 1000 for x in path[:-1] if x in hops)
        e2e[g] = total
    nc_ok, why = _nc_applies(scn)
    notes = [] if nc_ok else [f"no network-calculus bound: {why}"]
    if nc_ok:
        bound, backlog = _nc_bounds(scn, per_gw, hops, reqs)
    else:
        bound = {g: None for g in per_gw}
        backlog = {n: None for n in tb.node_names}
    loads = {**{f"node {k}": v for k, v in util.items()},
             **{f"uplink {h.node}": h.utilisation for h in hops.values()}}
    bottleneck = max(loads, key=lambda k: loads[k]) if loads else ""
    top = loads.get(bottleneck, 0.0)
    return PipelinePrediction(
        device_rate_hz=dev.rate_hz, devices=per_gw, node_utilisation=util,
        hops=list(hops.values()), e2e_mean_ms=e2e, nc_bound_ms=bound, nc_backlog=backlog,
        slack_ms=50.0, bottleneck=bottleneck,
        saturation_rate_hz=dev.rate_hz / top if top > 0 else math.inf,
        cuts=_cuts(scn, rate_in, hops), notes=notes)


def _batch_size(rate: float, linger_s: float, batch: int) -> float:
    """Mean readings per batch in steady state."""
    return max(1.0, min(float(batch), 1.0 + rate * linger_s))


def _hop(scn: Scenario, node: str, parent: str, lam: float, resp: dict[str, float],
         batches: dict[str, float]) -> Hop:
    pipe = scn.testbed.service.pipeline
    lat, _jit, bw = _link(scn, node, parent)
    w = reading_bytes(scn, _a_gateway(scn, node))
    frame = REQUEST_HEADERS + BODY_FRAME + len(node)

    def request_s(n: float) -> float:
        """Transmission of a batch of n readings over the uplink."""
        return (frame + n * w) / bw if bw else 0.0

    answer_s = RESPONSE_BYTES / bw if bw else 0.0
    s_parent = resp[parent] / 1000.0 if math.isfinite(resp[parent]) else math.inf

    def cycle(n: float) -> float:
        return 2 * lat + request_s(n) + answer_s + s_parent

    cap = pipe.batch / cycle(pipe.batch)
    wait, per = forwarder_wait(lam, pipe.linger_ms / 1000.0, pipe.batch, cycle(0),
                               cycle(1) - cycle(0), seed=scn.seed)
    batches[node] = lam / per if per else 0.0
    transit = lat + request_s(per) + s_parent
    return Hop(node, parent, lam, w, cycle(pipe.batch), cap, lam / cap if cap else math.inf,
               wait + transit, transit_s=transit)


def _a_gateway(scn: Scenario, node: str) -> str:
    """A gateway below (or at) ``node``: the names on the wire are this long."""
    leaves = [g for g in scn.testbed.subtree(node) if g in scn.testbed.client_nodes]
    return max(leaves, key=len) if leaves else node


def _nc_applies(scn: Scenario) -> tuple[bool, str]:
    dev = scn.workload.devices
    assert dev is not None
    if dev.arrivals != "periodic":
        return False, "Poisson devices have no token-bucket arrival curve (use periodic)"
    unbounded = [n.name for n in scn.testbed.nodes if n.hardware.service_max_ms is None]
    if unbounded:
        return False, (f"nodes {', '.join(unbounded[:3])} have unbounded (exponential) service "
                       "times (set hardware.distribution: deterministic or uniform)")
    return True, ""


def _nc_bounds(scn: Scenario, per_gw: dict[str, int], hops: dict[str, Hop],
               reqs: dict[str, float]) -> tuple[dict[str, float | None],
                                                dict[str, float | None]]:
    """Per gateway the delay bound (ms), per node the backlog bound (readings): token
    buckets through rate-latency curves hop by hop (Le Boudec and Thiran, Thm 1.4.2)."""
    tb, dev, pipe = scn.testbed, scn.workload.devices, scn.testbed.service.pipeline
    assert dev is not None
    lat_c, jit_c = tb.clients.latency_ms / 1000.0, tb.clients.jitter_ms / 1000.0
    burst = {g: n * (dev.burst + dev.rate_hz * 2 * jit_c) for g, n in per_gw.items()}
    rate = {g: n * dev.rate_hz for g, n in per_gw.items()}
    out_burst: dict[str, float] = {}
    delay: dict[str, float] = {}
    backlog: dict[str, float | None] = {n: None for n in tb.node_names}
    for g in per_gw:  # the gateway's station: c servers, each job at most S_max
        hw = tb.node(g).hardware
        s_max = float(hw.service_max_ms or 0.0) / 1000.0
        big_r, big_t = (hw.workers / s_max if s_max else math.inf), s_max
        delay[g] = big_t + (burst[g] / big_r if big_r != math.inf else 0.0)
        out_burst[g] = burst[g] + rate[g] * big_t
        backlog[g] = out_burst[g]
    order = sorted(hops, key=lambda n: -len(tb.path_up(n)))
    hop_delay: dict[str, float | None] = {}
    for n in order:
        h = hops[n]
        b_in = sum(out_burst.get(c, 0.0) for c in tb.children(n)) + out_burst.get(n, 0.0)
        r_in = h.rate_in
        lat, jit, bw = _link(scn, n, h.parent)
        phw = tb.node(h.parent).hardware
        kids = len(tb.children(h.parent)) + (1 if h.parent in per_gw else 0)
        s_p = math.ceil(kids / phw.workers) * float(phw.service_max_ms or 0.0) / 1000.0
        frame = REQUEST_HEADERS + BODY_FRAME + len(n)
        tx = ((frame + pipe.batch * h.reading_bytes + RESPONSE_BYTES) / bw) if bw else 0.0
        c_max = 2 * (lat + jit) + tx + s_p
        big_r = pipe.batch / c_max if c_max > 0 else math.inf
        big_t = pipe.linger_ms / 1000.0 + c_max
        h.nc_rate, h.nc_latency_s = big_r, big_t
        if r_in >= big_r:
            hop_delay[n] = None
            continue
        hop_delay[n] = big_t + b_in / big_r
        out_burst[n] = b_in + r_in * big_t
        backlog[n] = b_in + r_in * big_t
    bounds: dict[str, float | None] = {}
    for g in per_gw:
        parts = [hop_delay.get(x) for x in tb.path_up(g)[:-1]]
        if any(p is None for p in parts):
            bounds[g] = None
            continue
        bounds[g] = (lat_c + jit_c + delay[g] + sum(p for p in parts if p is not None)) * 1000
    return bounds, backlog


def uplinks_cut(scn: Scenario, index: int) -> list[str]:
    """Nodes whose uplink (to the parent) fault ``index`` cuts."""
    f = scn.faults[index]
    if getattr(f, "kind", None) != "partition" or getattr(f, "port", None) not in (None, "main"):
        return []  # a cut of another port (the control plane's) leaves the readings' path
    tb = scn.testbed
    iso = getattr(f, "isolate", None)
    if iso is not None and hasattr(iso, "subtree"):
        return [iso.subtree]
    side: dict[str, int] = {}
    if iso is not None:
        side = {n: 0 if n == iso else 1 for n in tb.node_names}
    elif getattr(f, "groups", None):
        side = {n: i for i, g in enumerate(f.groups) for n in g}
    elif getattr(f, "from_", None):
        side = {**{n: 0 for n in f.from_}, **{n: 1 for n in (f.to or [])}}
    return [n.name for n in tb.nodes if n.parent is not None and n.name in side
            and n.parent in side and side[n.name] != side[n.parent]]


def _cuts(scn: Scenario, rate_in: dict[str, float], hops: dict[str, Hop]) -> list[Cut]:
    pipe = scn.testbed.service.pipeline
    out = []
    for i, f in enumerate(scn.faults):
        for v in uplinks_cut(scn, i):
            h = hops.get(v)
            if h is None:
                continue
            lam, t = rate_in[v], float(f.for_s)
            cap = scn.testbed.node(v).buffer.capacity
            policy = scn.testbed.node(v).buffer.overflow
            pending = _pending_s(pipe, t)
            backlog = lam * t
            # a full buffer keeps dropping until the first retry after the heal lands
            loss = max(0.0, lam * (t + pending) - cap) if policy != "block" else 0.0
            kept = min(backlog, cap)
            mu = h.capacity_rps

            def drain_after(p: float, kept: float = kept, lam: float = lam,
                            mu: float = mu) -> float:
                return p + (kept + lam * p) / (mu - lam)

            # the sink sees the drain end once the last held reading crossed the hops above
            above = sum(hops[x].delay_s for x in scn.testbed.path_up(v)[1:-1] if x in hops)
            above += h.transit_s  # the held batches' own crossing of the cut uplink
            drain = drain_after(pending) + above if mu > lam else None
            span = ((drain_after(0.0) + above, drain_after(2 * pending) + above)
                    if mu > lam else None)
            gws = [g for g in scn.testbed.subtree(v) if g in scn.testbed.client_nodes]
            out.append(Cut(i, v, t, lam, kept, loss, pending, drain, t + pending,
                           drain_range_s=span, gateways=gws))
    return out


def _pending_s(pipe: Any, cut_s: float) -> float:
    """The mean wait, at the heal, for the next attempt to land: a failing attempt holds
    ``timeout_ms``, then the backoff in force (doubling to its top); the heal falls at a
    uniform point of that cycle, so on average half of it is left."""
    t = pipe.timeout_ms / 1000.0
    b = pipe.backoff_ms / 1000.0
    top = (pipe.backoff_max_ms or pipe.backoff_ms) / 1000.0
    elapsed = 0.0
    while elapsed + t + b < cut_s:
        elapsed += t + b
        b = min(top, b * 2)
    return (t + b) / 2
