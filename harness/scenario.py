"""The scenario: a validated value loaded from YAML (testbed, workload, faults, checks, seed).

Field meanings follow DESIGN.md ("Scenario file"). Validation errors name the file, the field
path (``faults[2].node``), the YAML line and the fix; see :func:`load_scenario`.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.errors import ConfigError

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
CLIENTS = "clients"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)


class Hardware(_Model):
    """Emulated hardware of a node: real limits where the backend can set them, plus emulation."""

    cpus: float | None = Field(default=None, gt=0, description="CPU quota in cores")
    memory_mb: int | None = Field(default=None, gt=0, description="memory limit in MiB")
    workers: int = Field(default=2, ge=1, le=1024, description="c parallel servers (M/M/c)")
    service_ms: float = Field(default=2.0, ge=0, description="mean exponential service time")


class ReadyProbe(_Model):
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


class NodeSpec(_Model):
    name: str
    tier: str = "edge"
    hardware: Hardware = Field(default_factory=Hardware)
    command: str | None = None
    image: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    ports: list[str] = Field(default_factory=lambda: ["main"])
    client_port: str | None = None
    ready: ReadyProbe | None = None
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
        return self.client_port or self.ports[0]


class LinkSpec(_Model):
    """A node-to-node link: symmetric with ``between``, one direction with ``from``/``to``.

    ``latency_ms`` is the one-way delay, so a round trip over the link costs twice it.
    """

    between: tuple[str, str] | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    latency_ms: float = Field(default=0.0, ge=0)
    jitter_ms: float = Field(default=0.0, ge=0)
    bandwidth_kbps: float | None = Field(default=None, gt=0)

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


class ClientsSpec(_Model):
    """The load generator's side: which nodes take client traffic and over what link."""

    nodes: list[str] | None = None
    latency_ms: float = Field(default=0.0, ge=0)
    jitter_ms: float = Field(default=0.0, ge=0)
    bandwidth_kbps: float | None = Field(default=None, gt=0)


class ServiceSpec(_Model):
    """The reference edge service's replication settings."""

    mode: Literal["quorum", "primary", "eventual"] = "quorum"
    primary: str | None = None
    anti_entropy_ms: float = Field(default=1000.0, gt=0)
    replica_timeout_ms: float = Field(default=1000.0, gt=0)
    bug: Literal["read_one", "early_ack"] | None = Field(
        default=None, description="seed a known bug (quorum mode), to prove a check catches it")


class TestbedSpec(_Model):
    __test__ = False

    backend: Literal["local", "docker"] = "local"
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
                        raise ValueError(_unknown(f"links[{i}]", end, names))
        for end in self.clients.nodes or []:
            if end not in known:
                raise ValueError(_unknown("clients.nodes", end, names))
        if self.service.primary and self.service.primary not in known:
            raise ValueError(_unknown("service.primary", self.service.primary, names))
        return self

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes]

    @property
    def client_nodes(self) -> list[str]:
        return list(self.clients.nodes) if self.clients.nodes else self.node_names

    def node(self, name: str) -> NodeSpec:
        return next(n for n in self.nodes if n.name == name)

    def link_directions(self) -> list[tuple[str, str, LinkSpec]]:
        """Every directed (src, dst) with the link it belongs to; later links win."""
        out: dict[tuple[str, str], LinkSpec] = {}
        for link in self.links:
            for d in link.directions():
                out[d] = link
        return [(s, d, link) for (s, d), link in out.items()]


def _unknown(field: str, value: str, names: list[str]) -> str:
    return (
        f"{field}: {value!r} is not a node of this testbed (nodes: {', '.join(names)}); "
        "use one of those names"
    )


# ---------------------------------------------------------------- workload


