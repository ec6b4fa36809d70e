"""Models: pure functions from a scenario (and calibration) to predictions, per phase.

Latency per client node = client-link round trip + measured harness/proxy overhead +
replication round trips (quorum: the (q-1)-th fastest peer round trip per phase, two phases for
a write, one for a read; primary: forward to the primary plus the slowest replica) + the
node's M/M/c station, solved by exact MVA for the closed loop (users, think time) or M/M/c
(Erlang C) at the MVA throughput. A fault window changes the delays (latency toxics) and the
reachable replicas (partitions, crashed or paused nodes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from faults.registry import fault_seed
from harness.models.queueing import closed_sojourn_tail, mixture_quantile, mva_latency
from harness.phases import Phase, phases
from harness.scenario import Scenario
from testbeds.spec import CLIENTS


@dataclass
class Calibration:
    """Measured, not assumed: per-node request overhead on the client path (ms) and the
    overhead of one replica RPC; the run measures both before the load starts."""

    client_overhead_ms: dict[str, float] = field(default_factory=dict)
    peer_overhead_ms: float = 0.5
    service_ms: dict[str, float] = field(default_factory=dict)
    repl_extra_ms: dict[str, tuple[float, float]] = field(default_factory=dict)
    warmup_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"client_overhead_ms": self.client_overhead_ms,
                "peer_overhead_ms": self.peer_overhead_ms, "service_ms": self.service_ms,
                "repl_extra_ms": self.repl_extra_ms, "warmup_s": self.warmup_s}


@dataclass
class NodePrediction:
    node: str
    users: int
    available: bool
    delay_read_ms: float
    delay_write_ms: float
    station_ms: float
    throughput_rps: float
    utilisation: float
    service_ms: float
    workers: int
    arrival: tuple[float, ...] = ()
    service_fixed_ms: float = 0.0  # of service_ms, the part every request pays (timer overshoot)


@dataclass
class PhasePrediction:
    phase: Phase
    nodes: list[NodePrediction]
    latency_ms: dict[str, float]
    throughput_rps: float

    def as_dict(self) -> dict[str, Any]:
        return {**self.phase.as_dict(), "latency_ms": self.latency_ms,
                "throughput_rps": self.throughput_rps,
                "nodes": {n.node: {k: v for k, v in vars(n).items() if k not in ("node", "arrival")}
                          for n in self.nodes}}


@dataclass
class Prediction:
    model: str
    phases: list[PhasePrediction]
    bottleneck: str
    saturation_users: float
    calibration: Calibration

    def phase(self, name: str) -> PhasePrediction | None:
        return next((p for p in self.phases if p.phase.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "bottleneck": self.bottleneck,
                "saturation_users": self.saturation_users,
                "calibration": self.calibration.as_dict(),
                "phases": [p.as_dict() for p in self.phases]}


def users_per_node(scenario: Scenario) -> dict[str, int]:
    """Locust users stick to one client node, assigned round-robin by process id."""
    nodes = scenario.testbed.client_nodes
    counts = dict.fromkeys(nodes, 0)
    for u in range(scenario.workload.users):
        counts[nodes[u % len(nodes)]] += 1
    return counts


def client_delay_ms(scn: Scenario, node: str, active: list[Any]) -> float:
    """Round trip of the client link to ``node`` with the active faults' added delay."""
    return 2 * scn.testbed.clients.latency_ms + sum(
        f.added_delay_ms(CLIENTS, node) for f in active)


def cuts(scn: Scenario, active: list[Any]) -> set[tuple[str, str]]:
    """Every (src, dst) direction the active faults cut."""
    nodes = scn.testbed.node_names
    out: set[tuple[str, str]] = set()
    for f in active:
        out |= f.cuts(nodes, fault_seed(scn.seed, scn.faults.index(f)))
    return out


def down_nodes(active: list[Any]) -> set[str]:
    """The nodes the active faults take down (crashed, stopped, paused)."""
    return {n for f in active if (n := f.down_node()) is not None}


def peer_rtt_map(scn: Scenario, node: str, active: list[Any],
                 peer_ms: float) -> dict[str, float]:
    """Round trip (ms) from node to every peer replica it can reach in this phase."""
    links = {(s, d): link for s, d, link in scn.testbed.link_directions()}
    cut = cuts(scn, active)
    down = down_nodes(active)
    out = {}
    for peer in scn.testbed.node_names:
        link = links.get((node, peer))
        if peer == node or link is None or (node, peer) in cut or peer in down:
            continue
        out[peer] = 2 * link.latency_ms + peer_ms + sum(
            f.added_delay_ms(node, peer) for f in active)
    return out


