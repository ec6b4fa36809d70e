"""Availability: predicted per phase, per client node and per operation from the fault
schedule and quorum reachability on the partitioned graph.

Also the k-of-n steady state for random node loss: with independent nodes that fail after
exp(MTTF) and are repaired after exp(MTTR), each node's two-state Markov chain is up with
probability A = MTTF / (MTTF + MTTR), and a k-of-n service is up with the binomial tail
sum_{j>=k} C(n, j) A^j (1-A)^(n-j) (Trivedi, *Probability and Statistics with Reliability,
Queuing and Computer Science Applications*, ch. 8).
"""

from __future__ import annotations

import math
from typing import Any

from harness.models.latency import down_nodes, peer_rtt_map
from harness.phases import Phase
from harness.scenario import Scenario

OPS = ("read", "write")


def node_availability(mttf_s: float, mttr_s: float) -> float:
    """Steady-state probability that one repairable node is up."""
    return mttf_s / (mttf_s + mttr_s)


def quorum_availability(n: int, k: int, mttf_s: float, mttr_s: float) -> float:
    """Probability that at least k of n independent repairable nodes are up (k-of-n)."""
    a = node_availability(mttf_s, mttr_s)
    return sum(math.comb(n, j) * a**j * (1 - a) ** (n - j) for j in range(k, n + 1))


def can_serve(scn: Scenario, node: str, op: str, active: list[Any]) -> bool:
    """Whether a client of ``node`` can complete ``op`` while ``active`` faults hold."""
    if node in down_nodes(active):
        return False
    mode = scn.testbed.service.mode
    if mode == "eventual":
        return True
    reach = peer_rtt_map(scn, node, active, 0.0)
    n = len(scn.testbed.nodes)
    if mode == "quorum":
        return len(reach) + 1 >= n // 2 + 1
    if op == "read":
        return True
    primary = scn.testbed.service.primary or scn.testbed.node_names[0]
    if node != primary and primary not in reach:
        return False
    if primary in down_nodes(active):
        return False
    replicas = peer_rtt_map(scn, primary, active, 0.0)
    return len(replicas) == n - 1


def predict_phase(scn: Scenario, phase: Phase) -> dict[str, dict[str, float]]:
    """{client node: {op: 1.0 or 0.0}} for one phase."""
    active = [scn.faults[i] for i in phase.faults]
    return {node: {op: float(can_serve(scn, node, op, active)) for op in OPS}
            for node in scn.testbed.client_nodes}