class WorkloadSpec(_Model):
    locustfile: str = "builtin:kv"
    users: int = Field(default=10, ge=1, le=10_000)
    think_time_ms: float = Field(default=50.0, ge=0)
    duration_s: float = Field(default=30.0, gt=0, le=86_400)
    keys: int = Field(default=10, ge=1)
    read_fraction: float = Field(default=0.5, ge=0, le=1)
    timeout_ms: float = Field(default=2000.0, gt=0)
    spawn_rate: float | None = Field(default=None, gt=0)
    # added by the workloads issue (#5); the defaults keep the closed loop of before
    cas_fraction: float = Field(default=0.0, ge=0, le=1, description="builtin:kv CAS share")
    shape: Literal["closed", "open", "step", "ramp", "spike"] = "closed"
    rate_rps: float | None = Field(default=None, gt=0, description="open loop arrival rate")
    workers: int = Field(default=0, ge=0, le=64, description="Locust worker processes")
    step_users: int | None = Field(default=None, ge=1)
    step_s: float | None = Field(default=None, gt=0)
    ramp_s: float | None = Field(default=None, gt=0)
    ramp_from_users: int | None = Field(default=None, ge=1)
    spike_users: int | None = Field(default=None, ge=1)
    spike_at_s: float | None = Field(default=None, ge=0)
    spike_s: float | None = Field(default=None, gt=0)

    @field_validator("locustfile")
    @classmethod
    def _locustfile(cls, v: str) -> str:
        if v.startswith("builtin:") and v not in ("builtin:kv", "builtin:ingest"):
            raise ValueError(f"{v!r}: the built-in workloads are builtin:kv and builtin:ingest")
        return v

    @model_validator(mode="after")
    def _shape_fields(self) -> WorkloadSpec:
        if self.read_fraction + self.cas_fraction > 1 + 1e-9:
            raise ValueError(f"read_fraction ({self.read_fraction}) + cas_fraction "
                             f"({self.cas_fraction}) is over 1; lower one of them")
        if self.shape == "open" and self.rate_rps is None:
            raise ValueError("shape open needs rate_rps (Poisson arrivals per second), "
                             "e.g. rate_rps: 50")
        if self.shape != "open" and self.rate_rps is not None:
            raise ValueError(f"rate_rps is only for shape open (shape is {self.shape}); "
                             "set shape: open or remove rate_rps")
        if self.shape == "step" and (self.step_users is None or self.step_s is None):
            raise ValueError("shape step needs step_users and step_s (add step_users users "
                             "every step_s seconds, up to users), e.g. step_users: 5, step_s: 10")
        if self.shape == "ramp" and self.ramp_s is None:
            raise ValueError("shape ramp needs ramp_s (seconds to reach users), e.g. ramp_s: 20")
        if self.shape == "spike" and (self.spike_users is None or self.spike_at_s is None
                                      or self.spike_s is None):
            raise ValueError("shape spike needs spike_users, spike_at_s and spike_s, e.g. "
                             "spike_users: 50, spike_at_s: 10, spike_s: 5")
        return self


# ---------------------------------------------------------------- faults


class _Fault(_Model):
    at_s: float = Field(ge=0, description="seconds after load starts")
    for_s: float = Field(gt=0, description="how long the fault lasts before it is healed")


Direction = Literal["downstream", "upstream", "both"]


class _LinkFault(_Fault):
    link: tuple[str, str]
    direction: Direction = "downstream"


class LatencyFault(_LinkFault):
    """Adds ``ms`` (+/- ``jitter_ms``) to the named direction of a link (Toxiproxy latency)."""

    kind: Literal["latency"]
    ms: float = Field(ge=0)
    jitter_ms: float = Field(default=0.0, ge=0)


class BandwidthFault(_LinkFault):
    kind: Literal["bandwidth"]
    kbps: float = Field(gt=0)


class TimeoutFault(_LinkFault):
    kind: Literal["timeout"]
    timeout_ms: float = Field(default=0.0, ge=0)


class ResetPeerFault(_LinkFault):
    kind: Literal["reset_peer"]
    timeout_ms: float = Field(default=0.0, ge=0)


class SlicerFault(_LinkFault):
    kind: Literal["slicer"]
    average_size: int = Field(default=64, ge=1)
    size_variation: int = Field(default=0, ge=0)
    delay_us: int = Field(default=0, ge=0)


class LimitDataFault(_LinkFault):
    kind: Literal["limit_data"]
    bytes: int = Field(ge=0)


PARTITION_SHAPES = ("halves", "random_halves", "majority_ring", "bridge", "random_node")
PartitionShape = Literal["halves", "random_halves", "majority_ring", "bridge", "random_node"]


