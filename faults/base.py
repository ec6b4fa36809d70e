"""What a fault is, and what a fault kind is.

A *fault* is a value with ``apply``, ``heal`` (idempotent) and ``describe``: like a Jepsen
nemesis operation, it knows how to do one thing to a running testbed and how to undo it;
when it happens is the schedule's business (:mod:`faults.schedule`).

A *fault kind* (``latency``, ``partition``, ``crash``, ...) is the pair of its scenario entry
(a spec model, validated from YAML) and a builder that turns an entry into a fault value, plus
optionally a drawer for random chaos. Each kind lives in a small module of its own and is
registered once in :mod:`faults.registry`, the shape of Toxiproxy's ``toxics/*.go``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from testbeds.base import Testbed
from testbeds.spec import CLIENTS, DAY_S, Int, Num, SpecModel, TestbedSpec, unknown_node

Direction = Literal["downstream", "upstream", "both"]
MAX_FAULTS = 10_000  # a schedule's most faults, written and chaos together


@runtime_checkable
class Fault(Protocol):
    """A fault value: apply it to a testbed, heal it (twice is harmless), describe it. A fault
    may also say whether it took effect (``probe``) and count the traffic it met
    (``traffic``); one that cannot is ``unverified``, never silently a pass."""

    kind: str

    def apply(self, testbed: Testbed) -> None: ...

    def heal(self, testbed: Testbed) -> None: ...

    def describe(self) -> dict[str, Any]: ...

    @property
    def target(self) -> str: ...


VERIFIED, UNVERIFIED, NONE = "verified", "unverified", "none"


@dataclass(frozen=True)
class Effect:
    """What a probe of a fault found: ``verified`` (it does what it should), ``none`` (it
    does not: the cut does not cut, the node still answers) or ``unverified`` (nothing here
    can tell), with the evidence in words."""

    status: str
    evidence: str

    def as_dict(self) -> dict[str, str]:
        """As results.json reports it."""
        return {"status": self.status, "evidence": self.evidence}


def probe(fault: Any, testbed: Testbed, healed: bool) -> Effect:
    """A fault's probe, or ``unverified`` for a fault that has none; a probe that crashes
    is ``unverified`` with the error (never a pass)."""
    fn = getattr(fault, "probe", None)
    if fn is None:
        return Effect(UNVERIFIED, f"{fault.kind} has no probe of its effect")
    try:
        return fn(testbed, healed)  # type: ignore[no-any-return]
    except Exception as exc:  # a probe that fails proves nothing
        return Effect(UNVERIFIED, f"the probe failed: {exc}")


def traffic(fault: Any, testbed: Testbed) -> int | None:
    """A link fault's traffic counter so far (bytes or dropped packets; None: not counted)."""
    fn = getattr(fault, "traffic", None)
    if fn is None:
        return None
    try:
        value = fn(testbed)
    except Exception:  # counters that cannot be read count nothing
        return None
    return None if value is None else int(value)


class FaultSpec(SpecModel):
    """A scenario's fault entry: when it starts and how long it lasts. Subclasses add a
    ``kind`` tag and their fields, and say what the fault does to the testbed's model
    (which nodes it takes down, which directions it cuts, what delay it adds)."""

    at_s: Num = Field(ge=0, le=DAY_S, description="seconds after load starts")
    for_s: Num = Field(gt=0, le=DAY_S,
                       description="how long the fault lasts before it is healed")

    def refs(self) -> list[tuple[str, str]]:
        """(field, node name) pairs this entry refers to, checked against the testbed."""
        return []

    def resolve(self, testbed: TestbedSpec, seed: int = 0) -> None:
        """Bind what the entry names through the testbed's shape (a subtree's uplink, a tier's
        uplinks picked by ``seed``); ValueError naming the field when it cannot be."""

    def label(self) -> str:
        """A short name: ``latency clients->*``, ``crash edge-3``."""
        return str(getattr(self, "kind", "fault"))

    def down_node(self) -> str | None:
        """The node this fault makes unable to serve, if any."""
        return None

    def cuts(self, nodes: list[str], seed: int) -> set[tuple[str, str]]:
        """The (src, dst) directions between nodes this fault cuts (``seed`` for random
        shapes, as :func:`faults.registry.fault_seed` derives it)."""
        return set()

    def added_delay_ms(self, src: str, dst: str) -> float:
        """Round-trip delay this fault adds to a request from ``src`` to ``dst`` (``src``
        may be ``clients``)."""
        return 0.0

    def holds(self) -> str | None:
        """What this fault holds alone while it lasts (``node edge-1``: its process,
        ``clock edge-1``): two faults holding the same thing must not overlap in time, as
        the first heal would undo the other."""
        return None

    @property
    def end_s(self) -> float:
        """When the fault is healed, in seconds after the load starts."""
        return self.at_s + self.for_s


