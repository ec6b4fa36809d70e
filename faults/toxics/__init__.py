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
    """One Toxiproxy toxic type with its attributes, on a link, in one or both directions."""

    kind: str
    link: tuple[str, str]
    attributes: dict[str, Any]
    direction: str = "downstream"
    toxic_type: str = ""
    id: str = "fault"
    toxicity: float = 1.0
    _added: list[tuple[str, str]] = field(default_factory=list, repr=False)
    _before_ms: float | None = field(default=None, repr=False)

    @property
    def target(self) -> str:
        return f"{self.link[0]}->{self.link[1]}"

    @property
    def streams(self) -> list[str]:
        return ["upstream", "downstream"] if self.direction == "both" else [self.direction]

    def apply(self, testbed: Testbed) -> None:
        proxies = testbed.link_proxies(*self.link)
        if not proxies:
            raise FaultError(
                f"{self.kind} fault on link {list(self.link)}: the testbed has no such link; "
                "declare it under testbed.links (or use [clients, NODE] for a client link)",
                fault=self.kind)
        if self.kind == "latency":  # the round trip before, for the probe of its effect
            self._before_ms = testbed.link_rtt_ms(*self._sample(testbed), samples=5)
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
        return {"kind": self.kind, "target": self.target, "direction": self.direction,
                **self.attributes}

    def _sample(self, testbed: Testbed) -> tuple[str, str]:
        """One direction of the link whose round trip a probe can time."""
        a, b = self.link
        if a == CLIENTS and b == "*":
            b = testbed.spec.client_nodes[0]
        return a, b

    def probe(self, testbed: Testbed, healed: bool) -> Effect:
        """A latency toxic by the application's round trip over the link, against the one
        timed just before it was applied: it must show the added delay while applied, and
        be gone after the heal. Other toxics are not timed (``unverified``)."""
        if self.kind != "latency":
            return Effect(UNVERIFIED, f"{self.kind}: no probe times it")
        rtt = testbed.link_rtt_ms(*self._sample(testbed), samples=5)
        if rtt is None or self._before_ms is None:
            return Effect(UNVERIFIED, "no application probe over this link (declare a node "
                                      "probe: {http: /path})")
        want = float(self.attributes.get("latency", 0)) * (2 if self.direction == "both" else 1)
        added = rtt - self._before_ms
        ok = added < 0.5 * want if healed else added >= 0.5 * want
        state = "after the heal" if healed else "while applied"
        return Effect(VERIFIED if ok else NONE,
                      f"round trip {rtt:.1f} ms {state} vs {self._before_ms:.1f} ms before: "
                      f"{added:+.1f} ms ({want:g} ms added while applied)")

    def traffic(self, testbed: Testbed) -> int | None:
        """Packets a node link carried so far (counted live where the network can); a
        client link's traffic is the load's own operations, counted from the history."""
        a, b = self.link
        return None if a == CLIENTS else testbed.link_packets(a, b)


def toxic_kind(spec: type[LinkFaultSpec], attributes: Callable[[Any], dict[str, Any]],
               draw: Callable[[random.Random, Any, TestbedSpec], dict[str, Any]] | None = None,
               toxic_type: str = "") -> Kind:
    """The Kind of a toxic fault: an entry becomes a ToxicFault with these attributes."""
    name = str(typing.get_args(spec.model_fields["kind"].annotation)[0])  # Literal["latency"]

    def build(entry: Any, index: int, _nodes: list[str], _seed: int) -> ToxicFault:
        return ToxicFault(entry.kind, tuple(entry.link), attributes(entry),
                          direction=entry.direction, toxic_type=toxic_type, id=f"fault{index}")

    return Kind(name, spec, build, draw)


def random_link(rng: random.Random, tb: TestbedSpec) -> list[str]:
    """A link of the testbed (a node link direction or a client link), drawn from rng."""
    pairs = [(s, d) for s, d, _ in tb.link_directions()] + [(CLIENTS, n) for n in tb.client_nodes]
    return list(rng.choice(pairs))