class PartitionFault(_Fault):
    kind: Literal["partition"]
    groups: list[list[str]] | None = None
    isolate: str | None = None
    from_: list[str] | None = Field(default=None, alias="from")
    to: list[str] | None = None
    shape: PartitionShape | None = None
    mode: Literal["drop", "reject"] = "drop"

    @model_validator(mode="after")
    def _shape(self) -> PartitionFault:
        given = sum(x is not None for x in (self.groups, self.isolate, self.from_ or self.to,
                                            self.shape))
        if given != 1:
            raise ValueError("give exactly one of groups, isolate, from/to, or shape "
                             f"({', '.join(PARTITION_SHAPES)})")
        if (self.from_ is None) != (self.to is None):
            raise ValueError("an asymmetric partition needs both from and to")
        return self


class ClockSkewFault(_Fault):
    kind: Literal["clock_skew"]
    node: str
    offset_s: float = 0.0
    drift: float = Field(default=0.0, description="extra seconds per second (0.01 = 1% fast)")


class _NodeFault(_Fault):
    node: str


class CrashFault(_NodeFault):
    kind: Literal["crash"]
    keep_data: bool = True


class PauseFault(_NodeFault):
    kind: Literal["pause"]


class StopFault(_NodeFault):
    kind: Literal["stop"]


FaultSpec = Annotated[
    LatencyFault
    | BandwidthFault
    | TimeoutFault
    | ResetPeerFault
    | SlicerFault
    | LimitDataFault
    | PartitionFault
    | ClockSkewFault
    | CrashFault
    | PauseFault
    | StopFault,
    Field(discriminator="kind"),
]
_FAULTS: TypeAdapter[Any] = TypeAdapter(FaultSpec)
FAULT_KINDS = (
    "latency", "bandwidth", "timeout", "reset_peer", "slicer", "limit_data",
    "partition", "clock_skew", "crash", "pause", "stop",
)


