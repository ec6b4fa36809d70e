"""The scenario: testbed, workload, faults, checks and seed, composed from the specs each
layer owns (testbeds.spec, workloads.spec, faults.registry, harness.checks.config) and
loaded from YAML.

The field meanings are the README's scenario reference. Validation errors name the file, the
field path (``faults[2].node``), the YAML line and the fix: :func:`problems_of` is the one
explainer, used for scenario, fleet and explore files alike.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import types
import typing
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from faults.base import MAX_FAULTS, check_refs, first_overlap, overlap_message
from faults.chaos import ChaosSpec, chaos_span, random_faults
from faults.registry import FAULT_ADAPTER, FAULT_KINDS, AnyFault, fault_seed
from harness import yamlfile
from harness.checks.config import ChecksSpec
from harness.errors import ConfigError, Problem
from harness.names import check_name
from testbeds import netns
from testbeds.spec import CLIENTS, Int, SpecModel, TestbedSpec
from workloads.spec import WorkloadSpec

MAX_SEED = 2**32 - 1
FAULTS_FIX = (f"a schedule has at most {MAX_FAULTS:,} faults (written and chaos together); "
              "shorten it, or split the run")


class Scenario(SpecModel):
    """A whole scenario: what to stand up, what load to drive, which faults when, what to
    check, and the seed every random choice derives from."""

    name: str = "scenario"
    seed: Int = Field(default=0, ge=0, le=MAX_SEED)
    testbed: TestbedSpec
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    faults: list[AnyFault] = Field(default_factory=list)
    chaos: ChaosSpec | None = None
    checks: ChecksSpec = Field(default_factory=ChecksSpec)
    explore: dict[str, Any] | None = Field(
        default=None, description="constraints for `edgeproof explore` (validated there)")
    _expanded: bool = PrivateAttr(default=False)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)

    @field_validator("faults", mode="before")
    @classmethod
    def _few_enough(cls, v: Any) -> Any:
        if isinstance(v, list) and len(v) > MAX_FAULTS:
            raise ValueError(f"{len(v):,} faults; {FAULTS_FIX}")
        return v

    @model_validator(mode="after")
    def _expand_chaos(self) -> Scenario:
        if self.chaos is not None and not self._expanded:
            span = chaos_span(self.chaos, self.workload.duration_s)
            if len(self.faults) + self.chaos.count_in(span) > MAX_FAULTS:
                raise ValueError(f"chaos: {self.chaos.count_in(span):,} drawn faults and "
                                 f"{len(self.faults):,} written ones; {FAULTS_FIX}")
            extra = random_faults(self.chaos, self.testbed, self.workload.duration_s, self.seed)
            self.faults = [*self.faults, *(FAULT_ADAPTER.validate_python(f) for f in extra)]
            self._expanded = True
        return self

    @model_validator(mode="after")
    def _fault_refs(self) -> Scenario:
        tb, names = self.testbed, self.testbed.node_names
        known, links = frozenset(names), linked_pairs(tb)
        for i, fault in enumerate(self.faults):
            check_refs(f"faults[{i}]", fault, names, known)
            try:
                fault.resolve(tb, fault_seed(self.seed, i))
            except ValueError as exc:
                raise ValueError(f"faults[{i}].{exc}") from None
            check_link(f"faults[{i}]", fault, tb, links)
            check_reach(f"faults[{i}]", fault, tb)
            if fault.at_s >= self.workload.duration_s:
                raise ValueError(
                    f"faults[{i}].at_s: {fault.at_s} is not before the end of the load "
                    f"(workload.duration_s: {self.workload.duration_s}); start it earlier"
                )
        pair = first_overlap(self.faults)
        if pair is not None:
            raise ValueError(overlap_message(self.faults, pair))
        rising_versions(self.faults)
        return self

    def warnings(self) -> list[str]:
        """What is valid but may surprise: node pairs of a user's system with no link (their
        traffic is dropped and counted)."""
        tb = self.testbed
        if all(n.is_reference for n in tb.nodes):
            return []
        linked = {frozenset((s, d)) for s, d, _ in tb.link_directions()}
        names = tb.node_names
        missing = [f"{a}-{b}" for i, a in enumerate(names) for b in names[i + 1:]
                   if frozenset((a, b)) not in linked]
        if not missing:
            return []
        return [f"node pairs without a link: {', '.join(missing[:20])}"
                f"{' ...' if len(missing) > 20 else ''}; traffic between them is dropped "
                "(and counted); declare testbed.links between them if they talk"]

    def as_run(self) -> dict[str, Any]:
        """The scenario as it runs (chaos expanded into faults), as plain data: loading it
        again gives the same scenario."""
        data = self.model_dump(mode="json", by_alias=True)
        data["chaos"] = None
        return data


def rising_versions(faults: list[Any]) -> None:
    """ValueError when a rollout's version is not above the one rolled out before it (in
    time): a node applies only newer versions, so a rollback is a new version."""
    outs = sorted(((f.at_s, i, f.version) for i, f in enumerate(faults)
                   if getattr(f, "kind", "") == "rollout"))
    for _, i, v in outs[:1]:
        if v < 2:
            raise ValueError(f"faults[{i}].version: {v}: v1 is the initial config, rolled out "
                             "by the harness before the load (it measures each hop's delay); "
                             "start your rollouts at version 2")
    for (_, i, v), (_, j, w) in itertools.pairwise(outs):
        if w <= v:
            raise ValueError(f"faults[{j}].version: {w} is not above v{v}, rolled out before "
                             f"it (faults[{i}]); versions only grow (publish a rollback as a "
                             f"new version, e.g. {v + 1})")


def intercepts(tb: TestbedSpec) -> bool:
    """Whether a node's traffic to another node's own address passes the link's proxy here:
    in namespaces (where the harness may create them, or enter a local engine's containers')."""
    if tb.network == "loopback":
        return False
    return tb.network == "namespaces" or netns.unavailable(tb.backend) is None


def linked_pairs(tb: TestbedSpec) -> frozenset[frozenset[str]]:
    """The node pairs joined by a declared link (either direction)."""
    return frozenset(frozenset((s, d)) for s, d, _ in tb.link_directions())


def check_link(where: str, fault: Any, tb: TestbedSpec,
               links: frozenset[frozenset[str]]) -> None:
    """ValueError when a link fault names a link the testbed does not have (it has no
    proxy to put the fault on): two nodes without a declared link, or a client link to a
    node that takes no client traffic."""
    for a, b in getattr(fault, "links", None) or []:
        if a == CLIENTS:
            if b != "*" and b not in tb.client_nodes:
                raise ValueError(f"{where}.link: {b!r} takes no client traffic (clients.nodes: "
                                 f"{', '.join(tb.client_nodes)}); name one of those, or add "
                                 "it to testbed.clients.nodes")
        elif frozenset((a, b)) not in links:
            raise ValueError(f"{where}.link: the testbed has no link between {a!r} and {b!r}; "
                             "declare it under testbed.links (e.g. {between: "
                             f"[{a}, {b}]}}), or name a declared link")


def check_reach(where: str, fault: Any, tb: TestbedSpec) -> None:
    """ValueError when a fault cannot reach what it targets: a clock skew on a node whose
    clock cannot be moved, or a link fault whose traffic bypasses the link's proxies."""
    node = getattr(fault, "node", None)
    if getattr(fault, "kind", "") == "clock_skew" and node and tb.node(node).clock == "none":
        raise ValueError(
            f"{where}.node: {node!r} has clock: none (its clock cannot be moved: libfaketime "
            "reaches libc programs only, not Go binaries such as etcd); remove the clock_skew, "
            "or set clock: faketime for a libc program")
    links = getattr(fault, "links", None) or []
    cuts_nodes = getattr(fault, "kind", "") == "partition" or any(
        CLIENTS not in link for link in links)
    if not cuts_nodes or intercepts(tb):
        return
    direct = [n.name for n in tb.nodes if not n.is_reference and (
        "{nodes." in (n.command or "") or any("{nodes." in v for v in n.env.values()))]
    if direct:
        raise ValueError(
            f"{where}: node(s) {', '.join(direct)} reach their peers at {{nodes.X.*}} (their "
            f"own addresses), which on this testbed's network ({tb.backend}, "
            f"{tb.network or 'loopback here'}) bypasses the link proxies, so this fault "
            "cannot reach their traffic; use testbed.network: namespaces (root; docker: a "
            "local engine), or give them {links.X.*} addresses")


