"""Tiered topologies in a few lines: ``topology: {tiers: [...]}`` generates the nodes and the
uplinks of a hierarchy (devices' gateways under aggregators under the cloud), with stable
names: the first tier ``cloud-1``, the second numbered across it (``aggregation-2``), every
deeper node named by its parent's numbers and its own place under it (``edge-2-5``: the fifth
child of ``aggregation-2``). A tier takes ``count`` nodes (below the first, spread round-robin
over the tier above) or ``per_parent`` children under every node of the tier above.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from testbeds.specbase import MAX_KBPS, MINUTE_MS, Buffer, Hardware, Int, Num, SpecModel

MAX_GENERATED = 10_000  # nodes a topology may generate (a typo of a count must not hang)


class Uplink(SpecModel):
    """The link from each node of a tier to its parent (one-way delay, as a link's)."""

    latency_ms: Num = Field(default=0.0, ge=0, le=MINUTE_MS)
    jitter_ms: Num = Field(default=0.0, ge=0, le=MINUTE_MS)
    bandwidth_kbps: Num | None = Field(default=None, gt=0, le=MAX_KBPS)


class Tier(SpecModel):
    """One level of the hierarchy."""

    name: str = Field(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", max_length=24)
    count: Int | None = Field(default=None, ge=1, le=MAX_GENERATED)
    per_parent: Int | None = Field(default=None, ge=1, le=MAX_GENERATED)
    uplink: Uplink = Field(default_factory=Uplink)
    hardware: Hardware = Field(default_factory=Hardware)
    buffer: Buffer = Field(default_factory=Buffer)

    @model_validator(mode="after")
    def _size(self) -> Tier:
        if (self.count is None) == (self.per_parent is None):
            raise ValueError(f"tier {self.name!r}: give exactly one of count or per_parent")
        return self


class Topology(SpecModel):
    """``tiers``, top (the sink, e.g. the cloud) first."""

    tiers: list[Tier] = Field(min_length=1, max_length=8)

    @model_validator(mode="after")
    def _tiers(self) -> Topology:
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tiers: names repeat ({', '.join(names)}); give each a name "
                             "of its own")
        if self.tiers[0].per_parent is not None:
            raise ValueError(f"tiers[0] ({self.tiers[0].name!r}): the first tier has no "
                             "parent; give it count")
        total = 0
        above = 0
        for t in self.tiers:
            n = t.count if t.per_parent is None else t.per_parent * above
            total += int(n or 0)
            above = int(n or 0)
        if total > MAX_GENERATED:
            raise ValueError(f"tiers: {total} nodes; at most {MAX_GENERATED} (lower a count "
                             "or per_parent)")
        return self

    @property
    def leaf(self) -> str:
        return self.tiers[-1].name


def generate(topo: Topology) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The nodes (with ``tier`` and ``parent``) and uplinks a topology declares, in tier
    order, as raw entries of ``testbed.nodes`` and ``testbed.links``."""
    nodes: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    above: list[tuple[str, str]] = []  # (name, number path) of the tier above
    for depth, tier in enumerate(topo.tiers):
        level: list[tuple[str, str, str | None]] = []  # (name, path, parent)
        if depth == 0:
            level = [(f"{tier.name}-{i}", str(i), None) for i in range(1, int(tier.count or 0) + 1)]
        elif tier.per_parent is not None:  # numbered across the tier when it is the second
            level = [_child(tier.name, depth, i * tier.per_parent + j, j, parent, path)
                     for i, (parent, path) in enumerate(above)
                     for j in range(1, tier.per_parent + 1)]
        else:
            seen: dict[str, int] = {}
            for k in range(int(tier.count or 0)):
                parent, path = above[k % len(above)]
                seen[parent] = seen.get(parent, 0) + 1
                level.append(_child(tier.name, depth, k + 1, seen[parent], parent, path))
        for name, _path, parent in level:
            if len(name) > 40:
                raise ValueError(f"topology.tiers[{depth}]: the generated node name {name!r} "
                                 "is longer than 40 characters; shorten the tier names")
            nodes.append({"name": name, "tier": tier.name, "parent": parent,
                          "hardware": tier.hardware.model_copy(),
                          "buffer": tier.buffer.model_copy()})
            if parent is not None:
                links.append({"between": [name, parent], **tier.uplink.model_dump()})
        above = [(name, path) for name, path, _ in level]
    return nodes, links


def _child(tier: str, depth: int, index: int, j: int, parent: str, path: str
           ) -> tuple[str, str, str]:
    """A child's (name, path, parent): numbered across the second tier (``aggregation-2``),
    by its parent's path and its place below (``edge-2-5``)."""
    own = str(index) if depth == 1 else f"{path}-{j}"
    return f"{tier}-{own}", own, parent
