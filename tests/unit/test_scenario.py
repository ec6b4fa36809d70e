"""Scenario loading: the DESIGN.md example loads, and every bad input is one readable
ConfigError that names the file, the field path, the YAML line and a fix."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from faults.registry import FAULT_KINDS
from harness.errors import ConfigError
from harness.scenario import Scenario, load_scenario
from testbeds.spec import LinkSpec

DESIGN_EXAMPLE = """\
name: quorum-partition
seed: 7
testbed:
  backend: local                 # local (default) | docker
  service: {mode: quorum}        # reference service; or per-node command/image
  nodes:
    - {name: edge-1, tier: edge, hardware: {cpus: 0.5, memory_mb: 256, workers: 2, service_ms: 5}}
    - {name: edge-2, tier: edge, hardware: {cpus: 0.5, memory_mb: 256, workers: 2, service_ms: 5}}
    - {name: edge-3, tier: edge, hardware: {cpus: 0.5, memory_mb: 256, workers: 2, service_ms: 5}}
  links:                         # node-to-node, symmetric unless `from`/`to` are used
    - {between: [edge-1, edge-2], latency_ms: 2, jitter_ms: 0, bandwidth_kbps: null}
    - {between: [edge-2, edge-3], latency_ms: 2}
    - {between: [edge-1, edge-3], latency_ms: 2}
  clients: {nodes: [edge-1, edge-2, edge-3], latency_ms: 1}
workload:
  locustfile: builtin:kv         # builtin:kv | builtin:ingest | path/to/locustfile.py
  users: 20
  think_time_ms: 50              # mean of exponential think time (closed loop)
  duration_s: 60
  keys: 10
  read_fraction: 0.5
faults:
  - {at_s: 10, for_s: 20, kind: partition, groups: [[edge-1], [edge-2, edge-3]]}
  - {at_s: 35, for_s: 10, kind: latency, link: [edge-1, edge-2], ms: 100, jitter_ms: 10}
  - {at_s: 45, for_s: 5, kind: clock_skew, node: edge-2, offset_s: 30}
  - {at_s: 50, for_s: 5, kind: crash, node: edge-3}
checks:
  latency: {model: mva, tolerance: 0.15}
  availability: {tolerance_pp: 2}
  consistency: {model: linearizable}