class ChaosSpec(_Model):
    """Random faults drawn from the scenario's seed, for scheduled chaos runs (Jepsen-style
    nemesis generator): ``count`` faults (or ``rate_per_min``) of the given kinds, each lasting
    ``for_s`` [min, max] seconds, starting no earlier than ``start_s``."""

    kinds: list[Literal["latency", "partition", "crash", "pause", "stop", "clock_skew",
                        "bandwidth", "reset_peer"]] = Field(
        default_factory=lambda: ["latency", "partition", "crash", "pause", "clock_skew"])
    count: int | None = Field(default=None, ge=0, le=10_000)
    rate_per_min: float | None = Field(default=None, gt=0)
    for_s: tuple[float, float] = (2.0, 5.0)
    start_s: float = Field(default=2.0, ge=0)
    latency_ms: tuple[float, float] = (20.0, 200.0)
    skew_s: tuple[float, float] = (-30.0, 30.0)
    overlap: bool = False

    @model_validator(mode="after")
    def _ranges(self) -> ChaosSpec:
        for name in ("for_s", "latency_ms"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi or (name == "for_s" and lo <= 0):
                raise ValueError(f"{name}: give [min, max] with 0 < min <= max, not [{lo}, {hi}]")
        return self


# ---------------------------------------------------------------- checks


class LatencyCheck(_Model):
    model: Literal["mva", "mmc"] = "mva"
    tolerance: float = Field(default=0.15, gt=0, description="relative, on the mean")
    min_samples: int = Field(default=30, ge=1)


class AvailabilityCheck(_Model):
    tolerance_pp: float = Field(default=2.0, ge=0)


class ConsistencyCheck(_Model):
    model: Literal["linearizable"] = "linearizable"


class DurabilityCheck(_Model):
    """No acknowledged write lost (final reads of every key after the heal)."""


class LostUpdatesCheck(_Model):
    """Lost updates under clock skew (eventual mode) against the LWW model."""

    tolerance: float = Field(default=0.3, ge=0, description="relative widening of the "
                             "Poisson interval of the expected count")


class StalenessCheck(_Model):
    """PBS t-visibility of eventual mode's reads against the model (harness/staleness.py)."""

    tolerance_pp: float = Field(default=15.0, ge=0)
    processing_ms: float = Field(default=1.5, gt=0, description="mean push processing delay")
    transit_ms: float = Field(default=1.0, ge=0, description="ack path + read request transit")
    timer_ms: float = Field(default=0.6, ge=0, description="emulated service overshoot")


class ChecksSpec(_Model):
    latency: LatencyCheck | None = Field(default_factory=LatencyCheck)
    availability: AvailabilityCheck | None = None
    consistency: ConsistencyCheck | None = None
    durability: DurabilityCheck | None = None
    lost_updates: LostUpdatesCheck | None = None
    staleness: StalenessCheck | None = None


# ---------------------------------------------------------------- scenario


class Scenario(_Model):
    name: str = "scenario"
    seed: int = 0
    testbed: TestbedSpec
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    faults: list[FaultSpec] = Field(default_factory=list)
    chaos: ChaosSpec | None = None
    checks: ChecksSpec = Field(default_factory=ChecksSpec)
    explore: dict[str, Any] | None = Field(
        default=None, description="constraints for `edgeproof explore` (validated there)")
    _expanded: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _expand_chaos(self) -> Scenario:
        if self.chaos is not None and not self._expanded:
            from faults.generate import random_faults
            extra = random_faults(self.chaos, self.testbed, self.workload.duration_s, self.seed)
            self.faults = [*self.faults, *(_FAULTS.validate_python(f) for f in extra)]
            self._expanded = True
        return self

    @model_validator(mode="after")
    def _fault_refs(self) -> Scenario:
        names = self.testbed.node_names
        for i, fault in enumerate(self.faults):
            _check_fault_refs(f"faults[{i}]", fault, names)
            if fault.at_s >= self.workload.duration_s:
                raise ValueError(
                    f"faults[{i}].at_s: {fault.at_s} is not before the end of the load "
                    f"(workload.duration_s: {self.workload.duration_s}); start it earlier"
                )
        return self


def _check_fault_refs(where: str, fault: Any, names: list[str]) -> None:
    known = set(names)
    if isinstance(fault, _LinkFault):
        a, b = fault.link
        for pos, end in enumerate((a, b)):
            if end == CLIENTS and pos == 0:
                continue
            if end == "*" and a == CLIENTS:
                continue
            if end not in known:
                raise ValueError(_unknown(f"{where}.link[{pos}]", end, names))
    refs: list[tuple[str, str]] = []
    if isinstance(fault, PartitionFault):
        for gi, group in enumerate(fault.groups or []):
            refs += [(f"{where}.groups[{gi}]", n) for n in group]
        if fault.isolate:
            refs.append((f"{where}.isolate", fault.isolate))
        refs += [(f"{where}.from", n) for n in fault.from_ or []]
        refs += [(f"{where}.to", n) for n in fault.to or []]
    node = getattr(fault, "node", None)
    if node is not None:
        refs.append((f"{where}.node", node))
    for field, name in refs:
        if name not in known:
            raise ValueError(_unknown(field, name, names))


# ---------------------------------------------------------------- loading


def load_yaml(path: str | Path) -> tuple[Any, yaml.Node | None]:
    """Parse a YAML file; return the data and its node tree (for line numbers)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"{path}: no such file; give the path of a scenario YAML file "
            "(e.g. examples/three-edge.yaml)"
        )
    text = p.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
        tree = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"{path}: YAML syntax error{where}: {problem}; fix the YAML (indentation, "
            "colons, brackets) and try again"
        ) from None
    return data, tree


def _is_tag(loc: tuple[Any, ...], i: int) -> bool:
    """True when loc[i] is a discriminator tag pydantic inserts (``faults, 0, 'latency', 'ms'``)."""
    part = loc[i]
    return (i > 0 and isinstance(loc[i - 1], int) and part in FAULT_KINDS) or str(
        part
    ).startswith("function-")


def _line_of(tree: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    node = tree
    line = None
    for i, part in enumerate(loc):
        if _is_tag(loc, i):
            continue
        if isinstance(node, yaml.MappingNode):
            key = "from" if part == "from_" else part
            match = next((v for k, v in node.value if k.value == key), None)
            if match is None:
                break
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_tag(loc, i):
            continue  # discriminator tags pydantic inserts
        else:
            out += ("." if out else "") + ("from" if part == "from_" else str(part))
    return out


# a message of our own validators that starts with a sub-field path: "links[0]: ..."
_SUBPATH = re.compile(r"^([A-Za-z_]\w*(?:\[\d+\])*(?:\.[A-Za-z_]\w*(?:\[\d+\])*)*): ")
_PATH_PART = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


def _parse_path(path: str) -> tuple[Any, ...]:
    return tuple(int(i) if i else name for name, i in _PATH_PART.findall(path))


def _models_in(tp: Any) -> list[type[BaseModel]]:
    """The pydantic models a field annotation may hold (through Optional, unions, lists)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _models_in(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType, list, tuple):
        return [m for arg in typing.get_args(tp) for m in _models_in(arg)]
    return []


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The field names allowed in the mapping at ``loc`` (for "did you mean")."""
    models: list[type[BaseModel]] = [Scenario]
    for i, part in enumerate(loc):
        if isinstance(part, int):
            continue
        if _is_tag(loc, i):
            models = [m for m in models if "kind" in m.model_fields
                      and part in typing.get_args(m.model_fields["kind"].annotation)]
            continue
        models = [sub for m in models if part in m.model_fields
                  for sub in _models_in(m.model_fields[part].annotation)]
    names: list[str] = []
    for m in models:
        for name, info in m.model_fields.items():
            shown = info.alias or name
            if shown not in names:
                names.append(shown)
    return names


def _unknown_field(loc: tuple[Any, ...], where: str) -> str:
    name = str(loc[-1])
    allowed = _fields_at(loc[:-1])
    if not allowed:
        return f"unknown field {name!r}; remove it or check its spelling"
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (f"unknown field {name!r}; {hint}the fields of {where or 'a scenario'} are: "
            f"{', '.join(allowed)}")


def explain_validation(path: str | Path, exc: ValidationError, tree: yaml.Node | None,
                       overridden: typing.Collection[str] = ()) -> str:
    """One paragraph per problem: file, field, line, what is wrong and the fix.

    ``overridden`` names the dotted fields set on the command line rather than in the file;
    their errors say so instead of pointing at a line of the file.
    """
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        field = _format_loc(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "value_error" and (m := _SUBPATH.match(msg)):
            # our validators name the sub-field they complain about: join it to the path
            sub = m.group(1)
            msg = msg[m.end():]
            field = f"{field}.{sub}" if field else sub
            loc = loc + _parse_path(sub)
        if err["type"] == "union_tag_invalid":
            tag = err.get("input", {}).get("kind") if isinstance(err.get("input"), dict) else None
            msg = f"unknown fault kind {tag!r}; use one of: {', '.join(FAULT_KINDS)}"
            field = f"{field}.kind"
        elif err["type"] == "union_tag_not_found":
            msg = f"a fault needs a kind; add kind: with one of: {', '.join(FAULT_KINDS)}"
            field = f"{field}.kind"
        elif err["type"] == "extra_forbidden":
            msg = _unknown_field(loc, _format_loc(loc[:-1]))
        elif err["type"] == "missing":
            msg = "this field is required; add it"
        elif "input" in err and err["type"] not in ("value_error",) and not isinstance(
            err["input"], dict | list
        ):
            msg = f"{err['input']!r}: {msg}"
        if field in overridden:
            where = " (set on the command line)"
        else:
            line = _line_of(tree, loc)
            where = f" (line {line})" if line else ""
        lines.append(f"{path}: {field}{where}: {msg}" if field else f"{path}: {msg}")
    return "\n".join(lines)


def load_scenario(path: str | Path, *, overrides: dict[str, Any] | None = None) -> Scenario:
    """Load and validate a scenario file; raise ConfigError with a readable message."""
    data, tree = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the file must be a YAML mapping with at least a 'testbed' key "
            "(see examples/three-edge.yaml)"
        )
    bare = "testbed" not in data and "nodes" in data
    if bare:
        data = {"name": Path(path).stem, "testbed": data}  # a bare testbed file
        if tree is not None:  # keep the line numbers: the file is the testbed mapping
            key = yaml.ScalarNode("tag:yaml.org,2002:str", "testbed")
            tree = yaml.MappingNode("tag:yaml.org,2002:map", [(key, tree)])
    for key, value in (overrides or {}).items():
        _set_path(data, key, value)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        msg = explain_validation(path, exc, tree, set(overrides or {}))
        if bare:  # name the fields as the file spells them: links[0], not testbed.links[0]
            msg = msg.replace(f"{path}: testbed.", f"{path}: ")
        raise ConfigError(msg) from None


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = data
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