# ---------------------------------------------------------------- loading


def load_yaml(path: str | Path) -> tuple[Any, yaml.Node | None]:
    """Parse a YAML input file within the bounds of :mod:`harness.yamlfile` (size, encoding,
    nesting, duplicate keys, at most ``MAX_FAULTS`` faults); return the data and its node tree
    (for line numbers). ConfigError names the file, field, line and fix."""
    return yamlfile.load(path, {"faults": (MAX_FAULTS, FAULTS_FIX)})


def _is_tag(loc: tuple[Any, ...], i: int) -> bool:
    """True when loc[i] is a tag pydantic inserts rather than a field: a fault's
    discriminator (``faults, 0, 'latency', 'ms'``), a union member (``str``, ``dict[...]``)
    or a validator (``function-after[...]``)."""
    part = str(loc[i])
    return (i > 0 and isinstance(loc[i - 1], int) and part in FAULT_KINDS) or part.startswith(
        ("function-", "dict[", "list[")) or part in ("str", "int", "float")


def line_of(tree: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The YAML line of the field at ``loc`` (the deepest part the file has)."""
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


def format_loc(loc: tuple[Any, ...]) -> str:
    """A field path as the file spells it: ``faults[2].from``."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_tag(loc, i):
            continue
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


def _fields_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names allowed in the mapping at ``loc`` (for "did you mean")."""
    models: list[type[BaseModel]] = [root]
    for i, part in enumerate(loc):
        if isinstance(part, int):
            continue
        if _is_tag(loc, i):
            models = [m for m in models if "kind" in m.model_fields
                      and part in typing.get_args(m.model_fields["kind"].annotation)] or models
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


def _unknown_field(root: type[BaseModel], loc: tuple[Any, ...], what: str) -> str:
    name = str(loc[-1])
    allowed = _fields_at(root, loc[:-1])
    if not allowed:
        return f"unknown field {name!r}; remove it or check its spelling"
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown field {name!r}; {hint}the fields of {what} are: {', '.join(allowed)}"


_WANT = {"float_type": "a number", "int_type": "a whole number", "bool_type": "true or false"}
_BOUND = {"less_than_equal": ("at most", "le"), "less_than": ("less than", "lt"),
          "greater_than_equal": ("at least", "ge"), "greater_than": ("more than", "gt")}
BOUNDS_HINT = "every field's bounds are in the README's scenario reference"


def _value_words(err: Any) -> str | None:
    """A wrong value in our words (a string or a boolean for a number, NaN, out of
    bounds), or None to leave the error to the general rules."""
    kind, value = err["type"], err.get("input")
    shown = str(value).lower() if isinstance(value, bool) else repr(value)
    if kind in _WANT:
        want = _WANT[kind]
        if isinstance(value, bool):
            return f"{shown} is a boolean, not {want}; write {want} here"
        if isinstance(value, str):
            return (f"{shown} is text (quoted, or not a number), not {want}; write {want} "
                    "without quotes, e.g. 5 or 2.5")
        if kind == "int_type" and isinstance(value, float):
            return f"{shown} is not a whole number; write an integer, e.g. 5"
        return None
    if kind == "finite_number":
        return (f"{shown} is not a finite number (NaN and infinity are not allowed); write a "
                "number, e.g. 30")
    if kind in _BOUND and isinstance(value, int | float) and "ctx" in err:
        words, key = _BOUND[kind]
        return (f"{_num(value)} is out of range: give {words} {_num(err['ctx'][key])} "
                f"({BOUNDS_HINT})")
    return None


def _num(x: float) -> str:
    """A bound or value as written: 86400, not 86400.0 or 8.64e+04."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return f"{x:.6g}" if isinstance(x, float) and abs(x) >= 1e16 else str(x)


def _message(err: Any, root: type[BaseModel], loc: tuple[Any, ...], field: str, root_name: str,
             hints: Mapping[str, str]) -> tuple[str, str, tuple[Any, ...]]:
    """(message, field, loc) of one pydantic error, in our words."""
    msg = err["msg"].removeprefix("Value error, ")
    hint = hints.get(field) or hints.get(field.split(".")[0].split("[")[0], "")
    if err["type"] == "value_error" and (m := _SUBPATH.match(msg)):
        # our validators name the sub-field they complain about: join it to the path
        sub = m.group(1)
        msg = msg[m.end():]
        field = f"{field}.{sub}" if field else sub
        loc = loc + _parse_path(sub)
    if err["type"] == "union_tag_invalid":
        tag = err.get("input", {}).get("kind") if isinstance(err.get("input"), dict) else None
        return f"unknown fault kind {tag!r}; use one of: {', '.join(FAULT_KINDS)}", \
            f"{field}.kind", loc
    if err["type"] == "union_tag_not_found":
        return f"a fault needs a kind; add kind: with one of: {', '.join(FAULT_KINDS)}", \
            f"{field}.kind", loc
    if err["type"] == "extra_forbidden":
        what = format_loc(loc[:-1]) or root_name
        return _unknown_field(root, loc, what), field, loc
    if err["type"] == "missing":
        return f"this field is required; {hint or 'add it'}", field, loc
    if (words := _value_words(err)) is not None:
        return words, field, loc
    if "input" in err and err["type"] != "value_error" and not isinstance(
            err["input"], dict | list):
        msg = f"{err['input']!r}: {msg}"
    elif err["type"].endswith("_type") and "input" in err:
        msg = f"{msg} (got {type(err['input']).__name__})"
    return msg + (f"; {hint}" if hint and err["type"].endswith("_type") else ""), field, loc


def problems_of(path: str | Path, exc: ValidationError, tree: yaml.Node | None, *,
                root: type[BaseModel] | None = None, prefix: tuple[Any, ...] = (),
                root_name: str = "a scenario", overridden: Collection[str] = (),
                hints: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem of a validation error: file, field, line, what is wrong and the fix.

    ``root`` is the model validated (default :class:`Scenario`), ``prefix`` where it sits in
    the file (``("explore",)``), ``overridden`` the dotted fields set on the command line
    rather than in the file (their errors say so instead of pointing at a line), ``hints``
    a fix per field for missing fields and wrong types."""
    model = root or Scenario
    out: list[Problem] = []
    for err in exc.errors():
        field = format_loc((*prefix, *err["loc"]))
        msg, field, loc = _message(err, model, tuple(err["loc"]), field, root_name, hints or {})
        if field in overridden:
            problem = Problem(str(path), f"{field} (set on the command line)", None, msg)
        else:
            problem = Problem(str(path), field, line_of(tree, (*prefix, *loc)), msg)
        if problem not in out:
            out.append(problem)
    return out


def explain_validation(path: str | Path, exc: ValidationError, tree: yaml.Node | None,
                       overridden: Collection[str] = ()) -> str:
    """The problems of a scenario's validation error, one line each."""
    return "\n".join(str(p) for p in problems_of(path, exc, tree, overridden=overridden))


def resolve_paths(data: Any, folder: Path) -> Any:
    """In a raw scenario mapping, make a relative ``workload.locustfile`` absolute against
    ``folder`` (the folder of the file it was written in)."""
    workload = data.get("workload") if isinstance(data, dict) else None
    lf = workload.get("locustfile") if isinstance(workload, dict) else None
    if isinstance(lf, str) and lf and not lf.startswith("builtin:") and not Path(lf).is_absolute():
        workload["locustfile"] = str(absolute(folder / Path(lf).expanduser()))
    return data


def check_files(scn: Scenario, path: str | Path, tree: yaml.Node | None,
                written: Any = None) -> None:
    """ConfigError when a file the scenario names is not there (before anything starts)."""
    lf = scn.workload.locustfile
    if lf.startswith("builtin:") or Path(lf).is_file():
        return
    loc = ("workload", "locustfile")
    given = written if isinstance(written, str) and written != lf else None
    tried = f"{given!r} (relative to the scenario's folder: {lf})" if given else repr(lf)
    raise ConfigError(problems=(Problem(
        str(path), "workload.locustfile", line_of(tree, loc),
        f"no such locustfile {tried}; give the path of a Python file defining Locust User "
        "classes (relative paths start from the scenario file's folder), or builtin:kv / "
        "builtin:ingest"),))


def _locustfile_as_written(data: Any) -> Any:
    workload = data.get("workload") if isinstance(data, dict) else None
    return workload.get("locustfile") if isinstance(workload, dict) else None


def load_scenario(path: str | Path, *, overrides: dict[str, Any] | None = None,
                  files: bool = True) -> Scenario:
    """Load and validate a scenario file; raise ConfigError with a readable message.

    Relative paths in it (``workload.locustfile``) resolve against the file's folder;
    ``files`` (default) also checks that they exist."""
    data, tree = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the file must be a YAML mapping with at least a 'testbed' key "
            "(see examples/three-edge.yaml)", path=str(path))
    bare = "testbed" not in data and "nodes" in data
    if bare:
        data = {"name": Path(path).stem, "testbed": data}  # a bare testbed file
        if tree is not None:  # keep the line numbers: the file is the testbed mapping
            key = yaml.ScalarNode("tag:yaml.org,2002:str", "testbed")
            tree = yaml.MappingNode("tag:yaml.org,2002:map", [(key, tree)])
    for key, value in (overrides or {}).items():
        set_path(data, key, value)
    written = _locustfile_as_written(data)
    resolve_paths(data, absolute(path).parent)
    try:
        scn = Scenario.model_validate(data)
    except ValidationError as exc:
        found = problems_of(path, exc, tree, overridden=set(overrides or {}))
        if bare:  # name the fields as the file spells them: links[0], not testbed.links[0]
            found = [Problem(p.path, p.field.removeprefix("testbed."), p.line, p.message)
                     for p in found]
        raise ConfigError(problems=tuple(found)) from None
    if files:
        check_files(scn, path, tree, written)
    return scn


def absolute(path: str | Path) -> Path:
    """A path made absolute against the current working directory (symlinks kept)."""
    return Path(os.path.abspath(Path(path).expanduser()))


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``data['a']['b'] = value`` for ``a.b`` (creating mappings on the way)."""
    parts = dotted.split(".")
    cur = data
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
