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


def promise(scn: Scenario) -> str | None:
    """What the system promises: the reference service's mode (``quorum``, ``primary``,
    ``eventual``), a user system's ``testbed.expect.availability`` (``majority``,
    ``every_node``, ``primary``), or None: no model for this system."""
    tb = scn.testbed
    if all(n.is_reference for n in tb.nodes):
        return tb.service.mode
    expect = tb.expect.availability if tb.expect else "none"
    if not isinstance(expect, str):
        return "primary"
    return None if expect == "none" else expect


def primary_of(scn: Scenario) -> str:
    """The primary node, for a primary-based system."""
    tb = scn.testbed
    expect = tb.expect.availability if tb.expect else None
    if expect is not None and not isinstance(expect, str):
        return expect.primary
    return tb.service.primary or tb.node_names[0]


def can_serve(scn: Scenario, node: str, op: str, active: list[Any]) -> bool:
    """Whether a client of ``node`` can complete ``op`` while ``active`` faults hold (for a
    system with a model: see :func:`promise`)."""
    if node in down_nodes(active):
        return False
    mode = promise(scn)
    if mode in ("eventual", "every_node"):
        return True
    reach = peer_rtt_map(scn, node, active, 0.0)
    n = len(scn.testbed.nodes)
    if mode in ("quorum", "majority"):
        return len(reach) + 1 >= n // 2 + 1
    if op == "read":
        return True
    primary = primary_of(scn)
    if node != primary and primary not in reach:
        return False
    if primary in down_nodes(active):
        return False
    if all(x.is_reference for x in scn.testbed.nodes):  # the reference primary writes to all
        return len(peer_rtt_map(scn, primary, active, 0.0)) == n - 1
    return True


def predict_phase(scn: Scenario, phase: Phase) -> dict[str, dict[str, float]]:
    """{client node: {op: 1.0 or 0.0}} for one phase."""
    active = [scn.faults[i] for i in phase.faults]
    return {node: {op: float(can_serve(scn, node, op, active)) for op in OPS}
            for node in scn.testbed.client_nodes}
