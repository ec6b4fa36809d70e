"""Network partitions on the link proxies, like a cut cable.

A partition is a set of cut directions (src, dst). In ``drop`` mode (default) each cut proxy gets
a ``timeout`` toxic with timeout 0 on both streams: data vanishes and connections hang, as on a
real cut. ``reject`` mode disables the proxy instead, so connections are refused at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from faults.base import NONE, UNVERIFIED, VERIFIED, Effect, FaultSpec, Kind
from testbeds.base import Testbed
from testbeds.spec import SpecModel, TestbedSpec

PARTITION_SHAPES = ("halves", "random_halves", "majority_ring", "bridge", "random_node")
PartitionShape = Literal["halves", "random_halves", "majority_ring", "bridge", "random_node"]


def cuts_for_groups(groups: list[list[str]], nodes: list[str]) -> set[tuple[str, str]]:
    """Every direction between two different groups; unlisted nodes form one more group."""
    listed = {n for g in groups for n in g}
    rest = [n for n in nodes if n not in listed]
    all_groups = [list(g) for g in groups] + ([rest] if rest else [])
    side = {n: i for i, g in enumerate(all_groups) for n in g}
    return {(a, b) for a in nodes for b in nodes if a != b and side[a] != side[b]}


def halves(nodes: list[str]) -> list[list[str]]:
    """Jepsen's partition-halves: the first half (rounded down) against the rest."""
    k = len(nodes) // 2
    return [nodes[:k], nodes[k:]]


def bridge_cuts(nodes: list[str]) -> set[tuple[str, str]]:
    """Jepsen's bridge: two halves that cannot see each other, and one node in the middle
    that sees both."""
    k = len(nodes) // 2
    left, middle, right = nodes[:k], nodes[k:k + 1], nodes[k + 1:]
    del middle
    return {(a, b) for a in left for b in right} | {(b, a) for a in left for b in right}


