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

from pydantic import Field, model_validator

from testbeds.base import Testbed
from testbeds.spec import CLIENTS, DAY_S, Num, SpecModel, TestbedSpec, unknown_node

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

    def resolve(self, testbed: TestbedSpec) -> None:
        """Bind what the entry names through the testbed's shape (a subtree's uplink);
        ValueError naming the field when it cannot be. Most entries need nothing."""

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


class LinkFaultSpec(FaultSpec):
    """A fault on one link: ``[a, b]`` between nodes, ``[clients, NODE]`` or
    ``[clients, "*"]`` for client links; ``direction`` as Toxiproxy's streams."""

    link: tuple[str, str]
    direction: Direction = "downstream"

    @model_validator(mode="after")
    def _two_ends(self) -> LinkFaultSpec:
        if self.link[0] == self.link[1]:
            raise ValueError(f"link: [{self.link[0]}, {self.link[1]}] joins a node to itself; "
                             "a link fault names two different ends, e.g. [edge-1, edge-2] "
                             "or [clients, edge-1]")
        return self

    def refs(self) -> list[tuple[str, str]]:
        a, b = self.link
        out = []
        for pos, end in enumerate((a, b)):
            if (end == CLIENTS and pos == 0) or (end == "*" and a == CLIENTS):
                continue
            out.append((f"link[{pos}]", end))
        return out

    def label(self) -> str:
        return f"{getattr(self, 'kind', 'fault')} {self.link[0]}->{self.link[1]}"

    def on_link(self, src: str, dst: str) -> bool:
        """True when this fault's link carries traffic from src to dst."""
        a, b = self.link
        if a == CLIENTS:
            return src == CLIENTS and b in ("*", dst)
        return {src, dst} == {a, b}


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
