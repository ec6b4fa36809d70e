"""The testbed spec: nodes, their hardware, links, the load generator's side, the reference
service's settings (the ``testbed:`` block of a scenario, or a bare testbed file).

Validated values (pydantic); every layer above reads them, none writes them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from testbeds.specbase import (
    BACKENDS,
    CLIENTS,
    DAY_S,
    HOUR_MS,
    MAX_KBPS,
    MINUTE_MS,
    NAME_RE,
    Buffer,
    Hardware,
    Int,
    Num,
    SpecModel,
)
from testbeds.tiers import Topology, generate

__all__ = [
    "BACKENDS",
    "CLIENTS",
    "DAY_S",
    "HOUR_MS",
    "MAX_KBPS",
    "MINUTE_MS",
    "NAME_RE",
    "Buffer",
    "ControlSpec",
    "Hardware",
    "Int",
    "Num",
    "PipelineSpec",
    "SpecModel",
    "Topology",
]


def unknown_node(field: str, value: str, names: list[str]) -> str:
    """The message for a reference to a node the testbed does not have."""
    return (
        f"{field}: {value!r} is not a node of this testbed (nodes: {', '.join(names)}); "
        "use one of those names"
    )


def plain_file_name(name: str) -> bool:
    """True for a name that stays inside the directory it is written into: not empty or
    ``.``, no path separator, NUL or ``..``."""
    return name not in ("", ".") and ".." not in name and not any(c in name for c in "/\\\0")


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
    parent: str | None = Field(default=None, description="the node above it in a tiered "
                               "topology (set by testbed.topology)")
    hardware: Hardware = Field(default_factory=Hardware)
    buffer: Buffer = Field(default_factory=Buffer, description="its store-and-forward "
                           "buffer, when it has a parent (set per tier by testbed.topology)")
    command: str | None = None
    image: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    files: dict[str, str] = Field(
        default_factory=dict, description="config files {NAME: TEXT} rendered with the "
        "command's placeholders and written into the node's data dir ({data_dir}/NAME) "
        "before it starts (a plain name: no '/' or '..')")
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

    @field_validator("files")
    @classmethod
    def _file_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not plain_file_name(name):
                raise ValueError(
                    f"{name!r} is not a plain file name: a file is written into the node's "
                    "data dir, so give a name without '/', '\\', '..' or NUL (e.g. "
                    "mosquitto.conf) and refer to it as {data_dir}/NAME in the command")
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
        if self.files and self.command is None and self.image is None:
            raise ValueError("files: only for a node with its own command or image (the "
                             "reference service reads no config file); add a command or "
                             "remove files")
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


class PipelineSpec(SpecModel):
    """How a reference node with a parent forwards readings upstream: batches of up to
    ``batch`` readings, sent once full or ``linger_ms`` after the first one came, one batch in
    flight per uplink, retried after ``backoff_ms`` (doubling up to ``backoff_max_ms``) when
    an attempt fails or outlasts ``timeout_ms``. ``ack: local`` acks a device once its reading
    is in the gateway's buffer (edge autonomy); ``upstream`` once the parent has it."""

    batch: Int = Field(default=50, ge=1, le=100_000)
    linger_ms: Num = Field(default=20.0, ge=0, le=MINUTE_MS)
    backoff_ms: Num = Field(default=200.0, gt=0, le=MINUTE_MS)
    backoff_max_ms: Num | None = Field(default=None, gt=0, le=HOUR_MS)
    timeout_ms: Num = Field(default=1000.0, gt=0, le=MINUTE_MS)
    ack: Literal["local", "upstream"] = "local"

    @model_validator(mode="after")
    def _backoff(self) -> PipelineSpec:
        if self.backoff_max_ms is not None and self.backoff_max_ms < self.backoff_ms:
            raise ValueError(f"backoff_max_ms ({self.backoff_max_ms}) is below backoff_ms "
                             f"({self.backoff_ms}); raise it or leave it out (fixed backoff)")
        return self


class ControlSpec(SpecModel):
    """The reference service's control plane: the root of a tiered topology publishes a
    config version (``{kind: rollout, version}`` in the schedule) and it goes down the tree on
    each node's ``control`` port, by ``push`` (each node sends the newest version to each
    child, each failed attempt retried after ``retry_ms``) or ``pull`` (each node asks its
    parent every ``poll_s``); an attempt gives up after ``timeout_ms``."""

    mode: Literal["push", "pull"] = "push"
    poll_s: Num = Field(default=1.0, gt=0, le=HOUR_MS / 1000)
    retry_ms: Num = Field(default=500.0, gt=0, le=HOUR_MS)
    timeout_ms: Num = Field(default=1000.0, gt=0, le=MINUTE_MS)