def majority_ring_cuts(nodes: list[str]) -> set[tuple[str, str]]:
    """Jepsen's majorities-ring: every node sees a majority (its ring neighbours within
    distance m), and no two nodes see the same majority (for n >= 5)."""
    n = len(nodes)
    m = -(-(n // 2) // 2)  # ceil(((n//2 + 1) - 1) / 2): neighbours each side for a majority
    out = set()
    for i, a in enumerate(nodes):
        for j, b in enumerate(nodes):
            dist = min((i - j) % n, (j - i) % n)
            if i != j and dist > m:
                out.add((a, b))
    return out


def shape_cuts(shape: str, nodes: list[str], seed: int) -> tuple[set[tuple[str, str]], str]:
    """The cut directions (and a label) of a named partition shape; random ones use seed."""
    rng = random.Random(seed)
    if shape == "halves":
        g = halves(nodes)
        return cuts_for_groups(g, nodes), f"halves {g}"
    if shape == "random_halves":
        shuffled = rng.sample(nodes, len(nodes))
        g = halves(shuffled)
        return cuts_for_groups(g, nodes), f"random halves {g}"
    if shape == "random_node":
        node = rng.choice(nodes)
        return cuts_for_groups([[node]], nodes), f"isolate {node}"
    if shape == "bridge":
        return bridge_cuts(nodes), f"bridge via {nodes[len(nodes) // 2]}"
    if shape == "majority_ring":
        return majority_ring_cuts(nodes), "majority ring"
    raise ValueError(f"unknown partition shape {shape!r}")


class Subtree(SpecModel):
    """``isolate: {subtree: NODE}``: cut the uplink of a node of a tiered topology (the link to
    its parent), so that it and everything below it lose the rest of the tree."""

    subtree: str


class PartitionFault(FaultSpec):
    """A scenario's partition entry: exactly one of ``groups``, ``isolate``, ``from``/``to``
    (one direction) or a named ``shape``; ``mode`` drop (cut cable) or reject (refused)."""

    kind: Literal["partition"]
    groups: list[list[str]] | None = None
    isolate: str | Subtree | None = None
    from_: list[str] | None = Field(default=None, alias="from")
    to: list[str] | None = None
    shape: PartitionShape | None = None
    mode: Literal["drop", "reject"] = "drop"
    port: str | None = Field(
        default=None, description="cut only this named port's link proxies (e.g. control: "
        "the control plane alone, the data plane untouched); default: the whole link")
    _uplink: tuple[str, str] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _shape(self) -> PartitionFault:
        given = sum(x is not None for x in (self.groups, self.isolate, self.from_ or self.to,
                                            self.shape))
        if given != 1:
            raise ValueError("give exactly one of groups, isolate, from/to, or shape "
                             f"({', '.join(PARTITION_SHAPES)})")
        if (self.from_ is None) != (self.to is None):
            raise ValueError("an asymmetric partition needs both from and to")
        self._disjoint()
        return self

    def _disjoint(self) -> None:
        """ValueError when the sides contradict themselves: an empty group, a node in two
        groups (or twice in one), a node on both sides of from/to."""
        sides = [(f"groups[{i}]", g) for i, g in enumerate(self.groups or [])]
        if self.from_ is not None:
            sides = [("from", self.from_), ("to", self.to or [])]
        seen: dict[str, str] = {}
        for where, nodes in sides:
            if not nodes:
                raise ValueError(f"{where}: an empty side; give at least one node (nodes "
                                 "left out of every group form a group of their own)")
            for n in nodes:
                if n in seen:
                    raise ValueError(f"{where}: {n!r} is also in {seen[n]}; a node is on one "
                                     "side of a partition only: remove it from one of them")
                seen[n] = where

    def refs(self) -> list[tuple[str, str]]:
        out = [(f"groups[{gi}]", n) for gi, g in enumerate(self.groups or []) for n in g]
        if isinstance(self.isolate, Subtree):
            out.append(("isolate.subtree", self.isolate.subtree))
        elif self.isolate:
            out.append(("isolate", self.isolate))
        out += [("from", n) for n in self.from_ or []]
        out += [("to", n) for n in self.to or []]
        return out

    def resolve(self, testbed: TestbedSpec, seed: int = 0) -> None:
        """A subtree's uplink: the node and its parent in the topology; a named port must be
        one the nodes have."""
        ports = list(dict.fromkeys(p for n in testbed.nodes for p in n.ports))
        if self.port is not None and self.port not in ports:
            raise ValueError(f"port: {self.port!r} is not a port of this testbed's nodes "
                             f"(ports: {', '.join(ports)}); name one of those (control needs "
                             "testbed.service.control), or leave port out to cut whole links")
        if not isinstance(self.isolate, Subtree):
            return
        node = self.isolate.subtree
        parent = testbed.node(node).parent
        if parent is None:
            raise ValueError(f"isolate.subtree: {node!r} has no parent (it is a root of the "
                             f"topology, or the testbed has none); isolate it with "
                             f"isolate: {node}")
        self._uplink = (node, parent)

    @property
    def uplink(self) -> tuple[str, str] | None:
        """The (node, parent) a subtree isolation cuts, once resolved."""
        return self._uplink

    def label(self) -> str:
        return self._label() + (f" (port {self.port})" if self.port else "")

    def _label(self) -> str:
        if isinstance(self.isolate, Subtree):
            return f"partition isolate subtree {self.isolate.subtree}"
        if self.isolate:
            return f"partition isolate {self.isolate}"
        if self.groups:
            return "partition " + "|".join(",".join(g) for g in self.groups)
        return "partition"

    def cuts(self, nodes: list[str], seed: int) -> set[tuple[str, str]]:
        """The directions the data plane loses (none when only another port is cut)."""
        if self.port not in (None, "main"):
            return set()
        return cuts_for(self, nodes, seed)[0]


def cuts_for(spec: Any, nodes: list[str], seed: int = 0) -> tuple[set[tuple[str, str]], str]:
    """The cut directions and a label for a scenario's partition entry."""
    if spec.groups is not None:
        return cuts_for_groups(spec.groups, nodes), f"groups {spec.groups}"
    if isinstance(spec.isolate, Subtree):
        if spec.uplink is None:
            raise ValueError(f"isolate.subtree {spec.isolate.subtree!r}: not resolved against "
                             "a testbed (PartitionFault.resolve)")
        a, b = spec.uplink
        return {(a, b), (b, a)}, f"uplink of {a} (to {b})"
    if spec.isolate is not None:
        return cuts_for_groups([[spec.isolate]], nodes), f"isolate {spec.isolate}"
    if spec.shape is not None:
        return shape_cuts(spec.shape, nodes, seed)
    src, dst = spec.from_ or [], spec.to or []
    return {(a, b) for a in src for b in dst if a != b}, f"{src} -/-> {dst}"


@dataclass
class Partition:
    """Cut the given directions; heal restores them."""

    cuts: set[tuple[str, str]]
    mode: str = "drop"
    label: str = "partition"
    id: str = "fault"
    kind: str = "partition"
    port: str | None = None  # only this named port's proxies (None: whole links)

    @classmethod
    def groups(cls, groups: list[list[str]], nodes: list[str], **kw: Any) -> Partition:
        return cls(cuts_for_groups(groups, nodes), label=f"groups {groups}", **kw)

    @classmethod
    def isolate(cls, node: str, nodes: list[str], **kw: Any) -> Partition:
        return cls(cuts_for_groups([[node]], nodes), label=f"isolate {node}", **kw)

    @classmethod
    def one_way(cls, src: list[str], dst: list[str], **kw: Any) -> Partition:
        return cls({(a, b) for a in src for b in dst if a != b}, label=f"{src} -/-> {dst}", **kw)

    @property
    def target(self) -> str:
        return self.label

    def apply(self, testbed: Testbed) -> None:
        """Cut every direction at once (the testbed's network decides how: toxics on the
        loopback network, silent drops in namespaces)."""
        testbed.block(self.cuts, self.id, self.mode, port=self.port)

    def heal(self, testbed: Testbed) -> None:
        """Mend every cut this partition made (idempotent)."""
        testbed.unblock(self.id)

    def probe(self, testbed: Testbed, healed: bool) -> Effect:
        """Connection attempts across the cut, from inside the source node's network (up to
        three cut directions): none may connect while applied; after the heal they must,
        where the destination runs. Without a way to try from inside a node: unverified."""
        tried = []
        for src, dst in sorted(self.cuts)[:3]:
            if healed and not testbed.node_running(dst):
                continue
            ok = testbed.reaches(src, dst, port=self.port)
            if ok is None:
                return Effect(UNVERIFIED, "connections across the cut cannot be tried from "
                                          "inside the nodes on this network (loopback)")
            tried.append((src, dst, ok))
        if not tried:
            return Effect(UNVERIFIED, "no direction to try")
        passed = [f"{a}->{b}" for a, b, ok in tried if ok]
        cut = [f"{a}->{b}" for a, b, ok in tried if not ok]
        if healed:
            return Effect(VERIFIED if not cut else NONE,
                          f"after the heal: {', '.join(passed) or 'none'} connect"
                          + (f"; still cut: {', '.join(cut)}" if cut else ""))
        return Effect(VERIFIED if not passed else NONE,
                      f"connect from inside the source: {', '.join(cut) or 'none'} cut"
                      + (f"; still connecting: {', '.join(passed)}" if passed else ""))

    def traffic(self, testbed: Testbed) -> int | None:
        """What the cut met: the packets it dropped, where the network counts them."""
        return testbed.blocked_packets(self.id)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.label, "mode": self.mode,
                "cuts": sorted(f"{a}->{b}" for a, b in self.cuts),
                **({"port": self.port} if self.port else {})}


def build(entry: PartitionFault, index: int, nodes: list[str], seed: int) -> Partition:
    """The partition value of a scenario entry (random shapes drawn from the seed)."""
    cuts, label = cuts_for(entry, nodes, seed)
    if entry.port:
        label += f" (port {entry.port})"
    return Partition(cuts, mode=entry.mode, label=label, id=f"fault{index}", port=entry.port)


def _draw(rng: random.Random, _chaos: Any, tb: TestbedSpec) -> dict[str, Any]:
    shapes = ["halves", "random_halves", "random_node", "bridge", "majority_ring"]
    return {"kind": "partition",
            "shape": rng.choice(shapes if len(tb.node_names) > 2 else shapes[:3])}


KIND = Kind("partition", PartitionFault, build, _draw)