"""

# (file text, field path, line or None, words the message must contain: what and the fix)
BAD: dict[str, tuple[str, str, int | None, tuple[str, ...]]] = {
    "link-to-unknown-node": (
        "name: x\n"
        "testbed:\n"
        "  nodes:\n"
        "    - {name: edge-1}\n"
        "    - {name: edge-2}\n"
        "  links:\n"
        "    - {between: [edge-1, edge-9]}\n",
        "testbed.links[0]", 7,
        ("'edge-9' is not a node of this testbed (nodes: edge-1, edge-2)", "use one of"),
    ),
    "negative-latency": (
        "testbed:\n"
        "  nodes:\n"
        "    - name: edge-1\n"
        "faults:\n"
        "  - at_s: 1\n"
        "    for_s: 2\n"
        "    kind: latency\n"
        "    link: [clients, '*']\n"
        "    ms: -5\n",
        "faults[0].ms", 9,
        ("-5", "-5 is out of range: give at least 0"),
    ),
    "unknown-fault-kind": (
        "testbed:\n"
        "  nodes:\n"
        "    - {name: edge-1}\n"
        "faults:\n"
        "  - {at_s: 1, for_s: 2, kind: explode, node: edge-1}\n",
        "faults[0].kind", 5,
        ("'explode'", *FAULT_KINDS),
    ),
    "typo-field": (
        "testbed:\n"
        "  nodes:\n"
        "    - {name: edge-1}\n"
        "workload:\n"
        "  userz: 5\n",
        "workload.userz", 5,
        ("unknown field", "did you mean 'users'"),
    ),
    "fault-after-load-end": (
        "testbed:\n"
        "  nodes:\n"
        "    - {name: edge-1}\n"
        "workload: {duration_s: 10}\n"
        "faults:\n"
        "  - {at_s: 12, for_s: 2, kind: crash, node: edge-1}\n",
        "faults[0].at_s", 6,
        ("duration_s: 10", "start it earlier"),
    ),
    "fault-unknown-node": (
        "testbed:\n"
        "  nodes:\n"
        "    - {name: edge-1}\n"
        "    - {name: edge-2}\n"
        "faults:\n"
        "  - {at_s: 1, for_s: 2, kind: crash, node: edge-1}\n"
        "  - {at_s: 3, for_s: 2, kind: pause, node: edge-2}\n"
        "  - {at_s: 5, for_s: 2, kind: crash, node: edge-7}\n",
        "faults[2].node", 8,
        ("'edge-7' is not a node", "edge-1, edge-2", "use one of"),
    ),
    "duplicate-node-names": (
        "testbed:\n"
        "  nodes:\n"
        "    - {name: edge-1}\n"
        "    - {name: edge-1}\n",
        "testbed.nodes[1].name", 4,
        ("duplicate node name 'edge-1'", "unique"),
    ),
}


def write(tmp_path: Path, text: str, name: str = "scn.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def error_of(path: Path | str) -> str:
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    return str(info.value)


def test_design_example_loads(tmp_path: Path) -> None:
    scn = load_scenario(write(tmp_path, DESIGN_EXAMPLE))
    assert scn.name == "quorum-partition"
    assert scn.seed == 7
    assert scn.testbed.node_names == ["edge-1", "edge-2", "edge-3"]
    assert scn.testbed.service.mode == "quorum"
    assert [f.kind for f in scn.faults] == ["partition", "latency", "clock_skew", "crash"]
    assert scn.faults[1].link == ("edge-1", "edge-2")
    assert scn.faults[1].direction == "downstream"
    assert scn.workload.users == 20 and scn.workload.duration_s == 60
    assert scn.checks.consistency is not None and scn.checks.availability is not None
    assert scn.testbed.node("edge-2").hardware.workers == 2
    # three symmetric links: six directions
    assert len(scn.testbed.link_directions()) == 6


def test_shipped_examples_load() -> None:
    examples = sorted(p for p in (Path(__file__).parents[2] / "examples").glob("*.yaml")
                      if not p.name.startswith("fleet"))  # fleet files are certify's
    assert examples, "the examples folder holds scenario files"
    for ex in examples:
        assert isinstance(load_scenario(ex), Scenario)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_file_field_line_and_fix(tmp_path: Path, case: str) -> None:
    text, field, line, words = BAD[case]
    path = write(tmp_path, text, f"{case}.yaml")
    msg = error_of(path)
    assert "\n" not in msg, f"one problem, one message: {msg!r}"
    where = f" (line {line})" if line else ""
    assert msg.startswith(f"{path}: {field}{where}: "), msg
    for w in words:
        assert w in msg, (w, msg)
    assert "Traceback" not in msg and "pydantic" not in msg.lower()


def test_link_error_is_joined_to_its_field_path(tmp_path: Path) -> None:
    text = BAD["link-to-unknown-node"][0]
    path = write(tmp_path, text)
    assert error_of(path) == (
        f"{path}: testbed.links[0] (line 7): 'edge-9' is not a node of this testbed "
        "(nodes: edge-1, edge-2); use one of those names"
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    msg = error_of(path)
    assert msg.startswith(f"{path}: no such file")
    assert "give the path" in msg


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "testbed:\n  nodes: [\n    - {name: a\n")
    msg = error_of(path)
    assert msg.startswith(f"{path}: YAML syntax error (line 3, column 5)"), msg
    assert "fix the YAML" in msg


def test_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    msg = error_of(write(tmp_path, "- just\n- a list\n"))
    assert "must be a YAML mapping" in msg and "testbed" in msg


def test_missing_testbed_is_required(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nseed: 1\n")
    msg = error_of(path)
    assert msg.startswith(f"{path}: testbed: ")
    assert "required" in msg


def test_missing_fault_kind_lists_kinds(tmp_path: Path) -> None:
    path = write(tmp_path, "testbed:\n  nodes: [{name: edge-1}]\n"
                           "faults:\n  - {at_s: 1, for_s: 2, node: edge-1}\n")
    msg = error_of(path)
    assert msg.startswith(f"{path}: faults[0].kind (line 4): ")
    assert all(k in msg for k in FAULT_KINDS)


def test_checks_latency_path_is_not_mistaken_for_a_fault_tag(tmp_path: Path) -> None:
    # 'latency' is also a fault kind; it must stay in the path of checks.latency
    path = write(tmp_path, "testbed:\n  nodes: [{name: edge-1}]\n"
                           "checks:\n  latency:\n    tolerance: -1\n")
    msg = error_of(path)
    want = f"{path}: checks.latency.tolerance (line 5): -1 is out of range: give more than 0"
    assert msg.startswith(want), msg


def test_client_port_error_names_the_sub_field(tmp_path: Path) -> None:
    path = write(tmp_path, "testbed:\n  nodes:\n    - name: edge-1\n      client_port: foo\n")
    msg = error_of(path)
    assert msg.startswith(f"{path}: testbed.nodes[0].client_port (line 4): 'foo'"), msg


def test_partition_from_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "testbed:\n  nodes: [{name: edge-1}, {name: edge-2}]\n"
                           "faults:\n"
                           "  - kind: partition\n"
                           "    at_s: 1\n"
                           "    for_s: 2\n"
                           "    from: [edge-9]\n"
                           "    to: [edge-1]\n")
    msg = error_of(path)
    assert msg.startswith(f"{path}: faults[0].from (line 7): 'edge-9' is not a node"), msg


def test_every_problem_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "testbed:\n  nodes: edge-1\nworkload: {users: many}\n")
    lines = error_of(path).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}: testbed.nodes (line 2): ")
    assert lines[1].startswith(f"{path}: workload.users (line 3): 'many'")


def test_bare_testbed_file_loads_as_scenario(tmp_path: Path) -> None:
    path = write(tmp_path, "nodes:\n  - {name: edge-1}\n  - {name: edge-2}\n"
                           "links:\n  - {between: [edge-1, edge-2], latency_ms: 2}\n",
                 "two-edge.yaml")
    scn = load_scenario(path)
    assert scn.name == "two-edge"
    assert scn.testbed.node_names == ["edge-1", "edge-2"]
    assert scn.testbed.links[0].latency_ms == 2
    assert scn.faults == []


def test_bare_testbed_file_errors_keep_the_files_own_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "nodes:\n  - {name: edge-1}\n  - {name: edge-2}\n"
                           "links:\n  - {between: [edge-1, edge-3]}\n")
    msg = error_of(path)
    assert msg.startswith(f"{path}: links[0] (line 5): 'edge-3' is not a node"), msg


def test_override_error_says_command_line_not_a_file_line(tmp_path: Path) -> None:
    path = write(tmp_path, DESIGN_EXAMPLE)
    with pytest.raises(ConfigError) as info:
        load_scenario(path, overrides={"testbed.backend": "nosuch"})
    msg = str(info.value)
    assert msg.startswith(f"{path}: testbed.backend (set on the command line): 'nosuch'"), msg
    assert "'local'" in msg and "'docker'" in msg


def test_override_applies(tmp_path: Path) -> None:
    scn = load_scenario(write(tmp_path, DESIGN_EXAMPLE), overrides={"seed": 99})
    assert scn.seed == 99


def test_link_shapes() -> None:
    assert LinkSpec.model_validate({"between": ["a", "b"]}).directions() == [("a", "b"), ("b", "a")]
    assert LinkSpec.model_validate({"from": "a", "to": "b"}).directions() == [("a", "b")]
    for bad in ({"between": ["a", "a"]}, {"from": "a"}, {"between": ["a", "b"], "from": "a"}, {}):
        with pytest.raises(ValueError):
            LinkSpec.model_validate(bad)


_name = st.from_regex(re.compile(r"[a-z][a-z0-9]{0,6}"), fullmatch=True).filter(
    lambda s: s != "clients")


@settings(max_examples=60, deadline=None)
@given(names=st.lists(_name, min_size=1, max_size=6, unique=True), data=st.data())
def test_unknown_link_end_always_reported_at_its_link(tmp_path_factory: pytest.TempPathFactory,
                                                      names: list[str],
                                                      data: st.DataObject) -> None:
    """Whatever the testbed, a link to a name that is not a node is reported at that link."""
    stranger = data.draw(_name.filter(lambda s: s not in names), label="stranger")
    good = [{"between": [a, b]} for a, b in itertools.pairwise(names)]
    at = data.draw(st.integers(0, len(good)), label="at")
    links = [*good[:at], {"between": [names[0], stranger]}, *good[at:]]
    doc = {"testbed": {"nodes": [{"name": n} for n in names], "links": links}}
    path = tmp_path_factory.mktemp("h") / "scn.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    msg = error_of(path)
    assert msg.startswith(f"{path}: testbed.links[{at}] (line "), msg
    assert f"{stranger!r} is not a node" in msg