class TierLinks(SpecModel):
    """``link: {tier: edge, uplink: true}``: every uplink from a node of the tier to its parent,
    or ``pick: N`` of them chosen by the scenario's seed."""

    tier: str
    uplink: bool
    pick: Int | None = None

    @model_validator(mode="after")
    def _selects(self) -> TierLinks:
        if not self.uplink:
            raise ValueError(f"uplink: false selects no link of tier {self.tier!r}; a tier's "
                             "links are its uplinks: write uplink: true, or name one link as "
                             "[a, b]")
        if self.pick is not None and self.pick < 1:
            raise ValueError(f"pick: {self.pick} picks no uplink; give a whole number from 1 "
                             "up to the tier's uplinks, or leave pick out to take all of them")
        return self

    def choose(self, testbed: TestbedSpec, seed: int) -> list[tuple[str, str]]:
        """The (node, parent) uplinks selected, in declaration order; ValueError naming the
        field (``tier``, ``pick``) when the testbed cannot give them."""
        tiers = list(dict.fromkeys(n.tier for n in testbed.nodes))
        with_up = list(dict.fromkeys(n.tier for n in testbed.nodes if n.parent is not None))
        if self.tier not in tiers:
            raise ValueError(f"tier: {self.tier!r} is not a tier of this testbed (tiers: "
                             f"{', '.join(tiers)}); use one of those")
        ups = [(n.name, n.parent) for n in testbed.nodes
               if n.tier == self.tier and n.parent is not None]
        if not ups:
            fix = (f"name a tier with uplinks ({', '.join(with_up)})" if with_up else
                   "declare testbed.topology (the testbed has no tiered topology)")
            raise ValueError(f"tier: no node of tier {self.tier!r} has a parent, so the tier "
                             f"has no uplinks; {fix}, or give the link as [a, b]")
        if self.pick is None:
            return ups
        if self.pick > len(ups):
            raise ValueError(f"pick: {self.pick} is more than the {len(ups)} uplink(s) of tier "
                             f"{self.tier!r}; give at most {len(ups)}, or leave pick out to "
                             "take all of them")
        chosen = set(random.Random(seed).sample(range(len(ups)), self.pick))
        return [u for i, u in enumerate(ups) if i in chosen]

    def words(self, total: int | None = None) -> str:
        """How the links were selected: ``uplinks of tier edge, 1 of 4 picked by the seed``."""
        if self.pick is None:
            return f"uplinks of tier {self.tier}"
        return f"uplinks of tier {self.tier}, {self.pick} of {total or '?'} picked by the seed"


