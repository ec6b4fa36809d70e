"""The testbed spec: nodes, their hardware, links, the load generator's side, the reference
service's settings (the ``testbed:`` block of a scenario, or a bare testbed file).

Validated values (pydantic); every layer above reads them, none writes them.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

# Numbers are numbers: no strings ("1e9"), no booleans (true), nothing NaN or infinite (the
# model config); an int is fine where a float is asked for. Each field's bounds are in the
# README's scenario reference; these name the common ones.
Num = Annotated[float, Strict()]
Int = Annotated[int, Strict()]
DAY_S = 86_400.0  # the longest workload, fault window or step
HOUR_MS = 3_600_000.0  # the longest timeout, think time or period in ms
MINUTE_MS = 60_000.0  # the longest latency, jitter or service time in ms
MAX_KBPS = 100_000_000.0  # 100 Gbit/s

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
CLIENTS = "clients"
BACKENDS = ("local", "docker")


class SpecModel(BaseModel):
    """Base of every spec model: unknown fields are errors, aliases (``from``) accepted."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False,
                              allow_inf_nan=False)


def unknown_node(field: str, value: str, names: list[str]) -> str:
    """The message for a reference to a node the testbed does not have."""
    return (
        f"{field}: {value!r} is not a node of this testbed (nodes: {', '.join(names)}); "
        "use one of those names"
    )


class Hardware(SpecModel):
    """Emulated hardware of a node: real limits where the backend can set them, plus emulation."""

    cpus: Num | None = Field(default=None, gt=0, le=1024, description="CPU quota in cores")
    memory_mb: Int | None = Field(default=None, gt=0, le=1_048_576,
                                  description="memory limit in MiB (at most 1 TiB)")
    workers: Int = Field(default=2, ge=1, le=1024, description="c parallel servers (M/M/c)")
    service_ms: Num = Field(default=2.0, ge=0, le=MINUTE_MS,
                            description="mean exponential service time")


