"""Rollout convergence on the control plane: how long a published config version takes to
reach every node of the tree, and a given fraction of them.

A version moves down the tree hop by hop, each hop after its parent applied it:

- **push**: the parent sends at once; the child applies one link latency later plus the
  hop's own delay: drawn from the delays measured in the initial rollout (v1, which the
  harness rolls out before the load), or else ``HOP_MS`` and ``j x SEND_MS`` for the j-th
  child of a parent (its sends leave one after another). A hop cut when the parent
  applied fails every attempt: an attempt lasts ``timeout_ms`` (a cut drops, so it times out), then
  ``retry_ms``; the first attempt after the heal carries it: deterministic from the times.
- **pull**: the child polls its parent every ``poll_s`` at its own random phase, so a hop
  waits a residual uniform on [0, poll_s) plus a round trip; a cut hop waits for the first
  poll after the heal.

The draws are seeded: the model walks the tree ``samples`` times (push without measured
hop delays: once) and gives each time's mean and its 2.5%-97.5% range. A cut on the
control plane is a partition of whole links or of ``port: control``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from faults.partition import cuts_for
from faults.registry import fault_seed
from faults.rollout import roots as publishers
from harness.scenario import Scenario

HOP_MS = 6.0  # a hop's own cost beyond the link latency (measured: 16.5 ms over a 10 ms link)
SEND_MS = 0.5  # each further child of one parent (its sends share one event loop)
FRACTIONS = (0.5, 0.9, 1.0)
HEAL_JITTER_S = 0.1  # a heal lands this much earlier or later than its record says


@dataclass(frozen=True)
class ControlCut:
    """A window in which these (a, b) directions of the control plane are cut."""

    start_s: float
    end_s: float
    directions: frozenset[tuple[str, str]]
    reject: bool = False  # refused at once (no timeout per attempt)

    def holds(self, a: str, b: str, t: float) -> bool:
        return self.start_s <= t < self.end_s and (
            (a, b) in self.directions or (b, a) in self.directions)


@dataclass
class RolloutPrediction:
    """One rollout's predicted convergence, in seconds after its publish."""

    index: int
    version: int
    at_s: float
    nodes: int
    depth: int
    mode: str
    to_all_s: float
    range_s: tuple[float, float]
    fractions: dict[str, float] = field(default_factory=dict)
    fraction_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    held_by: list[str] = field(default_factory=list)  # cuts that hold part of the tree
    node_s: dict[str, float] = field(default_factory=dict)  # per node, the median time

    def to_fraction(self, q: float) -> float:
        return self.fractions.get(f"{q:g}", self.to_all_s)

    def fraction_range(self, q: float) -> tuple[float, float]:
        """The range of the time to a fraction ``q`` (one of ``FRACTIONS``, else to all)."""
        return self.fraction_ranges.get(f"{q:g}", self.range_s)

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "version": self.version, "at_s": self.at_s,
                "nodes": self.nodes, "depth": self.depth, "mode": self.mode,
                "to_all_s": round(self.to_all_s, 4),
                "range_s": [round(x, 4) for x in self.range_s],
                "fractions": {k: round(v, 4) for k, v in self.fractions.items()},
                "fraction_ranges": {k: [round(x, 4) for x in v]
                                    for k, v in self.fraction_ranges.items()},
                "held_by": self.held_by,
                "node_s": {n: round(t, 4) for n, t in self.node_s.items()}}


def control_cuts(scn: Scenario, times: list[tuple[float, float]] | None = None
                 ) -> list[tuple[int, ControlCut]]:
    """The partitions that cut the control plane (whole links, or ``port: control``), with
    their windows (the actual ``times`` where given)."""
    names = scn.testbed.node_names
    out = []
    for i, f in enumerate(scn.faults):
        if getattr(f, "kind", "") != "partition" or f.port not in (None, "control"):
            continue
        start, end = times[i] if times else (f.at_s, f.at_s + f.for_s)
        dirs = frozenset(cuts_for(f, names, fault_seed(scn.seed, i))[0])
        out.append((i, ControlCut(start, end, dirs, reject=f.mode == "reject")))
    return out