def _nested_error(exc: ValidationError) -> str:
    """A nested model's first error as one message that starts with its sub-field."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = (f"unknown field {where!r}; the fields of a tier's links are: "
               f"{', '.join(TierLinks.model_fields)}")
    elif err["type"] == "missing":
        msg = "this field is required; e.g. link: {tier: edge, uplink: true}"
    elif err["type"] != "value_error" and "input" in err:
        msg = f"{err['input']!r}: {msg}"
    return f"{where}: {msg}" if where and not msg.startswith(f"{where}:") else msg


class LinkFaultSpec(FaultSpec):
    """A fault on one link: ``[a, b]`` between nodes, ``[clients, NODE]`` or
    ``[clients, "*"]`` for client links, or a tier's uplinks (``{tier: edge, uplink: true,
    pick: N}``); ``direction`` as Toxiproxy's streams."""

    link: tuple[str, str] | TierLinks
    direction: Direction = "downstream"
    _links: list[tuple[str, str]] | None = PrivateAttr(default=None)
    _total: int | None = PrivateAttr(default=None)

    @field_validator("link", mode="before")
    @classmethod
    def _tier_links(cls, v: Any) -> Any:
        """A mapping is a tier's links, validated here so an error names its own field."""
        if not isinstance(v, dict):
            return v
        try:
            return TierLinks.model_validate(v)
        except ValidationError as exc:
            raise ValueError(_nested_error(exc)) from None

    @model_validator(mode="after")
    def _two_ends(self) -> LinkFaultSpec:
        if isinstance(self.link, TierLinks):
            return self
        if self.link[0] == self.link[1]:
            raise ValueError(f"link: [{self.link[0]}, {self.link[1]}] joins a node to itself; "
                             "a link fault names two different ends, e.g. [edge-1, edge-2] "
                             "or [clients, edge-1]")
        return self

    def refs(self) -> list[tuple[str, str]]:
        if isinstance(self.link, TierLinks):
            return []  # a tier is checked when it is resolved
        a, b = self.link
        out = []
        for pos, end in enumerate((a, b)):
            if (end == CLIENTS and pos == 0) or (end == "*" and a == CLIENTS):
                continue
            out.append((f"link[{pos}]", end))
        return out

    def resolve(self, testbed: TestbedSpec, seed: int = 0) -> None:
        """A tier's uplinks: all of them, or ``pick`` chosen by ``seed``."""
        if not isinstance(self.link, TierLinks):
            return
        try:
            self._links = self.link.choose(testbed, seed)
        except ValueError as exc:
            raise ValueError(f"link.{exc}") from None
        self._total = sum(1 for n in testbed.nodes
                          if n.tier == self.link.tier and n.parent is not None)

    @property
    def links(self) -> list[tuple[str, str]]:
        """Every (a, b) link this fault is on: the one named, or a tier's resolved uplinks."""
        if not isinstance(self.link, TierLinks):
            return [self.link]
        if self._links is None:
            raise ValueError(f"link: {{tier: {self.link.tier}, uplink: true}} is not resolved "
                             "against a testbed (LinkFaultSpec.resolve)")
        return list(self._links)

    @property
    def selection(self) -> str:
        """How a tier's links were selected (empty for a named link)."""
        if not isinstance(self.link, TierLinks):
            return ""
        return self.link.words(self._total)

    def label(self) -> str:
        kind = getattr(self, "kind", "fault")
        if isinstance(self.link, TierLinks):  # short: phases are named after it
            picked = ",".join(a for a, _ in self._links or [])
            if self.link.pick is None or not picked:
                return f"{kind} {self.link.tier} uplinks"
            return f"{kind} {self.link.tier} uplink{'s' if self.link.pick > 1 else ''} {picked}"
        return f"{kind} {self.link[0]}->{self.link[1]}"

    def on_link(self, src: str, dst: str) -> bool:
        """True when this fault's link carries traffic from src to dst."""
        for a, b in self.links:
            if a == CLIENTS:
                if src == CLIENTS and b in ("*", dst):
                    return True
            elif {src, dst} == {a, b}:
                return True
        return False


class NodeFaultSpec(FaultSpec):
    """A fault on one node."""

    node: str

    def refs(self) -> list[tuple[str, str]]:
        return [("node", self.node)]

    def label(self) -> str:
        return f"{getattr(self, 'kind', 'fault')} {self.node}"


def check_refs(where: str, fault: FaultSpec, names: list[str],
               known: frozenset[str] | None = None) -> None:
    """Raise ValueError naming the field when the entry refers to an unknown node
    (``known``: the names as a set, given once for a long schedule)."""
    known = known if known is not None else frozenset(names)
    for field, name in fault.refs():
        if name not in known:
            raise ValueError(unknown_node(f"{where}.{field}", name, names))


def first_overlap(faults: Sequence[FaultSpec]) -> tuple[int, int] | None:
    """The first pair (earlier, later) of faults that hold the same thing at the same time,
    by one sort and a sweep (a 10,000-fault schedule takes milliseconds)."""
    held = sorted((h, f.at_s, i) for i, f in enumerate(faults) if (h := f.holds()))
    key, end, first = None, 0.0, -1
    for h, at, i in held:
        if h == key and at < end:
            return first, i
        if h != key or faults[i].end_s > end:
            key, end, first = h, faults[i].end_s, i
    return None


def overlap_message(faults: Sequence[FaultSpec], pair: tuple[int, int]) -> str:
    """The error of two faults that hold the same thing at once (field path first)."""
    a, b = (faults[i] for i in pair)
    return (f"faults[{pair[1]}]: {b.label()} from {b.at_s:g} s to {b.end_s:g} s overlaps "
            f"faults[{pair[0]}] ({a.label()}, {a.at_s:g} s to {a.end_s:g} s) on the same "
            f"{a.holds()}: the first heal would undo the other; move one so that they do "
            "not overlap, or give it another node")


Builder = Callable[[Any, int, list[str], int], Fault]
Drawer = Callable[[random.Random, Any, TestbedSpec], dict[str, Any]]


@dataclass(frozen=True)
class Kind:
    """One fault kind: its name, its scenario entry, how an entry becomes a fault value
    (``build(entry, index, nodes, seed)``) and, for chaos runs, how a random entry is drawn
    (``draw(rng, chaos_spec, testbed_spec)`` returning the entry's fields without times)."""

    name: str
    spec: type[FaultSpec]
    build: Builder
    draw: Drawer | None = None
