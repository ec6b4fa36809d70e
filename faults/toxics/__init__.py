"""The Toxiproxy toxic faults, one small module per toxic (latency, bandwidth, timeout,
reset_peer, slicer, limit_data), and the one fault value they share.

Each adds one toxic per stream to every proxy of the named link (both directions of a node
link; the client proxy of a client link; ``[clients, "*"]`` every client proxy) and heals by
removing exactly the toxics it added, leaving the link's own ``link-*`` toxics in place.
"""

from __future__ import annotations

import random
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from faults.base import NONE, UNVERIFIED, VERIFIED, Effect, Kind, LinkFaultSpec
from harness.errors import FaultError
from testbeds.base import Testbed
from testbeds.spec import CLIENTS, TestbedSpec


@dataclass
class ToxicFault:
    """One Toxiproxy toxic type with its attributes, on a link (or several: a tier's uplinks,
    ``links``, selected as ``selection`` says), in one or both directions."""

    kind: str
    link: tuple[str, str]
    attributes: dict[str, Any]
    direction: str = "downstream"
    toxic_type: str = ""
    id: str = "fault"
    toxicity: float = 1.0
    links: tuple[tuple[str, str], ...] = ()
    selection: str = ""
    _added: list[tuple[str, str]] = field(default_factory=list, repr=False)
    _before_ms: dict[tuple[str, str], float | None] = field(default_factory=dict, repr=False)

    @property
    def every_link(self) -> list[tuple[str, str]]:
        """Every link the toxic goes on: ``links``, or ``link`` alone."""
        return list(self.links) or [self.link]

    @property
    def target(self) -> str:
        named = ", ".join(f"{a}->{b}" for a, b in self.every_link)
        return f"{self.selection}: {named}" if self.selection else named

    @property
    def streams(self) -> list[str]:
        return ["upstream", "downstream"] if self.direction == "both" else [self.direction]

    def apply(self, testbed: Testbed) -> None:
        proxies = []
        for link in self.every_link:
            found = testbed.link_proxies(*link)
            if not found:
                raise FaultError(
                    f"{self.kind} fault on link {list(link)}: the testbed has no such link; "
                    "declare it under testbed.links (or use [clients, NODE] for a client link)",
                    fault=self.kind)
            proxies += found
        if self.kind == "latency":  # the round trips before, for the probe of its effect
            self._before_ms = {d: testbed.link_rtt_ms(*d, samples=5)
                               for d in self._samples(testbed)}
        items = [(p.name, f"{self.id}-{self.kind}-{s}", self.toxic_type or self.kind, s,
                  self.attributes) for p in proxies for s in self.streams]
        self._added += [(p, n) for p, n, *_ in items]
        if len(items) == 1 or self.toxicity != 1.0:
            for p, n, t, s, a in items:
                testbed.admin.add_toxic(p, n, t, stream=s, toxicity=self.toxicity,
                                        attributes=a)
        else:
            testbed.admin.add_toxics(items)

    def heal(self, testbed: Testbed) -> None:
        """Remove exactly the toxics this fault added (idempotent)."""
        added, self._added = list(self._added), []
        testbed.admin.remove_toxics(added)

    def describe(self) -> dict[str, Any]:
        out = {"kind": self.kind, "target": self.target, "direction": self.direction,
               **self.attributes}
        if self.selection:
            out["selection"] = self.selection
            out["links"] = [f"{a}->{b}" for a, b in self.every_link]
        return out

    def _samples(self, testbed: Testbed) -> list[tuple[str, str]]:
        """The directions whose round trip a probe times: one per link, up to three."""
        out = []
        for a, b in self.every_link[:3]:
            if a == CLIENTS and b == "*":
                b = testbed.spec.client_nodes[0]
            out.append((a, b))
        return out

    def probe(self, testbed: Testbed, healed: bool) -> Effect:
        """A latency toxic by the application's round trip over each link (up to three),
        against the one timed just before it was applied: each must show the added delay
        while applied, and lose it after the heal. Other toxics are not timed (``unverified``)."""
        if self.kind != "latency":
            return Effect(UNVERIFIED, f"{self.kind}: no probe times it")
        want = float(self.attributes.get("latency", 0)) * (2 if self.direction == "both" else 1)
        state = "after the heal" if healed else "while applied"
        found: list[tuple[bool, str]] = []
        for d in self._samples(testbed):
            rtt, before = testbed.link_rtt_ms(*d, samples=5), self._before_ms.get(d)
            if rtt is None or before is None:
                return Effect(UNVERIFIED, "no application probe over this link (declare a "
                                          "node probe: {http: /path})")
            added = rtt - before
            ok = added < 0.5 * want if healed else added >= 0.5 * want
            name = f"{d[0]}->{d[1]}: " if len(self.every_link) > 1 else ""
            found.append((ok, f"{name}round trip {rtt:.1f} ms {state} vs {before:.1f} ms "
                              f"before: {added:+.1f} ms"))
        more = len(self.every_link) - len(found)
        return Effect(VERIFIED if all(ok for ok, _ in found) else NONE,
                      "; ".join(w for _, w in found) + f" ({want:g} ms added while applied"
                      + (f"; {more} more link(s) not timed)" if more > 0 else ")"))

    def traffic(self, testbed: Testbed) -> int | None:
        """Packets the node links carried so far (counted live where the network can); a
        client link's traffic is the load's own operations, counted from the history."""
        total = 0
        for a, b in self.every_link:
            n = None if a == CLIENTS else testbed.link_packets(a, b)
            if n is None:
                return None
            total += n
        return total


def toxic_kind(spec: type[LinkFaultSpec], attributes: Callable[[Any], dict[str, Any]],
               draw: Callable[[random.Random, Any, TestbedSpec], dict[str, Any]] | None = None,
               toxic_type: str = "") -> Kind:
    """The Kind of a toxic fault: an entry becomes a ToxicFault with these attributes."""
    name = str(typing.get_args(spec.model_fields["kind"].annotation)[0])  # Literal["latency"]

    def build(entry: Any, index: int, _nodes: list[str], _seed: int) -> ToxicFault:
        links = [tuple(x) for x in entry.links]
        return ToxicFault(entry.kind, links[0], attributes(entry), direction=entry.direction,
                          toxic_type=toxic_type, id=f"fault{index}",
                          links=tuple(links) if entry.selection else (),
                          selection=entry.selection)

    return Kind(name, spec, build, draw)


def random_link(rng: random.Random, tb: TestbedSpec) -> list[str]:
    """A link of the testbed (a node link direction or a client link), drawn from rng."""
    pairs = [(s, d) for s, d, _ in tb.link_directions()] + [(CLIENTS, n) for n in tb.client_nodes]
    return list(rng.choice(pairs))