def predict_rollouts(scn: Scenario, times: list[tuple[float, float]] | None = None,
                     published: dict[int, float] | None = None,
                     hop_ms: list[float] | None = None,
                     samples: int = 200) -> list[RolloutPrediction]:
    """Every rollout of the schedule, in time order; ``published`` may give the actual publish
    times (s after t0) by fault index, ``times`` the faults' actual windows, ``hop_ms`` the
    hops' own delays measured in the initial rollout (each hop draws one; else ``HOP_MS``
    plus ``SEND_MS`` per sibling before it). Push walks also run with every heal
    ``HEAL_JITTER_S`` earlier and later for the range (an attempt that meets a heal may go
    either way); a hop still retrying an older version carries the newer one on its next
    attempt."""
    ctl = scn.testbed.service.control
    if ctl is None:
        return []
    cuts = [c for _, c in control_cuts(scn, times)]
    tree = Tree.of(scn)
    runs = samples if ctl.mode == "pull" or hop_ms else 1
    states: list[dict[tuple[str, str], tuple[float, float]]] = [{} for _ in range(runs)]
    out = []
    order = sorted((f.at_s, i) for i, f in enumerate(scn.faults)
                   if getattr(f, "kind", "") == "rollout")
    for _, i in order:
        f = scn.faults[i]
        t_pub = (published or {}).get(i, times[i][0] if times else f.at_s)
        rng = random.Random(fault_seed(scn.seed, i))
        bounds = [] if ctl.mode == "pull" else [
            walk(scn, t_pub, [shift(c, d) for c in cuts], rng, dict(states[k]), hop_ms, tree)
            for k in range(min(runs, 20)) for d in (-HEAL_JITTER_S, HEAL_JITTER_S)]
        walks = [walk(scn, t_pub, cuts, rng, states[k], hop_ms, tree) for k in range(runs)]
        out.append(summarise(scn, i, f.version, t_pub, walks, cuts, bounds, tree.depth))
    return sorted(out, key=lambda r: r.index)


def shift(cut: ControlCut, d: float) -> ControlCut:
    """The cut healed ``d`` seconds later."""
    return ControlCut(cut.start_s, cut.end_s + d, cut.directions, cut.reject)