class ServiceSpec(SpecModel):
    """The reference edge service's replication, forwarding and control settings."""

    mode: Literal["quorum", "primary", "eventual"] = "quorum"
    primary: str | None = None
    anti_entropy_ms: Num = Field(default=1000.0, gt=0, le=HOUR_MS)
    replica_timeout_ms: Num = Field(default=1000.0, gt=0, le=HOUR_MS)
    bug: Literal["read_one", "early_ack", "drop_on_retry", "stale_version"] | None = Field(
        default=None, description="seed a known bug (read_one, early_ack: quorum mode; "
        "drop_on_retry: the forwarder drops a batch whose send failed; stale_version: a node "
        "applies whatever config version arrives, and retries owed ones newest first), to "
        "prove a check catches it")
    pipeline: PipelineSpec = Field(default_factory=PipelineSpec)
    control: ControlSpec | None = Field(
        default=None, description="a control plane down the tiered topology (push or pull); "
        "its reference nodes get a second port, control")


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

    backend: Literal["local", "docker", "swarm"] = "local"
    network: Literal["namespaces", "loopback"] | None = Field(
        default=None, description="namespaces (each node in a network namespace of its own, "
        "every byte to another node's own address through its link's proxy) or loopback "
        "(nodes on loopback addresses, reaching peers only through {links.*}); default: "
        "namespaces where the harness may create them")
    expect: ExpectSpec | None = None
    service: ServiceSpec = Field(default_factory=ServiceSpec)
    topology: Topology | None = Field(
        default=None, description="a hierarchy of tiers that generates nodes and uplinks "
        "(testbeds/tiers.py); explicit nodes and links may stand beside it")
    nodes: list[NodeSpec] = Field(default_factory=list)
    links: list[LinkSpec] = Field(default_factory=list)
    clients: ClientsSpec = Field(default_factory=ClientsSpec)

    @model_validator(mode="after")
    def _expand_topology(self) -> TestbedSpec:
        """A topology's nodes and uplinks go before the explicit ones, once: the spec as it
        runs (``as_run``) holds them all and no topology; clients default to the leaf tier."""
        if self.topology is None:
            if not self.nodes:
                raise ValueError("nodes: give at least one node, or a topology")
            return self
        topo, self.topology = self.topology, None
        nodes, links = generate(topo)
        self.nodes = [NodeSpec(**n) for n in nodes] + self.nodes
        self.links = [LinkSpec.model_validate(x) for x in links] + self.links
        if self.clients.nodes is None:
            self.clients.nodes = [n["name"] for n in nodes if n["tier"] == topo.leaf]
        return self

    @model_validator(mode="after")
    def _control_ports(self) -> TestbedSpec:
        """With a control plane every reference node has a ``control`` port beside ``main``
        (so a link fault can name ``port: control``); it needs a tree to go down."""
        if self.service.control is None:
            return self
        if not any(n.parent is not None for n in self.nodes):
            raise ValueError("service.control: a control plane goes down a tiered topology, "
                             "and no node has a parent; declare testbed.topology (tiers), or "
                             "remove service.control")
        for n in self.nodes:
            if n.is_reference and "control" not in n.ports:
                n.ports = [*n.ports, "control"]
        return self

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
        for i, node in enumerate(self.nodes):
            if node.parent is not None and node.parent not in known:
                raise ValueError(unknown_node(f"nodes[{i}].parent", node.parent, names))
            batch = self.service.pipeline.batch
            if node.parent is not None and node.buffer.capacity < batch:
                raise ValueError(f"nodes[{i}] ({node.name}): buffer.capacity "
                                 f"{node.buffer.capacity} is below service.pipeline.batch "
                                 f"{batch}; a buffer holds at least one batch (raise it in "
                                 "the tier's buffer)")
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

    def subtree(self, name: str) -> list[str]:
        """The node and every node below it in the tiered topology (parent links)."""
        below: dict[str, list[str]] = {}
        for n in self.nodes:
            if n.parent is not None:
                below.setdefault(n.parent, []).append(n.name)
        out, todo = [], [name]
        while todo:
            cur = todo.pop()
            out.append(cur)
            todo += below.get(cur, [])
        return out

    @property
    def is_pipeline(self) -> bool:
        """True when nodes have parents: reference nodes forward readings up the tree."""
        return any(n.parent is not None for n in self.nodes)

    @property
    def sinks(self) -> list[str]:
        """Reference nodes at the top of a tree (no parent, children below): the sinks."""
        fed = {n.parent for n in self.nodes if n.parent is not None}
        return [n.name for n in self.nodes if n.parent is None and n.name in fed
                and n.is_reference]

    def children(self, name: str) -> list[str]:
        """The nodes whose parent is ``name``."""
        return [n.name for n in self.nodes if n.parent == name]

    def path_up(self, name: str) -> list[str]:
        """``name``, its parent, its parent's parent, ... up to the root (the sink)."""
        out = [name]
        while (parent := self.node(out[-1]).parent) is not None and parent not in out:
            out.append(parent)
        return out

    def tree(self) -> list[tuple[int, str, str]]:
        """(depth, name, tier) of every node of the tiered topology, depth first (nodes
        without a parent at depth 0): what `status` and the report draw."""
        roots = [n.name for n in self.nodes if n.parent is None]
        below: dict[str, list[str]] = {}
        for n in self.nodes:
            if n.parent is not None:
                below.setdefault(n.parent, []).append(n.name)
        out: list[tuple[int, str, str]] = []
        todo = [(0, r) for r in reversed(roots)]
        while todo:
            depth, cur = todo.pop()
            out.append((depth, cur, self.node(cur).tier))
            todo += [(depth + 1, c) for c in reversed(below.get(cur, []))]
        return out

    def link_directions(self) -> list[tuple[str, str, LinkSpec]]:
        """Every directed (src, dst) with the link it belongs to; later links win."""
        out: dict[tuple[str, str], LinkSpec] = {}
        for link in self.links:
            for d in link.directions():
                out[d] = link
        return [(s, d, link) for (s, d), link in out.items()]