class ReadyProbe(SpecModel):
    """How to tell that a node of a user's own system is ready."""

    tcp: str | None = None
    http: str | None = None
    port: str | None = None
    command: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ReadyProbe:
        kinds = [k for k in ("tcp", "http", "command") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError("give exactly one of tcp, http or command (e.g. {tcp: main})")
        return self


class NodeSpec(SpecModel):
    """One node: the reference service (default) or a user's own ``command`` / ``image``."""

    name: str
    tier: str = "edge"
    hardware: Hardware = Field(default_factory=Hardware)
    command: str | None = None
    image: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    ports: list[str] = Field(default_factory=lambda: ["main"])
    client_port: str | None = None
    ready: ReadyProbe | None = None
    probe: ReadyProbe | None = Field(
        default=None, description="an application probe ({http: /path, port: main}): answers "
        "while the node serves; proves a pause or a latency fault (default: the ready probe "
        "when it is http, /health for the reference service)")
    settle: ReadyProbe | None = Field(
        default=None, description="run once every node is ready, before the load, until it "
        "succeeds (e.g. a command that exits 0 once a replica has synced)")
    clock: Literal["faketime", "none"] = "faketime"

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if v == CLIENTS or not NAME_RE.match(v):
            raise ValueError(
                f"{v!r} is not a valid node name: use lower-case letters, digits and '-', "
                "at most 40 characters, not 'clients' (e.g. edge-1)"
            )
        return v

    @model_validator(mode="after")
    def _ports(self) -> NodeSpec:
        if not self.ports:
            raise ValueError("ports: give at least one named port (e.g. [main])")
        if self.client_port and self.client_port not in self.ports:
            raise ValueError(
                f"client_port: {self.client_port!r} is not one of ports {self.ports}; "
                "name one of those, or add it to ports"
            )
        return self

    @property
    def is_reference(self) -> bool:
        """True when the node runs the reference edge service rather than a user's system."""
        return self.command is None and self.image is None

    @property
    def main_port(self) -> str:
        """The port clients use."""
        return self.client_port or self.ports[0]


class LinkSpec(SpecModel):
    """A node-to-node link: symmetric with ``between``, one direction with ``from``/``to``.

    ``latency_ms`` is the one-way delay, so a round trip over the link costs twice it.
    """

    between: tuple[str, str] | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    latency_ms: Num = Field(default=0.0, ge=0, le=MINUTE_MS)
    jitter_ms: Num = Field(default=0.0, ge=0, le=MINUTE_MS)
    bandwidth_kbps: Num | None = Field(default=None, gt=0, le=MAX_KBPS)

    @model_validator(mode="after")
    def _shape(self) -> LinkSpec:
        if (self.between is None) == (self.from_ is None and self.to is None):
            raise ValueError("give either between: [a, b] or from: a and to: b")
        if self.between is None and (self.from_ is None or self.to is None):
            raise ValueError("a directed link needs both from and to")
        ends = self.between or (self.from_, self.to)
        if ends[0] == ends[1]:
            raise ValueError(f"a link joins two different nodes, not {ends[0]!r} to itself")
        return self

    def directions(self) -> list[tuple[str, str]]:
        """The (source, destination) pairs this link carries traffic for."""
        if self.between:
            a, b = self.between
            return [(a, b), (b, a)]
        return [(str(self.from_), str(self.to))]


class ClientsSpec(SpecModel):
    """The load generator's side: which nodes take client traffic and over what link."""

    nodes: list[str] | None = None
    latency_ms: Num = Field(default=0.0, ge=0, le=MINUTE_MS)
    jitter_ms: Num = Field(default=0.0, ge=0, le=MINUTE_MS)
    bandwidth_kbps: Num | None = Field(default=None, gt=0, le=MAX_KBPS)


class ServiceSpec(SpecModel):
    """The reference edge service's replication settings."""

    mode: Literal["quorum", "primary", "eventual"] = "quorum"
    primary: str | None = None
    anti_entropy_ms: Num = Field(default=1000.0, gt=0, le=HOUR_MS)
    replica_timeout_ms: Num = Field(default=1000.0, gt=0, le=HOUR_MS)
    bug: Literal["read_one", "early_ack"] | None = Field(
        default=None, description="seed a known bug (quorum mode), to prove a check catches it")


class PrimaryExpect(SpecModel):
    """Writes need the named primary; reads are served by every node."""

    primary: str


class ExpectSpec(SpecModel):
    """What a user's own system promises, for the availability model: ``majority`` (a node
    serves while it reaches a majority, as Raft and Paxos do), ``every_node`` (each node serves
    on its own), ``{primary: NAME}`` or ``none`` (measured and shown, not judged)."""

    availability: Literal["majority", "every_node", "none"] | PrimaryExpect = "none"


class TestbedSpec(SpecModel):
    """A whole testbed: backend, network, service settings, nodes, links and client links."""

    __test__ = False

    backend: Literal["local", "docker"] = "local"
    network: Literal["namespaces", "loopback"] | None = Field(
        default=None, description="namespaces (each node in a network namespace of its own, "
        "every byte to another node's own address through its link's proxy) or loopback "
        "(nodes on loopback addresses, reaching peers only through {links.*}); default: "
        "namespaces where the harness may create them")
    expect: ExpectSpec | None = None
    service: ServiceSpec = Field(default_factory=ServiceSpec)
    nodes: list[NodeSpec] = Field(min_length=1)
    links: list[LinkSpec] = Field(default_factory=list)
    clients: ClientsSpec = Field(default_factory=ClientsSpec)

    @model_validator(mode="after")
    def _refs(self) -> TestbedSpec:
        names = [n.name for n in self.nodes]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(
                    f"nodes[{i}].name: duplicate node name {name!r} (nodes[{names.index(name)}] "
                    "has it too); give every node a unique name"
                )
        known = set(names)
        for i, link in enumerate(self.links):
            for src, dst in link.directions():
                for end in (src, dst):
                    if end not in known:
                        raise ValueError(unknown_node(f"links[{i}]", end, names))
        for end in self.clients.nodes or []:
            if end not in known:
                raise ValueError(unknown_node("clients.nodes", end, names))
        if self.service.primary and self.service.primary not in known:
            raise ValueError(unknown_node("service.primary", self.service.primary, names))
        expect = self.expect.availability if self.expect else None
        if isinstance(expect, PrimaryExpect) and expect.primary not in known:
            raise ValueError(unknown_node("expect.availability.primary", expect.primary, names))
        return self

    @property
    def node_names(self) -> list[str]:
        """Every node's name, in declaration order."""
        return [n.name for n in self.nodes]

    @property
    def client_nodes(self) -> list[str]:
        """The nodes that take client traffic (all of them unless ``clients.nodes`` says)."""
        return list(self.clients.nodes) if self.clients.nodes else self.node_names

    def node(self, name: str) -> NodeSpec:
        """The spec of one node by name."""
        return next(n for n in self.nodes if n.name == name)

    def link_directions(self) -> list[tuple[str, str, LinkSpec]]:
        """Every directed (src, dst) with the link it belongs to; later links win."""
        out: dict[tuple[str, str], LinkSpec] = {}
        for link in self.links:
            for d in link.directions():
                out[d] = link
        return [(s, d, link) for (s, d), link in out.items()]