def summarise(scn: Scenario, index: int, version: int, t_pub: float,
              walks: list[dict[str, float]], cuts: list[ControlCut],
              bounds: list[dict[str, float]] | None = None,
              depth: int | None = None) -> RolloutPrediction:
    """Mean and range (2.5%-97.5%, or over ``bounds`` too) of the walks' times to every
    node and to each fraction."""
    tb = scn.testbed
    ctl = tb.service.control
    assert ctl is not None
    per_q = {q: sorted(time_to_fraction(w, q) for w in walks) for q in FRACTIONS}
    ranges = {}
    for q, ts in per_q.items():
        lo, hi = ts[int(0.025 * (len(ts) - 1))], ts[math.ceil(0.975 * (len(ts) - 1))]
        for b in bounds or []:
            lo, hi = min(lo, time_to_fraction(b, q)), max(hi, time_to_fraction(b, q))
        ranges[f"{q:g}"] = (lo, hi)
    alls = per_q[1.0]
    lo, hi = ranges["1"]
    held = [f"{i}: {scn.faults[i].label()}" for i, c in _indexed(scn, cuts)
            if c.start_s <= t_pub + max(alls) and c.end_s > t_pub]
    if depth is None:
        depth = Tree.of(scn).depth
    return RolloutPrediction(
        index, version, t_pub, len(walks[0]), depth, ctl.mode, sum(alls) / len(alls),
        (lo, hi), {f"{q:g}": sum(v) / len(v) for q, v in per_q.items()}, ranges, held,
        {n: sorted(w[n] for w in walks)[len(walks) // 2] for n in walks[0]})


def time_to_fraction(times: dict[str, float], q: float) -> float:
    """Seconds until a fraction ``q`` of the nodes had the version."""
    ordered = sorted(times.values())
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _indexed(scn: Scenario, cuts: list[ControlCut]) -> list[tuple[int, ControlCut]]:
    """The cuts with the index of the partition each came from."""
    idx = [i for i, f in enumerate(scn.faults) if getattr(f, "kind", "") == "partition"
           and f.port in (None, "control")]
    return list(zip(idx, cuts, strict=False))


@dataclass(frozen=True)
class Tree:
    """The control plane's tree, read once from the testbed: the publishers, each node's
    reference children in order, and each node's uplink latency (s)."""

    roots: tuple[str, ...]
    children: dict[str, tuple[str, ...]]
    uplink_s: dict[str, float]
    depth: int

    @classmethod
    def of(cls, scn: Scenario) -> Tree:
        tb = scn.testbed
        ref = {n.name for n in tb.nodes if n.is_reference}
        parent = {n.name: n.parent for n in tb.nodes}
        kids: dict[str, list[str]] = {}
        for n in tb.nodes:
            if n.parent is not None and n.name in ref:
                kids.setdefault(n.parent, []).append(n.name)
        lat = {}
        for src, dst, link in tb.link_directions():
            for child, up in ((src, dst), (dst, src)):
                if parent.get(child) == up:
                    lat[child] = float(link.latency_ms) / 1000
        roots = tuple(publishers(tb))
        depth, level = 0, list(roots)
        while level := [c for p in level for c in kids.get(p, [])]:
            depth += 1
        return cls(roots, {k: tuple(sorted(v)) for k, v in kids.items()}, lat, depth)


def walk(scn: Scenario, t_pub: float, cuts: list[ControlCut], rng: random.Random,
         retrying: dict[tuple[str, str], tuple[float, float]],
         hop_ms: list[float] | None = None, tree: Tree | None = None) -> dict[str, float]:
    """One walk down the tree: each node's apply time, in seconds after the publish;
    ``retrying`` holds, per hop, the cadence of a push still retrying and when it gets
    through (updated)."""
    tree = tree or Tree.of(scn)
    ctl = scn.testbed.service.control
    assert ctl is not None
    applied = dict.fromkeys(tree.roots, t_pub)
    todo = list(tree.roots)
    while todo:
        parent = todo.pop()
        for j, child in enumerate(tree.children.get(parent, ())):
            cost = (rng.choice(hop_ms) if hop_ms else HOP_MS + j * SEND_MS) / 1000
            applied[child] = hop(ctl, tree.uplink_s.get(child, 0.0), parent, child,
                                 applied[parent], cost, cuts, rng, retrying)
            todo.append(child)
    return {n: t - t_pub for n, t in applied.items()}


def hop(ctl: Any, one_way: float, parent: str, child: str, t: float, cost: float,
        cuts: list[ControlCut], rng: random.Random,
        retrying: dict[tuple[str, str], tuple[float, float]]) -> float:
    """When ``child`` applies a version its parent applied at ``t`` (``one_way``: the
    uplink's latency; ``cost``: the hop's own delay beyond the link, s)."""
    if ctl.mode == "pull":
        poll = t + rng.uniform(0.0, ctl.poll_s)
        while blocked := [c for c in cuts if c.holds(parent, child, poll)]:
            end = max(c.end_s for c in blocked)
            poll += ctl.poll_s * max(1, math.ceil((end - poll) / ctl.poll_s))
        return poll + 2 * one_way + cost
    send = t
    anchor, through = retrying.get((parent, child), (send, -math.inf))
    blocked = [c for c in cuts if c.holds(parent, child, send)]
    cycle = ctl.retry_ms / 1000 + (0.0 if blocked and blocked[0].reject
                                   else ctl.timeout_ms / 1000)
    if through > send:  # still retrying an older version: this one rides the next attempt
        send = anchor + cycle * math.ceil((send - anchor) / cycle)
        blocked = [c for c in cuts if c.holds(parent, child, send)]
    first = send
    while blocked:
        end = max(c.end_s for c in blocked)
        send += cycle * max(1, math.ceil((end - send) / cycle))
        blocked = [c for c in cuts if c.holds(parent, child, send)]
    if send > first or through > t:
        retrying[(parent, child)] = (anchor if through > t else first, send)
    return send + one_way + cost
