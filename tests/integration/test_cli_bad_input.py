"""The real `edgeproof` console script on bad input: exit 2, one readable message on stderr
that names the file and the field, no traceback, and nothing left running."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

EDGEPROOF = str(Path(sys.executable).with_name("edgeproof"))
RUN_LABEL = "EDGEPROOF_RUN_ID"
MARK = "EDGEPROOF_TEST_MARK"

GOOD = """\
name: two-edge
seed: 1
testbed:
  service: {mode: quorum}
  nodes:
    - {name: edge-1, hardware: {workers: 2, service_ms: 5}}
    - {name: edge-2, hardware: {workers: 2, service_ms: 5}}
    - {name: edge-3, hardware: {workers: 2, service_ms: 5}}
  links:
    - {between: [edge-1, edge-2], latency_ms: 2}
    - {between: [edge-2, edge-3], latency_ms: 2}
    - {between: [edge-1, edge-3], latency_ms: 2}
  clients: {latency_ms: 1}
workload: {users: 6, think_time_ms: 50, duration_s: 20}
faults:
  - {at_s: 5, for_s: 5, kind: partition, isolate: edge-3}
"""

# name -> (file text or None for a missing file, words stderr must contain besides the file)
BAD: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "link-to-unknown-node": (
        "testbed:\n  nodes: [{name: edge-1}, {name: edge-2}]\n"
        "  links:\n    - {between: [edge-1, edge-9]}\n",
        ("testbed.links[0]", "line 4", "'edge-9'", "use one of"),
    ),
    "negative-latency": (
        "testbed:\n  nodes: [{name: edge-1}]\n"
        "faults:\n  - {at_s: 1, for_s: 2, kind: latency, link: [clients, '*'], ms: -5}\n",
        ("faults[0].ms", "line 4", "-5 is out of range: give at least 0"),
    ),
    "unknown-fault-kind": (
        "testbed:\n  nodes: [{name: edge-1}]\n"
        "faults:\n  - {at_s: 1, for_s: 2, kind: explode, node: edge-1}\n",
        ("faults[0].kind", "'explode'", "partition", "clock_skew"),
    ),
    "missing-file": (None, ("no such file",)),
    "yaml-syntax": (
        "testbed:\n  nodes: [\n    - {name: a\n",
        ("YAML syntax error", "line 3, column 5"),
    ),
    "typo-field": (
        "testbed:\n  nodes: [{name: edge-1}]\nworkload:\n  userz: 5\n",
        ("workload.userz", "line 4", "did you mean 'users'"),
    ),
    "fault-after-load-end": (
        "testbed:\n  nodes: [{name: edge-1}]\nworkload: {duration_s: 10}\n"
        "faults:\n  - {at_s: 12, for_s: 2, kind: crash, node: edge-1}\n",
        ("faults[0].at_s", "line 5", "start it earlier"),
    ),
    "fault-unknown-node": (
        "testbed:\n  nodes: [{name: edge-1}, {name: edge-2}]\n"
        "faults:\n"
        "  - {at_s: 1, for_s: 2, kind: crash, node: edge-1}\n"
        "  - {at_s: 3, for_s: 2, kind: pause, node: edge-2}\n"
        "  - {at_s: 5, for_s: 2, kind: crash, node: edge-7}\n",
        ("faults[2].node", "line 6", "'edge-7'"),
    ),
    "duplicate-node-names": (
        "testbed:\n  nodes:\n    - {name: edge-1}\n    - {name: edge-1}\n",
        ("testbed.nodes[1].name", "line 4", "duplicate", "unique"),
    ),
    "tier-uplinks-pick-too-many": (
        "testbed:\n  topology: {tiers: [{name: cloud, count: 1}, {name: gw, count: 2}]}\n"
        "faults:\n  - {at_s: 1, for_s: 2, kind: latency, ms: 50,\n"
        "     link: {tier: gw, uplink: true, pick: 3}}\n",
        ("faults[0].link.pick", "line 5", "3 is more than the 2 uplink(s) of tier 'gw'",
         "give at most 2"),
    ),
}


def marked_processes(mark: str) -> list[int]:
    """Processes labelled with a run id that descend from this test (they carry its mark)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"{MARK}={mark}".encode() in env and any(
                e.startswith(f"{RUN_LABEL}=".encode()) for e in env):
            found.append(int(entry.name))
    return found


@dataclass
class Cli:
    """The console script with a state dir, a cwd and a process mark of one test's own."""

    state: Path
    cwd: Path
    mark: str
    env: dict[str, str]

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([EDGEPROOF, *args], env=self.env, cwd=self.cwd,
                              capture_output=True, text=True, timeout=120)

    def assert_nothing_left(self) -> None:
        assert marked_processes(self.mark) == []
        testbeds = self.state / "testbeds"
        assert (list(testbeds.glob("*.json")) if testbeds.exists() else []) == []
        assert not (self.cwd / "reports").exists(), "bad input must not create a run directory"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    mark = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k != RUN_LABEL}
    env.update({"EDGEPROOF_STATE_DIR": str(tmp_path / "state"), MARK: mark,
                "COLUMNS": "200", "NO_COLOR": "1"})
    work = tmp_path / "cwd"
    work.mkdir()
    return Cli(tmp_path / "state", work, mark, env)


@pytest.mark.integration
def test_leftover_detector_sees_a_labelled_process(cli: Cli) -> None:
    """The 'nothing left running' check is not vacuous: it finds a labelled child."""
    env = {**cli.env, RUN_LABEL: "eptest0000"}
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=env)
    try:
        assert child.pid in marked_processes(cli.mark)
    finally:
        child.kill()
        child.wait()
    assert child.pid not in marked_processes(cli.mark)


@pytest.mark.integration
def test_console_script_exists() -> None:
    assert os.access(EDGEPROOF, os.X_OK), EDGEPROOF


@pytest.mark.integration
@pytest.mark.parametrize("command", ["run", "up"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_with_one_message(cli: Cli, tmp_path: Path, command: str,
                                            case: str) -> None:
    text, words = BAD[case]
    path = tmp_path / f"{case}.yaml"
    if text is not None:
        path.write_text(text)
    proc = cli(command, str(path))
    err = proc.stderr
    assert proc.returncode == 2, (proc.stdout, err)
    assert "Traceback" not in err and "Traceback" not in proc.stdout
    assert str(path) in err, err
    for w in words:
        assert w in err, (w, err)
    # one message: "error:" once, one paragraph (soft-wrapped, so one line)
    assert err.count("error:") == 1, err
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err
    cli.assert_nothing_left()


@pytest.mark.integration
def test_predict_good_file_prints_a_table(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    proc = cli("predict", str(path))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for word in ("two-edge", "phase", "mean ms", "p99", "baseline", "partition isolate edge-3",
                 "recovery", "bottleneck"):
        assert word in out, (word, out)
    assert "Traceback" not in proc.stderr
    cli.assert_nothing_left()


@pytest.mark.integration
def test_predict_bad_file_exits_2(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD["fault-unknown-node"][0] or "")
    proc = cli("predict", str(path))
    assert proc.returncode == 2
    assert str(path) in proc.stderr and "faults[2].node" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.integration
def test_run_unknown_backend_exits_2(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    proc = cli("run", "--backend", "nosuch", str(path))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    err = proc.stderr
    assert "Traceback" not in err
    assert "nosuch" in err and "local" in err and "docker" in err, err
    assert "backend" in err and "command line" in err, err
    cli.assert_nothing_left()