def replication_ms(scn: Scenario, node: str, active: list[Any],
                   peer_ms: float) -> tuple[float, float] | None:
    """(read, write) replication delay at node, or None when the node cannot serve."""
    mode = scn.testbed.service.mode
    rtts = peer_rtt_map(scn, node, active, peer_ms)
    n = len(scn.testbed.nodes)
    if mode == "eventual":
        return 0.0, 0.0
    if mode == "quorum":
        need = n // 2  # remote answers needed: a majority counting the node itself
        if need == 0:
            return 0.0, 0.0
        if len(rtts) < need:
            return None
        k = sorted(rtts.values())[need - 1]
        return k, 2 * k
    primary = scn.testbed.service.primary or scn.testbed.node_names[0]
    replicas = peer_rtt_map(scn, primary, active, peer_ms)
    fanout = max(replicas.values()) if replicas else 0.0
    if node == primary:
        return 0.0, fanout
    if primary not in rtts:
        return 0.0, math.inf
    return 0.0, rtts[primary] + fanout


def predict_node(scn: Scenario, node: str, users: int, active: list[Any],
                 cal: Calibration) -> NodePrediction:
    spec = scn.testbed.node(node)
    hw = spec.hardware
    s_ms = cal.service_ms.get(node, hw.service_ms)
    down = node in down_nodes(active)
    peer_ms = 0.0 if node in cal.repl_extra_ms else cal.peer_overhead_ms  # no double count
    repl = None if down else replication_ms(scn, node, active, peer_ms)
    base = client_delay_ms(scn, node, active) + cal.client_overhead_ms.get(node, 0.0)
    if repl is None or math.isinf(repl[1]):
        return NodePrediction(node, users, False, math.nan, math.nan, math.nan, 0.0, 0.0,
                              s_ms, hw.workers)
    rf = scn.workload.read_fraction
    extra = cal.repl_extra_ms.get(node, (0.0, 0.0))
    d_read, d_write = base + repl[0] + extra[0], base + repl[1] + extra[1]
    delay = rf * d_read + (1 - rf) * d_write
    mva = mva_latency(users, scn.workload.think_time_ms / 1000, delay / 1000, hw.workers,
                      s_ms / 1000)
    fixed = max(0.0, s_ms - hw.service_ms) if spec.is_reference and hw.service_ms else 0.0
    return NodePrediction(node, users, True, d_read, d_write, mva.residence_s * 1000,
                          mva.throughput, mva.utilisation, s_ms, hw.workers, mva.arrival,
                          min(fixed, s_ms / 2))


def _tail_of(n: NodePrediction) -> Any:
    """The node's sojourn tail in the closed loop: MVA's arrival distribution at the
    c-server station (an open M/M/c at the same throughput overstates the tail of a
    finite population badly near saturation). The service time held is the emulated
    exponential plus a fixed part every request pays (the timer's overshoot): the tail is
    shifted by that part rather than stretched by it (an exponential of the whole mean
    over-predicted p99 by 10-14%)."""
    s = max(n.service_ms, 1e-6) / 1000
    d = n.service_fixed_ms / 1000
    return lambda t: closed_sojourn_tail(t - d, n.arrival, n.workers, s - d)


def predict_phase(scn: Scenario, phase: Phase, cal: Calibration) -> PhasePrediction:
    active = [scn.faults[i] for i in phase.faults]
    nodes = [predict_node(scn, n, u, active, cal) for n, u in users_per_node(scn).items() if u]
    up = [n for n in nodes if n.available and n.throughput_rps > 0]
    x = sum(n.throughput_rps for n in up)
    if not up:
        return PhasePrediction(phase, nodes, {"mean": math.nan}, 0.0)
    rf = scn.workload.read_fraction
    mean = sum(n.throughput_rps * (rf * n.delay_read_ms + (1 - rf) * n.delay_write_ms
                                   + n.station_ms) for n in up) / x
    parts = []
    for n in up:
        for w, d in ((rf, n.delay_read_ms), (1 - rf, n.delay_write_ms)):
            if w > 0:
                parts.append((n.throughput_rps * w, d / 1000, _tail_of(n)))
    q = {f"p{int(p * 100)}": mixture_quantile(p, parts) * 1000 for p in (0.5, 0.95, 0.99)}
    return PhasePrediction(phase, nodes, {"mean": mean, **q}, x)


def predict(scn: Scenario, cal: Calibration | None = None,
            times: list[tuple[float, float]] | None = None) -> Prediction:
    """Predictions for every phase of the scenario, plus the bottleneck and saturation point."""
    cal = cal or Calibration()
    phs = [predict_phase(scn, ph, cal) for ph in phases(scn, times)]
    demands = {n.name: cal.service_ms.get(n.name, n.hardware.service_ms) / n.hardware.workers
               for n in scn.testbed.nodes}
    bottleneck = max(demands, key=lambda k: demands[k])
    node = next((n for n in phs[0].nodes if n.node == bottleneck), None) if phs else None
    rf = scn.workload.read_fraction
    delay = rf * node.delay_read_ms + (1 - rf) * node.delay_write_ms if node else 0.0
    s_ms = cal.service_ms.get(bottleneck, scn.testbed.node(bottleneck).hardware.service_ms)
    cycle = scn.workload.think_time_ms + delay + s_ms
    per_node = len(scn.testbed.client_nodes)
    # MVA asymptotic bounds meet at N* = (Z + D + S) / (S / c) users per node
    sat = per_node * cycle / max(demands[bottleneck], 1e-9)
    return Prediction("mva", phs, bottleneck, sat, cal)
